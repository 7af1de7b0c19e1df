//! The table itself: creating it (local development and tests) and reading it whole (the
//! operator's consistency check).

use super::*;

impl DynamoStore {
    /// Every item as JSON (a paginated, consistent `Scan`), for `invariants::check`: the
    /// operator's consistency check only, never a request path (no function may `Scan`).
    pub async fn scan_items(&self) -> Result<Vec<serde_json::Value>> {
        let mut items = vec![];
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for it in out.items.unwrap_or_default() {
                items.push(serde_dynamo::from_item(it).map_err(internal)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Create the table (PK/SK, on-demand, TTL on `expires_at`) if it does not exist.
    /// For local development and tests; production tables come from `template.yaml`.
    pub async fn ensure_table(&self) -> Result<()> {
        if self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let ks = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("PK").map_err(internal)?)
            .attribute_definitions(attr("SK").map_err(internal)?)
            .key_schema(ks("PK", KeyType::Hash).map_err(internal)?)
            .key_schema(ks("SK", KeyType::Range).map_err(internal)?)
            .send()
            .await;
        if let Err(e) = created {
            // Another process may have created it meanwhile.
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception())
            {
                return Err(sdk_err(e));
            }
        }
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("expires_at")
            .build();
        let ttl = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl.map_err(internal)?)
            .send()
            .await;
        match ttl {
            Ok(_) => Ok(()),
            // DynamoDB refuses to enable TTL twice: the process that created the table did.
            Err(e)
                if e.as_service_error()
                    .and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::message)
                    .is_some_and(|m| m.contains("already enabled")) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }
}
