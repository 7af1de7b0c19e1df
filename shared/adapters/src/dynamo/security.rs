//! Rate-limit counters, API keys and security logs.

use super::*;

#[async_trait::async_trait]
impl Security for DynamoStore {
    /// One conditional `UpdateItem`: count a hit if the counter is below `limit`. Returns the new
    /// count, or `None` when the limit was already reached (the hit is not counted).
    async fn hit_counter(&self, counter: &str, limit: u32, expires_at: i64) -> Result<Option<u32>> {
        let res = self
            .send_update(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(counter.to_owned(), "RL")))
                    .update_expression(
                        "ADD n :one SET expires_at = if_not_exists(expires_at, :exp)",
                    )
                    .condition_expression("attribute_not_exists(n) OR n < :limit")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
                    .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string())),
            )
            .await?;
        Ok(res.map(|it| {
            it.get("n")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(limit)
        }))
    }

    /// One `TransactWriteItems` of conditional `ADD n 1` updates (the message budgets: a
    /// message refused by one budget counts against none).
    async fn hit_counters(&self, counters: &[(String, u32, i64)]) -> Result<Option<usize>> {
        let mut items = vec![];
        for (i, (counter, limit, expires_at)) in counters.iter().enumerate() {
            let up = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(counter.clone(), "RL")))
                .update_expression("ADD n :one SET expires_at = if_not_exists(expires_at, :exp)")
                .condition_expression("attribute_not_exists(n) OR n < :limit")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
                .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().update(up).build(),
                Conflict::Counter(i),
            ));
        }
        if items.is_empty() {
            return Ok(None);
        }
        match self.transact(items).await {
            Ok(()) => Ok(None),
            Err(WriteError::Conflict(Conflict::Counter(i))) => Ok(Some(i)),
            Err(WriteError::Conflict(c)) => Err(Error::internal(format!("{c:?}"))),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// `BatchWriteItem` deleting rate-limit counters (reset on success).
    async fn delete_counters(&self, counters: &[String]) -> Result<()> {
        if counters.is_empty() {
            return Ok(());
        }
        let mut reqs = vec![];
        for c in counters {
            let del = DeleteRequest::builder()
                .set_key(Some(key(c.clone(), "RL")))
                .build()
                .map_err(internal)?;
            reqs.push(WriteRequest::builder().delete_request(del).build());
        }
        self.client
            .batch_write_item()
            .request_items(&self.table, reqs)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `GetItem` of an API key by ID.
    async fn get_api_key(&self, id: &str) -> Result<Option<account_core::keys::KeyItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                account_core::keys::key_pk(id),
                account_core::keys::KEY_SK,
            )))
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    async fn put_api_key(&self, k: &account_core::keys::KeyItem) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(k)?))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Returns whether the key existed.
    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        self.delete_reporting(key(
            account_core::keys::key_pk(id),
            account_core::keys::KEY_SK,
        ))
        .await
    }

    /// Every API key: a filtered `Scan` (operator CLI only, never on a request path).
    async fn list_api_keys(&self) -> Result<Vec<account_core::keys::KeyItem>> {
        let mut keys = vec![];
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("SK = :sk AND begins_with(PK, :p)")
                .expression_attribute_values(":sk", s(account_core::keys::KEY_SK))
                .expression_attribute_values(":p", s("KEY#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for it in out.items.unwrap_or_default() {
                keys.push(from_item(it)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(keys)
    }

    /// `PutItem` per entry, in parallel (usually one).
    async fn put_logs(&self, logs: &[account_core::item::LogItem]) -> Result<()> {
        let puts = logs.iter().map(|l| async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(l)?))
                .send()
                .await
                .map_err(sdk_err)?;
            Ok::<(), Error>(())
        });
        futures_util::future::try_join_all(puts).await.map(|_| ())
    }

    /// Newest first: one `Query` for the page and, when `with_total`, one `Select=COUNT` query
    /// (stopping at `count_cap`), in parallel.
    async fn list_logs(
        &self,
        uid: &str,
        limit: usize,
        offset: usize,
        with_total: bool,
        count_cap: usize,
    ) -> Result<(Vec<account_core::item::LogItem>, usize)> {
        let page = async {
            let mut items = vec![];
            let mut start: Option<Item> = None;
            loop {
                let want = (offset + limit).saturating_sub(items.len()).max(1);
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", s(account_core::item::log_pk(uid)))
                    .scan_index_forward(false)
                    .limit(i32::try_from(want).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                items.extend(out.items.unwrap_or_default());
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() && items.len() < offset + limit => start = Some(k),
                    _ => break,
                }
            }
            items
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(from_item)
                .collect::<Result<Vec<_>>>()
        };
        let total = async {
            if !with_total {
                return Ok(0);
            }
            let mut n = 0usize;
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", s(account_core::item::log_pk(uid)))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .limit(i32::try_from(count_cap - n).unwrap_or(1).max(1))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                n += usize::try_from(out.count).unwrap_or(0);
                match out.last_evaluated_key {
                    // Counting stops at the cap, as Appwrite's totals do.
                    Some(k) if !k.is_empty() && n < count_cap => start = Some(k),
                    _ => break,
                }
            }
            Ok::<usize, Error>(n)
        };
        let (page, total) = tokio::join!(page, total);
        Ok((page?, total?))
    }
}
