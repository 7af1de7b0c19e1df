//! DynamoDB access: the only module that talks to the table. Every function is one round trip
//! unless its doc says otherwise. Item types and key layout: `item.rs`, `infra/storage.md`.

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::item::{self, EmailItem, GuardItem, PhoneItem, SessionItem, TokenItem, UserItem};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, KeySchemaElement,
    KeyType, KeysAndAttributes, Put, ReturnValue, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Item = HashMap<String, AttributeValue>;

/// Counts DynamoDB operations (not retries) and remembers their names, for the round-trip tests.
#[derive(Debug)]
struct CallCounter(
    Arc<AtomicU64>,
    Arc<std::sync::Mutex<Vec<String>>>,
    Arc<InFlight>,
);

/// Operations on the wire now, and which pairs overlapped since the last reset: proves that calls
/// meant to run in parallel (a rate-limit counter beside a read) really do.
#[derive(Debug, Default)]
pub struct InFlight {
    now: std::sync::Mutex<Vec<String>>,
    overlaps: std::sync::Mutex<Vec<(String, String)>>,
}

fn target_name(headers: &aws_smithy_runtime_api::http::Headers) -> String {
    // `X-Amz-Target: DynamoDB_20120810.GetItem` names the operation.
    headers
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // `X-Amz-Target: DynamoDB_20120810.GetItem` names the operation.
        let name = target_name(context.request().headers());
        if let (Ok(mut now), Ok(mut overlaps)) = (self.2.now.lock(), self.2.overlaps.lock()) {
            for other in now.iter() {
                overlaps.push((name.clone(), other.clone()));
            }
            now.push(name.clone());
        }
        if let Ok(mut log) = self.1.lock() {
            // Bounded: a long-running server keeps only the recent operations.
            if log.len() >= 1024 {
                log.clear();
            }
            log.push(name);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(req), Ok(mut now)) = (context.request(), self.2.now.lock()) {
            let name = target_name(req.headers());
            if let Some(i) = now.iter().position(|n| *n == name) {
                now.remove(i);
            }
        }
        Ok(())
    }
}

/// Why a write that claims unique keys was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The user ID is taken.
    User,
    /// The email claim is taken.
    Email,
    /// The phone claim is taken.
    Phone,
    /// The profile is gone or (for session creation) the user is blocked.
    ProfileCondition,
    /// The token was already used or has expired.
    Token,
    /// The project's user limit is reached.
    UserLimit,
}

#[derive(Debug)]
pub enum WriteError {
    Conflict(Conflict),
    Other(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        Self::Other(e)
    }
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    calls: Arc<AtomicU64>,
    ops: Arc<std::sync::Mutex<Vec<String>>>,
    inflight: Arc<InFlight>,
    user_limit: u32,
}

fn internal<E: std::fmt::Display>(e: E) -> Error {
    Error::internal(e)
}

fn sdk_err<E: std::error::Error + 'static>(e: aws_sdk_dynamodb::error::SdkError<E>) -> Error {
    Error::internal(aws_sdk_dynamodb::error::DisplayErrorContext(e))
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

/// A unique-key claim written with a user change: put the new key, release the old one.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub put_email: Option<EmailItem>,
    pub delete_email: Option<String>,
    pub put_phone: Option<PhoneItem>,
    pub delete_phone: Option<String>,
    /// Refresh the password copy on the user's current email item.
    pub email_password: Option<(String, Option<String>)>,
}

impl Store {
    /// Client from the standard AWS configuration chain (`AWS_ENDPOINT_URL` honoured).
    pub async fn from_env(table: &str) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(&sdk, table)
    }

    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        let calls = Arc::new(AtomicU64::new(0));
        let ops = Arc::new(std::sync::Mutex::new(vec![]));
        let inflight = Arc::new(InFlight::default());
        let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(CallCounter(calls.clone(), ops.clone(), inflight.clone()))
            .build();
        Self {
            client: Client::from_conf(conf),
            table: table.to_owned(),
            calls,
            ops,
            inflight,
            user_limit: 0,
        }
    }

    /// DynamoDB operations issued by this store so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Names of the operations since the last call (`GetItem`, `TransactWriteItems`, …).
    pub fn take_ops(&self) -> Vec<String> {
        self.ops
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Pairs `(started, already on the wire)` of operations that overlapped since the last call.
    pub fn take_overlaps(&self) -> Vec<(String, String)> {
        self.inflight
            .overlaps
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }

    /// The SDK client, for tests that inspect the table directly.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Open the TLS connection during Init so the first request does not pay for it.
    pub async fn warm_up(&self) {
        let _ = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
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
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl.map_err(internal)?)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `BatchGetItem` (strongly consistent): the profile and the named sessions of one user.
    pub async fn get_user_and_sessions(
        &self,
        uid: &str,
        sids: &[&str],
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)> {
        let mut keys = vec![key(item::user_pk(uid), item::PROFILE_SK)];
        for sid in sids {
            let k = key(item::user_pk(uid), &item::session_sk(sid));
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(internal)?;
        let (mut user, mut sessions) = (None, vec![]);
        loop {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(sdk_err)?;
            for it in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                if it
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk == item::PROFILE_SK)
                {
                    user = Some(from_item(it)?);
                } else {
                    sessions.push(from_item(it)?);
                }
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => request = rest,
                _ => break,
            }
        }
        Ok((user, sessions))
    }

    /// One `Query` (strongly consistent): the profile and every session of a user.
    pub async fn get_user_with_all_sessions(
        &self,
        uid: &str,
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)> {
        let (mut user, mut sessions) = (None, vec![]);
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(item::user_pk(uid)))
                .expression_attribute_values(":lo", s(item::PROFILE_SK))
                .expression_attribute_values(":hi", s(format!("{}~", item::SESSION_PREFIX)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for it in out.items.unwrap_or_default() {
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
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        sessions.sort_by(|a: &SessionItem, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok((user, sessions))
    }

    /// `(sid, created)` of every session of a user: a keys-and-dates `Query` for eviction.
    pub async fn session_index(&self, uid: &str) -> Result<Vec<(String, Millis)>> {
        let mut out_rows = vec![];
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .expression_attribute_values(":pk", s(item::user_pk(uid)))
                .expression_attribute_values(":p", s(item::SESSION_PREFIX))
                .projection_expression("id, created")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for it in out.items.unwrap_or_default() {
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
                out_rows.push((id, created));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out_rows)
    }

    /// One `GetItem` of an email claim.
    pub async fn get_email(&self, email: &str) -> Result<Option<EmailItem>> {
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
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let failed = e.as_service_error().and_then(|se| match se {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) => tc
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed")),
                    _ => None,
                });
                match failed.and_then(|i| reasons.get(i)) {
                    Some(c) => Err(WriteError::Conflict(*c)),
                    None => Err(WriteError::Other(sdk_err(e))),
                }
            }
        }
    }

    /// One `TransactWriteItems`: a new profile with its email/phone claims and optional first session.
    pub async fn create_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        session: Option<&SessionItem>,
    ) -> Result<(), WriteError> {
        let mut items = self.new_user_items(user, email, phone)?;
        if let Some(sess) = session {
            items.push((self.put_new(to_item(sess)?)?, Conflict::User));
        }
        self.transact(items).await
    }

    /// Transaction items creating a user: the profile, its claims and, with a user limit, the
    /// project's user counter (`ADD n 1` only while `n < limit`, so the limit holds under races).
    fn new_user_items(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut items = vec![(self.put_new(to_item(user)?)?, Conflict::User)];
        if let Some(e) = email {
            items.push((self.put_new(to_item(e)?)?, Conflict::Email));
        }
        if let Some(p) = phone {
            items.push((self.put_new(to_item(p)?)?, Conflict::Phone));
        }
        if self.user_limit > 0 {
            let count = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key("META#USERS".to_owned(), "COUNT")))
                .update_expression("ADD n :one")
                .condition_expression("attribute_not_exists(n) OR n < :limit")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(
                    ":limit",
                    AttributeValue::N(self.user_limit.to_string()),
                )
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().update(count).build(),
                Conflict::UserLimit,
            ));
        }
        Ok(items)
    }

    /// Enforce a project user limit (`USER_LIMIT`) on every user creation; 0 = unlimited.
    pub fn with_user_limit(mut self, limit: u32) -> Self {
        self.user_limit = limit;
        self
    }

    /// One `TransactWriteItems`: the session, conditioned on its user existing and not blocked.
    pub async fn create_session_for_active_user(
        &self,
        session: &SessionItem,
        clear_lockout: Option<&str>,
    ) -> Result<(), WriteError> {
        // Refreshes `accessedAt` and, through its condition, refuses blocked users.
        let touch = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&session.uid), item::PROFILE_SK)))
            .update_expression("SET accessed = :now")
            .condition_expression("attribute_exists(PK) AND #st = :t")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", AttributeValue::N(session.created.to_string()))
            .build()
            .map_err(internal)?;
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

    /// One `UpdateItem`: count a failed login on the email claim.
    pub async fn record_login_failure(&self, email: &str, now: Millis) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item::email_pk(email), item::EMAIL_SK)))
            .update_expression("ADD failures :one SET lastFailure = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One `UpdateItem` writing the attributes that differ between `old` and `new`; returns the
    /// stored item after the update (`None` if the profile no longer exists).
    pub async fn update_user(&self, old: &UserItem, new: &UserItem) -> Result<Option<UserItem>> {
        let Some(d) = diff(old, new)? else {
            return Ok(Some(new.clone()));
        };
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(&old.id), item::PROFILE_SK)))
            .update_expression(d.expression)
            .condition_expression("attribute_exists(PK)")
            .set_expression_attribute_names(Some(d.names))
            .set_expression_attribute_values((!d.values.is_empty()).then_some(d.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
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

    /// One `TransactWriteItems`: a profile change together with unique-key claims and releases.
    pub async fn update_user_with_claims(
        &self,
        old: &UserItem,
        new: &UserItem,
        claims: &Claims,
    ) -> Result<(), WriteError> {
        let mut items = vec![];
        if let Some(up) = self.update_user_item(old, new)? {
            items.push((up, Conflict::ProfileCondition));
        }
        items.extend(self.claim_items(&old.id, claims)?);
        if items.is_empty() {
            return Ok(());
        }
        self.transact(items).await
    }

    /// Transaction items for unique-key claims and the email claim's password copy. Setting the
    /// password copy also clears the login lockout (a new password is a fresh start).
    fn claim_items(
        &self,
        uid: &str,
        claims: &Claims,
    ) -> Result<Vec<(TransactWriteItem, Conflict)>> {
        let mut items = vec![];
        if let Some(e) = &claims.put_email {
            items.push((self.put_new(to_item(e)?)?, Conflict::Email));
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

    /// One `UpdateItem`: set a session's expiry; `None` if it does not exist.
    pub async fn extend_session(
        &self,
        uid: &str,
        sid: &str,
        expire: Millis,
        now: Millis,
    ) -> Result<Option<SessionItem>> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), &item::session_sk(sid))))
            .update_expression("SET expire = :e, expires_at = :ttl, updated = :now")
            .condition_expression("attribute_exists(PK) AND expire > :now")
            .expression_attribute_values(":e", AttributeValue::N(expire.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N((expire / 1000).to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
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

    /// One `DeleteItem`: returns whether the session existed.
    pub async fn delete_session(&self, uid: &str, sid: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), &item::session_sk(sid))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// `BatchWriteItem` deletes, 25 keys per call, batches in parallel.
    pub async fn delete_sessions(&self, uid: &str, sids: &[String]) -> Result<()> {
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
}

impl Store {
    /// One conditional `UpdateItem`: count a hit if the counter is below `limit`. Returns the new
    /// count, or `None` when the limit was already reached (the hit is not counted).
    pub async fn hit_counter(
        &self,
        counter: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<Option<u32>> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(counter.to_owned(), "RL")))
            .update_expression("ADD n :one SET expires_at = if_not_exists(expires_at, :exp)")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(
                out.attributes
                    .and_then(|a| {
                        a.get("n")
                            .and_then(|v| v.as_n().ok())
                            .and_then(|n| n.parse().ok())
                    })
                    .unwrap_or(limit),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// `BatchWriteItem` deleting rate-limit counters (reset on success).
    pub async fn delete_counters(&self, counters: &[String]) -> Result<()> {
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
}

/// What a redemption needs, read in one `BatchGetItem`.
#[derive(Debug, Default)]
pub struct Redeemable {
    pub user: Option<UserItem>,
    pub token: Option<TokenItem>,
    pub failures: u32,
}

impl Store {
    fn update_user_item(
        &self,
        old: &UserItem,
        new: &UserItem,
    ) -> Result<Option<TransactWriteItem>> {
        self.update_item_tx(item::user_pk(&old.id), item::PROFILE_SK, old, new)
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

    /// One `TransactWriteItems`: a profile change and a session change together, optionally
    /// consuming an MFA challenge (only if it still exists and is unexpired).
    pub async fn update_user_and_session(
        &self,
        user: (&UserItem, &UserItem),
        session: (&SessionItem, &SessionItem),
        consume: Option<(&crate::item::ChallengeItem, Millis)>,
    ) -> Result<(), WriteError> {
        let mut items = vec![];
        if let Some((c, now)) = consume {
            let del = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(c.pk.clone(), &c.sk)))
                .condition_expression("attribute_exists(PK) AND expire > :now")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .build()
                .map_err(internal)?;
            items.push((
                TransactWriteItem::builder().delete(del).build(),
                Conflict::Token,
            ));
        }
        if let Some(up) = self.update_user_item(user.0, user.1)? {
            items.push((up, Conflict::ProfileCondition));
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

    fn consume_token_item(&self, token: &TokenItem, now: Millis) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(token.pk.clone(), &token.sk)))
            .condition_expression("attribute_exists(PK) AND expire > :now")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    fn reset_guard_item(&self, uid: &str) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(item::user_pk(uid), item::GUARD_SK)))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// One `GetItem` of a phone claim.
    pub async fn get_phone(&self, phone: &str) -> Result<Option<PhoneItem>> {
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
}

impl Store {
    /// One `GetItem` of an API key by ID.
    pub async fn get_api_key(&self, id: &str) -> Result<Option<crate::keys::KeyItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(crate::keys::key_pk(id), crate::keys::KEY_SK)))
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_item).transpose()
    }

    pub async fn put_api_key(&self, k: &crate::keys::KeyItem) -> Result<()> {
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
    pub async fn delete_api_key(&self, id: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(crate::keys::key_pk(id), crate::keys::KEY_SK)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Every API key: a filtered `Scan` (operator CLI only, never on a request path).
    pub async fn list_api_keys(&self) -> Result<Vec<crate::keys::KeyItem>> {
        let mut keys = vec![];
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("SK = :sk AND begins_with(PK, :p)")
                .expression_attribute_values(":sk", s(crate::keys::KEY_SK))
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
}

impl Store {
    /// `PutItem` per entry, in parallel (usually one).
    pub async fn put_logs(&self, logs: &[crate::item::LogItem]) -> Result<()> {
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

    pub async fn delete_logs(&self, logs: &[crate::item::LogItem]) -> Result<()> {
        for l in logs {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(l.pk.clone(), &l.sk)))
                .send()
                .await
                .map_err(sdk_err)?;
        }
        Ok(())
    }

    /// Newest first: one `Query` for the page and, when `with_total`, one `Select=COUNT` query,
    /// in parallel.
    pub async fn list_logs(
        &self,
        uid: &str,
        limit: usize,
        offset: usize,
        with_total: bool,
    ) -> Result<(Vec<crate::item::LogItem>, usize)> {
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
                    .expression_attribute_values(":pk", s(crate::item::log_pk(uid)))
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
                    .expression_attribute_values(":pk", s(crate::item::log_pk(uid)))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                n += usize::try_from(out.count).unwrap_or(0);
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            Ok::<usize, Error>(n)
        };
        let (page, total) = tokio::join!(page, total);
        Ok((page?, total?))
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
