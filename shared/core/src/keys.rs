//! Project API keys (`X-Appwrite-Key`), created and revoked by the operator CLI (`admin`).
//!
//! A key is `standard_<id><secret>`: 20 hex chars of ID (the item key, so a lookup is one
//! `GetItem`) and 236 hex chars of secret; only SHA-256 of the whole key is stored and it is
//! compared in constant time. Keys hold scopes (`sessions.write`, …) but never `account`.

use crate::clock::{Entropy, Millis};
use crate::crypto;
use crate::error::{Error, ErrorType, Result};
use serde::{Deserialize, Serialize};

/// Sort key of every API key item; the partition key is `KEY#<id>`, so key lookups spread over
/// partitions instead of all hitting one.
pub const KEY_SK: &str = "KEY";
pub const PREFIX: &str = "standard_";
const ID_LEN: usize = 20;
const SECRET_HEX: usize = 236;

/// Scopes a key may hold. `account` is deliberately absent.
pub const SCOPES: &[&str] = &["sessions.write", "users.read", "users.write"];

pub fn key_pk(id: &str) -> String {
    format!("KEY#{id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub secret_hash: String,
    pub created: Millis,
    #[serde(default)]
    pub expire: Option<Millis>,
}

impl KeyItem {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A new key: the item to store and the key string (shown once).
pub fn generate(
    name: &str,
    scopes: &[String],
    expire: Option<Millis>,
    now: Millis,
    entropy: &dyn Entropy,
) -> Result<(KeyItem, String)> {
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(Error::with_message(
            ErrorType::ArgumentInvalid,
            format!("Unknown scope {bad}; allowed: {}", SCOPES.join(", ")),
        ));
    }
    let id = crate::ids::unique(now, entropy);
    let key = format!(
        "{PREFIX}{id}{}",
        crypto::random_hex(entropy, SECRET_HEX / 2)
    );
    let item = KeyItem {
        pk: key_pk(&id),
        sk: KEY_SK.into(),
        id,
        name: name.into(),
        scopes: scopes.to_vec(),
        secret_hash: crypto::sha256_hex(&key),
        created: now,
        expire,
    };
    Ok((item, key))
}

/// The key ID inside a presented key, if it has our shape.
pub fn id_of(presented: &str) -> Option<&str> {
    let body = presented.strip_prefix(PREFIX)?;
    (body.len() == ID_LEN + SECRET_HEX && body.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| &body[..ID_LEN])
}

/// Check a presented key against its stored item: 401 `user_unauthorized` if it does not match,
/// 401 `project_key_expired` if it has expired.
pub fn check(presented: &str, stored: Option<KeyItem>, now: Millis) -> Result<KeyItem> {
    let stored = stored
        .filter(|k| crypto::ct_eq(&k.secret_hash, &crypto::sha256_hex(presented)))
        .ok_or_else(|| Error::new(ErrorType::UserUnauthorized))?;
    if stored.expire.is_some_and(|e| e <= now) {
        return Err(Error::new(ErrorType::ProjectKeyExpired));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqEntropy;

    #[test]
    fn generate_and_check() {
        let (item, key) = generate(
            "ssr",
            &["sessions.write".into()],
            Some(2_000),
            1_000,
            &SeqEntropy::default(),
        )
        .unwrap();
        assert!(key.starts_with("standard_"));
        assert_eq!(id_of(&key), Some(item.id.as_str()));
        assert!(check(&key, Some(item.clone()), 1_500).is_ok());
        assert_eq!(
            check(&key, Some(item.clone()), 2_000).unwrap_err().kind,
            ErrorType::ProjectKeyExpired
        );
        let mut forged = key.clone();
        forged.pop();
        forged.push('0');
        assert_eq!(
            check(&forged, Some(item.clone()), 1_500).unwrap_err().kind,
            ErrorType::UserUnauthorized
        );
        assert_eq!(
            check(&key, None, 1_500).unwrap_err().kind,
            ErrorType::UserUnauthorized
        );
        assert!(item.has_scope("sessions.write") && !item.has_scope("account"));
    }

    #[test]
    fn account_scope_cannot_be_granted() {
        assert!(generate("x", &["account".into()], None, 0, &SeqEntropy::default()).is_err());
        assert!(id_of("standard_short").is_none());
        assert!(id_of("legacyunprefixedkey").is_none());
    }
}
