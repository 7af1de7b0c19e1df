//! `admin users import` and `admin users export` (README "Moving in", "Moving out").
//!
//! Each source record becomes one user, written in one conditional transaction (profile, email
//! and phone claims, provider identities with their claims, the user counter under
//! `USER_LIMIT`): a rerun skips what is there (or, with `--on-conflict update`, updates the
//! profile), and a refused user leaves nothing. Every record gets a line in the report (JSON
//! lines: record, source ID, user ID, outcome, reason), which never holds a hash or a password.

use account_core::clock::{Millis, OsEntropy};
use account_core::hashes::FirebaseConfig;
use account_core::item::{self, EmailItem, IdentityItem, PhoneItem, TargetItem, UserItem};
use account_core::store::{Claims, Conflict, Storage, WriteError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;

mod export;
mod sources;

pub use export::export;
pub use sources::{csv_records, firebase_config, records};
use sources::{fields, provider_key};

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
