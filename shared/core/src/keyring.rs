//! The server's secret keys (`SECRET_KEY`, or the SSM SecureString named by `SECRET_KEY_PARAM`):
//! a ring of `id:secret` entries. The first entry signs, hashes and seals everything new; every
//! entry still verifies and opens what it made, so a key can be rotated without logging anyone
//! out or breaking a TOTP authenticator (infra/operations.md, "Rotating the secret key").
//!
//! No key is ever used directly: each purpose gets its own 256-bit key from HKDF-SHA256
//! (RFC 5869) over the entry's secret, so a JWT key can never open a sealed TOTP key. HKDF comes
//! from aws-lc-rs, which the TLS stack already links: no hand-written derivation, no new crate.
//! Every value made under a key carries its ID (a JWT `kid`, an `id:` or `id.` prefix), so
//! verification picks one key and never tries them all.

use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use std::fmt;

/// What a derived key is for. The info string of each is part of the stored format: never
/// change one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Keyed hashes of one-time secrets and codes (tokens, MFA email/phone challenges).
    TokenHash,
    /// Account JWTs (`POST /account/jwts`).
    Jwt,
    /// Token mode's wrapped OAuth2 secret.
    OAuth2Secret,
    /// OAuth2 `state` values.
    OAuth2State,
    /// Provider access and refresh tokens at rest.
    ProviderToken,
    /// TOTP keys at rest.
    Totp,
    /// MFA recovery codes at rest.
    RecoveryCodes,
}

const PURPOSES: [Purpose; 7] = [
    Purpose::TokenHash,
    Purpose::Jwt,
    Purpose::OAuth2Secret,
    Purpose::OAuth2State,
    Purpose::ProviderToken,
    Purpose::Totp,
    Purpose::RecoveryCodes,
];

impl Purpose {
    /// The HKDF info string, also the AEAD additional data of sealed values.
    pub fn label(self) -> &'static str {
        match self {
            Self::TokenHash => "token-hash",
            Self::Jwt => "jwt",
            Self::OAuth2Secret => "oauth2-secret",
            Self::OAuth2State => "oauth2-state",
            Self::ProviderToken => "oauth2-provider-token",
            Self::Totp => "totp",
            Self::RecoveryCodes => "recovery-codes",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const SALT: &[u8] = b"appwrite-account/keyring/v1";
/// The ID of a key given bare, without `id:` (a single development or legacy key).
pub const BARE_ID: &str = "0";
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Clone)]
struct Entry {
    id: String,
    keys: [[u8; 32]; PURPOSES.len()],
}

/// Never empty: the first entry is the current one.
#[derive(Clone)]
pub struct Keyring {
    entries: Vec<Entry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.entries.iter().map(|e| e.id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("ids", &ids)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Keyring {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.id == b.id && crate::crypto::ct_eq_bytes(&a.keys[0], &b.keys[0]))
    }
}

fn valid_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn derive(secret: &[u8]) -> [[u8; 32]; PURPOSES.len()] {
    let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
    let mut keys = [[0u8; 32]; PURPOSES.len()];
    for p in PURPOSES {
        let info = [p.label().as_bytes()];
        // HKDF-SHA256 can expand to 255 × 32 bytes: 32 cannot fail.
        if let Ok(okm) = prk.expand(&info, HKDF_SHA256) {
            let _ = okm.fill(&mut keys[p.index()]);
        }
    }
    keys
}

impl Keyring {
    /// Parse a ring: entries separated by commas or newlines, each `id:secret` (ID of 1–16
    /// letters, digits, `-` or `_`; secret of at least 32 characters, no commas, newlines or
    /// surrounding spaces). A single key may be given bare; its ID is [`BARE_ID`].
    pub fn parse(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return Err("no key".into());
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(parts.len());
        for part in &parts {
            let (id, secret) = match part.split_once(':') {
                Some((id, secret)) if valid_id(id) => (id, secret),
                _ if parts.len() == 1 => (BARE_ID, *part),
                _ => return Err("every entry of a key ring is id:secret".into()),
            };
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!("key {id}: at least {MIN_SECRET_LEN} characters"));
            }
            if entries.iter().any(|e| e.id == id) {
                return Err(format!("key {id} appears twice"));
            }
            entries.push(Entry {
                id: id.to_owned(),
                keys: derive(secret.as_bytes()),
            });
        }
        Ok(Self { entries })
    }

    /// A ring of one bare key, unchecked: the development fallback of `Config::default`.
    pub fn development(secret: &str) -> Self {
        Self {
            entries: vec![Entry {
                id: BARE_ID.to_owned(),
                keys: derive(secret.as_bytes()),
            }],
        }
    }

    /// The ID of the key that signs and seals new values.
    pub fn current_id(&self) -> &str {
        &self.entries[0].id
    }

    /// The current key for `purpose`, with its ID.
    pub fn current(&self, purpose: Purpose) -> (&str, &[u8; 32]) {
        let e = &self.entries[0];
        (&e.id, &e.keys[purpose.index()])
    }

    /// The key `id` for `purpose`, if the ring still holds it.
    pub fn get(&self, id: &str, purpose: Purpose) -> Option<&[u8; 32]> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| &e.keys[purpose.index()])
    }

    /// `id:hex(HMAC-SHA256)` of `secret` under the current key: how one-time secrets are stored.
    pub fn hash(&self, purpose: Purpose, secret: &str) -> String {
        let (id, key) = self.current(purpose);
        format!(
            "{id}:{}",
            crate::crypto::hmac_sha256_hex(key, secret.as_bytes())
        )
    }

    /// Whether `stored` (from [`Keyring::hash`]) is the hash of `secret`, under the key it names;
    /// compared in constant time.
    pub fn verify_hash(&self, purpose: Purpose, secret: &str, stored: &str) -> bool {
        let Some((id, _)) = stored.split_once(':') else {
            return false;
        };
        let Some(key) = self.get(id, purpose) else {
            return false;
        };
        let proof = format!(
            "{id}:{}",
            crate::crypto::hmac_sha256_hex(key, secret.as_bytes())
        );
        crate::crypto::ct_eq(&proof, stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn parses_rings_and_refuses_bad_ones() {
        let k = Keyring::parse(A).unwrap();
        assert_eq!(k.current_id(), BARE_ID);
        let k = Keyring::parse(&format!("new:{B},\n old:{A}\n")).unwrap();
        assert_eq!(k.current_id(), "new");
        assert!(k.get("old", Purpose::Jwt).is_some());
        assert!(k.get("gone", Purpose::Jwt).is_none());
        for bad in [
            "",
            " , ",
            "short",
            &format!("a:{A},b:short"),
            &format!("a:{A},a:{B}"),
            &format!("a:{A},{B}"),
            &format!("not/an/id:{A},b:{B}"),
        ] {
            assert!(Keyring::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{k:?}").contains(A), "Debug shows IDs only");
    }

    #[test]
    fn purposes_get_distinct_keys_and_entries_distinct_keys() {
        let k = Keyring::parse(&format!("a:{A},b:{B}")).unwrap();
        let mut seen = std::collections::HashSet::new();
        for id in ["a", "b"] {
            for p in PURPOSES {
                assert!(seen.insert(*k.get(id, p).unwrap()), "{id} {p:?}");
            }
        }
        // A key is its secret's, whatever its ID or place in the ring.
        let again = Keyring::parse(&format!("z:{B}")).unwrap();
        assert_eq!(again.get("z", Purpose::Totp), k.get("b", Purpose::Totp));
    }

    #[test]
    fn hashes_verify_under_the_key_they_name() {
        let old = Keyring::parse(&format!("k1:{A}")).unwrap();
        let rotated = Keyring::parse(&format!("k2:{B},k1:{A}")).unwrap();
        let retired = Keyring::parse(&format!("k2:{B}")).unwrap();
        let h = old.hash(Purpose::TokenHash, "123456");
        assert!(h.starts_with("k1:") && !h.contains("123456"));
        assert!(rotated.verify_hash(Purpose::TokenHash, "123456", &h));
        assert!(!rotated.verify_hash(Purpose::TokenHash, "123457", &h));
        assert!(
            !rotated.verify_hash(Purpose::Jwt, "123456", &h),
            "bound to its purpose"
        );
        assert!(!retired.verify_hash(Purpose::TokenHash, "123456", &h));
        assert!(rotated
            .hash(Purpose::TokenHash, "123456")
            .starts_with("k2:"));
        // A forged ID prefix does not help: the hash must match the named key.
        let forged = h.replacen("k1:", "k2:", 1);
        assert!(!rotated.verify_hash(Purpose::TokenHash, "123456", &forged));
        assert!(!rotated.verify_hash(Purpose::TokenHash, "123456", "no-id"));
    }
}
