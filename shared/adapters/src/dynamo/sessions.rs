//! Sessions: the index used by the session limit, creation, extension, deletion.

use super::*;

#[async_trait::async_trait]
impl Sessions for DynamoStore {
    /// `(sid, created)` of every session of a user: a keys-and-dates `Query` for eviction.
    async fn session_index(&self, uid: &str) -> Result<Vec<(String, Millis)>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", s(item::user_pk(uid)))
            .expression_attribute_values(":p", s(item::SESSION_PREFIX))
            .projection_expression("id, created");
        let rows = self.query_all(query).await?;
        Ok(rows
            .into_iter()
            .map(|it| {
                let id = it
                    .get("id")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let created = it
                    .get("created")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                (id, created)
            })
            .collect())
    }

    /// One `TransactWriteItems`: the session, conditioned on its user existing and not blocked.
    async fn create_session_for_active_user(
        &self,
        session: &SessionItem,
        clear_lockout: Option<&str>,
        expect_password: Option<&str>,
    ) -> Result<(), WriteError> {
        // Refreshes `accessedAt` and, through its condition, refuses blocked users and (password
        // logins) a password that changed after it was verified.
        let mut touch = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&session.uid), item::PROFILE_SK)))
            .update_expression("SET accessed = :now")
            .condition_expression("attribute_exists(PK) AND #st = :t")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", AttributeValue::N(session.created.to_string()));
        if let Some(phc) = expect_password {
            touch = touch
                .condition_expression("attribute_exists(PK) AND #st = :t AND password = :pw")
                .expression_attribute_values(":pw", s(phc));
        }
        let touch = touch.build().map_err(internal)?;
        let mut items = vec![
            (
                TransactWriteItem::builder().update(touch).build(),
                Conflict::ProfileCondition,
            ),
            (self.put_new(to_item(session)?)?, Conflict::User),
        ];
        if let Some(email) = clear_lockout {
            let clear = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(item::email_pk(email), item::EMAIL_SK)))
                .update_expression("SET failures = :zero REMOVE lastFailure")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().update(clear).build(),
                Conflict::ProfileCondition,
            ));
        }
        self.transact(items).await
    }

    /// One `UpdateItem`: set a session's expiry; `None` if it does not exist.
    async fn extend_session(
        &self,
        uid: &str,
        sid: &str,
        expire: Millis,
        now: Millis,
    ) -> Result<Option<SessionItem>> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), &item::session_sk(sid))))
            .update_expression("SET expire = :e, expires_at = :ttl, updated = :now")
            .condition_expression("attribute_exists(PK) AND expire > :now")
            .expression_attribute_values(":e", AttributeValue::N(expire.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N((expire / 1000).to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllNew);
        updated(past_transactions(|| update.clone().send()).await)
    }

    /// One `DeleteItem`: returns whether the session existed (see [`DynamoStore::delete_reporting`]).
    async fn delete_session(&self, uid: &str, sid: &str) -> Result<bool> {
        self.delete_reporting(key(item::user_pk(uid), &item::session_sk(sid)))
            .await
    }

    /// `BatchWriteItem` deletes, 25 keys per call, batches in parallel.
    async fn delete_sessions(&self, uid: &str, sids: &[String]) -> Result<()> {
        let batches = sids.chunks(25).map(|chunk| {
            let requests: Result<Vec<WriteRequest>> = chunk
                .iter()
                .map(|sid| {
                    let del = DeleteRequest::builder()
                        .set_key(Some(key(item::user_pk(uid), &item::session_sk(sid))))
                        .build()
                        .map_err(internal)?;
                    Ok(WriteRequest::builder().delete_request(del).build())
                })
                .collect();
            async move {
                let mut pending = requests?;
                while !pending.is_empty() {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, pending)
                        .send()
                        .await
                        .map_err(sdk_err)?;
                    pending = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                }
                Ok::<(), Error>(())
            }
        });
        for r in futures_util::future::join_all(batches).await {
            r?;
        }
        Ok(())
    }

    /// One `TransactWriteItems`: a profile change and a session change together, optionally
    /// consuming an MFA challenge (only if it still exists, unexpired and unused).
    async fn update_user_and_session(
        &self,
        user: (&UserItem, &UserItem),
        session: (&SessionItem, &SessionItem),
        consume: Option<(&account_core::item::ChallengeItem, Millis)>,
        expect: &[Expect],
    ) -> Result<(), WriteError> {
        let mut items = vec![];
        if let Some((c, now)) = consume {
            // Marked used, not deleted: see `put_challenge`.
            let used = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(c.pk.clone(), &c.sk)))
                .update_expression("SET #used = :now")
                .condition_expression(
                    "attribute_exists(PK) AND expire > :now AND attribute_not_exists(#used)",
                )
                .expression_attribute_names("#used", item::CHALLENGE_USED)
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().update(used).build(),
                Conflict::Token,
            ));
        }
        if let Some(up) = self.update_user_item_expecting(user.0, user.1, expect)? {
            // A failed expectation means a one-time code was used meanwhile.
            let c = if expect.is_empty() {
                Conflict::ProfileCondition
            } else {
                Conflict::Token
            };
            items.push((up, c));
        }
        if let Some(up) =
            self.update_item_tx(session.0.pk.clone(), &session.0.sk, session.0, session.1)?
        {
            items.push((up, Conflict::ProfileCondition));
        }
        if items.is_empty() {
            return Ok(());
        }
        self.transact(items).await
    }
}
