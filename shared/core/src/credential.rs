//! The client-visible session credential: `base64(JSON {"id": <userId>, "secret": <secret>})`,
//! carried by the `a_session_<project>` cookie, `X-Appwrite-Session` and `X-Fallback-Cookies`.
//!
//! The secret is 256 lowercase hex chars, as Appwrite's. Its first 20 chars are the session ID, so a
//! request names both the user and the session and authenticates in one DynamoDB round trip
//! (BatchGetItem of the profile and the session). The other 236 chars (118 random bytes) are the
//! unguessable part; only SHA-256 of the whole secret is stored.

use crate::clock::Entropy;
use crate::crypto;
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};

pub const SESSION_ID_LEN: usize = 20;
pub const SECRET_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub secret: String,
}

impl Credential {
    /// `base64` of `{"id":…,"secret":…}` (keys in that order).
    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Strict base64, then JSON with string `id` and `secret`; extra keys ignored. `None` if invalid.
    pub fn decode(encoded: &str) -> Option<Self> {
        let bytes = STANDARD.decode(encoded.trim()).ok()?;
        let cred: Credential = serde_json::from_slice(&bytes).ok()?;
        if cred.id.is_empty() || cred.secret.is_empty() {
            return None;
        }
        Some(cred)
    }

    /// The session ID embedded in a secret we issued; `None` for secrets of another shape.
    pub fn session_id(&self) -> Option<&str> {
        session_id_of(&self.secret)
    }
}

/// A new session: returns `(session_id, secret)`.
pub fn new_session_secret(session_id: &str, entropy: &dyn Entropy) -> String {
    let random = crypto::random_hex(entropy, (SECRET_LEN - SESSION_ID_LEN) / 2);
    format!("{session_id}{random}")
}

pub fn session_id_of(secret: &str) -> Option<&str> {
    if secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        secret.get(..SESSION_ID_LEN)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqEntropy;

    #[test]
    fn round_trip() {
        let secret = new_session_secret("0123456789abcdef0123", &SeqEntropy::default());
        assert_eq!(secret.len(), 256);
        let c = Credential {
            id: "user1".into(),
            secret: secret.clone(),
        };
        let enc = c.encode();
        let json = String::from_utf8(STANDARD.decode(&enc).unwrap()).unwrap();
        assert!(
            json.starts_with("{\"id\":\"user1\",\"secret\":\""),
            "{json}"
        );
        let d = Credential::decode(&enc).unwrap();
        assert_eq!(d, c);
        assert_eq!(d.session_id(), Some("0123456789abcdef0123"));
    }

    #[test]
    fn decode_accepts_any_key_order_and_extra_keys() {
        let enc = STANDARD.encode(br#"{"secret":"s","x":1,"id":"u"}"#);
        let d = Credential::decode(&enc).unwrap();
        assert_eq!((d.id.as_str(), d.secret.as_str()), ("u", "s"));
        assert_eq!(d.session_id(), None);
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Credential::decode("not base64!!").is_none());
        assert!(Credential::decode(&STANDARD.encode(b"[1,2]")).is_none());
        assert!(Credential::decode(&STANDARD.encode(br#"{"id":"","secret":"s"}"#)).is_none());
        assert!(Credential::decode(&STANDARD.encode(br#"{"id":1,"secret":"s"}"#)).is_none());
    }
}
