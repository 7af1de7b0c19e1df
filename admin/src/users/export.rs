//! `admin users export --format appwrite`: the table's users in the shape of Appwrite's Users
//! API, hashes included (README "Moving out").

use account_core::hashes;
use account_core::item::{self, UserItem};
use serde_json::{json, Value};

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
