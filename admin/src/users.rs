//! `admin users import` and `admin users export` (README "Moving in", "Moving out").
//!
//! Each source record becomes one user, written in one conditional transaction (profile, email
//! and phone claims, provider identities with their claims, the user counter under
//! `USER_LIMIT`): a rerun skips what is there (or, with `--on-conflict update`, updates the
//! profile), and a refused user leaves nothing. Every record gets a line in the report (JSON
//! lines: record, source ID, user ID, outcome, reason), which never holds a hash or a password.

use account_core::clock::{Millis, OsEntropy};
use account_core::hashes::{self, FirebaseConfig};
use account_core::item::{self, EmailItem, IdentityItem, PhoneItem, TargetItem, UserItem};
use account_core::store::{Claims, Conflict, Storage, WriteError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;

/// Where the users come from (`--from`).
#[derive(Debug, Clone)]
pub enum Source {
    /// Appwrite's Users API: an array of users, or its pages (`{"total", "users"}`) one after
    /// another.
    Appwrite,
    /// `firebase auth:export --format=json`, with the project's hash parameters.
    Firebase(FirebaseConfig),
    /// Supabase `auth.users` rows (a JSON array) or the Admin API's `{"users": [...]}`.
    Supabase,
    /// Auth0's bulk user export (NDJSON), hashes as Auth0 delivers them on request.
    Auth0,
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Self::Appwrite => "appwrite",
            Self::Firebase(_) => "firebase",
            Self::Supabase => "supabase",
            Self::Auth0 => "auth0",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    Skip,
    Update,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    /// The file is CSV (Firebase's or Supabase's), not JSON.
    pub csv: bool,
    pub on_conflict: OnConflict,
    pub dry_run: bool,
    /// `--issuer KEY=URL`: the issuer a provider's identities are keyed with, where the
    /// deployment configures one (`OAUTH2_<KEY>_ISSUER`); else the provider's default.
    pub issuers: HashMap<String, String>,
    /// Users written at once.
    pub concurrency: usize,
    pub now: Millis,
}

/// One record of the source, converted: what the transaction writes.
#[derive(Debug, Clone)]
pub struct Imported {
    pub source_id: String,
    pub user: UserItem,
    pub email: Option<EmailItem>,
    pub phone: Option<PhoneItem>,
    pub identities: Vec<IdentityItem>,
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub record: usize,
    pub source_id: String,
    pub user: String,
    /// `created`, `skipped`, `updated`, `valid` (dry run) or `failed`.
    pub outcome: &'static str,
    pub reason: String,
}

impl Outcome {
    fn line(&self) -> String {
        json!({
            "record": self.record,
            "sourceId": self.source_id,
            "user": self.user,
            "outcome": self.outcome,
            "reason": self.reason,
        })
        .to_string()
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub created: usize,
    pub skipped: usize,
    pub updated: usize,
    pub valid: usize,
    pub failed: usize,
}

/// Firebase's CSV export: no header, these columns in this order
/// (<https://firebase.google.com/docs/cli/auth#csv>), read into the JSON export's shape.
const FIREBASE_CSV: [&str; 26] = [
    "localId",
    "email",
    "emailVerified",
    "passwordHash",
    "salt",
    "displayName",
    "photoUrl",
    "google.com",
    "google.com:email",
    "google.com:name",
    "google.com:photo",
    "facebook.com",
    "facebook.com:email",
    "facebook.com:name",
    "facebook.com:photo",
    "twitter.com",
    "twitter.com:email",
    "twitter.com:name",
    "twitter.com:photo",
    "github.com",
    "github.com:email",
    "github.com:name",
    "github.com:photo",
    "createdAt",
    "lastSignedInAt",
    "phoneNumber",
];

fn firebase_csv_record(row: &csv::StringRecord) -> Value {
    let mut user = Map::new();
    let mut providers = vec![];
    for (column, value) in FIREBASE_CSV.iter().zip(row.iter()) {
        if value.is_empty() {
            continue;
        }
        match *column {
            "emailVerified" => {
                user.insert((*column).into(), Value::Bool(value.eq_ignore_ascii_case("true")));
            }
            c if c.ends_with(".com") => providers.push(json!({
                "providerId": c,
                "rawId": value,
                "email": row.get(FIREBASE_CSV.iter().position(|x| *x == format!("{c}:email")).unwrap_or(0)).unwrap_or_default(),
            })),
            c if c.contains(':') => {}
            c => {
                user.insert(c.into(), Value::String(value.to_owned()));
            }
        }
    }
    user.insert("providerUserInfo".into(), Value::Array(providers));
    Value::Object(user)
}

/// Supabase's CSV (the SQL editor's export of `auth.users`): a header row of column names; the
/// JSON columns (`raw_user_meta_data`, `identities`) as JSON text.
fn supabase_csv_record(header: &csv::StringRecord, row: &csv::StringRecord) -> Value {
    let mut user = Map::new();
    for (column, value) in header.iter().zip(row.iter()) {
        let value = match (value.is_empty(), value.starts_with(['{', '['])) {
            (true, _) => Value::Null,
            (false, true) => serde_json::from_str(value).unwrap_or(Value::String(value.into())),
            (false, false) => Value::String(value.into()),
        };
        user.insert(column.into(), value);
    }
    Value::Object(user)
}

/// The records of a CSV file (Firebase's or Supabase's), one per row.
pub fn csv_records(source: &Source, text: &str) -> Vec<Result<Value, String>> {
    let supabase = matches!(source, Source::Supabase);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(supabase)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = match supabase {
        true => match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return vec![Err(format!("no CSV header: {e}"))],
        },
        false => csv::StringRecord::new(),
    };
    reader
        .records()
        .map(|row| {
            let row = row.map_err(|e| format!("not a CSV row: {e}"))?;
            Ok(match supabase {
                true => supabase_csv_record(&header, &row),
                false => firebase_csv_record(&row),
            })
        })
        .collect()
}

/// The records of a file, in order; a file that stops parsing adds its error as the last
/// entry (its record number is the next one), and what came before is still imported.
pub fn records(source: &Source, text: &str) -> Vec<Result<Value, String>> {
    let mut out = vec![];
    if matches!(source, Source::Auth0) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push(serde_json::from_str(line).map_err(|e| format!("not a JSON line: {e}")));
        }
        return out;
    }
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match value {
            Ok(Value::Array(users)) => out.extend(users.into_iter().map(Ok)),
            Ok(Value::Object(mut page)) => match page.remove("users") {
                Some(Value::Array(users)) => out.extend(users.into_iter().map(Ok)),
                _ => out.push(Err("an object without a \"users\" array".into())),
            },
            Ok(_) => out.push(Err("neither a user array nor a page of users".into())),
            Err(e) => {
                out.push(Err(format!("the file is cut off or not JSON: {e}")));
                break;
            }
        }
    }
    out
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// An RFC 3339 time or Unix milliseconds (number or string).
fn time(v: &Value, key: &str) -> Option<Millis> {
    let value = v.get(key)?;
    if let Some(ms) = value.as_i64() {
        return Some(ms);
    }
    let s = value.as_str()?;
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            // Postgres' `2024-01-02 03:04:05.678+00`.
            let iso = s.replacen(' ', "T", 1);
            let iso = match iso.len() > 3 && iso.as_bytes()[iso.len() - 3] == b'+' {
                true => format!("{iso}:00"),
                false => iso,
            };
            time::OffsetDateTime::parse(&iso, &time::format_description::well_known::Rfc3339)
        })
        .ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// Our provider key for a source's provider name (Firebase's `google.com`, Auth0's
/// `google-oauth2`, Supabase's `azure`, …); `None` for what is not a provider here.
fn provider_key(name: &str) -> Option<&'static str> {
    let key = match name.trim_end_matches(".com") {
        "google-oauth2" => "google",
        "windowslive" | "azure" => "microsoft",
        "twitter" => "x",
        "password" | "phone" | "email" | "auth0" | "anonymous" => return None,
        other => other,
    };
    account_core::providers::find(key).map(|p| p.key)
}

struct Fields {
    id: String,
    email: Option<String>,
    email_verified: bool,
    phone: Option<String>,
    phone_verified: bool,
    name: String,
    blocked: bool,
    created: Option<Millis>,
    prefs: Option<Map<String, Value>>,
    labels: Vec<String>,
    password: Option<String>,
    /// `(provider name at the source, provider's user ID, provider email)`.
    identities: Vec<(String, String, String)>,
}

fn fields(source: &Source, r: &Value, now: Millis) -> Result<Fields, String> {
    let list = |key: &str| {
        r.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let f = match source {
        Source::Appwrite => Fields {
            id: text(r, "$id").ok_or("no $id")?.to_owned(),
            email: text(r, "email").map(str::to_owned),
            email_verified: flag(r, "emailVerification"),
            phone: text(r, "phone").map(str::to_owned),
            phone_verified: flag(r, "phoneVerification"),
            name: text(r, "name").unwrap_or_default().to_owned(),
            blocked: r.get("status").and_then(Value::as_bool) == Some(false),
            created: time(r, "$createdAt"),
            prefs: r.get("prefs").and_then(Value::as_object).cloned(),
            labels: list("labels")
                .iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect(),
            password: match (text(r, "password"), text(r, "hash")) {
                (Some(p), Some(h)) => Some(hashes::from_appwrite(
                    h,
                    p,
                    r.get("hashOptions").unwrap_or(&Value::Null),
                )?),
                (Some(_), None) => return Err("a password without its hash algorithm".into()),
                _ => None,
            },
            identities: vec![],
        },
        Source::Firebase(config) => Fields {
            id: text(r, "localId").ok_or("no localId")?.to_owned(),
            email: text(r, "email").map(str::to_owned),
            email_verified: flag(r, "emailVerified"),
            phone: text(r, "phoneNumber").map(str::to_owned),
            phone_verified: text(r, "phoneNumber").is_some(),
            name: text(r, "displayName").unwrap_or_default().to_owned(),
            blocked: flag(r, "disabled"),
            created: time(r, "createdAt"),
            prefs: None,
            labels: vec![],
            password: match (text(r, "passwordHash"), text(r, "salt")) {
                (Some(h), Some(s)) => Some(hashes::firebase(h, s, config)?),
                (Some(_), None) => return Err("a passwordHash without its salt".into()),
                _ => None,
            },
            identities: list("providerUserInfo")
                .iter()
                .filter_map(|p| {
                    Some((
                        text(p, "providerId")?.to_owned(),
                        text(p, "rawId")?.to_owned(),
                        text(p, "email").unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
        },
        Source::Supabase => {
            let meta = r
                .get("raw_user_meta_data")
                .or_else(|| r.get("user_metadata"));
            let meta = meta.cloned().unwrap_or(Value::Null);
            Fields {
                id: text(r, "id").ok_or("no id")?.to_owned(),
                email: text(r, "email").map(str::to_owned),
                email_verified: text(r, "email_confirmed_at").is_some(),
                phone: text(r, "phone").map(|p| match p.starts_with('+') {
                    true => p.to_owned(),
                    false => format!("+{p}"),
                }),
                phone_verified: text(r, "phone_confirmed_at").is_some(),
                name: text(&meta, "name")
                    .or_else(|| text(&meta, "full_name"))
                    .unwrap_or_default()
                    .to_owned(),
                blocked: r
                    .get("banned_until")
                    .is_some_and(|_| time(r, "banned_until").is_some_and(|until| until > now)),
                created: time(r, "created_at"),
                prefs: None,
                labels: vec![],
                password: text(r, "encrypted_password")
                    .map(|h| hashes::check(h).map(|()| h.to_owned()))
                    .transpose()?,
                identities: list("identities")
                    .iter()
                    .filter_map(|i| {
                        let data = i.get("identity_data").cloned().unwrap_or(Value::Null);
                        let uid = text(i, "provider_id").or_else(|| text(&data, "sub"))?;
                        Some((
                            text(i, "provider")?.to_owned(),
                            uid.to_owned(),
                            text(&data, "email").unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect(),
            }
        }
        Source::Auth0 => Fields {
            id: text(r, "user_id")
                .or_else(|| r.get("_id").and_then(|i| text(i, "$oid")))
                .ok_or("no user_id")?
                .to_owned(),
            email: text(r, "email").map(str::to_owned),
            email_verified: flag(r, "email_verified"),
            phone: text(r, "phone_number").map(str::to_owned),
            phone_verified: flag(r, "phone_verified"),
            name: text(r, "name").unwrap_or_default().to_owned(),
            blocked: flag(r, "blocked"),
            created: time(r, "created_at"),
            prefs: r.get("user_metadata").and_then(Value::as_object).cloned(),
            labels: vec![],
            password: text(r, "passwordHash")
                .or_else(|| text(r, "password_hash"))
                .or_else(|| {
                    r.get("custom_password_hash")
                        .and_then(|c| c.get("hash"))
                        .and_then(|h| text(h, "value"))
                })
                .map(|h| hashes::check(h).map(|()| h.to_owned()))
                .transpose()?,
            identities: list("identities")
                .iter()
                .filter_map(|i| {
                    let uid = match i.get("user_id")? {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Some((text(i, "provider")?.to_owned(), uid, String::new()))
                })
                .collect(),
        },
    };
    Ok(f)
}

/// Convert one record. IDs that are valid Appwrite IDs are kept; others get a new one (the
/// report maps them).
pub fn convert(opts: &Options, record: &Value) -> Result<Imported, String> {
    let f = fields(&opts.source, record, opts.now)?;
    let now = opts.now;
    // The mapped ID is derived from the source's, so a rerun finds the user it made.
    let id = match account_core::ids::is_valid_custom(&f.id) {
        true => f.id.clone(),
        false => format!("i{}", &account_core::crypto::sha256_hex(&f.id)[..20]),
    };
    let email = match &f.email {
        Some(e) => {
            Some(account_core::address::email(e).ok_or_else(|| format!("invalid email {e}"))?)
        }
        None => None,
    };
    let phone = match &f.phone {
        Some(p) => Some(
            account_edge::validate::phone("phone", p).map_err(|_| format!("invalid phone {p}"))?,
        ),
        None => None,
    };
    let created = f.created.unwrap_or(now).min(now);
    let mut user = UserItem::new(&id, created);
    user.updated = now;
    user.name = f.name.chars().take(128).collect();
    user.email = email.clone();
    user.email_verification = email.is_some() && f.email_verified;
    user.phone = phone.clone();
    user.phone_verification = phone.is_some() && f.phone_verified;
    user.status = !f.blocked;
    user.password = f.password.clone();
    user.password_update = f.password.as_ref().map(|_| created);
    user.labels = f.labels.into_iter().take(1000).collect();
    if let Some(prefs) = f.prefs {
        let text = Value::Object(prefs).to_string();
        if text.len() > 65_535 {
            return Err("prefs over 65535 characters".into());
        }
        user.prefs = text;
    }
    let target = |kind: &str, value: &str| TargetItem {
        id: account_core::ids::unique(now, &OsEntropy),
        created,
        updated: created,
        provider_type: kind.to_owned(),
        identifier: value.to_owned(),
    };
    if let Some(e) = &email {
        user.targets.push(target("email", e));
    }
    if let Some(p) = &phone {
        user.targets.push(target("sms", p));
    }
    user.imported = format!(
        "{}:{}",
        opts.source.name(),
        &account_core::crypto::sha256_hex(&f.id)[..16]
    );
    let mut identities = vec![];
    for (provider, provider_uid, provider_email) in f.identities {
        let Some(key) = provider_key(&provider) else {
            continue;
        };
        let issuer = match opts.issuers.get(key) {
            Some(i) => i.clone(),
            None => account_core::providers::default_issuer(key)
                .ok_or_else(|| format!("provider {key}: give its issuer (--issuer {key}=URL)"))?
                .to_owned(),
        };
        let identity_id = account_core::ids::unique(now, &OsEntropy);
        identities.push(IdentityItem {
            pk: item::user_pk(&id),
            sk: item::identity_sk(&identity_id),
            id: identity_id,
            uid: id.clone(),
            provider: key.to_owned(),
            provider_uid,
            issuer,
            provider_email: account_core::address::email(&provider_email).unwrap_or_default(),
            // Reserves nothing until its first sign-in decides (`item::IdentityItem`).
            provider_email_verified: false,
            access_token_sealed: String::new(),
            refresh_token_sealed: String::new(),
            access_token_expiry: None,
            created,
            updated: now,
        });
    }
    // DynamoDB takes 100 items a transaction; two per identity.
    if identities.len() > 40 {
        return Err(format!("{} identities: at most 40", identities.len()));
    }
    Ok(Imported {
        source_id: f.id,
        email: email.map(|e| EmailItem::new(&e, &id, user.password.clone())),
        phone: phone.map(|p| PhoneItem::new(&p, &id)),
        user,
        identities,
    })
}

fn refused(c: Conflict) -> &'static str {
    match c {
        Conflict::User => "the user ID exists",
        Conflict::Email => "another user has this email",
        Conflict::Phone => "another user has this phone number",
        Conflict::Identity => "another user has this provider account",
        Conflict::IdentityEmail => "another user's provider account uses this email",
        Conflict::UserLimit => "USER_LIMIT is reached",
        _ => "refused",
    }
}

/// Write one user; with `--on-conflict update`, a user this import made takes the record's
/// name, flags, preferences, labels and (while it is still the imported one) password hash; its
/// email, phone and identities stay.
async fn write(store: &dyn Storage, opts: &Options, u: &Imported) -> (&'static str, String) {
    let created = store
        .import_user(&u.user, u.email.as_ref(), u.phone.as_ref(), &u.identities)
        .await;
    match created {
        Ok(()) => ("created", String::new()),
        Err(WriteError::Conflict(Conflict::User)) => {
            // Only a user this import made (same source, same source ID) is skipped or updated:
            // someone who signed up with the ID first gets neither the user's data nor their place.
            let stored = store.get_user_and_sessions(&u.user.id, &[]).await;
            match stored {
                Ok((Some(old), _)) if old.imported == u.user.imported => match opts.on_conflict {
                    OnConflict::Skip => ("skipped", "imported before".into()),
                    OnConflict::Update => match update(store, old, u).await {
                        Ok(reason) => ("updated", reason),
                        Err(e) => ("failed", e),
                    },
                },
                Ok(_) => (
                    "failed",
                    "the user ID is held by a user this import did not create".into(),
                ),
                Err(e) => ("failed", e.message),
            }
        }
        Err(WriteError::Conflict(c)) => ("failed", refused(c).into()),
        Err(WriteError::Other(e)) => ("failed", e.message),
    }
}

async fn update(store: &dyn Storage, old: UserItem, u: &Imported) -> Result<String, String> {
    let mut new = old.clone();
    new.name = u.user.name.clone();
    new.status = u.user.status;
    new.prefs = u.user.prefs.clone();
    new.labels = u.user.labels.clone();
    new.updated = u.user.updated;
    let mut claims = Claims::default();
    if old.email == u.user.email {
        new.email_verification = u.user.email_verification;
    }
    if old.phone == u.user.phone {
        new.phone_verification = u.user.phone_verification;
    }
    // The hash only while it is still an imported one: a current Argon2id hash means the user
    // signed in since, or changed or reset the password, and that stays.
    let upgraded = old
        .password
        .as_deref()
        .is_some_and(account_core::crypto::is_current);
    if u.user.password.is_some() && u.user.password != old.password && !upgraded {
        new.password = u.user.password.clone();
        new.password_update = u.user.password_update;
        claims.email_password = old.email.clone().map(|e| (e, new.password.clone()));
    }
    store
        .update_user_atomically(&old, &new, &claims, &[], &[])
        .await
        .map_err(|e| match e {
            WriteError::Conflict(c) => refused(c).to_owned(),
            WriteError::Other(e) => e.message,
        })?;
    Ok(
        match old.email != u.user.email || old.phone != u.user.phone {
            true => "email and phone kept as stored".to_owned(),
            false => String::new(),
        },
    )
}

/// Import `text`: every record converted, checked and (unless a dry run) written, `concurrency`
/// at a time; one report line each. `progress` is called after each record with the count done.
pub async fn import(
    store: &dyn Storage,
    text: &str,
    opts: &Options,
    report: &mut dyn Write,
    progress: &mut dyn FnMut(usize, usize),
) -> std::io::Result<Summary> {
    use futures_util::stream::{self, StreamExt};
    let records = match opts.csv {
        true => csv_records(&opts.source, text),
        false => records(&opts.source, text),
    };
    let total = records.len();
    let mut summary = Summary::default();
    let mut seen_emails: HashMap<String, usize> = HashMap::new();
    let converted: Vec<(usize, Result<Imported, String>)> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let record = i + 1;
            let user = r.and_then(|v| convert(opts, &v)).and_then(|u| {
                // Two records with one email: the second is refused before anything is
                // written (the table would refuse it too, after the first).
                match u.user.email.as_ref().map(|e| (e, seen_emails.get(e))) {
                    Some((_, Some(first))) => Err(format!("the same email as record {first}")),
                    Some((e, None)) => {
                        seen_emails.insert(e.clone(), record);
                        Ok(u)
                    }
                    None => Ok(u),
                }
            });
            (record, user)
        })
        .collect();
    let mut outcomes = stream::iter(converted.into_iter().map(|(record, user)| async move {
        match user {
            Err(reason) => Outcome {
                record,
                source_id: String::new(),
                user: String::new(),
                outcome: "failed",
                reason,
            },
            Ok(u) if opts.dry_run => Outcome {
                record,
                source_id: u.source_id.clone(),
                user: u.user.id.clone(),
                outcome: "valid",
                reason: String::new(),
            },
            Ok(u) => {
                let (outcome, reason) = write(store, opts, &u).await;
                Outcome {
                    record,
                    source_id: u.source_id.clone(),
                    user: u.user.id.clone(),
                    outcome,
                    reason,
                }
            }
        }
    }))
    .buffer_unordered(opts.concurrency.max(1));
    let mut done = 0;
    while let Some(o) = outcomes.next().await {
        match o.outcome {
            "created" => summary.created += 1,
            "skipped" => summary.skipped += 1,
            "updated" => summary.updated += 1,
            "valid" => summary.valid += 1,
            _ => summary.failed += 1,
        }
        writeln!(report, "{}", o.line())?;
        done += 1;
        progress(done, total);
    }
    Ok(summary)
}

/// Every profile of the table as Appwrite's Users API returns it (`{"total", "users"}`), hashes
/// included: Argon2id (PHC, which Appwrite's `createArgon2User` takes) or, for a user who has
/// not signed in since an import, the imported algorithm with its `hashOptions`.
pub fn export(items: &[Value]) -> Value {
    let users: Vec<Value> = items
        .iter()
        .filter(|i| {
            i["SK"] == item::PROFILE_SK && i["PK"].as_str().is_some_and(|p| p.starts_with("USER#"))
        })
        .filter_map(|i| serde_json::from_value::<UserItem>(i.clone()).ok())
        .map(|u| {
            let (hash, password, options) = match u.password.as_deref() {
                Some(p) => appwrite_hash(p),
                None => ("argon2", String::new(), json!({})),
            };
            json!({
                "$id": u.id,
                "$createdAt": account_core::dates::format(u.created),
                "$updatedAt": account_core::dates::format(u.updated),
                "name": u.name,
                "email": u.email.clone().unwrap_or_default(),
                "phone": u.phone.clone().unwrap_or_default(),
                "emailVerification": u.email_verification,
                "phoneVerification": u.phone_verification,
                "status": u.status,
                "labels": u.labels,
                "prefs": serde_json::from_str::<Value>(&u.prefs).unwrap_or(json!({})),
                "password": password,
                "hash": hash,
                "hashOptions": options,
            })
        })
        .collect();
    json!({ "total": users.len(), "users": users })
}

/// A stored hash as Appwrite's `hash`, `password` and `hashOptions`.
fn appwrite_hash(stored: &str) -> (&'static str, String, Value) {
    let parts: Vec<&str> = stored.split('$').collect();
    match hashes::algorithm(stored) {
        Some(hashes::Algorithm::Md5) => ("md5", parts[2].to_owned(), json!({"type": "md5"})),
        Some(hashes::Algorithm::Sha) => (
            "sha",
            parts[3].to_owned(),
            json!({"type": "sha", "version": parts[2]}),
        ),
        Some(hashes::Algorithm::Scrypt) => {
            let get = |k: &str| {
                parts[2]
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or_default()
            };
            use base64::Engine;
            let salt = base64::engine::general_purpose::STANDARD
                .decode(parts[3])
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            (
                "scrypt",
                parts[4].to_owned(),
                json!({"type": "scrypt", "salt": salt, "costCpu": get("n"), "costMemory": get("r"), "costParallel": get("p"), "length": get("l")}),
            )
        }
        Some(hashes::Algorithm::ScryptModified) => (
            "scryptMod",
            parts[6].to_owned(),
            json!({"type": "scryptMod", "salt": parts[3], "saltSeparator": parts[4], "signerKey": parts[5]}),
        ),
        Some(a) => (
            a.appwrite(),
            stored.to_owned(),
            json!({"type": a.appwrite()}),
        ),
        None => ("argon2", String::new(), json!({})),
    }
}

/// Firebase's hash parameters, as the console shows them (`hash_config { algorithm: SCRYPT,
/// base64_signer_key: …, base64_salt_separator: …, rounds: 8, mem_cost: 14 }`) or as JSON with
/// the same keys.
pub fn firebase_config(text: &str) -> Result<FirebaseConfig, String> {
    let mut found: HashMap<String, String> = HashMap::new();
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
        let m = m
            .get("hash_config")
            .and_then(Value::as_object)
            .unwrap_or(&m)
            .clone();
        for (k, v) in m {
            let v = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            found.insert(k, v);
        }
    } else {
        for part in text.split(['\n', ',', '{', '}']) {
            if let Some((k, v)) = part.split_once(':') {
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                found.insert(k.trim().to_owned(), v.to_owned());
            }
        }
    }
    if let Some(a) = found
        .get("algorithm")
        .filter(|a| !a.eq_ignore_ascii_case("SCRYPT"))
    {
        return Err(format!(
            "hash algorithm {a}: only Firebase's SCRYPT is supported"
        ));
    }
    let get = |k: &str| {
        found
            .get(k)
            .cloned()
            .ok_or(format!("hash config: {k} missing"))
    };
    let number = |k: &str| -> Result<u32, String> {
        get(k)?
            .parse()
            .map_err(|_| format!("hash config: {k} is not a number"))
    };
    let config = FirebaseConfig {
        signer_key: get("base64_signer_key")?,
        salt_separator: get("base64_salt_separator")?,
        rounds: number("rounds")?,
        mem_cost: number("mem_cost")?,
    };
    config.check()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_providers_map_to_ours() {
        for (theirs, ours) in [
            ("google.com", Some("google")),
            ("github.com", Some("github")),
            ("apple.com", Some("apple")),
            ("google-oauth2", Some("google")),
            ("windowslive", Some("microsoft")),
            ("azure", Some("microsoft")),
            ("twitter.com", Some("x")),
            ("password", None),
            ("phone", None),
            ("auth0", None),
            ("myspace", None),
        ] {
            assert_eq!(provider_key(theirs), ours, "{theirs}");
        }
    }

    #[test]
    fn firebase_parameters_read_as_the_console_shows_them_or_as_json() {
        let text = "hash_config {\n  algorithm: SCRYPT,\n  base64_signer_key: YWJj,\n  base64_salt_separator: Bw==,\n  rounds: 8,\n  mem_cost: 14,\n}";
        let c = firebase_config(text).unwrap();
        assert_eq!(
            (c.signer_key.as_str(), c.rounds, c.mem_cost),
            ("YWJj", 8, 14)
        );
        let json = r#"{"hash_config": {"algorithm": "SCRYPT", "base64_signer_key": "YWJj", "base64_salt_separator": "Bw==", "rounds": 8, "mem_cost": 14}}"#;
        assert_eq!(firebase_config(json).unwrap().salt_separator, "Bw==");
        assert!(firebase_config(&text.replace("SCRYPT", "HMAC_SHA256")).is_err());
        assert!(firebase_config(&text.replace("rounds: 8", "rounds: 9")).is_err());
        assert!(firebase_config(&text.replace("mem_cost: 14,", "")).is_err());
    }

    #[test]
    fn times_read_in_every_source_shape() {
        let v = json!({"a": "2024-01-02T03:04:05.678Z", "b": "2024-01-02 03:04:05.678+00", "c": "1704164645678", "d": 1704164645678i64, "e": "soon"});
        for k in ["a", "b", "c", "d"] {
            assert_eq!(time(&v, k), Some(1_704_164_645_678), "{k}");
        }
        assert_eq!(time(&v, "e"), None);
    }
}
