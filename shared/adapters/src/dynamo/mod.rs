//! The store over DynamoDB: the only module that talks to the table. Every function is one
//! round trip unless its doc says otherwise. Item types and key layout: `item.rs`,
//! `infra/storage.md`.

use account_core::clock::Millis;
use account_core::error::{Error, Result};
use account_core::item::{self, EmailItem, PhoneItem, SessionItem, TokenItem, UserItem};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest,
    KeySchemaElement, KeyType, KeysAndAttributes, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

mod accounts;
mod identities;
mod passkeys;
mod recorder;
mod resend;
mod security;
mod sessions;
mod table;
mod templates;
mod tokens;

use account_core::store::{
    Accounts, Claims, Conflict, Expect, Redeemable, Redemption, Security, Sessions, Storage,
    Tokens, WriteError, MAX_IDENTITIES_IN_TRANSACTION, MAX_PASSKEYS_IN_TRANSACTION,
    MAX_SESSIONS_IN_TRANSACTION,
};
pub use recorder::{Recorder, Sent};
use resend::*;

/// The single table in DynamoDB: the production store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    user_limit: u32,
    timeouts: Timeouts,
}

fn internal<E: std::fmt::Display>(e: E) -> Error {
    Error::internal(e)
}

/// An SDK failure after the retry policy gave up. A dependency that timed out, dropped the
/// connection, or kept throttling or failing is *unavailable* (503: the client may retry);
/// anything else is a bug of ours (500). Both keep the SDK's account for the log.
fn sdk_err<E>(e: aws_sdk_dynamodb::error::SdkError<E>) -> Error
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
{
    let transient_code = e
        .as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| {
            matches!(
                c,
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
                    | "TransactionConflictException"
            )
        });
    let network = network_failure(&e);
    let unavailable = transient_code || network;
    let detail = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
    if unavailable {
        Error {
            source: Some(detail),
            ..Error::new(account_core::error::ErrorType::Unavailable)
        }
    } else {
        Error::internal(detail)
    }
}

/// Whether the network failed under a call: a timeout, an I/O error, a connection closed before
/// the answer (the SDK's "transient" connector errors), or an answer cut off. Missing credentials
/// or a bad endpoint are ours to fix, not the network's.
fn network_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool {
    use aws_sdk_dynamodb::error::SdkError;
    use aws_smithy_types::retry::ErrorKind;
    match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => {
            d.is_timeout() || d.is_io() || d.as_other() == Some(ErrorKind::TransientError)
        }
        _ => false,
    }
}

pub use account_core::config::Timeouts;

fn dynamodb_timeouts(t: Timeouts) -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(t.attempt)
        .operation_attempt_timeout(t.attempt)
        .operation_timeout(t.operation)
        .build()
}

/// Standard retries (throttling, 500s, timeouts, dropped connections), up to 5 attempts within
/// the operation timeout, short back-off: a request waits for DynamoDB, not for a schedule built
/// for batch jobs. Every write is safe to resend (README "Timeouts"): a transaction carries one
/// `ClientRequestToken` for all its attempts, a single-item conditional write leaves its nonce
/// ([`NONCE`]) and recognises it, and the rest are idempotent as written.
fn dynamodb_retries() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(std::time::Duration::from_millis(20))
        .with_max_backoff(std::time::Duration::from_millis(200))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

fn to_item<T: Serialize>(v: &T) -> Result<Item> {
    serde_dynamo::to_item(v).map_err(internal)
}

fn from_item<T: DeserializeOwned>(i: Item) -> Result<T> {
    serde_dynamo::from_item(i).map_err(internal)
}

impl DynamoStore {
    /// The project's user counter moved by `delta` (`USER_LIMIT`); an increment only succeeds
    /// while the count is below the limit, so the limit holds under races.
    fn user_counter_item(&self, delta: i64) -> Result<TransactWriteItem> {
        let mut up = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                item::USER_COUNTER_PK.to_owned(),
                item::USER_COUNTER_SK,
            )))
            .update_expression("ADD n :delta")
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
        if delta > 0 {
            up = up
                .condition_expression("attribute_not_exists(n) OR n < :limit")
                .expression_attribute_values(
                    ":limit",
                    AttributeValue::N(self.user_limit.to_string()),
                );
        }
        Ok(TransactWriteItem::builder()
            .update(up.build().map_err(internal)?)
            .build())
    }

    /// One `BatchGetItem` (strongly consistent, following unprocessed keys): a user's profile and
    /// the items of its partition at `sks` (duplicates asked once, missing ones absent).
    async fn profile_and<T: DeserializeOwned>(
        &self,
        uid: &str,
        sks: &[String],
    ) -> Result<(Option<UserItem>, Vec<T>)> {
        let mut keys = vec![key(item::user_pk(uid), item::PROFILE_SK)];
        for sk in sks {
            let k = key(item::user_pk(uid), sk);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let (mut user, mut others) = (None, vec![]);
        for it in self.batch_get(keys).await? {
            let profile = it
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|sk| sk == item::PROFILE_SK);
            if profile {
                user = Some(from_item(it)?);
            } else {
                others.push(from_item(it)?);
            }
        }
        Ok((user, others))
    }

    /// The items at `keys` (at most 100), strongly consistent: one `BatchGetItem`, and another
    /// only for keys DynamoDB left unprocessed.
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(internal)?,
        );
        let mut found = vec![];
        while let Some(req) = request.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, req)
                .send()
                .await
                .map_err(sdk_err)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(found)
    }

    /// The items of a user's partition whose sort key begins with `prefix` (strongly
    /// consistent, every page).
    pub(super) async fn query_prefix<T: DeserializeOwned>(
        &self,
        uid: &str,
        prefix: &str,
    ) -> Result<Vec<T>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", s(item::user_pk(uid)))
            .expression_attribute_values(":p", s(prefix));
        self.query_all(query)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// One `DeleteItem` of the item at `k` only while its `attr` is `value`: an item that has
    /// moved on (replaced, or gone) is left alone, and that is no error. Safe to resend.
    pub(super) async fn delete_while(&self, k: Item, attr: &str, value: String) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .condition_expression("#a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", s(value))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Every item a `Query` matches, following `LastEvaluatedKey` across pages.
    async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>> {
        let mut items = vec![];
        let mut start: Option<Item> = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

/// The item a conditional `UpdateItem … ReturnValues=ALL_NEW` wrote, or `None` when its condition
/// failed (the item is gone, expired, …).
fn updated<T: DeserializeOwned>(res: UpdateResult) -> Result<Option<T>> {
    match res {
        Ok(out) => out.attributes.map(from_item).transpose(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_err(e)),
    }
}

type UpdateResult = std::result::Result<
    aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
>;

/// Resends after losing a race with a concurrent transaction (or meeting our own attempt still
/// in progress), and the pause before each.
const RACE_RETRIES: u32 = 3;

/// Resends of a write that resends itself, as many as the SDK's own attempts allow.
const MAX_RESENDS: u32 = 4;

/// The attribute in which a single-item conditional write leaves its nonce: a resend of an
/// attempt that landed (its answer lost to a 500, a timeout, a dropped connection) fails its
/// condition `#rq <> :rq`, and the item DynamoDB returns with the failure names the writer.
pub(super) const NONCE: &str = "rq";

/// `SET`/`REMOVE` expression for the attributes that differ between two versions of an item.
struct Diff {
    expression: String,
    names: HashMap<String, String>,
    values: Item,
}

fn diff<T: Serialize>(old: &T, new: &T) -> Result<Option<Diff>> {
    let (o, n) = (to_item(old)?, to_item(new)?);
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut sets = vec![];
    let mut removes = vec![];
    let mut keys: Vec<&String> = n.keys().chain(o.keys()).collect();
    keys.sort();
    keys.dedup();
    for (i, k) in keys.into_iter().enumerate() {
        if k == "PK" || k == "SK" {
            continue;
        }
        match (o.get(k), n.get(k)) {
            (a, Some(b)) if a != Some(b) => {
                names.insert(format!("#a{i}"), k.clone());
                values.insert(format!(":v{i}"), b.clone());
                sets.push(format!("#a{i} = :v{i}"));
            }
            (Some(_), None) => {
                names.insert(format!("#a{i}"), k.clone());
                removes.push(format!("#a{i}"));
            }
            _ => {}
        }
    }
    if sets.is_empty() && removes.is_empty() {
        return Ok(None);
    }
    let mut expression = String::new();
    if !sets.is_empty() {
        expression.push_str(&format!("SET {}", sets.join(", ")));
    }
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    Ok(Some(Diff {
        expression,
        names,
        values,
    }))
}

/// The condition fragment for expectation `i`, with the attribute names and the value it uses
/// (`#x<i>_<j>`, `:x<i>`).
fn expect_condition(e: &Expect, i: usize) -> (String, Vec<(String, String)>, AttributeValue) {
    let (path, value): (&[&str], AttributeValue) = match e {
        Expect::Accessed(t) => (&["accessed"], AttributeValue::N(t.to_string())),
        Expect::TotpStep(n) => (&["totp", "lastStep"], AttributeValue::N(n.to_string())),
        Expect::RecoveryCodes(c) => (&["recoveryCodes"], s(c.clone())),
        Expect::Email(e) => (&["email"], s(e.clone())),
        Expect::Phone(p) => (&["phone"], s(p.clone())),
        Expect::Password(p) => (&["password"], s(p.clone())),
        Expect::Passkeys(n) => (&["passkeys"], AttributeValue::N(n.to_string())),
    };
    let names: Vec<(String, String)> = path
        .iter()
        .enumerate()
        .map(|(j, part)| (format!("#x{i}_{j}"), (*part).to_owned()))
        .collect();
    let attr = names
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(".");
    let fragment = match e {
        // Profiles written before `lastStep` existed lack it: step 0 accepts that too.
        Expect::TotpStep(0) => format!("(attribute_not_exists({attr}) OR {attr} = :x{i})"),
        // A profile without passkeys may lack the count (or hold 0 after a deletion).
        Expect::Passkeys(0) => format!("(attribute_not_exists({attr}) OR {attr} = :x{i})"),
        _ => format!("{attr} = :x{i}"),
    };
    (fragment, names, value)
}

impl DynamoStore {
    /// Client from the standard AWS configuration chain (`AWS_ENDPOINT_URL` honoured).
    pub async fn from_env(table: &str) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(&sdk, table)
    }

    /// A store with the production [`Timeouts`].
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Self::with_timeouts(sdk, table, Timeouts::default())
    }

    pub fn with_timeouts(sdk: &aws_config::SdkConfig, table: &str, timeouts: Timeouts) -> Self {
        Self::build(sdk, table, timeouts, None)
    }

    /// A store whose operations `recorder` sees: for the round-trip and concurrency tests only.
    pub fn recorded(
        sdk: &aws_config::SdkConfig,
        table: &str,
        timeouts: Timeouts,
        recorder: &Recorder,
    ) -> Self {
        Self::build(sdk, table, timeouts, Some(recorder.clone()))
    }

    fn build(
        sdk: &aws_config::SdkConfig,
        table: &str,
        timeouts: Timeouts,
        recorder: Option<Recorder>,
    ) -> Self {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(dynamodb_timeouts(timeouts))
            .retry_config(dynamodb_retries());
        if let Some(r) = recorder {
            conf = conf.interceptor(r);
        }
        Self {
            client: Client::from_conf(conf.build()),
            table: table.to_owned(),
            user_limit: 0,
            timeouts,
        }
    }

    /// The SDK client, for tests that inspect the table directly.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Open the TLS connection during Init so the first request does not pay for it.
    async fn open_connection(&self) {
        let _ = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
    }

    fn put_new(&self, it: Item) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(it))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_key(&self, pk: String, sk: &str, uid: &str) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_not_exists(PK) OR uid = :uid")
            .expression_attribute_values(":uid", s(uid))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// Run a transaction; map a cancelled one to the [`Conflict`] of the first failed condition.
    async fn transact(&self, items: Vec<(TransactWriteItem, Conflict)>) -> Result<(), WriteError> {
        let (writes, reasons): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        // One token for every attempt and resend of this write: DynamoDB applies a repeat of a
        // transaction that succeeded once (for 10 minutes) and answers it as a success, so a
        // resend after a 500 or a timeout cannot apply twice nor fail on its own first write. A
        // cancelled transaction leaves no record, so a resend after a race runs afresh.
        let token = write_token().map_err(WriteError::Other)?;
        let mut attempt = 0;
        loop {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let Err(e) = res else { return Ok(()) };
            let codes: Vec<Option<String>> = match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc)) => tc
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_owned))
                    .collect(),
                _ => vec![],
            };
            let failed = codes
                .iter()
                .position(|c| c.as_deref() == Some("ConditionalCheckFailed"));
            if let Some(c) = failed.and_then(|i| reasons.get(i)) {
                return Err(WriteError::Conflict(*c));
            }
            // Lost a race with another transaction on one of these items: DynamoDB asks us to
            // try again (the retry then sees the winner's write through the conditions).
            let throttled = codes.iter().any(|c| {
                matches!(
                    c.as_deref(),
                    Some("ThrottlingError" | "ProvisionedThroughputExceeded")
                )
            });
            if throttled {
                return Err(WriteError::Other(Error {
                    source: Some(format!("transaction throttled: {codes:?}")),
                    ..Error::new(account_core::error::ErrorType::Unavailable)
                }));
            }
            // Our own earlier attempt, still in progress under the same token, answers
            // `TransactionInProgressException`: wait for it like for a race.
            let in_progress = e
                .as_service_error()
                .and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code)
                .is_some_and(|c| c == "TransactionInProgressException");
            let raced = in_progress
                || codes
                    .iter()
                    .any(|c| c.as_deref() == Some("TransactionConflict"));
            if raced && attempt < RACE_RETRIES {
                attempt += 1;
                race_pause(attempt).await;
                continue;
            }
            return Err(WriteError::Other(sdk_err(e)));
        }
    }

    /// Send a counting, conditional `UpdateItem` (a budget reservation, a counter, an attempt;
    /// its expression `ADD …` or `ADD … SET …`), with the SDK's retries, made safe to repeat: the write leaves a fresh [`NONCE`] and is
    /// refused where that nonce already is. A resend of an attempt that landed (its answer lost)
    /// is therefore refused, and the item DynamoDB returns with the refusal shows our nonce:
    /// applied once, counted once. Returns the item after the write, or `None` when the
    /// condition refused it. Should another write have moved the item between our attempt and
    /// its resend, the nonce is gone and the resend counts again: a limit counted twice errs on
    /// the safe side, and a success is never counted twice.
    async fn send_update(
        &self,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<Option<Item>> {
        let nonce = write_token()?;
        let mut expression = update.get_update_expression().clone().unwrap_or_default();
        match expression.find("SET ") {
            Some(i) => expression.insert_str(i + 4, "#rq = :rq, "),
            None => expression.push_str(" SET #rq = :rq"),
        }
        let condition = match update.get_condition_expression() {
            Some(c) => format!("({c}) AND (attribute_not_exists(#rq) OR #rq <> :rq)"),
            None => "attribute_not_exists(#rq) OR #rq <> :rq".to_owned(),
        };
        let update = update
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#rq", NONCE)
            .expression_attribute_values(":rq", s(nonce.clone()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let res = past_transactions(|| update.clone().send()).await;
        match res {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(f)) => {
                    let ours = f
                        .item
                        .as_ref()
                        .and_then(|i| i.get(NONCE))
                        .is_some_and(|v| v.as_s().is_ok_and(|n| *n == nonce));
                    Ok(ours.then(|| f.item.clone().unwrap_or_default()))
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    /// One `DeleteItem` that reports whether the item existed, resent by hand (the SDK's retries
    /// off) after a transient failure: a resend of a delete that landed finds nothing, and that
    /// must still read as "deleted" (the caller read the item just before), not as "not found".
    /// A refusal that certainly wrote nothing ([`unwritten`]) leaves the answer to the resend.
    async fn delete_reporting(&self, k: Item) -> Result<bool> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .return_values(ReturnValue::AllOld);
        let deadline = tokio::time::Instant::now() + self.timeouts.operation;
        let mut unknown = false;
        let mut attempt = 0;
        loop {
            let res = delete
                .clone()
                .customize()
                .config_override(no_retries())
                .send()
                .await;
            match res {
                Ok(out) => return Ok(unknown || out.attributes.is_some_and(|a| !a.is_empty())),
                Err(e)
                    if transient(&e)
                        && attempt < MAX_RESENDS
                        && tokio::time::Instant::now() < deadline =>
                {
                    unknown |= !unwritten(&e);
                    attempt += 1;
                    race_pause(attempt).await;
                }
                Err(e) => return Err(sdk_err(e)),
            }
        }
    }

    /// A transaction `Update` of the attributes that differ between two versions of an item,
    /// conditioned on the item existing; `None` when nothing changed.
    fn update_item_tx<T: Serialize>(
        &self,
        pk: String,
        sk: &str,
        old: &T,
        new: &T,
    ) -> Result<Option<TransactWriteItem>> {
        let Some(d) = diff(old, new)? else {
            return Ok(None);
        };
        let up = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(d.expression)
            .condition_expression("attribute_exists(PK)")
            .set_expression_attribute_names(Some(d.names))
            .set_expression_attribute_values((!d.values.is_empty()).then_some(d.values))
            .build()
            .map_err(internal)?;
        Ok(Some(TransactWriteItem::builder().update(up).build()))
    }

    /// A profile update that also requires each of `expect` to still hold (optimistic
    /// concurrency: the transaction fails with `ProfileCondition` if another write got there
    /// first). With expectations, the update is written even when nothing else changed.
    fn update_user_item_expecting(
        &self,
        old: &UserItem,
        new: &UserItem,
        expect: &[Expect],
    ) -> Result<Option<TransactWriteItem>> {
        if expect.is_empty() {
            return self.update_item_tx(item::user_pk(&old.id), item::PROFILE_SK, old, new);
        }
        let d = diff(old, new)?.unwrap_or_else(|| Diff {
            // A no-op write that still carries the condition.
            expression: "SET #a_id = :v_id".into(),
            names: HashMap::from([("#a_id".to_owned(), "id".to_owned())]),
            values: HashMap::from([(":v_id".to_owned(), s(old.id.clone()))]),
        });
        let (mut names, mut values) = (d.names, d.values);
        let mut condition = "attribute_exists(PK)".to_owned();
        for (i, e) in expect.iter().enumerate() {
            let (fragment, attr_names, value) = expect_condition(e, i);
            condition.push_str(&format!(" AND {fragment}"));
            names.extend(attr_names);
            values.insert(format!(":x{i}"), value);
        }
        let up = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&old.id), item::PROFILE_SK)))
            .update_expression(d.expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(internal)?;
        Ok(Some(TransactWriteItem::builder().update(up).build()))
    }
}

#[async_trait::async_trait]
impl Storage for DynamoStore {
    async fn prepare(&self) -> Result<()> {
        self.ensure_table().await
    }

    async fn warm_up(&self) {
        self.open_connection().await;
    }

    fn with_user_limit(mut self, limit: u32) -> Self {
        self.user_limit = limit;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_sets_changed_and_removes_missing() {
        let old = UserItem::new("u1", 1000);
        let mut new = old.clone();
        new.name = "Bob".into();
        new.updated = 2000;
        let d = diff(&old, &new).unwrap().unwrap();
        assert!(d.expression.starts_with("SET "), "{}", d.expression);
        let names: Vec<&String> = d.names.values().collect();
        assert!(names.contains(&&"name".to_string()) && names.contains(&&"updated".to_string()));
        assert_eq!(d.values.len(), 2);
        assert!(diff(&old, &old).unwrap().is_none());
    }

    #[test]
    fn user_item_round_trips_through_dynamo_types() {
        let mut u = UserItem::new("u1", 1000);
        u.email = Some("a@b.co".into());
        u.prefs = r#"{"a":[1,{"b":null}]}"#.into();
        let it = to_item(&u).unwrap();
        assert_eq!(it.get("PK"), Some(&s("USER#u1")));
        let back: UserItem = from_item(it).unwrap();
        assert_eq!(back, u);
    }
}
