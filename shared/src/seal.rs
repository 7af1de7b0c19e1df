//! Encryption at rest for secrets the server must read back (TOTP keys, MFA recovery codes):
//! AES-256-GCM (aws-lc-rs, already linked for TLS) under a key derived from `SECRET_KEY`, with a
//! random 96-bit nonce per value. Stored as base64(nonce ‖ ciphertext ‖ tag).

use crate::clock::Entropy;
use crate::error::{Error, Result};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn key(secret_key: &str, purpose: &str) -> Result<LessSafeKey> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).map_err(Error::internal)?;
    mac.update(b"appwrite-account-seal-v1:");
    mac.update(purpose.as_bytes());
    let bytes = mac.finalize().into_bytes();
    UnboundKey::new(&AES_256_GCM, &bytes)
        .map(LessSafeKey::new)
        .map_err(Error::internal)
}

/// Encrypt `plaintext`; `purpose` binds the value to its use (a TOTP key cannot be replayed as
/// recovery codes).
pub fn seal(
    secret_key: &str,
    purpose: &str,
    plaintext: &[u8],
    entropy: &dyn Entropy,
) -> Result<String> {
    let mut nonce = [0u8; NONCE_LEN];
    entropy.fill(&mut nonce);
    let mut buf = plaintext.to_vec();
    key(secret_key, purpose)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(purpose.as_bytes()),
            &mut buf,
        )
        .map_err(Error::internal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

/// Decrypt a value from [`seal`]; any tampering is an error.
pub fn open(secret_key: &str, purpose: &str, sealed: &str) -> Result<Vec<u8>> {
    let raw = STANDARD.decode(sealed).map_err(Error::internal)?;
    if raw.len() < NONCE_LEN {
        return Err(Error::internal("sealed value too short"));
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(Error::internal)?;
    let mut buf = ct.to_vec();
    let plain = key(secret_key, purpose)?
        .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buf)
        .map_err(|_| Error::internal("sealed value failed authentication"))?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqEntropy;

    const K: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_tamper() {
        let e = SeqEntropy::default();
        let s = seal(K, "totp", b"secret bytes", &e).unwrap();
        assert!(!s.contains("secret"));
        assert_eq!(open(K, "totp", &s).unwrap(), b"secret bytes");
        assert!(open(K, "recovery", &s).is_err(), "bound to its purpose");
        assert!(open("another-key-another-key-another-k", "totp", &s).is_err());
        let mut raw = STANDARD.decode(&s).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(open(K, "totp", &STANDARD.encode(raw)).is_err());
    }
}
