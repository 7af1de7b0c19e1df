//! Account JWTs (`POST /account/jwts`, `X-Appwrite-JWT`): HS256, claims `userId`, `sessionId`,
//! `exp`, as Appwrite issues them. Verification pins HS256 (so `alg: none` and algorithm
//! confusion are rejected), requires a numeric `exp`, and allows no clock leeway.

use crate::clock::Millis;
use crate::error::{Error, ErrorType, Result};
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const DEFAULT_DURATION_SECS: i64 = 900;
pub const MAX_DURATION_SECS: i64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "sessionId")]
    pub session_id: String,
    pub exp: i64,
}

/// The signing key: derived from `SECRET_KEY` so JWTs and token hashes never share a key.
fn key(secret_key: &str) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"appwrite-account-jwt-v1");
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => secret_key.as_bytes().to_vec(),
    }
}

pub fn issue(
    secret_key: &str,
    user_id: &str,
    session_id: &str,
    duration_secs: i64,
    now: Millis,
) -> Result<String> {
    let claims = Claims {
        user_id: user_id.into(),
        session_id: session_id.into(),
        exp: now / 1000 + duration_secs,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&key(secret_key)),
    )
    .map_err(Error::internal)
}

/// Verify signature, algorithm and expiry (against the injected clock).
pub fn verify(secret_key: &str, token: &str, now: Millis) -> Result<Claims> {
    let invalid = |why: &str| {
        Error::with_message(
            ErrorType::UserJwtInvalid,
            format!("Failed to verify JWT. {why}"),
        )
    };
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    // Expiry is checked below against our clock, so tests can move time.
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp"]);
    let data = decode::<Claims>(token, &DecodingKey::from_secret(&key(secret_key)), &v)
        .map_err(|e| invalid(&e.to_string()))?;
    if data.claims.exp <= now / 1000 {
        return Err(invalid("Expired token"));
    }
    if data.claims.user_id.is_empty() || data.claims.session_id.is_empty() {
        return Err(invalid("Missing claims"));
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    const K: &str = "0123456789abcdef0123456789abcdef";
    const NOW: Millis = 1_700_000_000_000;

    fn parts(t: &str) -> Vec<String> {
        t.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn round_trip_and_payload_shape() {
        let t = issue(K, "u1", "s1", 900, NOW).unwrap();
        let c = verify(K, &t, NOW).unwrap();
        assert_eq!(
            (c.user_id.as_str(), c.session_id.as_str(), c.exp),
            ("u1", "s1", 1_700_000_900)
        );
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&t)[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["typ"], "JWT");
    }

    #[test]
    fn expiry_is_exact() {
        let t = issue(K, "u1", "s1", 5, NOW).unwrap();
        assert!(verify(K, &t, NOW + 4_999).is_ok());
        let e = verify(K, &t, NOW + 5_000).unwrap_err();
        assert_eq!(e.kind, ErrorType::UserJwtInvalid);
        assert!(e.message.starts_with("Failed to verify JWT. "));
    }

    #[test]
    fn rejects_forgeries() {
        let t = issue(K, "u1", "s1", 900, NOW).unwrap();
        let p = parts(&t);
        // Wrong key.
        assert!(verify("another-key-another-key-another-k", &t, NOW).is_err());
        // Tampered payload.
        let evil =
            URL_SAFE_NO_PAD.encode(br#"{"userId":"admin","sessionId":"s1","exp":9999999999}"#);
        assert!(verify(K, &format!("{}.{}.{}", p[0], evil, p[2]), NOW).is_err());
        // alg none, no signature.
        let none = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"none"}"#);
        assert!(verify(K, &format!("{none}.{}.", p[1]), NOW).is_err());
        // Truncated.
        assert!(verify(K, &t[..t.len() - 5], NOW).is_err());
        assert!(verify(K, &format!("{}.{}", p[0], p[1]), NOW).is_err());
        assert!(verify(K, "", NOW).is_err());
        // exp of the wrong type, validly signed.
        let bad_exp = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"userId": "u1", "sessionId": "s1", "exp": "tomorrow"}),
            &EncodingKey::from_secret(&key(K)),
        )
        .unwrap();
        assert!(verify(K, &bad_exp, NOW).is_err());
        // HS512 with the same key: algorithm pinned.
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                user_id: "u1".into(),
                session_id: "s1".into(),
                exp: 1_800_000_000,
            },
            &EncodingKey::from_secret(&key(K)),
        )
        .unwrap();
        assert!(verify(K, &hs512, NOW).is_err());
        // No exp at all.
        let no_exp = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"userId": "u1", "sessionId": "s1"}),
            &EncodingKey::from_secret(&key(K)),
        )
        .unwrap();
        assert!(verify(K, &no_exp, NOW).is_err());
    }
}
