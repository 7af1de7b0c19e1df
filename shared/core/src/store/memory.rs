//! The in-memory twin of `DynamoStore`: the same single-table items (serialised as DynamoDB
//! would store them, keyed by `PK`/`SK`), the same conditions, and transactions that succeed or
//! fail as a whole. The conformance suite (`conformance.rs`) runs against both stores, so the
//! twin cannot drift from DynamoDB's behaviour as moto shows it.
//!
//! Like DynamoDB, the twin never hides an expired item: TTL deletion is late, so the domain must
//! compare expiry itself. [`MemoryStore::run_ttl`] plays the TTL sweeper with the injected clock.

use super::{
    Accounts, Claims, Conflict, Expect, Identities, IdentityWrite, OAuthSignIn, PasskeyUse,
    Passkeys, Redeemable, Redemption, Security, Sessions, Storage, Templates, Tokens, WriteError,
    MAX_PASSKEYS_IN_TRANSACTION, MAX_SESSIONS_IN_TRANSACTION,
};
use crate::clock::{Clock, Millis};
use crate::error::{Error, Result};
use crate::item::{
    self, ChallengeItem, EmailItem, IdentityClaimItem, IdentityItem, LogItem, PhoneItem,
    SessionItem, TokenItem, UserItem,
};
use crate::item::{PasskeyChallengeItem, PasskeyClaimItem, PasskeyItem};
use crate::item::{TemplateItem, TEMPLATES_PK};
use crate::keys::{self, KeyItem};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Key = (String, String);
type Row = Map<String, Value>;
type Condition = Box<dyn Fn(Option<&Row>) -> bool + Send>;
type Change = Box<dyn FnOnce(Option<Row>) -> Option<Row> + Send>;
/// Attributes to set (`Some`) or remove (`None`).
type Changes = Vec<(String, Option<Value>)>;

/// One write of a transaction: applied only if every condition of the transaction holds.
struct Write {
    key: Key,
    condition: Option<Condition>,
    /// The new item (`None`: deleted), from the current one.
    change: Change,
    conflict: Conflict,
}

/// The table, in memory. Clones share it.
#[derive(Clone)]
pub struct MemoryStore {
    rows: Arc<Mutex<BTreeMap<Key, Row>>>,
    clock: Arc<dyn Clock>,
    user_limit: u32,
}

/// Every operation yields before it runs, as a network call does: futures a test joins then
/// interleave at every store call (each call itself atomic, as one DynamoDB call is), so
/// "parallel" requests really race on the twin: twenty guesses all read before any writes.
async fn turn() {
    tokio::task::yield_now().await;
}

fn internal<E: std::fmt::Display>(e: E) -> Error {
    Error::internal(e)
}

fn to_row<T: Serialize>(v: &T) -> Result<Row> {
    match serde_json::to_value(v).map_err(internal)? {
        Value::Object(m) => Ok(m),
        other => Err(internal(format!("not an item: {other}"))),
    }
}

fn from_row<T: DeserializeOwned>(r: &Row) -> Result<T> {
    serde_json::from_value(Value::Object(r.clone())).map_err(internal)
}

fn key_of(r: &Row) -> Result<Key> {
    match (r.get("PK"), r.get("SK")) {
        (Some(Value::String(pk)), Some(Value::String(sk))) => Ok((pk.clone(), sk.clone())),
        _ => Err(internal("item without PK/SK")),
    }
}

fn key(pk: String, sk: &str) -> Key {
    (pk, sk.to_owned())
}

fn num(r: &Row, attr: &str) -> Option<i64> {
    r.get(attr).and_then(Value::as_i64)
}

fn text<'r>(r: &'r Row, attr: &str) -> Option<&'r str> {
    r.get(attr).and_then(Value::as_str)
}

/// A fresh item holding only its key: what `UpdateItem` starts from when the item is missing.
fn bare(k: &Key) -> Row {
    let mut r = Map::new();
    r.insert("PK".into(), Value::String(k.0.clone()));
    r.insert("SK".into(), Value::String(k.1.clone()));
    r
}

/// `ADD attr 1` (DynamoDB treats a missing number as 0).
fn add(r: &mut Row, attr: &str, delta: i64) -> i64 {
    let n = num(r, attr).unwrap_or(0) + delta;
    r.insert(attr.into(), Value::from(n));
    n
}

fn put_new(row: Row, conflict: Conflict) -> Result<Write> {
    Ok(Write {
        key: key_of(&row)?,
        condition: Some(Box::new(|r| r.is_none())),
        change: Box::new(move |_| Some(row)),
        conflict,
    })
}

fn put(row: Row, conflict: Conflict) -> Result<Write> {
    Ok(Write {
        key: key_of(&row)?,
        condition: None,
        change: Box::new(move |_| Some(row)),
        conflict,
    })
}

fn delete(key: Key, conflict: Conflict) -> Write {
    Write {
        key,
        condition: None,
        change: Box::new(|_| None),
        conflict,
    }
}

/// Release a unique-key claim: only the owner's, or one already gone.
fn delete_claim(key: Key, uid: &str, conflict: Conflict) -> Write {
    let uid = uid.to_owned();
    Write {
        key,
        condition: Some(Box::new(move |r| {
            r.is_none_or(|r| text(r, "uid") == Some(uid.as_str()))
        })),
        change: Box::new(|_| None),
        conflict,
    }
}

/// A condition only (`ConditionCheck`): no identity of another user than `owner` (of anyone,
/// with `None`) carries `email`.
fn identity_email_free(email: &str, owner: Option<&str>) -> Write {
    let owner = owner.map(str::to_owned);
    Write {
        key: key(item::identity_email_pk(email), item::IDENTITY_EMAIL_SK),
        condition: Some(Box::new(move |r| {
            r.is_none_or(|r| {
                r.get("ids").is_none()
                    || r.get("v").is_none()
                    || owner.as_deref().is_some_and(|o| text(r, "uid") == Some(o))
            })
        })),
        change: Box::new(|r| r),
        conflict: Conflict::IdentityEmail,
    }
}

/// A condition only: the token's user has a profile holding the token's address (and, for a
/// recovery link, no password change after it was issued).
fn token_target_check(token: &TokenItem) -> Write {
    let (field, target) = (item::token_field(&token.kind), token.target.clone());
    let (recovery, created) = (token.kind == item::RECOVERY_TOKEN_KIND, token.created);
    Write {
        key: key(item::user_pk(&token.uid), item::PROFILE_SK),
        condition: Some(Box::new(move |r| {
            r.is_some_and(|r| {
                field.is_none_or(|f| text(r, f) == Some(target.as_str()))
                    && (!recovery || num(r, "passwordUpdate").is_none_or(|p| p <= created))
            })
        })),
        change: Box::new(|r| r),
        conflict: Conflict::Target,
    }
}

/// `ADD ids :id SET uid = :uid` (refused while another user's identities hold the email), or
/// `DELETE ids :id` (DynamoDB drops a string set that becomes empty).
fn identity_email_write(email: &str, uid: &str, id: &str, add: bool, conflict: Conflict) -> Write {
    let (owner, id) = (uid.to_owned(), id.to_owned());
    let k = key(item::identity_email_pk(email), item::IDENTITY_EMAIL_SK);
    if !add {
        return identity_email_release(email, vec![id], conflict);
    }
    let cond_owner = owner.clone();
    update(
        k,
        move |r| {
            r.is_none_or(|r| {
                r.get("ids").is_none()
                    || r.get("v").is_none()
                    || text(r, "uid") == Some(cond_owner.as_str())
            })
        },
        move |r| {
            let mut ids = match r.get("ids") {
                Some(Value::Array(ids)) => ids.clone(),
                _ => vec![],
            };
            if !ids.contains(&Value::from(id.clone())) {
                ids.push(Value::from(id));
            }
            r.insert("ids".into(), Value::Array(ids));
            r.insert("uid".into(), Value::from(owner));
            r.insert("v".into(), Value::Bool(true));
        },
        conflict,
    )
}

/// Delete a ceremony only while it is this one (the twin of `consume_ceremony`).
fn consume_ceremony(c: &PasskeyChallengeItem, now: Millis) -> Write {
    let id = c.id.clone();
    Write {
        key: key(c.pk.clone(), &c.sk),
        condition: Some(Box::new(move |r| {
            r.is_some_and(|r| {
                text(r, "id") == Some(id.as_str()) && num(r, "expire").is_some_and(|e| e > now)
            })
        })),
        change: Box::new(|_| None),
        conflict: Conflict::Token,
    }
}

/// A passkey and its claim (the twin of `passkey_delete_items`).
fn passkey_deletes(p: &PasskeyItem, must_exist: bool, conflict: Conflict) -> Result<Vec<Write>> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&p.credential_id)
        .map_err(internal)?;
    let gone = Write {
        key: key(p.pk.clone(), &p.sk),
        condition: must_exist.then(|| -> Condition { Box::new(|r: Option<&Row>| r.is_some()) }),
        change: Box::new(|_| None),
        conflict,
    };
    Ok(vec![
        gone,
        delete_claim(
            key(item::passkey_claim_pk(&raw), item::PASSKEY_CLAIM_SK),
            &p.uid,
            conflict,
        ),
    ])
}

/// One passkey less on the profile's count (the twin of `count_down`).
fn count_down(uid: &str) -> Write {
    update(
        key(item::user_pk(uid), item::PROFILE_SK),
        |r| r.is_some(),
        |r| {
            add(r, "passkeys", -1);
        },
        Conflict::ProfileCondition,
    )
}

/// A condition only: the item exists.
fn exists(k: Key, conflict: Conflict) -> Write {
    Write {
        key: k,
        condition: Some(Box::new(|r: Option<&Row>| r.is_some())),
        change: Box::new(|r| r),
        conflict,
    }
}

/// Whether the identity's address is reserved (the twin of `dynamo::identities::reserved`).
fn reserved(i: &IdentityItem) -> bool {
    i.provider_email_verified && !i.provider_email.is_empty()
}

/// A condition only: no other user's email claim holds `email`.
fn email_free_for(email: &str, uid: &str) -> Write {
    let uid = uid.to_owned();
    Write {
        key: key(item::email_pk(email), item::EMAIL_SK),
        condition: Some(Box::new(move |r| {
            r.is_none_or(|r| text(r, "uid") == Some(uid.as_str()))
        })),
        change: Box::new(|r| r),
        conflict: Conflict::Email,
    }
}

/// Reserve a verified provider address (the twin of `reserve_identity_email`).
fn reserve_identity_email(identity: &IdentityItem, email_written: Option<&str>) -> Vec<Write> {
    let e = &identity.provider_email;
    let mut writes = vec![identity_email_write(
        e,
        &identity.uid,
        &identity.id,
        true,
        Conflict::IdentityEmail,
    )];
    if email_written != Some(e.as_str()) {
        writes.push(email_free_for(e, &identity.uid));
    }
    writes
}

/// The writes that delete `identities` inside a larger transaction, one release per reserved
/// address (the twin of `identities_delete_items`).
fn identities_deletes(identities: &[IdentityItem], conflict: Conflict) -> Vec<Write> {
    let mut writes = vec![];
    let mut releases: Vec<(&str, Vec<String>)> = vec![];
    for identity in identities {
        let mut w = identity_deletes(identity, false, conflict);
        if reserved(identity) {
            // The single release below takes its place.
            w.pop();
            match releases
                .iter_mut()
                .find(|(e, _)| *e == identity.provider_email)
            {
                Some((_, ids)) => ids.push(identity.id.clone()),
                None => releases.push((&identity.provider_email, vec![identity.id.clone()])),
            }
        }
        writes.extend(w);
    }
    for (email, ids) in releases {
        writes.push(identity_email_release(email, ids, conflict));
    }
    writes
}

/// Take `ids` out of the address's reservation, in one write.
fn identity_email_release(email: &str, ids: Vec<String>, conflict: Conflict) -> Write {
    Write {
        key: key(item::identity_email_pk(email), item::IDENTITY_EMAIL_SK),
        condition: None,
        change: Box::new(move |r| {
            let mut r = r?;
            let left: Vec<Value> = match r.get("ids") {
                Some(Value::Array(held)) => held
                    .iter()
                    .filter(|v| !ids.iter().any(|id| v.as_str() == Some(id.as_str())))
                    .cloned()
                    .collect(),
                _ => vec![],
            };
            if left.is_empty() {
                r.remove("ids");
            } else {
                r.insert("ids".into(), Value::Array(left));
            }
            Some(r)
        }),
        conflict,
    }
}

/// The writes that delete an identity (the twin of `identity_delete_items`).
fn identity_deletes(identity: &IdentityItem, must_exist: bool, conflict: Conflict) -> Vec<Write> {
    let mut writes = vec![
        Write {
            key: key(identity.pk.clone(), &identity.sk),
            condition: must_exist.then(|| Box::new(|r: Option<&Row>| r.is_some()) as _),
            change: Box::new(|_| None),
            conflict,
        },
        delete_claim(
            key(identity.claim_pk(), item::IDENTITY_CLAIM_SK),
            &identity.uid,
            conflict,
        ),
    ];
    if reserved(identity) {
        writes.push(identity_email_write(
            &identity.provider_email,
            &identity.uid,
            &identity.id,
            false,
            conflict,
        ));
    }
    writes
}

/// `UpdateItem` under `condition`, changing the item with `f` (a missing item starts bare).
fn update(
    key: Key,
    condition: impl Fn(Option<&Row>) -> bool + Send + 'static,
    f: impl FnOnce(&mut Row) + Send + 'static,
    conflict: Conflict,
) -> Write {
    let k = key.clone();
    Write {
        key,
        condition: Some(Box::new(condition)),
        change: Box::new(move |r| {
            let mut r = r.unwrap_or_else(|| bare(&k));
            f(&mut r);
            Some(r)
        }),
        conflict,
    }
}

/// The attributes that differ between two versions of an item, written onto the stored one
/// (the twin of `dynamo::diff`): `None` when nothing differs.
fn diff_change<T: Serialize>(old: &T, new: &T) -> Result<Option<Changes>> {
    let (o, n) = (to_row(old)?, to_row(new)?);
    let mut changes = vec![];
    for (k, v) in &n {
        if k != "PK" && k != "SK" && o.get(k) != Some(v) {
            changes.push((k.clone(), Some(v.clone())));
        }
    }
    for k in o.keys() {
        if !n.contains_key(k) {
            changes.push((k.clone(), None));
        }
    }
    Ok((!changes.is_empty()).then_some(changes))
}

fn apply(r: &mut Row, changes: Changes) {
    for (k, v) in changes {
        match v {
            Some(v) => r.insert(k, v),
            None => r.remove(&k),
        };
    }
}

/// The profile update of a change, under `expect` (the twin of
/// `dynamo::update_user_item_expecting`); `None` when nothing is written.
fn user_update(
    old: &UserItem,
    new: &UserItem,
    expect: &[Expect],
    conflict: Conflict,
) -> Result<Option<Write>> {
    let changes = diff_change(old, new)?;
    if changes.is_none() && expect.is_empty() {
        return Ok(None);
    }
    let expect = expect.to_vec();
    Ok(Some(update(
        key(item::user_pk(&old.id), item::PROFILE_SK),
        move |r| {
            let Some(r) = r else { return false };
            if expect.is_empty() {
                return true;
            }
            from_row::<UserItem>(r).is_ok_and(|u| expect.iter().all(|e| e.holds(&u)))
        },
        move |r| apply(r, changes.unwrap_or_default()),
        conflict,
    )))
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            rows: Arc::default(),
            clock,
            user_limit: 0,
        }
    }

    /// The TTL sweeper: delete every item whose `expires_at` (seconds) has passed by the
    /// injected clock. DynamoDB does this late; tests call it to show that nothing relied on it.
    pub fn run_ttl(&self) -> Result<usize> {
        let now = self.clock.now_ms() / 1000;
        let mut rows = self.rows.lock().map_err(internal)?;
        let before = rows.len();
        rows.retain(|_, r| num(r, "expires_at").is_none_or(|t| t > now));
        Ok(before - rows.len())
    }

    /// Every item as JSON, as the table holds it (`invariants::check`).
    pub fn items(&self) -> Vec<Value> {
        self.rows
            .lock()
            .map(|rows| rows.values().map(|r| Value::Object(r.clone())).collect())
            .unwrap_or_default()
    }

    /// One stored item as JSON (tests that read a counter or a guard).
    pub fn item(&self, pk: &str, sk: &str) -> Option<Value> {
        self.get(&key(pk.to_owned(), sk))
            .ok()
            .flatten()
            .map(Value::Object)
    }

    /// How many items the table holds (tests of "nothing half-written").
    pub fn len(&self) -> usize {
        self.rows.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, k: &Key) -> Result<Option<Row>> {
        Ok(self.rows.lock().map_err(internal)?.get(k).cloned())
    }

    fn get_as<T: DeserializeOwned>(&self, k: &Key) -> Result<Option<T>> {
        self.get(k)?.as_ref().map(from_row).transpose()
    }

    /// Items of one partition whose sort key satisfies `sk`, in sort-key order.
    fn query<T: DeserializeOwned>(&self, pk: &str, sk: impl Fn(&str) -> bool) -> Result<Vec<T>> {
        let rows = self.rows.lock().map_err(internal)?;
        rows.range((pk.to_owned(), String::new())..)
            .take_while(|((p, _), _)| p == pk)
            .filter(|((_, s), _)| sk(s))
            .map(|(_, r)| from_row(r))
            .collect()
    }

    /// All writes or none. Like DynamoDB, a transaction may not touch one item twice.
    fn transact(&self, writes: Vec<Write>) -> Result<(), WriteError> {
        let mut rows = self.rows.lock().map_err(internal)?;
        for (i, w) in writes.iter().enumerate() {
            if writes[..i].iter().any(|o| o.key == w.key) {
                return Err(WriteError::Other(internal(format!(
                    "ValidationException: Transaction request cannot include multiple operations \
                     on one item ({:?})",
                    w.key
                ))));
            }
        }
        for w in &writes {
            if let Some(c) = &w.condition {
                if !c(rows.get(&w.key)) {
                    return Err(WriteError::Conflict(w.conflict));
                }
            }
        }
        for w in writes {
            let current = rows.remove(&w.key);
            if let Some(r) = (w.change)(current) {
                rows.insert(w.key, r);
            }
        }
        Ok(())
    }

    /// A single conditional write: `Ok(false)` when its condition failed.
    fn write(&self, w: Write) -> Result<bool> {
        match self.transact(vec![w]) {
            Ok(()) => Ok(true),
            Err(WriteError::Conflict(_)) => Ok(false),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    fn user_counter(&self, delta: i64) -> Write {
        let limit = i64::from(self.user_limit);
        update(
            key(item::USER_COUNTER_PK.to_owned(), item::USER_COUNTER_SK),
            move |r| delta <= 0 || r.and_then(|r| num(r, "n")).is_none_or(|n| n < limit),
            move |r| {
                add(r, "n", delta);
            },
            Conflict::UserLimit,
        )
    }

    fn new_user_writes(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        check_identity_email: bool,
    ) -> Result<Vec<Write>> {
        let mut writes = vec![put_new(to_row(user)?, Conflict::User)?];
        if let Some(e) = email {
            writes.push(put_new(to_row(e)?, Conflict::Email)?);
            if let (true, Some(address)) = (check_identity_email, user.email.as_deref()) {
                writes.push(identity_email_free(address, None));
            }
        }
        if let Some(p) = phone {
            writes.push(put_new(to_row(p)?, Conflict::Phone)?);
        }
        if self.user_limit > 0 {
            writes.push(self.user_counter(1));
        }
        Ok(writes)
    }

    /// The twin of `dynamo::claim_items`.
    fn claim_writes(&self, uid: &str, claims: &Claims) -> Result<Vec<Write>> {
        let mut writes = vec![];
        if let Some(e) = &claims.put_email {
            writes.push(put_new(to_row(e)?, Conflict::Email)?);
            let address = e.pk.strip_prefix("EMAIL#").unwrap_or_default();
            writes.push(identity_email_free(address, Some(uid)));
        }
        if let Some(e) = &claims.delete_email {
            writes.push(delete_claim(
                key(item::email_pk(e), item::EMAIL_SK),
                uid,
                Conflict::ProfileCondition,
            ));
        }
        if let Some(p) = &claims.put_phone {
            writes.push(put_new(to_row(p)?, Conflict::Phone)?);
        }
        if let Some(p) = &claims.delete_phone {
            writes.push(delete_claim(
                key(item::phone_pk(p), item::PHONE_SK),
                uid,
                Conflict::ProfileCondition,
            ));
        }
        for kind in &claims.revoke_tokens {
            writes.push(delete(
                key(item::user_pk(uid), &item::token_sk(kind)),
                Conflict::ProfileCondition,
            ));
        }
        if let Some((email, password)) = &claims.email_password {
            let owner = uid.to_owned();
            let password = password.clone();
            writes.push(update(
                key(item::email_pk(email), item::EMAIL_SK),
                move |r| r.is_some_and(|r| text(r, "uid") == Some(owner.as_str())),
                move |r| {
                    match password {
                        Some(p) => r.insert("password".into(), Value::String(p)),
                        None => r.remove("password"),
                    };
                    r.insert("failures".into(), Value::from(0));
                    r.remove("lastFailure");
                },
                Conflict::ProfileCondition,
            ));
        }
        Ok(writes)
    }

    fn session_deletes(uid: &str, sids: &[String]) -> Vec<Write> {
        sids.iter()
            .take(MAX_SESSIONS_IN_TRANSACTION)
            .map(|sid| {
                delete(
                    key(item::user_pk(uid), &item::session_sk(sid)),
                    Conflict::ProfileCondition,
                )
            })
            .collect()
    }

    /// Profile and named items of one partition (the twin of a `BatchGetItem`).
    fn profile_and<T: DeserializeOwned>(
        &self,
        uid: &str,
        sks: &[String],
    ) -> Result<(Option<UserItem>, Vec<T>)> {
        let user = self.get_as(&key(item::user_pk(uid), item::PROFILE_SK))?;
        let mut found = vec![];
        for (i, sk) in sks.iter().enumerate() {
            if sks[..i].contains(sk) {
                continue;
            }
            if let Some(t) = self.get_as(&key(item::user_pk(uid), sk))? {
                found.push(t);
            }
        }
        Ok((user, found))
    }
}

#[async_trait::async_trait]
impl Accounts for MemoryStore {
    async fn get_user_and_sessions(
        &self,
        uid: &str,
        sids: &[&str],
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)> {
        turn().await;
        let sks: Vec<String> = sids.iter().map(|s| item::session_sk(s)).collect();
        self.profile_and(uid, &sks)
    }

    async fn get_user_with_all_sessions(
        &self,
        uid: &str,
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)> {
        turn().await;
        let user = self.get_as(&key(item::user_pk(uid), item::PROFILE_SK))?;
        let mut sessions: Vec<SessionItem> = self.query(&item::user_pk(uid), |sk| {
            sk.starts_with(item::SESSION_PREFIX)
        })?;
        sessions.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok((user, sessions))
    }

    async fn get_email(&self, email: &str) -> Result<Option<EmailItem>> {
        turn().await;
        self.get_as(&key(item::email_pk(email), item::EMAIL_SK))
    }

    async fn get_phone(&self, phone: &str) -> Result<Option<PhoneItem>> {
        turn().await;
        self.get_as(&key(item::phone_pk(phone), item::PHONE_SK))
    }

    async fn create_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        session: Option<&SessionItem>,
    ) -> Result<(), WriteError> {
        turn().await;
        let mut writes = self.new_user_writes(user, email, phone, true)?;
        if let Some(s) = session {
            writes.push(put_new(to_row(s)?, Conflict::User)?);
        }
        self.transact(writes)
    }

    async fn import_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        identities: &[IdentityItem],
    ) -> Result<(), WriteError> {
        turn().await;
        let mut writes = self.new_user_writes(user, email, phone, true)?;
        for i in identities {
            writes.push(put_new(to_row(i)?, Conflict::User)?);
            writes.push(put_new(to_row(&i.claim())?, Conflict::Identity)?);
        }
        self.transact(writes)
    }

    async fn update_user(&self, old: &UserItem, new: &UserItem) -> Result<Option<UserItem>> {
        turn().await;
        let Some(changes) = diff_change(old, new)? else {
            return Ok(Some(new.clone()));
        };
        // The twin of the DynamoDB store's stamped update: the change lands on the stored
        // profile, stamped later than the stamp it holds (nothing here can arrive late).
        let stamp = new.updated.max(old.updated + 1);
        let k = key(item::user_pk(&old.id), item::PROFILE_SK);
        let w = update(
            k.clone(),
            |r| r.is_some(),
            move |r| {
                let stored = num(r, "updated").unwrap_or(i64::MIN);
                apply(r, changes);
                r.insert("updated".into(), Value::from(stamp.max(stored + 1)));
            },
            Conflict::ProfileCondition,
        );
        if !self.write(w)? {
            return Ok(None);
        }
        self.get_as(&k)
    }

    async fn update_user_atomically(
        &self,
        old: &UserItem,
        new: &UserItem,
        claims: &Claims,
        expect: &[Expect],
        sessions: &[String],
    ) -> Result<(), WriteError> {
        turn().await;
        let mut writes = vec![];
        if let Some(w) = user_update(old, new, expect, Conflict::ProfileCondition)? {
            writes.push(w);
        }
        writes.extend(self.claim_writes(&old.id, claims)?);
        writes.extend(Self::session_deletes(&old.id, sessions));
        if writes.is_empty() {
            return Ok(());
        }
        self.transact(writes)?;
        if sessions.len() > MAX_SESSIONS_IN_TRANSACTION {
            self.delete_sessions(&old.id, &sessions[MAX_SESSIONS_IN_TRANSACTION..])
                .await?;
        }
        Ok(())
    }

    async fn reserve_login_attempt(
        &self,
        email: &str,
        threshold: u32,
        cutoff: Millis,
        now: Millis,
    ) -> Result<bool> {
        turn().await;
        let th = i64::from(threshold);
        self.write(update(
            key(item::email_pk(email), item::EMAIL_SK),
            move |r| {
                r.is_some_and(|r| {
                    num(r, "failures").is_none_or(|f| f < th)
                        || num(r, "lastFailure").is_none_or(|t| t <= cutoff)
                })
            },
            move |r| {
                add(r, "failures", 1);
                r.insert("lastFailure".into(), Value::from(now));
            },
            Conflict::ProfileCondition,
        ))
    }
}

#[async_trait::async_trait]
impl Sessions for MemoryStore {
    async fn session_index(&self, uid: &str) -> Result<Vec<(String, Millis)>> {
        turn().await;
        let sessions: Vec<SessionItem> = self.query(&item::user_pk(uid), |sk| {
            sk.starts_with(item::SESSION_PREFIX)
        })?;
        Ok(sessions.into_iter().map(|s| (s.id, s.created)).collect())
    }

    async fn create_session_for_active_user(
        &self,
        session: &SessionItem,
        clear_lockout: Option<&str>,
        expect_password: Option<&str>,
    ) -> Result<(), WriteError> {
        turn().await;
        let password = expect_password.map(str::to_owned);
        let created = session.created;
        let mut writes = vec![
            update(
                key(item::user_pk(&session.uid), item::PROFILE_SK),
                move |r| {
                    r.is_some_and(|r| {
                        r.get("status") == Some(&Value::Bool(true))
                            && password
                                .as_deref()
                                .is_none_or(|p| text(r, "password") == Some(p))
                    })
                },
                move |r| {
                    r.insert("accessed".into(), Value::from(created));
                },
                Conflict::ProfileCondition,
            ),
            put_new(to_row(session)?, Conflict::User)?,
        ];
        if let Some(email) = clear_lockout {
            writes.push(update(
                key(item::email_pk(email), item::EMAIL_SK),
                |r| r.is_some(),
                |r| {
                    r.insert("failures".into(), Value::from(0));
                    r.remove("lastFailure");
                },
                Conflict::ProfileCondition,
            ));
        }
        self.transact(writes)
    }

    async fn extend_session(
        &self,
        uid: &str,
        sid: &str,
        expire: Millis,
        now: Millis,
    ) -> Result<Option<SessionItem>> {
        turn().await;
        let k = key(item::user_pk(uid), &item::session_sk(sid));
        let written = self.write(update(
            k.clone(),
            move |r| r.is_some_and(|r| num(r, "expire").is_some_and(|e| e > now)),
            move |r| {
                r.insert("expire".into(), Value::from(expire));
                r.insert("expires_at".into(), Value::from(expire / 1000));
                r.insert("updated".into(), Value::from(now));
            },
            Conflict::ProfileCondition,
        ))?;
        if !written {
            return Ok(None);
        }
        self.get_as(&k)
    }

    async fn delete_session(&self, uid: &str, sid: &str) -> Result<bool> {
        turn().await;
        let k = key(item::user_pk(uid), &item::session_sk(sid));
        Ok(self.rows.lock().map_err(internal)?.remove(&k).is_some())
    }

    async fn delete_sessions(&self, uid: &str, sids: &[String]) -> Result<()> {
        turn().await;
        let mut rows = self.rows.lock().map_err(internal)?;
        for sid in sids {
            rows.remove(&key(item::user_pk(uid), &item::session_sk(sid)));
        }
        Ok(())
    }

    async fn update_user_and_session(
        &self,
        user: (&UserItem, &UserItem),
        session: (&SessionItem, &SessionItem),
        consume: Option<(&ChallengeItem, Millis)>,
        expect: &[Expect],
    ) -> Result<(), WriteError> {
        turn().await;
        let mut writes = vec![];
        if let Some((c, now)) = consume {
            writes.push(Write {
                key: key(c.pk.clone(), &c.sk),
                condition: Some(Box::new(move |r| {
                    r.is_some_and(|r| {
                        num(r, "expire").is_some_and(|e| e > now)
                            && !r.contains_key(item::CHALLENGE_USED)
                    })
                })),
                change: Box::new(move |r| {
                    let mut r = r?;
                    r.insert(item::CHALLENGE_USED.into(), Value::from(now));
                    Some(r)
                }),
                conflict: Conflict::Token,
            });
        }
        // A failed expectation means a one-time code was used meanwhile.
        let c = if expect.is_empty() {
            Conflict::ProfileCondition
        } else {
            Conflict::Token
        };
        if let Some(w) = user_update(user.0, user.1, expect, c)? {
            writes.push(w);
        }
        if let Some(changes) = diff_change(session.0, session.1)? {
            writes.push(update(
                key(session.0.pk.clone(), &session.0.sk),
                |r| r.is_some(),
                move |r| apply(r, changes),
                Conflict::ProfileCondition,
            ));
        }
        if writes.is_empty() {
            return Ok(());
        }
        self.transact(writes)
    }
}

#[async_trait::async_trait]
impl Tokens for MemoryStore {
    async fn issue_token(
        &self,
        token: &TokenItem,
        new_user: Option<(&UserItem, Option<&EmailItem>, Option<&PhoneItem>)>,
    ) -> Result<(), WriteError> {
        turn().await;
        let mut writes = match new_user {
            Some((user, email, phone)) => self.new_user_writes(user, email, phone, true)?,
            None => vec![token_target_check(token)],
        };
        writes.push(put(to_row(token)?, Conflict::Token)?);
        self.transact(writes)
    }

    async fn delete_token(&self, token: &TokenItem) -> Result<()> {
        turn().await;
        let hash = token.secret_hash.clone();
        self.write(Write {
            key: key(token.pk.clone(), &token.sk),
            condition: Some(Box::new(move |r| {
                r.is_some_and(|r| text(r, "secretHash") == Some(hash.as_str()))
            })),
            change: Box::new(|_| None),
            conflict: Conflict::Token,
        })?;
        Ok(())
    }

    async fn get_redeemable(&self, uid: &str, kinds: &[&str]) -> Result<Redeemable> {
        turn().await;
        let sks: Vec<String> = kinds.iter().map(|k| item::token_sk(k)).collect();
        let (user, tokens) = self.profile_and(uid, &sks)?;
        Ok(Redeemable { user, tokens })
    }

    async fn reserve_attempt(
        &self,
        uid: &str,
        guard_sk: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool> {
        turn().await;
        let limit = i64::from(limit);
        self.write(update(
            key(item::user_pk(uid), guard_sk),
            move |r| r.and_then(|r| num(r, "attempts")).is_none_or(|a| a < limit),
            move |r| {
                add(r, "attempts", 1);
                r.entry("expires_at").or_insert(Value::from(expires_at));
            },
            Conflict::Token,
        ))
    }

    async fn redeem(
        &self,
        token: &TokenItem,
        now: Millis,
        r: Redemption<'_>,
    ) -> Result<(), WriteError> {
        turn().await;
        let hash = token.secret_hash.clone();
        let mut writes = vec![Write {
            key: key(token.pk.clone(), &token.sk),
            condition: Some(Box::new(move |r| {
                r.is_some_and(|r| {
                    text(r, "secretHash") == Some(hash.as_str())
                        && num(r, "expire").is_some_and(|e| e > now)
                })
            })),
            change: Box::new(|_| None),
            conflict: Conflict::Token,
        }];
        if let Some(s) = r.session {
            writes.push(put_new(to_row(s)?, Conflict::User)?);
        }
        if let Some((old, new)) = r.user_change {
            if let Some(w) = user_update(old, new, &r.expect, Conflict::ProfileCondition)? {
                writes.push(w);
            }
        }
        writes.extend(self.claim_writes(&token.uid, &r.claims)?);
        if let Some(g) = &r.clear_guard {
            writes.push(delete(key(item::user_pk(&token.uid), g), Conflict::Token));
        }
        let (inline, early) = r.delete_identities.split_at(
            r.delete_identities
                .len()
                .min(super::MAX_IDENTITIES_IN_TRANSACTION),
        );
        for identity in early {
            self.delete_identity(identity).await?;
        }
        writes.extend(identities_deletes(inline, Conflict::ProfileCondition));
        let (inline, early) = r
            .delete_passkeys
            .split_at(r.delete_passkeys.len().min(MAX_PASSKEYS_IN_TRANSACTION));
        for p in early {
            let mut gone = passkey_deletes(p, true, Conflict::Token)?;
            gone.push(count_down(&p.uid));
            match self.transact(gone) {
                Ok(()) | Err(WriteError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for p in inline {
            writes.extend(passkey_deletes(p, false, Conflict::ProfileCondition)?);
        }
        let room = super::session_room(&r);
        writes.extend(Self::session_deletes(
            &token.uid,
            &r.delete_sessions[..room.min(r.delete_sessions.len())],
        ));
        self.transact(writes)?;
        if r.delete_sessions.len() > room {
            self.delete_sessions(&token.uid, &r.delete_sessions[room..])
                .await?;
        }
        Ok(())
    }

    async fn put_challenge(&self, c: &ChallengeItem) -> Result<()> {
        turn().await;
        let row = to_row(c)?;
        let k = key_of(&row)?;
        if !self.write(put_new(row.clone(), Conflict::Token)?)? && self.get(&k)? != Some(row) {
            return Err(Error::internal("the challenge exists already"));
        }
        Ok(())
    }

    async fn delete_challenge(&self, c: &ChallengeItem) -> Result<()> {
        turn().await;
        self.write(delete(key(c.pk.clone(), &c.sk), Conflict::Token))?;
        Ok(())
    }

    async fn attempt_challenge(
        &self,
        uid: &str,
        id: &str,
        max_attempts: u32,
        now: Millis,
    ) -> Result<Option<ChallengeItem>> {
        turn().await;
        let k = key(item::user_pk(uid), &item::challenge_sk(id));
        let max = i64::from(max_attempts);
        let written = self.write(update(
            k.clone(),
            move |r| {
                r.is_some_and(|r| {
                    num(r, "expire").is_some_and(|e| e > now)
                        && num(r, "attempts").is_none_or(|a| a < max)
                        && !r.contains_key(item::CHALLENGE_USED)
                })
            },
            |r| {
                add(r, "attempts", 1);
            },
            Conflict::Token,
        ))?;
        if !written {
            return Ok(None);
        }
        self.get_as(&k)
    }

    async fn withdraw_new_user(&self, user: &UserItem, token: &TokenItem) -> Result<()> {
        turn().await;
        let mut writes = vec![
            delete(key(token.pk.clone(), &token.sk), Conflict::Token),
            delete(
                key(item::user_pk(&user.id), item::PROFILE_SK),
                Conflict::ProfileCondition,
            ),
        ];
        if let Some(e) = &user.email {
            writes.push(delete_claim(
                key(item::email_pk(e), item::EMAIL_SK),
                &user.id,
                Conflict::Email,
            ));
        }
        if let Some(p) = &user.phone {
            writes.push(delete_claim(
                key(item::phone_pk(p), item::PHONE_SK),
                &user.id,
                Conflict::Phone,
            ));
        }
        if self.user_limit > 0 {
            writes.push(self.user_counter(-1));
        }
        self.transact(writes).map_err(|e| match e {
            WriteError::Other(e) => e,
            WriteError::Conflict(c) => {
                Error::internal(format!("withdrawing a new user failed: {c:?}"))
            }
        })
    }
}

#[async_trait::async_trait]
impl Security for MemoryStore {
    async fn hit_counter(&self, counter: &str, limit: u32, expires_at: i64) -> Result<Option<u32>> {
        turn().await;
        let k = key(counter.to_owned(), "RL");
        let limit = i64::from(limit);
        let written = self.write(update(
            k.clone(),
            move |r| r.and_then(|r| num(r, "n")).is_none_or(|n| n < limit),
            move |r| {
                add(r, "n", 1);
                r.entry("expires_at").or_insert(Value::from(expires_at));
            },
            Conflict::Token,
        ))?;
        if !written {
            return Ok(None);
        }
        let n = self.get(&k)?.and_then(|r| num(&r, "n")).unwrap_or(limit);
        Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
    }

    async fn hit_counters(&self, counters: &[(String, u32, i64)]) -> Result<Option<usize>> {
        turn().await;
        let writes = counters
            .iter()
            .enumerate()
            .map(|(i, (counter, limit, expires_at))| {
                let (limit, expires_at) = (i64::from(*limit), *expires_at);
                update(
                    key(counter.clone(), "RL"),
                    move |r| r.and_then(|r| num(r, "n")).is_none_or(|n| n < limit),
                    move |r| {
                        add(r, "n", 1);
                        r.entry("expires_at").or_insert(Value::from(expires_at));
                    },
                    Conflict::Counter(i),
                )
            })
            .collect();
        match self.transact(writes) {
            Ok(()) => Ok(None),
            Err(WriteError::Conflict(Conflict::Counter(i))) => Ok(Some(i)),
            Err(WriteError::Conflict(c)) => Err(internal(format!("{c:?}"))),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    async fn delete_counters(&self, counters: &[String]) -> Result<()> {
        turn().await;
        let mut rows = self.rows.lock().map_err(internal)?;
        for c in counters {
            rows.remove(&key(c.clone(), "RL"));
        }
        Ok(())
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<KeyItem>> {
        turn().await;
        self.get_as(&key(keys::key_pk(id), keys::KEY_SK))
    }

    async fn put_api_key(&self, k: &KeyItem) -> Result<()> {
        turn().await;
        self.write(put(to_row(k)?, Conflict::Token)?)?;
        Ok(())
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        turn().await;
        let k = key(keys::key_pk(id), keys::KEY_SK);
        Ok(self.rows.lock().map_err(internal)?.remove(&k).is_some())
    }

    async fn list_api_keys(&self) -> Result<Vec<KeyItem>> {
        turn().await;
        let rows = self.rows.lock().map_err(internal)?;
        rows.iter()
            .filter(|((pk, sk), _)| pk.starts_with("KEY#") && sk == keys::KEY_SK)
            .map(|(_, r)| from_row(r))
            .collect()
    }

    async fn put_logs(&self, logs: &[LogItem]) -> Result<()> {
        turn().await;
        for l in logs {
            self.write(put(to_row(l)?, Conflict::Token)?)?;
        }
        Ok(())
    }

    async fn list_logs(
        &self,
        uid: &str,
        limit: usize,
        offset: usize,
        with_total: bool,
        count_cap: usize,
    ) -> Result<(Vec<LogItem>, usize)> {
        turn().await;
        let mut all: Vec<LogItem> = self.query(&item::log_pk(uid), |_| true)?;
        all.reverse();
        let total = if with_total {
            all.len().min(count_cap)
        } else {
            0
        };
        Ok((all.into_iter().skip(offset).take(limit).collect(), total))
    }
}

#[async_trait::async_trait]
impl Identities for MemoryStore {
    async fn get_identity_claim(
        &self,
        provider: &str,
        issuer: &str,
        provider_uid: &str,
    ) -> Result<Option<IdentityClaimItem>> {
        turn().await;
        let keyed = item::identity_claim_pk(provider, issuer, provider_uid);
        match self.get_as(&key(keyed, item::IDENTITY_CLAIM_SK))? {
            Some(c) => Ok(Some(c)),
            None => self.get_as(&key(
                item::identity_claim_pk(provider, "", provider_uid),
                item::IDENTITY_CLAIM_SK,
            )),
        }
    }

    async fn list_identities(&self, uid: &str) -> Result<Vec<IdentityItem>> {
        turn().await;
        self.query(&item::user_pk(uid), |sk| {
            sk.starts_with(item::IDENTITY_PREFIX)
        })
    }

    async fn identity_email_owner(&self, email: &str) -> Result<Option<String>> {
        turn().await;
        let row = self.get(&key(
            item::identity_email_pk(email),
            item::IDENTITY_EMAIL_SK,
        ))?;
        Ok(row
            .filter(|r| r.get("ids").is_some() && r.get("v").is_some())
            .and_then(|r| text(&r, "uid").map(str::to_owned)))
    }

    async fn delete_identity(&self, identity: &IdentityItem) -> Result<bool> {
        turn().await;
        let writes = identity_deletes(identity, true, Conflict::Identity);
        match self.transact(writes) {
            Ok(()) => Ok(true),
            Err(WriteError::Conflict(_)) => Ok(false),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    async fn oauth2_sign_in(&self, w: OAuthSignIn<'_>) -> Result<(), WriteError> {
        turn().await;
        let mut writes = vec![];
        let new_email = w
            .new_user
            .and_then(|(_, e)| e)
            .and_then(|e| e.pk.strip_prefix("EMAIL#"));
        if let Some((user, email)) = w.new_user {
            writes.extend(self.new_user_writes(user, email, None, false)?);
        }
        if let Some(uid) = w.existing {
            let now = w.now;
            writes.push(update(
                key(item::user_pk(uid), item::PROFILE_SK),
                |r| r.is_some_and(|r| r.get("status") == Some(&Value::Bool(true))),
                move |r| {
                    r.insert("accessed".into(), Value::from(now));
                },
                Conflict::ProfileCondition,
            ));
        }
        match w.identity {
            IdentityWrite::New(identity) => {
                let claim = identity.claim();
                writes.push(put_new(to_row(identity)?, Conflict::Identity)?);
                writes.push(put_new(to_row(&claim)?, Conflict::Identity)?);
                if reserved(identity) {
                    writes.extend(reserve_identity_email(identity, new_email));
                }
            }
            IdentityWrite::Update(old, new) => {
                if let Some(changes) = diff_change(old, new)? {
                    writes.push(update(
                        key(old.pk.clone(), &old.sk),
                        |r| r.is_some(),
                        move |r| apply(r, changes),
                        Conflict::Identity,
                    ));
                }
                if old.claim_pk() != new.claim_pk() {
                    let claim = new.claim();
                    writes.push(delete_claim(
                        key(old.claim_pk(), item::IDENTITY_CLAIM_SK),
                        &old.uid,
                        Conflict::Identity,
                    ));
                    writes.push(put_new(to_row(&claim)?, Conflict::Identity)?);
                }
                let same = old.provider_email == new.provider_email;
                if reserved(old) && (!same || !reserved(new)) {
                    writes.push(identity_email_write(
                        &old.provider_email,
                        &old.uid,
                        &old.id,
                        false,
                        Conflict::Identity,
                    ));
                }
                if reserved(new) && (!same || !reserved(old)) {
                    writes.extend(reserve_identity_email(new, new_email));
                }
            }
        }
        if let Some(s) = w.session {
            writes.push(put_new(to_row(s)?, Conflict::User)?);
        }
        if let Some(t) = w.token {
            writes.push(put(to_row(t)?, Conflict::Token)?);
        }
        if let (Some(sid), Some(uid)) = (w.delete_session, w.existing) {
            writes.push(Write {
                key: key(item::user_pk(uid), &item::session_sk(sid)),
                condition: Some(Box::new(|r| r.is_some())),
                change: Box::new(|_| None),
                conflict: Conflict::Session,
            });
        }
        self.transact(writes)
    }
}

#[async_trait::async_trait]
impl Templates for MemoryStore {
    async fn list_templates(&self) -> Result<Vec<TemplateItem>> {
        turn().await;
        let rows: Vec<Value> = self.query(TEMPLATES_PK, |_| true)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| serde_json::from_value(r).ok())
            .collect())
    }

    async fn put_template(&self, t: &TemplateItem, replaces: u64) -> Result<bool> {
        turn().await;
        let row = to_row(t)?;
        let same = row.clone();
        let write = Write {
            key: key_of(&row)?,
            // As `dynamo`: a resend finding its own item succeeds.
            condition: Some(Box::new(move |r| match r {
                None => replaces == 0,
                Some(r) => num(r, "version") == Some(replaces as i64) || *r == same,
            })),
            change: Box::new(move |_| Some(row)),
            conflict: Conflict::Token,
        };
        self.write(write)
    }

    async fn delete_template(&self, sk: &str) -> Result<bool> {
        turn().await;
        let k = key(TEMPLATES_PK.to_owned(), sk);
        Ok(self.rows.lock().map_err(internal)?.remove(&k).is_some())
    }
}

#[async_trait::async_trait]
impl Storage for MemoryStore {
    fn with_user_limit(mut self, limit: u32) -> Self {
        self.user_limit = limit;
        self
    }
}

#[async_trait::async_trait]
impl Passkeys for MemoryStore {
    async fn list_passkeys(&self, uid: &str) -> Result<Vec<PasskeyItem>> {
        turn().await;
        self.query(&item::user_pk(uid), |sk| {
            sk.starts_with(item::PASSKEY_PREFIX)
        })
    }

    async fn put_passkey_challenge(&self, c: &PasskeyChallengeItem) -> Result<()> {
        turn().await;
        let row = to_row(c)?;
        if c.sk == item::PASSKEY_LOGIN_SK {
            let k = key_of(&row)?;
            if !self.write(put_new(row.clone(), Conflict::Token)?)? && self.get(&k)? != Some(row) {
                return Err(Error::internal("the ceremony exists already"));
            }
            return Ok(());
        }
        self.write(put(row, Conflict::Token)?)?;
        Ok(())
    }

    async fn get_passkey_registration(&self, uid: &str) -> Result<Option<PasskeyChallengeItem>> {
        turn().await;
        self.get_as(&key(item::user_pk(uid), item::PASSKEY_REGISTRATION_SK))
    }

    async fn get_passkey_sign_in(
        &self,
        challenge_id: &str,
        credential_id: &[u8],
    ) -> Result<(Option<PasskeyChallengeItem>, Option<PasskeyClaimItem>)> {
        turn().await;
        Ok((
            self.get_as(&key(
                item::passkey_login_pk(challenge_id),
                item::PASSKEY_LOGIN_SK,
            ))?,
            self.get_as(&key(
                item::passkey_claim_pk(credential_id),
                item::PASSKEY_CLAIM_SK,
            ))?,
        ))
    }

    async fn burn_passkey_challenge(&self, c: &PasskeyChallengeItem) -> Result<()> {
        turn().await;
        self.write(consume_ceremony(c, Millis::MIN))?;
        Ok(())
    }

    async fn add_passkey(
        &self,
        c: &PasskeyChallengeItem,
        passkey: &PasskeyItem,
        claim: &PasskeyClaimItem,
        max: u32,
        now: Millis,
    ) -> Result<(), WriteError> {
        turn().await;
        let (ev, pv) = (c.email_verification, c.phone_verification);
        self.transact(vec![
            consume_ceremony(c, now),
            exists(
                key(item::user_pk(&c.uid), &item::session_sk(&c.sid)),
                Conflict::Session,
            ),
            update(
                key(item::user_pk(&c.uid), item::PROFILE_SK),
                move |r| {
                    r.is_some_and(|r| {
                        let flag = |a: &str| r.get(a).and_then(Value::as_bool).unwrap_or(false);
                        flag("emailVerification") == ev
                            && flag("phoneVerification") == pv
                            && num(r, "passkeys").is_none_or(|n| n < i64::from(max))
                    })
                },
                move |r| {
                    r.insert("accessed".into(), Value::from(now));
                    add(r, "passkeys", 1);
                },
                Conflict::ProfileCondition,
            ),
            put_new(to_row(claim)?, Conflict::Passkey)?,
            put_new(to_row(passkey)?, Conflict::Passkey)?,
        ])
    }

    async fn passkey_sign_in(
        &self,
        c: &PasskeyChallengeItem,
        claim: &PasskeyClaimItem,
        old_credential: &str,
        used: &PasskeyUse,
        token: &TokenItem,
    ) -> Result<(), WriteError> {
        turn().await;
        let (old, uid, new) = (
            old_credential.to_owned(),
            claim.uid.clone(),
            claim.credential.clone(),
        );
        let u = used.clone();
        self.transact(vec![
            consume_ceremony(c, used.now),
            update(
                key(claim.pk.clone(), &claim.sk),
                move |r| {
                    r.is_some_and(|r| {
                        text(r, "credential") == Some(old.as_str())
                            && text(r, "uid") == Some(uid.as_str())
                    })
                },
                move |r| {
                    r.insert("credential".into(), Value::from(new));
                },
                Conflict::Token,
            ),
            update(
                key(item::user_pk(&used.uid), &item::passkey_sk(&used.id)),
                |r| r.is_some(),
                move |r| {
                    r.insert("lastUsed".into(), Value::from(u.now));
                    r.insert("backupEligible".into(), Value::Bool(u.backup_eligible));
                    r.insert("backupState".into(), Value::Bool(u.backup_state));
                },
                Conflict::ProfileCondition,
            ),
            put(to_row(token)?, Conflict::Token)?,
        ])
    }

    async fn rename_passkey(
        &self,
        uid: &str,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<Option<PasskeyItem>> {
        turn().await;
        let k = key(item::user_pk(uid), &item::passkey_sk(id));
        let name = name.to_owned();
        let written = self.write(update(
            k.clone(),
            |r| r.is_some(),
            move |r| {
                r.insert("name".into(), Value::from(name));
                r.insert("updated".into(), Value::from(now));
            },
            Conflict::Token,
        ))?;
        match written {
            true => self.get_as(&k),
            false => Ok(None),
        }
    }

    async fn delete_passkey(
        &self,
        p: &PasskeyItem,
        keep: &[(String, String)],
        revoke: &[String],
    ) -> Result<(), WriteError> {
        turn().await;
        let mut writes = passkey_deletes(p, true, Conflict::Token)?;
        writes.push(count_down(&p.uid));
        writes.push(delete(
            key(
                item::user_pk(&p.uid),
                &item::token_sk(item::PASSKEY_PROVIDER),
            ),
            Conflict::Token,
        ));
        let inline = revoke.len().min(super::REVOKED_IN_TRANSACTION);
        writes.extend(Self::session_deletes(&p.uid, &revoke[..inline]));
        for (pk, sk) in keep {
            writes.push(exists(key(pk.clone(), sk), Conflict::ProfileCondition));
        }
        self.transact(writes)?;
        if revoke.len() > inline {
            self.delete_sessions(&p.uid, &revoke[inline..]).await?;
        }
        Ok(())
    }
}
