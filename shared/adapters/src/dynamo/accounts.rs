//! Profiles and their unique-key claims (email, phone): reads, creation, changes.

use super::*;

impl DynamoStore {
    /// Transaction items creating a user: the profile, its claims and, with a user limit, the
    /// project's user counter (`ADD n 1` only while `n < limit`, so the limit holds under races).
    /// With `check_identity_email`, the address must not be another user's identity email (an
    /// OAuth2 sign-in checks it through its own identity write instead).
    pub(super) fn new_user_items(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        check_identity_email: bool,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut items = vec![(self.put_new(to_item(user)?)?, Conflict::User)];
        if let Some(e) = email {
            items.push((self.put_new(to_item(e)?)?, Conflict::Email));
            if let (true, Some(address)) = (check_identity_email, user.email.as_deref()) {
                items.push((
                    self.identity_email_free(address, None)?,
                    Conflict::IdentityEmail,
                ));
            }
        }
        if let Some(p) = phone {
            items.push((self.put_new(to_item(p)?)?, Conflict::Phone));
        }
        if self.user_limit > 0 {
            items.push((self.user_counter_item(1)?, Conflict::UserLimit));
        }
        Ok(items)
    }

    /// A transaction condition: no identity of another user than `owner` (of anyone, with `None`)
    /// carries `email` as its provider email.
    pub(super) fn identity_email_free(
        &self,
        email: &str,
        owner: Option<&str>,
    ) -> Result<TransactWriteItem> {
        let mut check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                item::identity_email_pk(email),
                item::IDENTITY_EMAIL_SK,
            )));
        // Unmarked reservations (no `v`) were made before only verified addresses were
        // reserved: they bind nobody (`item::identity_email_pk`).
        check = match owner {
            None => {
                check.condition_expression("attribute_not_exists(ids) OR attribute_not_exists(v)")
            }
            Some(uid) => check
                .condition_expression(
                    "attribute_not_exists(ids) OR attribute_not_exists(v) OR uid = :owner",
                )
                .expression_attribute_values(":owner", s(uid)),
        };
        Ok(TransactWriteItem::builder()
            .condition_check(check.build().map_err(internal)?)
            .build())
    }

    /// Transaction items for unique-key claims and the email claim's password copy. Setting the
    /// password copy also clears the login lockout (a new password is a fresh start).
    pub(super) fn claim_items(
        &self,
        uid: &str,
        claims: &Claims,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut items = vec![];
        if let Some(e) = &claims.put_email {
            items.push((self.put_new(to_item(e)?)?, Conflict::Email));
            let address = e.pk.strip_prefix("EMAIL#").unwrap_or_default();
            items.push((
                self.identity_email_free(address, Some(uid))?,
                Conflict::IdentityEmail,
            ));
        }
        if let Some(e) = &claims.delete_email {
            items.push((
                self.delete_key(item::email_pk(e), item::EMAIL_SK, uid)?,
                Conflict::ProfileCondition,
            ));
        }
        if let Some(p) = &claims.put_phone {
            items.push((self.put_new(to_item(p)?)?, Conflict::Phone));
        }
        if let Some(p) = &claims.delete_phone {
            items.push((
                self.delete_key(item::phone_pk(p), item::PHONE_SK, uid)?,
                Conflict::ProfileCondition,
            ));
        }
        for kind in &claims.revoke_tokens {
            items.push((
                self.delete_item(item::user_pk(uid), &item::token_sk(kind))?,
                Conflict::ProfileCondition,
            ));
        }
        if let Some((email, password)) = &claims.email_password {
            let mut up = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(item::email_pk(email), item::EMAIL_SK)))
                .condition_expression("uid = :uid")
                .expression_attribute_values(":uid", s(uid))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()));
            up = match password {
                Some(p) => up
                    .update_expression("SET password = :p, failures = :zero REMOVE lastFailure")
                    .expression_attribute_values(":p", s(p)),
                None => up.update_expression("SET failures = :zero REMOVE password, lastFailure"),
            };
            items.push((
                TransactWriteItem::builder()
                    .update(up.build().map_err(internal)?)
                    .build(),
                Conflict::ProfileCondition,
            ));
        }
        Ok(items)
    }
}

#[async_trait::async_trait]
impl Accounts for DynamoStore {
    /// One `BatchGetItem` (strongly consistent): the profile and the named sessions of one user.
    async fn get_user_and_sessions(
        &self,
        uid: &str,
        sids: &[&str],
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)> {
        let sks: Vec<String> = sids.iter().map(|s| item::session_sk(s)).collect();
        self.profile_and(uid, &sks).await
    }

    /// One `Query` (strongly consistent): the profile and every session of a user.
    async fn get_user_with_all_sessions(
        &self,
        uid: &str,
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(item::user_pk(uid)))
            .expression_attribute_values(":lo", s(item::PROFILE_SK))
            .expression_attribute_values(":hi", s(format!("{}~", item::SESSION_PREFIX)));
        let (mut user, mut sessions) = (None, vec![]);
        for it in self.query_all(query).await? {
            let sk = it
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == item::PROFILE_SK {
                user = Some(from_item(it)?);
            } else if sk.starts_with(item::SESSION_PREFIX) {
                sessions.push(from_item(it)?);
            }
        }
        sessions.sort_by(|a: &SessionItem, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok((user, sessions))
    }

    /// One `GetItem` of an email claim.
    async fn get_email(&self, email: &str) -> Result<Option<EmailItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item::email_pk(email), item::EMAIL_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    /// One `GetItem` of a phone claim.
    async fn get_phone(&self, phone: &str) -> Result<Option<PhoneItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item::phone_pk(phone), item::PHONE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    /// One `TransactWriteItems`: a new profile with its email/phone claims and optional first session.
    async fn create_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        session: Option<&SessionItem>,
    ) -> Result<(), WriteError> {
        let mut items = self.new_user_items(user, email, phone, true)?;
        if let Some(sess) = session {
            items.push((self.put_new(to_item(sess)?)?, Conflict::User));
        }
        self.transact(items).await
    }

    /// One `TransactWriteItems`: the user's items and, per identity, the identity and its claim
    /// (`attribute_not_exists(PK)` on every one).
    async fn import_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        identities: &[account_core::item::IdentityItem],
    ) -> Result<(), WriteError> {
        let mut items = self.new_user_items(user, email, phone, true)?;
        for i in identities {
            items.push((self.put_new(to_item(i)?)?, Conflict::User));
            items.push((self.put_new(to_item(&i.claim())?)?, Conflict::Identity));
        }
        self.transact(items).await
    }

    /// One `UpdateItem` writing the attributes that differ between `old` and `new`, stamped
    /// `updated`; returns the stored item after the update (`None` if the profile no longer
    /// exists).
    ///
    /// The write lands only on a profile stamped earlier than it. A plain `UpdateItem` is not
    /// idempotent: an attempt that stalled, was retried, and reached DynamoDB after a later
    /// change (disabling MFA after the user enabled it again, say) would undo that change. A
    /// stamped attempt arriving late is refused instead. When the condition refuses the live
    /// attempt and the profile DynamoDB returns is this very write (our earlier attempt, its
    /// answer lost), that is the result; after a concurrent change stamped at or after it, the
    /// change is applied again on the returned profile, stamped after it: the same outcome as an
    /// unconditional write, one more round trip.
    async fn update_user(&self, old: &UserItem, new: &UserItem) -> Result<Option<UserItem>> {
        if diff(old, new)?.is_none() {
            return Ok(Some(new.clone()));
        }
        // Stamped after what was read, even by a caller that did not move `updated`.
        let mut stamp = new.updated.max(old.updated + 1);
        for _ in 0..=RACE_RETRIES {
            let mut stamped = new.clone();
            stamped.updated = stamp;
            let Some(d) = diff(old, &stamped)? else {
                return Ok(Some(stamped));
            };
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(item::user_pk(&old.id), item::PROFILE_SK)))
                .update_expression(d.expression)
                .condition_expression(
                    "attribute_exists(PK) AND (attribute_not_exists(#stamp) OR #stamp < :stamp)",
                )
                .set_expression_attribute_names(Some(d.names))
                .expression_attribute_names("#stamp", "updated")
                .set_expression_attribute_values(Some(d.values))
                .expression_attribute_values(":stamp", AttributeValue::N(stamp.to_string()))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let res = past_transactions(|| update.clone().send()).await;
            match res {
                Ok(out) => return out.attributes.map(from_item).transpose(),
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        let Some(stored) = c.item.clone() else {
                            return Ok(None);
                        };
                        let stored: UserItem = from_item(stored)?;
                        // Our own attempt, landed and resent: the stamp names the write.
                        if diff(&stamped, &stored)?.is_none() {
                            return Ok(Some(stored));
                        }
                        stamp = stamp.max(stored.updated + 1);
                    }
                    _ => return Err(sdk_err(e)),
                },
            }
        }
        Err(Error::contended())
    }

    /// One `TransactWriteItems`: a profile change under `expect`, its claims, and the deletion
    /// of `sessions` (beyond [`MAX_SESSIONS_IN_TRANSACTION`], the rest follow in a
    /// `BatchWriteItem` after the transaction).
    async fn update_user_atomically(
        &self,
        old: &UserItem,
        new: &UserItem,
        claims: &Claims,
        expect: &[Expect],
        sessions: &[String],
    ) -> Result<(), WriteError> {
        let mut items = vec![];
        if let Some(up) = self.update_user_item_expecting(old, new, expect)? {
            items.push((up, Conflict::ProfileCondition));
        }
        items.extend(self.claim_items(&old.id, claims)?);
        for sid in sessions.iter().take(MAX_SESSIONS_IN_TRANSACTION) {
            items.push((
                self.delete_item(item::user_pk(&old.id), &item::session_sk(sid))?,
                Conflict::ProfileCondition,
            ));
        }
        if items.is_empty() {
            return Ok(());
        }
        self.transact(items).await?;
        if sessions.len() > MAX_SESSIONS_IN_TRANSACTION {
            self.delete_sessions(&old.id, &sessions[MAX_SESSIONS_IN_TRANSACTION..])
                .await?;
        }
        Ok(())
    }

    /// One conditional `UpdateItem`, before the password is checked: count this attempt on the
    /// email claim as a failure (a success clears it in its session transaction). Admitted while
    /// the account has fewer than `threshold` failures, or its last failure is older than
    /// `cutoff`; parallel guesses therefore cannot all read "0 failures" and all be checked.
    /// An unknown email fails the same condition (`attribute_exists`) and writes nothing.
    async fn reserve_login_attempt(
        &self,
        email: &str,
        threshold: u32,
        cutoff: Millis,
        now: Millis,
    ) -> Result<bool> {
        let res = self
            .send_update(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(item::email_pk(email), item::EMAIL_SK)))
                    .update_expression("ADD failures :one SET lastFailure = :now")
                    .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(failures) OR failures < :th \
                 OR attribute_not_exists(lastFailure) OR lastFailure <= :cutoff)",
            )
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                    .expression_attribute_values(":th", AttributeValue::N(threshold.to_string()))
                    .expression_attribute_values(":cutoff", AttributeValue::N(cutoff.to_string()))
            )
            .await?;
        Ok(res.is_some())
    }
}
