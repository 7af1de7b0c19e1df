//! One-time secrets (magic URL, OTPs, verification, recovery) and MFA challenges.

use super::*;
use account_core::store::Identities;

impl DynamoStore {
    fn consume_token_item(&self, token: &TokenItem, now: Millis) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(token.pk.clone(), &token.sk)))
            .condition_expression("attribute_exists(PK) AND secretHash = :h AND expire > :now")
            .expression_attribute_values(":h", s(token.secret_hash.clone()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// A transaction condition: the token's user has a profile, holding the token's address in
    /// the field its kind is bound to.
    fn token_target_check(&self, token: &TokenItem) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&token.uid), item::PROFILE_SK)));
        let check = match item::token_field(&token.kind) {
            // A recovery link also dies with a password change made after it was issued, as
            // the change's own transaction deletes the one already stored.
            Some(field) if token.kind == item::RECOVERY_TOKEN_KIND => check
                .condition_expression(
                    "#f = :target AND (attribute_not_exists(passwordUpdate) \
                     OR attribute_type(passwordUpdate, :null) OR passwordUpdate <= :created)",
                )
                .expression_attribute_names("#f", field)
                .expression_attribute_values(":target", s(token.target.clone()))
                .expression_attribute_values(":null", s("NULL"))
                .expression_attribute_values(
                    ":created",
                    AttributeValue::N(token.created.to_string()),
                ),
            Some(field) => check
                .condition_expression("#f = :target")
                .expression_attribute_names("#f", field)
                .expression_attribute_values(":target", s(token.target.clone())),
            None => check.condition_expression("attribute_exists(PK)"),
        };
        Ok(TransactWriteItem::builder()
            .condition_check(check.build().map_err(internal)?)
            .build())
    }

    /// An unconditional delete inside a transaction (revoking tokens, clearing a guard, …).
    pub(super) fn delete_item(&self, pk: String, sk: &str) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }
}

#[async_trait::async_trait]
impl Tokens for DynamoStore {
    /// Store a token, replacing the user's earlier one of the same kind (which stops working).
    /// One `TransactWriteItems`: the token, and a check that the profile still has the address
    /// it is sent to. A plain `PutItem` could land after an email change deleted the tokens of
    /// the old address (a racing request, or a stalled attempt delivered after its retry) and
    /// leave one behind. With `new_user`, the transaction creates the user (profile + claim)
    /// instead of checking it.
    async fn issue_token(
        &self,
        token: &TokenItem,
        new_user: Option<(&UserItem, Option<&EmailItem>, Option<&PhoneItem>)>,
    ) -> Result<(), WriteError> {
        let mut items = match new_user {
            Some((user, email, phone)) => self.new_user_items(user, email, phone, true)?,
            None => vec![(self.token_target_check(token)?, Conflict::Target)],
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(token)?))
            .build()
            .map_err(internal)?;
        items.push((
            TransactWriteItem::builder().put(put).build(),
            Conflict::Token,
        ));
        self.transact(items).await
    }

    /// One conditional `DeleteItem` (a token whose message could not be sent); a newer token of
    /// the same kind, issued meanwhile, is left alone.
    async fn delete_token(&self, token: &TokenItem) -> Result<()> {
        let k = key(token.pk.clone(), &token.sk);
        self.delete_while(k, "secretHash", token.secret_hash.clone())
            .await
    }

    /// One `BatchGetItem` (strongly consistent): the profile and the tokens of `kinds`.
    async fn get_redeemable(&self, uid: &str, kinds: &[&str]) -> Result<Redeemable> {
        let sks: Vec<String> = kinds.iter().map(|k| item::token_sk(k)).collect();
        let (user, tokens) = self.profile_and(uid, &sks).await?;
        Ok(Redeemable { user, tokens })
    }

    /// One conditional `UpdateItem`: reserve one short-code attempt in the user's guard for
    /// this window (`ADD attempts 1 IF attempts < limit`). `false` when the budget is spent, so
    /// N parallel guesses admit at most `limit`, whatever they read before.
    async fn reserve_attempt(
        &self,
        uid: &str,
        guard_sk: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool> {
        let res = self
            .send_update(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(item::user_pk(uid), guard_sk)))
                    .update_expression(
                        "ADD attempts :one SET expires_at = if_not_exists(expires_at, :exp)",
                    )
                    .condition_expression("attribute_not_exists(attempts) OR attempts < :limit")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
                    .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string())),
            )
            .await?;
        Ok(res.is_some())
    }

    /// One `TransactWriteItems`: consume the token (only if it is still this secret and
    /// unexpired) and atomically apply its effect: a new session, a profile change under its
    /// expectations, claim updates, deleted sessions and a cleared guard.
    async fn redeem(
        &self,
        token: &TokenItem,
        now: Millis,
        r: Redemption<'_>,
    ) -> Result<(), WriteError> {
        let mut items = vec![(self.consume_token_item(token, now)?, Conflict::Token)];
        if let Some(s) = r.session {
            items.push((self.put_new(to_item(s)?)?, Conflict::User));
        }
        if let Some((old, new)) = r.user_change {
            if let Some(up) = self.update_user_item_expecting(old, new, &r.expect)? {
                items.push((up, Conflict::ProfileCondition));
            }
        }
        items.extend(self.claim_items(&token.uid, &r.claims)?);
        if let Some(g) = &r.clear_guard {
            items.push((
                self.delete_item(item::user_pk(&token.uid), g)?,
                Conflict::Token,
            ));
        }
        // Identities beyond what the transaction holds go first, each in its own transaction:
        // they are on their way out whatever happens to the redemption.
        let (inline, early) = r
            .delete_identities
            .split_at(r.delete_identities.len().min(MAX_IDENTITIES_IN_TRANSACTION));
        for identity in early {
            self.delete_identity(identity).await?;
        }
        items.extend(self.identities_delete_items(inline, Conflict::ProfileCondition)?);
        let (inline, early) = r
            .delete_passkeys
            .split_at(r.delete_passkeys.len().min(MAX_PASSKEYS_IN_TRANSACTION));
        for p in early {
            // Each with its count, and only if still there (a resend of a landed one finds it
            // gone: nothing is counted off twice).
            let mut gone = self.passkey_delete_items(p, true, Conflict::Token)?;
            gone.push((self.count_down(&p.uid)?, Conflict::ProfileCondition));
            match self.transact(gone).await {
                Ok(()) | Err(WriteError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for p in inline {
            items.extend(self.passkey_delete_items(p, false, Conflict::ProfileCondition)?);
        }
        let room = account_core::store::session_room(&r);
        for sid in r.delete_sessions.iter().take(room) {
            items.push((
                self.delete_item(item::user_pk(&token.uid), &item::session_sk(sid))?,
                Conflict::ProfileCondition,
            ));
        }
        self.transact(items).await?;
        if r.delete_sessions.len() > room {
            self.delete_sessions(&token.uid, &r.delete_sessions[room..])
                .await?;
        }
        Ok(())
    }

    /// One `PutItem` of an MFA challenge, only where none is stored: a used challenge stays
    /// (marked `used`, until its TTL) so that this write, delivered late after the challenge
    /// was passed, cannot bring it back with a fresh attempt budget. A retry of an attempt that
    /// landed (its answer lost) finds this very challenge, unused: that is success.
    async fn put_challenge(&self, c: &account_core::item::ChallengeItem) -> Result<()> {
        let item = to_item(c)?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(f))
                    if f.item.as_ref() == Some(&item) =>
                {
                    Ok(())
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    /// One `DeleteItem` of an MFA challenge.
    async fn delete_challenge(&self, c: &account_core::item::ChallengeItem) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(c.pk.clone(), &c.sk)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One conditional `UpdateItem`: reserve one attempt at an MFA challenge before its code is
    /// compared (`ADD attempts 1` while unexpired, unused and below `max_attempts`), returning
    /// the challenge. `None` when it is gone, expired, passed or used up: a challenge burns after
    /// `max_attempts` codes, however many arrive in parallel.
    async fn attempt_challenge(
        &self,
        uid: &str,
        id: &str,
        max_attempts: u32,
        now: Millis,
    ) -> Result<Option<account_core::item::ChallengeItem>> {
        let res = self
            .send_update(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(item::user_pk(uid), &item::challenge_sk(id))))
                    .update_expression("ADD attempts :one")
                    .condition_expression(
                        "attribute_exists(PK) AND expire > :now AND attribute_not_exists(#used) \
                 AND (attribute_not_exists(attempts) OR attempts < :max)",
                    )
                    .expression_attribute_names("#used", item::CHALLENGE_USED)
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                    .expression_attribute_values(
                        ":max",
                        AttributeValue::N(max_attempts.to_string()),
                    ),
            )
            .await?;
        res.map(from_item).transpose()
    }

    /// One `TransactWriteItems` undoing a token issue that also created its user: the token, the
    /// profile, its email/phone claims and, with a user limit, its place in the counter.
    async fn withdraw_new_user(&self, user: &UserItem, token: &TokenItem) -> Result<()> {
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
