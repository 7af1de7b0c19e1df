//! Password hashes users bring from elsewhere (README "Moving in"): the seven algorithms
//! Appwrite's Users API accepts, each verified by a well-kept crate (`argon2`, `bcrypt`,
//! `scrypt`, `md-5`, `sha1`, `sha2`, `sha3`) except phpass, a 20-line MD5 loop that no
//! maintained crate implements (its reference: phpass 0.5, Solar Designer, public domain).
//!
//! A stored hash says what it is. Argon2 (PHC), bcrypt (`$2a$`, `$2b$`, `$2y$`) and phpass
//! (`$P$`, `$H$`) keep their own formats; the others get one here:
//!
//! * `$md5$<hex>`
//! * `$sha$<version>$<hex>` (`sha1`, `sha224`, `sha256`, `sha384`, `sha512/224`, `sha512/256`,
//!   `sha512`, `sha3-224`, `sha3-256`, `sha3-384`, `sha3-512`)
//! * `$scrypt$n=<N>,r=<r>,p=<p>,l=<length>$<salt, base64>$<hex>` (Appwrite's `scrypt`: the salt is
//!   used as given, the key in hex)
//! * `$firebase-scrypt$r=<rounds>,m=<memory cost>$<salt>$<separator>$<signer key>$<hash>` (base64,
//!   Firebase's and Appwrite's `scryptMod`)
//!
//! Comparisons are constant time. Anything else verifies as false: an unknown format is refused
//! when it is imported, never at login.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::Digest;
use subtle::ConstantTimeEq;

fn ct_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The SHA variants of Appwrite's `passwordVersion`.
pub const SHA_VERSIONS: &[&str] = &[
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512/224",
    "sha512/256",
    "sha512",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
];

fn sha(version: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match version {
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512/224" => sha2::Sha512_224::digest(data).to_vec(),
        "sha512/256" => sha2::Sha512_256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha3-224" => sha3::Sha3_224::digest(data).to_vec(),
        "sha3-256" => sha3::Sha3_256::digest(data).to_vec(),
        "sha3-384" => sha3::Sha3_384::digest(data).to_vec(),
        "sha3-512" => sha3::Sha3_512::digest(data).to_vec(),
        _ => return None,
    })
}

/// What a stored hash is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Argon2,
    Bcrypt,
    Md5,
    Sha,
    Phpass,
    Scrypt,
    ScryptModified,
}

impl Algorithm {
    /// Appwrite's name (`hash` of its user model).
    pub fn appwrite(self) -> &'static str {
        match self {
            Self::Argon2 => "argon2",
            Self::Bcrypt => "bcrypt",
            Self::Md5 => "md5",
            Self::Sha => "sha",
            Self::Phpass => "phpass",
            Self::Scrypt => "scrypt",
            Self::ScryptModified => "scryptMod",
        }
    }
}

pub fn algorithm(stored: &str) -> Option<Algorithm> {
    let a = match stored {
        s if s.starts_with("$argon2") => Algorithm::Argon2,
        s if ["$2a$", "$2b$", "$2y$"].iter().any(|p| s.starts_with(p)) => Algorithm::Bcrypt,
        s if s.starts_with("$md5$") => Algorithm::Md5,
        s if s.starts_with("$sha$") => Algorithm::Sha,
        s if s.starts_with("$P$") || s.starts_with("$H$") => Algorithm::Phpass,
        s if s.starts_with("$scrypt$") => Algorithm::Scrypt,
        s if s.starts_with("$firebase-scrypt$") => Algorithm::ScryptModified,
        _ => return None,
    };
    Some(a)
}

/// The most a verification may cost: a hash that asks for more (an import gone wrong, or a
/// table written by other means) verifies as false rather than tying up a function's memory
/// (1 GB) or its 12 seconds. Argon2 and scrypt memory, bcrypt's cost, Argon2's passes.
pub const MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
pub const MAX_BCRYPT_COST: u32 = 15;
/// phpass's rounds are 2^this (WordPress uses 8, Drupal 7 up to 16).
pub const MAX_PHPASS_LOG2: usize = 18;
pub const MAX_ARGON2_PASSES: u32 = 16;

fn bcrypt_cost(stored: &str) -> Option<u32> {
    stored.get(4..6)?.parse().ok()
}

/// Whether `password` is the one `stored` was made from (any format above).
pub fn verify(password: &str, stored: &str) -> bool {
    let p = password.as_bytes();
    match algorithm(stored) {
        Some(Algorithm::Argon2) => verify_argon2(p, stored),
        Some(Algorithm::Bcrypt) => {
            bcrypt_cost(stored).is_some_and(|c| c <= MAX_BCRYPT_COST)
                && bcrypt::verify(p, stored).unwrap_or(false)
        }
        Some(Algorithm::Md5) => stored
            .strip_prefix("$md5$")
            .is_some_and(|hex| same_hex(&md5::Md5::digest(p), hex)),
        Some(Algorithm::Sha) => stored
            .strip_prefix("$sha$")
            .and_then(|rest| rest.split_once('$'))
            .and_then(|(version, hex)| Some((sha(version, p)?, hex)))
            .is_some_and(|(digest, hex)| same_hex(&digest, hex)),
        Some(Algorithm::Phpass) => {
            phpass(p, stored).is_some_and(|h| ct_eq_bytes(h.as_bytes(), stored.as_bytes()))
        }
        Some(Algorithm::Scrypt) => verify_scrypt(p, stored).unwrap_or(false),
        Some(Algorithm::ScryptModified) => verify_scrypt_modified(p, stored).unwrap_or(false),
        None => false,
    }
}

fn same_hex(digest: &[u8], hex: &str) -> bool {
    ct_eq_bytes(
        hex::encode(digest).as_bytes(),
        hex.to_ascii_lowercase().as_bytes(),
    )
}

/// Any Argon2 PHC string (Appwrite's m=65536/t=4/p=3 and m=7168/t=5/p=1 included), with the
/// parameters it records.
fn verify_argon2(password: &[u8], phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2_affordable(&parsed)
            && argon2::Argon2::default()
                .verify_password(password, &parsed)
                .is_ok()
    })
}

fn argon2_affordable(h: &argon2::password_hash::PasswordHash<'_>) -> bool {
    argon2::Params::try_from(h).is_ok_and(|p| {
        u64::from(p.m_cost()) * 1024 <= MAX_MEMORY_BYTES
            && p.t_cost() <= MAX_ARGON2_PASSES
            && p.p_cost() <= 16
    })
}

fn params(list: &str) -> impl Fn(&str) -> Option<u64> + '_ {
    move |name| {
        list.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    }
}

/// scrypt's parameters, within the cost cap and the crate's own rules.
fn scrypt_params(n: u64, r: u64, p: u64, len: usize) -> Option<scrypt::Params> {
    let memory = 128u64.checked_mul(n)?.checked_mul(r)?;
    if !n.is_power_of_two() || n < 2 || memory > MAX_MEMORY_BYTES || p > 16 {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    scrypt::Params::new(log_n, u32::try_from(r).ok()?, u32::try_from(p).ok()?, len).ok()
}

fn scrypt_key(password: &[u8], salt: &[u8], n: u64, r: u64, p: u64, len: usize) -> Option<Vec<u8>> {
    let params = scrypt_params(n, r, p, len)?;
    let mut out = vec![0u8; len];
    scrypt::scrypt(password, salt, &params, &mut out).ok()?;
    Some(out)
}

fn verify_scrypt(password: &[u8], stored: &str) -> Option<bool> {
    let mut parts = stored.strip_prefix("$scrypt$")?.split('$');
    let (list, salt, hex) = (parts.next()?, parts.next()?, parts.next()?);
    let get = params(list);
    let len = usize::try_from(get("l")?).ok()?;
    let salt = STANDARD.decode(salt).ok()?;
    let key = scrypt_key(password, &salt, get("n")?, get("r")?, get("p")?, len)?;
    Some(same_hex(&key, hex))
}

/// Firebase's scrypt: the key derived from the password with the salt and its separator
/// encrypts the project's signer key (AES-256-CTR, a zero IV); the result is the hash.
fn verify_scrypt_modified(password: &[u8], stored: &str) -> Option<bool> {
    let mut parts = stored.strip_prefix("$firebase-scrypt$")?.split('$');
    let list = parts.next()?;
    let mut next = || STANDARD.decode(parts.next()?).ok();
    let (salt, separator, signer, hash) = (next()?, next()?, next()?, next()?);
    if signer.len() != hash.len() || hash.len() < 16 {
        return None;
    }
    let get = params(list);
    let n = 1u64.checked_shl(u32::try_from(get("m")?).ok()?)?;
    let mut salted = salt;
    salted.extend_from_slice(&separator);
    let key = scrypt_key(password, &salted, n, get("r")?, 1, 32)?;
    let mut out = signer;
    aes_ctr(&key, &mut out)?;
    Some(ct_eq_bytes(&out, &hash))
}

fn aes_ctr(key: &[u8], data: &mut [u8]) -> Option<()> {
    use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256};
    let key = EncryptingKey::ctr(UnboundCipherKey::new(&AES_256, key).ok()?).ok()?;
    key.less_safe_encrypt(data, EncryptionContext::Iv128([0u8; 16].into()))
        .ok()?;
    Some(())
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// phpass's portable hash of `password` with the setting (`$P$`, cost, salt) of `stored`.
fn phpass(password: &[u8], stored: &str) -> Option<String> {
    let setting = stored.get(..12)?;
    let count_log2 = ITOA64.iter().position(|c| *c == setting.as_bytes()[3])?;
    if !(7..=MAX_PHPASS_LOG2).contains(&count_log2) {
        return None;
    }
    let salt = &setting.as_bytes()[4..12];
    let mut hash = md5::Md5::new_with_prefix(salt)
        .chain_update(password)
        .finalize();
    for _ in 0..(1u64 << count_log2) {
        hash = md5::Md5::new_with_prefix(hash)
            .chain_update(password)
            .finalize();
    }
    let mut out = setting.to_owned();
    // phpass's encode64: little-endian groups of three bytes, six bits a character.
    for chunk in hash.chunks(3) {
        let v = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, b)| v | (u32::from(*b) << (8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ITOA64[((v >> (6 * i)) & 0x3f) as usize]));
        }
    }
    Some(out)
}

/// Firebase's hash parameters (the project's "Password hash parameters": `base64_signer_key`,
/// `base64_salt_separator`, `rounds`, `mem_cost`).
#[derive(Debug, Clone)]
pub struct FirebaseConfig {
    pub signer_key: String,
    pub salt_separator: String,
    pub rounds: u32,
    pub mem_cost: u32,
}

impl FirebaseConfig {
    /// Refuse parameters Firebase's scrypt does not use: rounds 1–8, memory cost 1–14, and
    /// base64 keys.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.rounds) {
            return Err(format!("rounds {}: Firebase uses 1 to 8", self.rounds));
        }
        if !(1..=14).contains(&self.mem_cost) {
            return Err(format!("mem_cost {}: Firebase uses 1 to 14", self.mem_cost));
        }
        for (name, v) in [
            ("signer key", &self.signer_key),
            ("salt separator", &self.salt_separator),
        ] {
            STANDARD
                .decode(v)
                .map_err(|_| format!("{name}: not base64"))?;
        }
        if self.signer_key.is_empty() {
            return Err("signer key: empty".into());
        }
        Ok(())
    }
}

/// A Firebase user's `passwordHash` and `salt` (base64) as a stored hash.
pub fn firebase(hash: &str, salt: &str, c: &FirebaseConfig) -> Result<String, String> {
    c.check()?;
    for (name, v) in [("passwordHash", hash), ("salt", salt)] {
        if v.is_empty() || STANDARD.decode(v).is_err() {
            return Err(format!("{name}: not base64"));
        }
    }
    let stored = format!(
        "$firebase-scrypt$r={},m={}${salt}${}${}${hash}",
        c.rounds, c.mem_cost, c.salt_separator, c.signer_key
    );
    check(&stored)?;
    Ok(stored)
}

fn text<'a>(options: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    options.get(key).and_then(serde_json::Value::as_str)
}

fn number(options: &serde_json::Value, key: &str) -> Option<u64> {
    let v = options.get(key)?;
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// A hash as Appwrite's Users API holds it (the user's `password`, `hash` and `hashOptions`),
/// as a stored hash here: what `admin users import --from appwrite` writes. An algorithm or a
/// hash this module cannot verify is refused now, never at login.
pub fn from_appwrite(
    algorithm: &str,
    password: &str,
    options: &serde_json::Value,
) -> Result<String, String> {
    let stored = match algorithm {
        "argon2" | "bcrypt" | "phpass" => password.to_owned(),
        "md5" => format!("$md5${}", password.to_ascii_lowercase()),
        "sha" => {
            let version = text(options, "version").unwrap_or("sha256");
            if !SHA_VERSIONS.contains(&version) {
                return Err(format!("sha version {version}: not one Appwrite accepts"));
            }
            format!("$sha${version}${}", password.to_ascii_lowercase())
        }
        "scrypt" => {
            let salt = text(options, "salt").ok_or("scrypt: hashOptions.salt missing")?;
            let get =
                |k: &str| number(options, k).ok_or(format!("scrypt: hashOptions.{k} missing"));
            format!(
                "$scrypt$n={},r={},p={},l={}${}${}",
                get("costCpu")?,
                get("costMemory")?,
                get("costParallel")?,
                get("length")?,
                STANDARD.encode(salt),
                password.to_ascii_lowercase()
            )
        }
        "scryptMod" => {
            let get = |k: &str| {
                text(options, k)
                    .map(str::to_owned)
                    .ok_or(format!("scryptMod: hashOptions.{k} missing"))
            };
            let config = FirebaseConfig {
                signer_key: get("signerKey")?,
                salt_separator: get("saltSeparator")?,
                rounds: 8,
                mem_cost: 14,
            };
            firebase(password, &get("salt")?, &config)?
        }
        other => return Err(format!("hash algorithm {other}: not supported")),
    };
    check(&stored)?;
    Ok(stored)
}

/// Whether a stored hash is well formed: its algorithm is known and its parameters parse (a
/// hash that is malformed would verify nothing, so an import refuses it).
pub fn check(stored: &str) -> Result<(), String> {
    let a = algorithm(stored).ok_or("unknown hash format")?;
    let hex = |h: &str, len: Option<usize>| {
        hex::decode(h)
            .ok()
            .filter(|b| len.is_none_or(|l| b.len() == l))
            .map(|_| ())
    };
    let ok = match a {
        Algorithm::Argon2 => argon2::password_hash::PasswordHash::new(stored)
            .is_ok_and(|h| h.hash.is_some() && argon2_affordable(&h)),
        Algorithm::Bcrypt => {
            stored.len() == 60
                && bcrypt_cost(stored).is_some_and(|c| (4..=MAX_BCRYPT_COST).contains(&c))
        }
        Algorithm::Md5 => hex(&stored[5..], Some(16)).is_some(),
        Algorithm::Sha => stored[5..]
            .split_once('$')
            .and_then(|(v, h)| hex(h, Some(sha(v, b"")?.len())))
            .is_some(),
        Algorithm::Phpass => stored.len() == 34 && phpass(b"", stored).is_some(),
        Algorithm::Scrypt => {
            let mut parts = stored["$scrypt$".len()..].split('$');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(list), Some(salt), Some(h)) => {
                    let get = params(list);
                    // What verification will compute, with the crate's own parameter rules.
                    let (n, r, p, l) = (get("n"), get("r"), get("p"), get("l"));
                    match (n, r, p, l, STANDARD.decode(salt)) {
                        (Some(n), Some(r), Some(p), Some(l), Ok(_)) => {
                            hex(h, Some(l as usize)).is_some()
                                && scrypt_params(n, r, p, l as usize).is_some()
                        }
                        _ => false,
                    }
                }
                _ => false,
            }
        }
        Algorithm::ScryptModified => {
            let parts: Vec<&str> = stored["$firebase-scrypt$".len()..].split('$').collect();
            let decoded: Vec<Vec<u8>> = parts
                .iter()
                .skip(1)
                .filter_map(|p| STANDARD.decode(p).ok().filter(|b| !b.is_empty()))
                .collect();
            let get = params(parts[0]);
            // The hash is the signer key encrypted: as long as it, and long enough that a
            // guess cannot match it by chance.
            parts.len() == 5
                && decoded.len() == 4
                && decoded[2].len() == decoded[3].len()
                && decoded[3].len() >= 16
                && get("r").is_some_and(|r| (1..=8).contains(&r))
                && get("m").is_some_and(|m| (1..=14).contains(&m))
        }
    };
    match ok {
        true => Ok(()),
        false => Err(format!("malformed {} hash", a.appwrite())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Appwrite's own end-to-end test users, all of the password "appwrite":
    // appwrite/appwrite tests/e2e/Services/Users/UsersBase.php (`/users/md5`, `/users/bcrypt`,
    // `/users/argon2`, `/users/sha` with passwordVersion sha512, `/users/scrypt`,
    // `/users/phpass`, `/users/scrypt-modified`).
    fn vectors() -> Vec<(Algorithm, String)> {
        let b64 = |s: &str| STANDARD.encode(s);
        vec![
            (Algorithm::Md5, "$md5$144fa7eaa4904e8ee120651997f70dcc".into()),
            (
                Algorithm::Bcrypt,
                "$2a$15$xX/myGbFU.ZSKHSi6EHdBOySTdYm8QxBLXmOPHrYMwV0mHRBBSBOq".into(),
            ),
            (
                Algorithm::Argon2,
                "$argon2i$v=19$m=20,t=3,p=2$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI"
                    .into(),
            ),
            (
                Algorithm::Sha,
                "$sha$sha512$4243da0a694e8a2f727c8060fe0507c8fa01ca68146c76d2c190805b638c20c6bf6ba04e21f11ae138785d0bff63c416e6f87badbffad37f6dee50094cc38c70".into(),
            ),
            (
                Algorithm::Scrypt,
                format!("$scrypt$n=16384,r=13,p=2,l=64${}$3fdef49701bc4cfaacd551fe017283513284b4731e6945c263246ef948d3cf63b5d269c31fd697246085111a428245e24a4ddc6b64c687bc60a8910dbafc1d5b", b64("appwrite")),
            ),
            (Algorithm::Phpass, "$P$Br387rwferoKN7uwHZqNMu98q3U8RO.".into()),
            (
                Algorithm::ScryptModified,
                "$firebase-scrypt$r=8,m=14$UxLMreBr6tYyjQ==$Bw==$XyEKE9RcTDeLEsL/RjwPDBv/RqDl8fb3gpYEOQaPihbxf1ZAtSOHCjuAAa7Q3oHpCYhXSN9tizHgVOwn6krflQ==$UlM7JiXRcQhzAGlaonpSqNSLIz475WMddOgLjej5De9vxTy48K6WtqlEzrRFeK4t0COfMhWCb8wuMHgxOFCHFQ==".into(),
            ),
        ]
    }

    #[test]
    fn every_algorithm_verifies_appwrites_vector_and_refuses_a_wrong_password() {
        for (want, stored) in vectors() {
            assert_eq!(algorithm(&stored), Some(want), "{stored}");
            assert!(verify("appwrite", &stored), "{want:?} refused its password");
            assert!(
                !verify("appwritf", &stored),
                "{want:?} took a wrong password"
            );
            assert!(!verify("", &stored), "{want:?} took an empty password");
        }
    }

    #[test]
    fn every_sha_version_verifies() {
        for v in SHA_VERSIONS {
            let digest = sha(v, b"secret").unwrap();
            let stored = format!("$sha${v}${}", hex::encode(&digest));
            assert!(verify("secret", &stored), "{v}");
            assert!(!verify("Secret", &stored), "{v}");
            let upper = format!("$sha${v}${}", hex::encode_upper(&digest));
            assert!(verify("secret", &upper), "{v}: upper-case hex");
        }
        assert!(!verify("secret", "$sha$sha0$00"));
    }

    #[test]
    fn malformed_hashes_verify_as_false() {
        for stored in [
            "",
            "plain",
            "$md5$",
            "$md5$zz",
            "$sha$sha512",
            "$scrypt$n=3,r=1,p=1,l=16$YQ==$00",
            "$scrypt$n=16,r=1,p=1$YQ==$00",
            "$firebase-scrypt$r=8,m=99$YQ==$YQ==$YQ==$YQ==",
            "$firebase-scrypt$r=8,m=14$!!$YQ==$YQ==$YQ==",
            "$P$",
            "$P$Z12345678",
            "$2a$04$short",
        ] {
            assert!(!verify("appwrite", stored), "{stored}");
            assert!(!verify("", stored), "{stored}");
        }
    }

    #[test]
    fn appwrite_users_convert_to_stored_hashes_that_verify() {
        use serde_json::json;
        let cases = [
            ("md5", "144fa7eaa4904e8ee120651997f70dcc", json!({"type": "md5"})),
            ("sha", "4243da0a694e8a2f727c8060fe0507c8fa01ca68146c76d2c190805b638c20c6bf6ba04e21f11ae138785d0bff63c416e6f87badbffad37f6dee50094cc38c70", json!({"type": "sha", "version": "sha512"})),
            ("phpass", "$P$Br387rwferoKN7uwHZqNMu98q3U8RO.", json!({})),
            ("argon2", "$argon2i$v=19$m=20,t=3,p=2$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI", json!({})),
            ("scrypt", "3fdef49701bc4cfaacd551fe017283513284b4731e6945c263246ef948d3cf63b5d269c31fd697246085111a428245e24a4ddc6b64c687bc60a8910dbafc1d5b", json!({"salt": "appwrite", "costCpu": 16384, "costMemory": 13, "costParallel": 2, "length": 64})),
            ("scryptMod", "UlM7JiXRcQhzAGlaonpSqNSLIz475WMddOgLjej5De9vxTy48K6WtqlEzrRFeK4t0COfMhWCb8wuMHgxOFCHFQ==", json!({"salt": "UxLMreBr6tYyjQ==", "saltSeparator": "Bw==", "signerKey": "XyEKE9RcTDeLEsL/RjwPDBv/RqDl8fb3gpYEOQaPihbxf1ZAtSOHCjuAAa7Q3oHpCYhXSN9tizHgVOwn6krflQ=="})),
        ];
        for (alg, password, options) in cases {
            let stored = from_appwrite(alg, password, &options).unwrap();
            assert!(verify("appwrite", &stored), "{alg}: {stored}");
        }
        for (alg, password, options) in [
            ("md4", "00", json!({})),
            ("md5", "not hex", json!({})),
            ("sha", "00", json!({"version": "sha0"})),
            ("sha", "abcd", json!({"version": "sha256"})),
            ("bcrypt", "$2a$10$short", json!({})),
            ("scrypt", "00", json!({"salt": "x"})),
            (
                "scryptMod",
                "!!",
                json!({"salt": "YQ==", "saltSeparator": "Bw==", "signerKey": "YQ=="}),
            ),
            ("argon2", "$argon2id$v=19$m=1,t=1,p=1", json!({})),
        ] {
            assert!(
                from_appwrite(alg, password, &options).is_err(),
                "{alg} {password}"
            );
        }
        let bad = FirebaseConfig {
            signer_key: "YQ==".into(),
            salt_separator: "Bw==".into(),
            rounds: 9,
            mem_cost: 14,
        };
        assert!(firebase("YQ==", "YQ==", &bad)
            .unwrap_err()
            .contains("rounds"));
    }

    #[test]
    fn hashes_that_would_cost_too_much_are_refused_at_import_and_at_login() {
        for stored in [
            // Argon2 at 1 GiB, and at 100 passes.
            "$argon2id$v=19$m=1048576,t=2,p=1$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI",
            "$argon2id$v=19$m=19456,t=100,p=1$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI",
            // bcrypt at cost 31.
            "$2a$31$xX/myGbFU.ZSKHSi6EHdBOySTdYm8QxBLXmOPHrYMwV0mHRBBSBOq",
            // scrypt at N=2^20, r=8 (1 GiB).
            "$scrypt$n=1048576,r=8,p=1,l=32$YQ==$00000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(check(stored).is_err(), "{stored}");
            assert!(!verify("appwrite", stored), "{stored}");
        }
    }
}
