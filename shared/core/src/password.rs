//! Password policy (Appwrite's project auth settings) and per-account lockout.
//!
//! Policy: length `min`–256 bytes, optional character classes, the 10k common-password
//! dictionary, password history and the personal-data check. The policy applies where Appwrite
//! applies it: sign-up, password change and recovery (login and email/phone changes only check
//! 8–256 bytes).
//!
//! Lockout (beyond Appwrite, as Cognito): failed logins are counted on the account's email claim.
//! From the `threshold`-th consecutive failure the account refuses every login, right password or
//! not, for `2^(failures - threshold)` seconds, capped at `max_secs`; the answer is the same 401
//! `user_invalid_credentials` and costs the same Argon2 work, so a locked account is not
//! distinguishable from a wrong password. A successful login or a password reset clears it.
//!
//! ```text
//!   ok ──► failures = 0
//!   wrong ─► failures += 1 ─► failures ≥ threshold ─► locked until now + 2^(failures-threshold) s
//!   locked ─► 401 (no verification outcome), failures unchanged
//! ```

use crate::clock::Millis;
use crate::error::{Error, ErrorType, Result};
use crate::item::UserItem;
use std::collections::HashSet;
use std::sync::OnceLock;

const COMMON: &str = include_str!("../data/common-passwords.txt");

fn dictionary() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON.lines().filter(|l| !l.is_empty()).collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `PASSWORD_MIN_LENGTH` (8–256, default 8).
    pub min_length: usize,
    /// `PASSWORD_REQUIRE`: any of `uppercase,lowercase,number,symbols`.
    pub uppercase: bool,
    pub lowercase: bool,
    pub number: bool,
    pub symbols: bool,
    /// `PASSWORD_DICTIONARY` (default false): refuse the 10k most common passwords.
    pub dictionary: bool,
    /// `PASSWORD_HISTORY` (0–20, default 0): refuse the last N passwords.
    pub history: usize,
    /// `PASSWORD_PERSONAL_DATA` (default false): refuse passwords containing the user's ID,
    /// email (or its local part), name or phone.
    pub personal_data: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_length: 8,
            uppercase: false,
            lowercase: false,
            number: false,
            symbols: false,
            dictionary: false,
            history: 0,
            personal_data: false,
        }
    }
}

impl Policy {
    /// Appwrite-style description listing the active rules.
    pub fn description(&self) -> String {
        let mut d = format!(
            "Password must be between {} and 256 characters long",
            self.min_length
        );
        let mut parts = vec![];
        if self.uppercase {
            parts.push("an uppercase letter");
        }
        if self.lowercase {
            parts.push("a lowercase letter");
        }
        if self.number {
            parts.push("a number");
        }
        if self.symbols {
            parts.push("a symbol");
        }
        if !parts.is_empty() {
            d.push_str(", include ");
            d.push_str(&parts.join(", "));
        }
        if self.dictionary {
            d.push_str(", and should not be one of the commonly used password");
        }
        d.push('.');
        d
    }

    /// The parameter validator: 400 `general_argument_invalid` with the description.
    pub fn check(&self, name: &str, password: &str) -> Result<()> {
        let ok = (self.min_length..=256).contains(&password.len())
            && (!self.uppercase || password.chars().any(char::is_uppercase))
            && (!self.lowercase || password.chars().any(char::is_lowercase))
            && (!self.number || password.chars().any(char::is_numeric))
            && (!self.symbols
                || password
                    .chars()
                    .any(|c| !c.is_alphanumeric() && !c.is_whitespace()))
            && (!self.dictionary || !dictionary().contains(password));
        if ok {
            Ok(())
        } else {
            Err(Error::invalid_param(name, &self.description()))
        }
    }

    /// 400 `password_personal_data` if the password contains the user's identifiers.
    pub fn check_personal(&self, password: &str, user: &UserItem) -> Result<()> {
        if !self.personal_data {
            return Ok(());
        }
        let pw = password.to_lowercase();
        let email = user.email.clone().unwrap_or_default().to_lowercase();
        let local = email.split('@').next().unwrap_or_default().to_owned();
        let phone = user.phone.clone().unwrap_or_default();
        let candidates = [
            user.id.to_lowercase(),
            email,
            local,
            user.name.to_lowercase(),
            phone.clone(),
            phone.trim_start_matches('+').to_owned(),
        ];
        if candidates
            .iter()
            .any(|c| !c.is_empty() && pw.contains(c.as_str()))
        {
            Err(Error::new(ErrorType::PasswordPersonalData))
        } else {
            Ok(())
        }
    }
}

/// Lockout settings: `LOCKOUT_THRESHOLD` (default 5; 0 disables), `LOCKOUT_MAX_SECONDS` (900).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub threshold: u32,
    pub max_secs: i64,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            threshold: 5,
            max_secs: 900,
        }
    }
}

impl Lockout {
    /// Failed-attempt reservations are admitted while `lastFailure <= cutoff` (once the account
    /// has reached the threshold): the backoff that `failures` earned, counted back from `now`.
    pub fn admit_cutoff(&self, failures: u32, now: Millis) -> Millis {
        let f = failures.max(self.threshold);
        let exp = (f - self.threshold).min(30);
        now - (1i64 << exp).min(self.max_secs) * 1000
    }

    /// When an account with `failures` consecutive failures may try again (`None`: not locked).
    pub fn locked_until(&self, failures: u32, last_failure: Millis) -> Option<Millis> {
        if self.threshold == 0 || failures < self.threshold {
            return None;
        }
        let exp = (failures - self.threshold).min(30);
        let secs = (1i64 << exp).min(self.max_secs);
        Some(last_failure + secs * 1000)
    }
}

/// 400 `password_recently_used` if `password` matches one of the remembered hashes.
pub async fn check_history(policy: &Policy, history: &[String], password: &str) -> Result<()> {
    if policy.history == 0 {
        return Ok(());
    }
    let recent = &history[history.len().saturating_sub(policy.history)..];
    for phc in recent {
        if crate::crypto::verify_password_async(password.to_owned(), Some(phc.clone())).await {
            return Err(Error::new(ErrorType::PasswordRecentlyUsed));
        }
    }
    Ok(())
}

/// Remember `phc` and keep only the last `policy.history` hashes (none when the policy is off).
pub fn remember(policy: &Policy, history: &mut Vec<String>, phc: &str) {
    if policy.history == 0 {
        history.clear();
        return;
    }
    history.push(phc.to_owned());
    let excess = history.len().saturating_sub(policy.history);
    history.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_length_only() {
        let p = Policy::default();
        assert!(p.check("password", "password").is_ok());
        let e = p.check("password", "short").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid `password` param: Password must be between 8 and 256 characters long."
        );
    }

    #[test]
    fn strength_rules_like_appwrite_e2e() {
        let p = Policy {
            min_length: 12,
            uppercase: true,
            lowercase: true,
            number: true,
            symbols: true,
            ..Policy::default()
        };
        assert!(p.check("password", "password123!").is_err());
        assert!(p.check("password", "Password123!").is_ok());
        assert!(p.check("password", "Password1234").is_err(), "no symbol");
        assert_eq!(
            p.description(),
            "Password must be between 12 and 256 characters long, include an uppercase letter, a lowercase letter, a number, a symbol."
        );
    }

    #[test]
    fn dictionary() {
        let p = Policy {
            dictionary: true,
            ..Policy::default()
        };
        assert!(p.check("password", "password").is_err());
        assert!(p.check("password", "12345678").is_err());
        assert!(p.check("password", "correct horse battery").is_ok());
        assert!(p
            .description()
            .ends_with("should not be one of the commonly used password."));
        assert_eq!(super::dictionary().len(), 10_000);
    }

    #[test]
    fn personal_data() {
        let p = Policy {
            personal_data: true,
            ..Policy::default()
        };
        let mut u = UserItem::new("user123", 0);
        u.email = Some("jane.doe@example.com".into());
        u.name = "Jane".into();
        u.phone = Some("+14155550100".into());
        for bad in [
            "xxuser123xx",
            "Jane.Doe!!",
            "my-jane-pw",
            "14155550100a",
            "jane.doe@example.com",
        ] {
            assert_eq!(
                p.check_personal(bad, &u).unwrap_err().kind,
                ErrorType::PasswordPersonalData,
                "{bad}"
            );
        }
        assert!(p.check_personal("unrelated-secret", &u).is_ok());
        assert!(Policy::default().check_personal("jane", &u).is_ok());
    }

    #[test]
    fn lockout_backoff_doubles_and_caps() {
        let l = Lockout::default();
        assert_eq!(l.locked_until(4, 0), None);
        assert_eq!(l.locked_until(5, 0), Some(1_000));
        assert_eq!(l.locked_until(6, 0), Some(2_000));
        assert_eq!(l.locked_until(9, 0), Some(16_000));
        assert_eq!(l.locked_until(40, 0), Some(900_000));
        assert_eq!(
            Lockout {
                threshold: 0,
                max_secs: 900
            }
            .locked_until(100, 0),
            None
        );
    }
}
