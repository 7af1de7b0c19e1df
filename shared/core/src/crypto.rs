//! Password hashing, secret generation and hashing, constant-time comparison.
//!
//! * New password hashes: Argon2id at OWASP's baseline m=19456 KiB, t=2, p=1 (PHC string).
//!   Any Argon2 PHC string (Appwrite's m=65536/t=4/p=3 or m=7168/t=5/p=1 included) verifies.
//! * Session and token secrets come from the injected [`Entropy`] and are stored only as SHA-256 hex.

use crate::clock::Entropy;
use argon2::{
    password_hash::{PasswordHash, PasswordHasher, SaltString},
    Algorithm, Argon2, Params, Version,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const ARGON2_M_KIB: u32 = 19_456;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

fn hasher() -> Argon2<'static> {
    // The constants are valid Argon2 parameters; `Params::new` only rejects out-of-range values.
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32)).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password (CPU-bound: call through [`hash_password_async`] on request paths).
pub fn hash_password(password: &str, entropy: &dyn Entropy) -> Result<String, String> {
    let mut salt = [0u8; 16];
    entropy.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verify a password against a stored hash: Argon2 (any PHC string, with the parameters it
/// records) or an imported one (`hashes`). A malformed hash verifies as false. An imported hash
/// cheaper than Argon2 (MD5, SHA, phpass) also burns the dummy Argon2 work, so a wrong password
/// costs the same whatever the account's hash: timing tells no one which accounts were imported.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Some(algorithm) = crate::hashes::algorithm(stored) else {
        return false;
    };
    VERIFICATIONS.with(|n| n.set(n.get() + 1));
    let ok = crate::hashes::verify(password, stored);
    if matches!(
        algorithm,
        crate::hashes::Algorithm::Md5
            | crate::hashes::Algorithm::Sha
            | crate::hashes::Algorithm::Phpass
    ) {
        let _ = crate::hashes::verify(password, DUMMY_PHC);
    }
    ok
}

/// Whether a stored hash is what [`hash_password`] makes today (Argon2id at the production
/// parameters): anything else is replaced after the next successful login.
pub fn is_current(stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        h.algorithm.as_str() == "argon2id"
            && Params::try_from(&h).is_ok_and(|p| {
                p.m_cost() == ARGON2_M_KIB && p.t_cost() == ARGON2_T && p.p_cost() == ARGON2_P
            })
    })
}

/// A fixed hash with the production parameters (of "not-a-password", salt "timing-equaliser"),
/// verified when the account does not exist so an unknown email costs the same Argon2 work as a
/// wrong password. A constant, so that no failure can leave it empty: an empty or malformed hash
/// would verify as false at once, and make unknown emails fast (an enumeration oracle).
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dGltaW5nLWVxdWFsaXNlcg$EWUwvg8nLIOr0o3ZaE//AUzP1GBM7WQu0qNypv29bj0";

thread_local! {
    /// Argon2 verifications actually run on this thread (tests count the work, never time it).
    static VERIFICATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Argon2 verifications run so far on the calling thread.
pub fn verifications_on_this_thread() -> u64 {
    VERIFICATIONS.with(std::cell::Cell::get)
}

/// Verify against `phc`, or burn the same work against a dummy hash when there is none.
pub fn verify_password_or_dummy(password: &str, phc: Option<&str>) -> bool {
    match phc {
        Some(phc) => verify_password(password, phc),
        None => {
            let _ = verify_password(password, DUMMY_PHC);
            false
        }
    }
}

/// At most one Argon2 computation per core at a time. Each takes 19 MiB and a core for tens of
/// milliseconds: more in parallel only slows them all down and multiplies the memory (a load
/// test of the local server without this peaked above 1 GB of RSS). A Lambda instance serves one
/// request at a time, so there it never waits.
fn hash_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Run Argon2 work on the blocking pool, within [`hash_slots`], so a busy local server keeps
/// serving other requests.
async fn argon2_work<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let _slot = hash_slots().acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())
}

/// [`hash_password`] on the blocking pool.
pub async fn hash_password_async(
    password: String,
    entropy: std::sync::Arc<dyn Entropy>,
) -> Result<String, String> {
    argon2_work(move || hash_password(&password, entropy.as_ref())).await?
}

/// [`verify_password_or_dummy`] on the blocking pool.
pub async fn verify_password_async(password: String, phc: Option<String>) -> bool {
    argon2_work(move || verify_password_or_dummy(&password, phc.as_deref()))
        .await
        .unwrap_or(false)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Constant-time equality of two strings (length is not secret).
pub fn ct_eq(a: &str, b: &str) -> bool {
    ct_eq_bytes(a.as_bytes(), b.as_bytes())
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Lowercase hex HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length: this branch cannot run.
        Err(_) => String::new(),
    }
}

/// `n` random bytes as `2n` lowercase hex chars.
pub fn random_hex(entropy: &dyn Entropy, n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    entropy.fill(&mut buf);
    hex::encode(buf)
}

/// `n` random bytes as unpadded base64url (`ceil(4n/3)` chars): the same strength in fewer
/// characters, where a secret must fit a length limit.
pub fn random_b64url(entropy: &dyn Entropy, n_bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; n_bytes];
    entropy.fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqEntropy;

    #[test]
    fn hash_uses_owasp_params_and_verifies() {
        let h = hash_password("correct horse", &SeqEntropy::default()).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn verifies_appwrite_legacy_params() {
        let params = Params::new(7168, 5, 1, Some(32)).unwrap();
        let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let h = a.hash_password(b"password123", &salt).unwrap().to_string();
        assert!(verify_password("password123", &h));
    }

    #[test]
    fn an_unknown_account_costs_one_real_verification_at_production_cost() {
        let before = verifications_on_this_thread();
        assert!(!verify_password_or_dummy("any password", None));
        assert_eq!(
            verifications_on_this_thread(),
            before + 1,
            "no Argon2 work was done"
        );
        // The same cost as a real hash: the production algorithm and parameters.
        let dummy = PasswordHash::new(DUMMY_PHC).unwrap();
        assert_eq!(dummy.algorithm, Algorithm::Argon2id.ident());
        let params = Params::try_from(&dummy).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (ARGON2_M_KIB, ARGON2_T, ARGON2_P)
        );
        // And it is the hash of what it says, so it is a hash Argon2 really computes.
        assert!(verify_password("not-a-password", DUMMY_PHC));
    }

    #[test]
    fn sha_and_ct_eq() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
