//! Encryption at rest for secrets the server must read back (TOTP keys, MFA recovery codes,
//! provider tokens, OAuth2 state): AES-256-GCM (aws-lc-rs, already linked for TLS) under the
//! key ring's key for the purpose, with a random 96-bit nonce per value. Stored as
//! `<key id>.base64(nonce ‖ ciphertext ‖ tag)`, so a value opens under the key that sealed it
//! after the ring has rotated.

use crate::clock::Entropy;
use crate::error::{Error, Result};
use crate::keyring::{Keyring, Purpose};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::{engine::general_purpose::STANDARD, Engine};

fn aead(key: &[u8; 32]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(Error::internal)
}

/// The additional data binds a value to its purpose and key ID.
fn aad(purpose: Purpose, id: &str) -> String {
    format!("{}/{id}", purpose.label())
}

/// Encrypt `plaintext` under the ring's current key for `purpose` (a TOTP key cannot be
/// replayed as recovery codes).
pub fn seal(
    keys: &Keyring,
    purpose: Purpose,
    plaintext: &[u8],
    entropy: &dyn Entropy,
) -> Result<String> {
    let (id, key) = keys.current(purpose);
    let mut nonce = [0u8; NONCE_LEN];
    entropy.fill(&mut nonce);
    let mut buf = plaintext.to_vec();
    aead(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(purpose, id).as_bytes()),
            &mut buf,
        )
        .map_err(Error::internal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(format!("{id}.{}", STANDARD.encode(out)))
}

/// Decrypt a value from [`seal`] under the key it names; any tampering, or a key no longer in
/// the ring, is an error.
pub fn open(keys: &Keyring, purpose: Purpose, sealed: &str) -> Result<Vec<u8>> {
    let (id, body) = sealed
        .split_once('.')
        .ok_or_else(|| Error::internal("sealed value without a key ID"))?;
    let key = keys
        .get(id, purpose)
        .ok_or_else(|| Error::internal(format!("sealed under key {id}, no longer in the ring")))?;
    let raw = STANDARD.decode(body).map_err(Error::internal)?;
    if raw.len() < NONCE_LEN {
        return Err(Error::internal("sealed value too short"));
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(Error::internal)?;
    let mut buf = ct.to_vec();
    let plain = aead(key)?
        .open_in_place(nonce, Aad::from(aad(purpose, id).as_bytes()), &mut buf)
        .map_err(|_| Error::internal("sealed value failed authentication"))?;
    Ok(plain.to_vec())
}

/// `sealed` under the ring's current key: `None` when it already is, else opened and sealed
/// again, so a value read on a write path moves off a key that is to be retired.
pub fn reseal(
    keys: &Keyring,
    purpose: Purpose,
    sealed: &str,
    entropy: &dyn Entropy,
) -> Result<Option<String>> {
    if sealed.split_once('.').map(|(id, _)| id) == Some(keys.current_id()) {
        return Ok(None);
    }
    let plain = open(keys, purpose, sealed)?;
    seal(keys, purpose, &plain, entropy).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqEntropy;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn round_trip_and_tamper() {
        let k = Keyring::parse(&format!("k1:{A}")).unwrap();
        let e = SeqEntropy::default();
        let s = seal(&k, Purpose::Totp, b"secret bytes", &e).unwrap();
        assert!(s.starts_with("k1.") && !s.contains("secret"));
        assert_eq!(open(&k, Purpose::Totp, &s).unwrap(), b"secret bytes");
        assert!(
            open(&k, Purpose::RecoveryCodes, &s).is_err(),
            "bound to its purpose"
        );
        let other = Keyring::parse(&format!("k1:{B}")).unwrap();
        assert!(
            open(&other, Purpose::Totp, &s).is_err(),
            "another secret, same ID"
        );
        let (id, body) = s.split_once('.').unwrap();
        let mut raw = STANDARD.decode(body).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(open(&k, Purpose::Totp, &format!("{id}.{}", STANDARD.encode(raw))).is_err());
        assert!(open(&k, Purpose::Totp, body).is_err(), "no key ID");
    }

    #[test]
    fn old_values_open_after_rotation_until_the_key_is_retired() {
        let e = SeqEntropy::default();
        let old = Keyring::parse(&format!("k1:{A}")).unwrap();
        let rotated = Keyring::parse(&format!("k2:{B},k1:{A}")).unwrap();
        let retired = Keyring::parse(&format!("k2:{B}")).unwrap();
        let s = seal(&old, Purpose::Totp, b"totp key", &e).unwrap();
        assert_eq!(open(&rotated, Purpose::Totp, &s).unwrap(), b"totp key");
        assert!(seal(&rotated, Purpose::Totp, b"x", &e)
            .unwrap()
            .starts_with("k2."));
        assert!(open(&retired, Purpose::Totp, &s).is_err());
        // Relabelling a value with another ID of the ring fails authentication.
        let relabelled = s.replacen("k1.", "k2.", 1);
        assert!(open(&rotated, Purpose::Totp, &relabelled).is_err());
    }
}
