//! Appwrite IDs: server-generated (`unique()`) and client-chosen custom IDs.

use crate::clock::{Entropy, Millis};

/// A 20-char lowercase hex ID: 13-char time prefix (PHP `uniqid`: seconds + microseconds) and 7 random.
pub fn unique(now_ms: Millis, entropy: &dyn Entropy) -> String {
    let secs = now_ms.div_euclid(1000);
    let micros = now_ms.rem_euclid(1000) * 1000;
    let mut rnd = [0u8; 4];
    entropy.fill(&mut rnd);
    let tail = hex::encode(rnd);
    format!("{secs:08x}{micros:05x}{}", &tail[..7])
}

/// Custom-ID rule: 1–36 chars of `[A-Za-z0-9._-]`, not starting with `.`, `_` or `-`.
pub fn is_valid_custom(id: &str) -> bool {
    let bytes = id.as_bytes();
    match bytes.first() {
        None => false,
        Some(b'.' | b'_' | b'-') => false,
        Some(_) => {
            bytes.len() <= 36
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
    }
}

/// Description Appwrite's `CustomId` validator gives.
pub const CUSTOM_ID_DESCRIPTION: &str = "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char";

/// Description of the `UID` validator used for path/resource IDs.
pub const UID_DESCRIPTION: &str = "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore. Can't start with a leading underscore";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqEntropy;

    #[test]
    fn unique_shape() {
        let id = unique(1_700_000_000_123, &SeqEntropy::default());
        assert_eq!(id.len(), 20);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(id.starts_with("6553f100"));
    }

    #[test]
    fn custom_ids() {
        assert!(is_valid_custom("user_1.a-b"));
        assert!(is_valid_custom(&"a".repeat(36)));
        assert!(!is_valid_custom(&"a".repeat(37)));
        assert!(!is_valid_custom(""));
        assert!(!is_valid_custom("_x"));
        assert!(!is_valid_custom("-x"));
        assert!(!is_valid_custom("wrongId$"));
    }
}
