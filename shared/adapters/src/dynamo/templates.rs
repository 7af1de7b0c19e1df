//! The operator's message templates: one partition (`META#TEMPLATES`).

use super::*;
use account_core::custom_templates::{TemplateItem, TEMPLATES_PK};
use account_core::store::Templates;

#[async_trait::async_trait]
impl Templates for DynamoStore {
    /// One `Query` of the partition (a few items: one per message type and locale set). An
    /// item that does not read as a template is left out (logged): its message gets the
    /// built-in text, the others keep theirs.
    async fn list_templates(&self) -> Result<Vec<TemplateItem>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(TEMPLATES_PK))
            .consistent_read(true);
        Ok(self
            .query_all(query)
            .await?
            .into_iter()
            .filter_map(|item| {
                let sk = item.get("SK").and_then(|v| v.as_s().ok()).cloned();
                from_item(item)
                    .map_err(|e| tracing::warn!(sk = ?sk, error = %e.message, "unreadable template left out"))
                    .ok()
            })
            .collect())
    }

    /// One conditional `PutItem` (`attribute_not_exists(PK)` for a new template, else
    /// `version = :replaces`). A resend whose first attempt landed finds its own item and
    /// succeeds: the SDK's retries stay safe.
    async fn put_template(&self, t: &TemplateItem, replaces: u64) -> Result<bool> {
        let item = to_item(t)?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let put = match replaces {
            0 => put.condition_expression("attribute_not_exists(PK)"),
            n => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(n.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(f)) => {
                    Ok(f.item.as_ref() == Some(&item))
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn delete_template(&self, sk: &str) -> Result<bool> {
        self.delete_reporting(key(TEMPLATES_PK.to_owned(), sk))
            .await
    }
}
