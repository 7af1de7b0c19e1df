//! Account JWTs (`POST /account/jwts`, `X-Appwrite-JWT`): HS256, claims `userId`, `sessionId`,
//! `exp`, as Appwrite issues them. Verification pins HS256 (so `alg: none` and algorithm
//! confusion are rejected), requires a numeric `exp`, and allows no clock leeway.

use crate::clock::Millis;
use crate::error::{Error, ErrorType, Result};
use crate::keyring::{Keyring, Purpose};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

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

/// An HS256 JWT of `claims` under the ring's current key for `purpose`, its ID in `kid`.
pub fn sign<T: Serialize>(keys: &Keyring, purpose: Purpose, claims: &T) -> Result<String> {
    let (id, key) = keys.current(purpose);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(id.to_owned());
    encode(&header, claims, &EncodingKey::from_secret(key)).map_err(Error::internal)
}

/// The claims of an HS256 JWT from [`sign`], checked under the key its `kid` names. Pins HS256
/// and requires a numeric `exp`, which the caller compares with its own clock.
pub fn open<T: serde::de::DeserializeOwned>(
    keys: &Keyring,
    purpose: Purpose,
    token: &str,
) -> std::result::Result<T, String> {
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let key = header
        .kid
        .as_deref()
        .and_then(|id| keys.get(id, purpose))
        .ok_or("Unknown key")?;
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp"]);
    decode::<T>(token, &DecodingKey::from_secret(key), &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

pub fn issue(
    keys: &Keyring,
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
    sign(keys, Purpose::Jwt, &claims)
}

/// Verify signature, algorithm and expiry (against the injected clock).
pub fn verify(keys: &Keyring, token: &str, now: Millis) -> Result<Claims> {
    let invalid = |why: &str| {
        Error::with_message(
            ErrorType::UserJwtInvalid,
            format!("Failed to verify JWT. {why}"),
        )
    };
    let claims: Claims = open(keys, Purpose::Jwt, token).map_err(|e| invalid(&e))?;
    if claims.exp <= now / 1000 {
        return Err(invalid("Expired token"));
    }
    if claims.user_id.is_empty() || claims.session_id.is_empty() {
        return Err(invalid("Missing claims"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    const NOW: Millis = 1_700_000_000_000;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    fn k() -> Keyring {
        ring("k1:0123456789abcdef0123456789abcdef")
    }

    /// A validly signed token of any header and claims, under `k()`'s JWT key.
    fn forge(header: Header, claims: &serde_json::Value) -> String {
        let k = k();
        encode(
            &header,
            claims,
            &EncodingKey::from_secret(k.current(Purpose::Jwt).1),
        )
        .unwrap()
    }

    fn kid(alg: Algorithm) -> Header {
        let mut h = Header::new(alg);
        h.kid = Some("k1".into());
        h
    }

    fn parts(t: &str) -> Vec<String> {
        t.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn round_trip_and_payload_shape() {
        let t = issue(&k(), "u1", "s1", 900, NOW).unwrap();
        let c = verify(&k(), &t, NOW).unwrap();
        assert_eq!(
            (c.user_id.as_str(), c.session_id.as_str(), c.exp),
            ("u1", "s1", 1_700_000_900)
        );
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&t)[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], "k1");
    }

    #[test]
    fn tokens_outlive_a_rotation_until_their_key_is_retired() {
        let old = ring("k1:0123456789abcdef0123456789abcdef");
        let rotated =
            ring("k2:fedcba9876543210fedcba9876543210,k1:0123456789abcdef0123456789abcdef");
        let t = issue(&old, "u1", "s1", 900, NOW).unwrap();
        assert!(verify(&rotated, &t, NOW).is_ok());
        assert!(verify(&ring("k2:fedcba9876543210fedcba9876543210"), &t, NOW).is_err());
        // A new token names the new key; claiming the old ID does not make it verify.
        let t2 = issue(&rotated, "u1", "s1", 900, NOW).unwrap();
        let p = parts(&t2);
        let relabelled = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256","kid":"k1"}"#);
        assert!(verify(&rotated, &format!("{relabelled}.{}.{}", p[1], p[2]), NOW).is_err());
        // A key of another purpose signs nothing here.
        let oauth = sign(
            &old,
            Purpose::OAuth2Secret,
            &serde_json::json!({"userId": "u1", "sessionId": "s1", "exp": 1_800_000_000}),
        )
        .unwrap();
        assert!(verify(&old, &oauth, NOW).is_err());
    }

    #[test]
    fn expiry_is_exact() {
        let t = issue(&k(), "u1", "s1", 5, NOW).unwrap();
        assert!(verify(&k(), &t, NOW + 4_999).is_ok());
        let e = verify(&k(), &t, NOW + 5_000).unwrap_err();
        assert_eq!(e.kind, ErrorType::UserJwtInvalid);
        assert!(e.message.starts_with("Failed to verify JWT. "));
    }

    #[test]
    fn rejects_forgeries() {
        let t = issue(&k(), "u1", "s1", 900, NOW).unwrap();
        let p = parts(&t);
        // Wrong key under the same ID.
        assert!(verify(&ring("k1:another-key-another-key-another-k"), &t, NOW).is_err());
        // No kid.
        let no_kid = forge(
            Header::new(Algorithm::HS256),
            &serde_json::json!({"userId": "u1", "sessionId": "s1", "exp": 1_800_000_000}),
        );
        assert!(verify(&k(), &no_kid, NOW).is_err());
        // Tampered payload.
        let evil =
            URL_SAFE_NO_PAD.encode(br#"{"userId":"admin","sessionId":"s1","exp":9999999999}"#);
        assert!(verify(&k(), &format!("{}.{}.{}", p[0], evil, p[2]), NOW).is_err());
        // alg none, no signature.
        let none = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"none"}"#);
        assert!(verify(&k(), &format!("{none}.{}.", p[1]), NOW).is_err());
        // Truncated.
        assert!(verify(&k(), &t[..t.len() - 5], NOW).is_err());
        assert!(verify(&k(), &format!("{}.{}", p[0], p[1]), NOW).is_err());
        assert!(verify(&k(), "", NOW).is_err());
        // exp of the wrong type, validly signed.
        let bad_exp = forge(
            kid(Algorithm::HS256),
            &serde_json::json!({"userId": "u1", "sessionId": "s1", "exp": "tomorrow"}),
        );
        assert!(verify(&k(), &bad_exp, NOW).is_err());
        // HS512 with the same key: algorithm pinned.
        let hs512 = forge(
            kid(Algorithm::HS512),
            &serde_json::json!({"userId": "u1", "sessionId": "s1", "exp": 1_800_000_000}),
        );
        assert!(verify(&k(), &hs512, NOW).is_err());
        // No exp at all.
        let no_exp = forge(
            kid(Algorithm::HS256),
            &serde_json::json!({"userId": "u1", "sessionId": "s1"}),
        );
        assert!(verify(&k(), &no_exp, NOW).is_err());
    }
}
