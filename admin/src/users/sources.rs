//! The sources' file formats: Appwrite's, Firebase's (JSON and CSV, and its hash parameters),
//! Supabase's (JSON and CSV) and Auth0's (NDJSON), read into [`Fields`], what an import needs
//! of a user whatever the source.

use super::Source;
use account_core::clock::Millis;
use account_core::hashes::{self, FirebaseConfig};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

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

pub(super) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// An RFC 3339 time or Unix milliseconds (number or string).
pub(super) fn time(v: &Value, key: &str) -> Option<Millis> {
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
pub(super) fn provider_key(name: &str) -> Option<&'static str> {
    let key = match name.trim_end_matches(".com") {
        "google-oauth2" => "google",
        "windowslive" | "azure" => "microsoft",
        "twitter" => "x",
        "password" | "phone" | "email" | "auth0" | "anonymous" => return None,
        other => other,
    };
    account_core::providers::find(key).map(|p| p.key)
}

pub(super) struct Fields {
    pub(super) id: String,
    pub(super) email: Option<String>,
    pub(super) email_verified: bool,
    pub(super) phone: Option<String>,
    pub(super) phone_verified: bool,
    pub(super) name: String,
    pub(super) blocked: bool,
    pub(super) created: Option<Millis>,
    pub(super) prefs: Option<Map<String, Value>>,
    pub(super) labels: Vec<String>,
    pub(super) password: Option<String>,
    /// `(provider name at the source, provider's user ID, provider email)`.
    pub(super) identities: Vec<(String, String, String)>,
}

pub(super) fn fields(source: &Source, r: &Value, now: Millis) -> Result<Fields, String> {
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
