//! One-time secrets (magic URL, OTPs, verification, recovery) and MFA challenges.

use super::*;

/// What a redemption needs, read in one `BatchGetItem`.
#[derive(Debug, Default)]
pub struct Redeemable {
    pub user: Option<UserItem>,
    pub token: Option<TokenItem>,
    pub failures: u32,
}

impl Store {
    pub(super) fn consume_token_item(
        &self,
        token: &TokenItem,
        now: Millis,
    ) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(token.pk.clone(), &token.sk)))
            .condition_expression("attribute_exists(PK) AND expire > :now")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    pub(super) fn reset_guard_item(&self, uid: &str) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), item::GUARD_SK)))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// One `TransactWriteItems`: store a token and reset the user's guessing guard; with
    /// `new_user`, also create the user (profile + claim) the token is for.
    pub async fn issue_token(
        &self,
        token: &TokenItem,
        new_user: Option<(&UserItem, Option<&EmailItem>, Option<&PhoneItem>)>,
    ) -> Result<(), WriteError> {
        let mut items = match new_user {
            Some((user, email, phone)) => self.new_user_items(user, email, phone)?,
            None => vec![],
        };
        items.push((self.put_new(to_item(token)?)?, Conflict::Token));
        items.push((self.reset_guard_item(&token.uid)?, Conflict::Token));
        self.transact(items).await
    }

    /// One `DeleteItem` (a token whose message could not be sent).
    pub async fn delete_token(&self, token: &TokenItem) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(token.pk.clone(), &token.sk)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `BatchGetItem` (strongly consistent): profile, token and guessing guard.
    pub async fn get_redeemable(&self, uid: &str, token_sk: &str) -> Result<Redeemable> {
        let keys = vec![
            key(item::user_pk(uid), item::PROFILE_SK),
            key(item::user_pk(uid), token_sk),
            key(item::user_pk(uid), item::GUARD_SK),
        ];
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(internal)?;
        let mut out = Redeemable::default();
        let mut request = Some(request);
        while let Some(req) = request.take() {
            let res = self
                .client
                .batch_get_item()
                .request_items(&self.table, req)
                .send()
                .await
                .map_err(sdk_err)?;
            for it in res
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let sk = it
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if sk == item::PROFILE_SK {
                    out.user = Some(from_item(it)?);
                } else if sk == item::GUARD_SK {
                    out.failures = from_item::<GuardItem>(it)?.failures;
                } else {
                    out.token = Some(from_item(it)?);
                }
            }
            request = res
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(out)
    }

    /// One `UpdateItem`: count a wrong secret against the user's guard.
    pub async fn record_token_failure(&self, uid: &str, expires_at: i64) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), item::GUARD_SK)))
            .update_expression("ADD failures :one SET expires_at = :exp")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `TransactWriteItems`: consume the token (only if it still exists and is unexpired), and
    /// atomically apply its effect: a new session and/or a profile change with claim updates.
    pub async fn redeem(
        &self,
        token: &TokenItem,
        now: Millis,
        session: Option<&SessionItem>,
        user_change: Option<(&UserItem, &UserItem)>,
        claims: &Claims,
    ) -> Result<(), WriteError> {
        let mut items = vec![(self.consume_token_item(token, now)?, Conflict::Token)];
        if let Some(s) = session {
            items.push((self.put_new(to_item(s)?)?, Conflict::User));
        }
        if let Some((old, new)) = user_change {
            if let Some(up) = self.update_user_item(old, new)? {
                items.push((up, Conflict::ProfileCondition));
            }
        }
        items.extend(self.claim_items(&token.uid, claims)?);
        self.transact(items).await
    }

    /// One `PutItem` of an MFA challenge.
    pub async fn put_challenge(&self, c: &crate::item::ChallengeItem) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(c)?))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `DeleteItem` of an MFA challenge.
    pub async fn delete_challenge(&self, c: &crate::item::ChallengeItem) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(c.pk.clone(), &c.sk)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `GetItem` of an MFA challenge.
    pub async fn get_challenge(
        &self,
        uid: &str,
        id: &str,
    ) -> Result<Option<crate::item::ChallengeItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), &item::challenge_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    /// One `TransactWriteItems` undoing a token issue that also created its user: the token, the
    /// profile, its email/phone claims and, with a user limit, its place in the counter.
    pub async fn withdraw_new_user(&self, user: &UserItem, token: &TokenItem) -> Result<()> {
        let del = |pk: String, sk: &str| -> Result<TransactWriteItem> {
            let d = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .build()
                .map_err(internal)?;
            Ok(TransactWriteItem::builder().delete(d).build())
        };
        let mut items = vec![
            (del(token.pk.clone(), &token.sk)?, Conflict::Token),
            (
                del(item::user_pk(&user.id), item::PROFILE_SK)?,
                Conflict::ProfileCondition,
            ),
        ];
        if let Some(e) = &user.email {
            items.push((
                self.delete_key(item::email_pk(e), item::EMAIL_SK, &user.id)?,
                Conflict::Email,
            ));
        }
        if let Some(p) = &user.phone {
            items.push((
                self.delete_key(item::phone_pk(p), item::PHONE_SK, &user.id)?,
                Conflict::Phone,
            ));
        }
        if self.user_limit > 0 {
            items.push((self.user_counter_item(-1)?, Conflict::UserLimit));
        }
        self.transact(items).await.map_err(|e| match e {
            WriteError::Other(e) => e,
            WriteError::Conflict(c) => {
                Error::internal(format!("withdrawing a new user failed: {c:?}"))
            }
        })
    }
}
