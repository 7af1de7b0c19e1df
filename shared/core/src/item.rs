//! The item types of the single table (see `infra/storage.md` for keys, TTLs and readers).
//! Times are Unix milliseconds; `expires_at` is the TTL attribute, in Unix seconds.

use crate::clock::Millis;
use crate::device::Device;
use serde::{Deserialize, Serialize};

pub const PROFILE_SK: &str = "PROFILE";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const EMAIL_SK: &str = "EMAIL";
pub const PHONE_SK: &str = "PHONE";
/// The project's user counter (`USER_LIMIT`).
pub const USER_COUNTER_PK: &str = "META#USERS";
pub const USER_COUNTER_SK: &str = "COUNT";

pub fn user_pk(uid: &str) -> String {
    format!("USER#{uid}")
}
pub fn session_sk(sid: &str) -> String {
    format!("{SESSION_PREFIX}{sid}")
}
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}
pub fn phone_pk(phone: &str) -> String {
    format!("PHONE#{phone}")
}

/// A messaging target (embedded in the profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetItem {
    pub id: String,
    pub created: Millis,
    pub updated: Millis,
    pub provider_type: String,
    pub identifier: String,
}

/// `USER#<uid>` / `PROFILE`: the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub created: Millis,
    pub updated: Millis,
    pub registration: Millis,
    pub accessed: Millis,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Argon2 PHC string; `None` for users without a password.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_update: Option<Millis>,
    pub status: bool,
    #[serde(default)]
    pub email_verification: bool,
    #[serde(default)]
    pub phone_verification: bool,
    #[serde(default)]
    pub mfa: bool,
    #[serde(default)]
    pub reset: bool,
    /// Preferences as a JSON object string (kept verbatim, any JSON value types).
    #[serde(default = "empty_object")]
    pub prefs: String,
    /// TOTP authenticator (MFA), if one was added.
    #[serde(default)]
    pub totp: Option<TotpItem>,
    /// MFA recovery codes, sealed as a JSON list (`seal.rs`); `None` until generated.
    #[serde(default)]
    pub recovery_codes: Option<String>,
    /// The last `PASSWORD_HISTORY` password hashes (policy), newest last.
    #[serde(default)]
    pub password_history: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub targets: Vec<TargetItem>,
    /// `admin users import`: the source and a hash of the source's ID (`<source>:<hex>`), so a
    /// rerun touches only the users it made, never one who took the ID first.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub imported: String,
    /// How many passkeys the user has: the registration transaction counts up under the limit,
    /// a deletion counts down, an ownership proof clears it.
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "lenient_count"
    )]
    pub passkeys: u32,
}

fn empty_object() -> String {
    "{}".into()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A count read as it is, clamped to `u32`: a count that drifted below zero must not make the
/// profile unreadable (the table check reports it).
fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

impl UserItem {
    pub fn new(id: &str, now: Millis) -> Self {
        Self {
            pk: user_pk(id),
            sk: PROFILE_SK.into(),
            id: id.into(),
            created: now,
            updated: now,
            registration: now,
            accessed: now,
            name: String::new(),
            email: None,
            phone: None,
            password: None,
            password_update: None,
            status: true,
            email_verification: false,
            phone_verification: false,
            mfa: false,
            reset: false,
            prefs: empty_object(),
            password_history: vec![],
            totp: None,
            recovery_codes: None,
            labels: vec![],
            targets: vec![],
            imported: String::new(),
            passkeys: 0,
        }
    }
}

/// `EMAIL#<lower-case email>` / `EMAIL`: uniqueness claim and login lookup. Carries a copy of the
/// password hash so email/password login reads one item before verifying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub uid: String,
    #[serde(default)]
    pub password: Option<String>,
    /// Consecutive failed logins (lockout, see `password::Lockout`).
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub last_failure: Option<Millis>,
}

impl EmailItem {
    pub fn new(email: &str, uid: &str, password: Option<String>) -> Self {
        Self {
            pk: email_pk(email),
            sk: EMAIL_SK.into(),
            uid: uid.into(),
            password,
            failures: 0,
            last_failure: None,
        }
    }
}

/// `PHONE#<E.164>` / `PHONE`: uniqueness claim and phone lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub uid: String,
}

impl PhoneItem {
    pub fn new(phone: &str, uid: &str) -> Self {
        Self {
            pk: phone_pk(phone),
            sk: PHONE_SK.into(),
            uid: uid.into(),
        }
    }
}

/// `USER#<uid>` / `SESSION#<sid>`: one login. Only SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub uid: String,
    pub created: Millis,
    pub updated: Millis,
    pub expire: Millis,
    /// TTL attribute (seconds). DynamoDB deletes late; readers also compare `expire` with now.
    #[serde(rename = "expires_at")]
    pub expires_at: i64,
    pub secret_hash: String,
    pub provider: String,
    #[serde(default)]
    pub provider_uid: String,
    #[serde(default)]
    pub provider_access_token: String,
    #[serde(default)]
    pub provider_refresh_token: String,
    #[serde(default)]
    pub provider_access_token_expiry: Option<Millis>,
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub device: Device,
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub country_name: String,
    #[serde(default)]
    pub factors: Vec<String>,
    #[serde(default)]
    pub mfa_updated_at: Option<Millis>,
}

impl SessionItem {
    pub fn is_live(&self, now: Millis) -> bool {
        self.expire > now
    }
}

pub const TOKEN_PREFIX: &str = "TOKEN#";
/// Guessing guards of short codes: `TOKENGUARD#<scope>#<window start>`.
pub const GUARD_PREFIX: &str = "TOKENGUARD#";

/// Token kinds sent to an email address: an email change makes them stale.
pub const EMAIL_TOKEN_KINDS: &[&str] = &["magic-url", "email-otp", "verify-email", "recovery"];
/// The recovery link's kind: it also dies with a later password change.
pub const RECOVERY_TOKEN_KIND: &str = "recovery";
/// Token kinds sent to a phone number.
pub const PHONE_TOKEN_KINDS: &[&str] = &["phone", "verify-phone"];

/// One live token per user and kind: issuing a new one replaces (revokes) the last.
pub fn token_sk(kind: &str) -> String {
    format!("{TOKEN_PREFIX}{kind}")
}

/// The profile field a token of `kind` is bound to: `email`, `phone`, or none (OAuth2 token
/// mode names its provider).
pub fn token_field(kind: &str) -> Option<&'static str> {
    if PHONE_TOKEN_KINDS.contains(&kind) {
        Some("phone")
    } else if EMAIL_TOKEN_KINDS.contains(&kind) {
        Some("email")
    } else {
        None
    }
}

pub fn guard_sk(scope: &str, window_start: i64) -> String {
    format!("{GUARD_PREFIX}{scope}#{window_start}")
}

/// `USER#<uid>` / `TOKEN#<kind>`: the user's one live secret of that kind (magic URL, OTP,
/// verification, recovery), stored as its HMAC and bound to the address it was sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub uid: String,
    /// `magic-url`, `email-otp`, `phone`, `verify-email`, `verify-phone`, `recovery`.
    pub kind: String,
    /// HMAC-SHA256 of the secret under the server key (hex).
    pub secret_hash: String,
    /// The email or phone number the secret was sent to; redemption requires the profile to
    /// still have it.
    #[serde(default)]
    pub target: String,
    pub created: Millis,
    pub expire: Millis,
    #[serde(rename = "expires_at")]
    pub expires_at: i64,
    #[serde(default)]
    pub phrase: String,
}

/// `USER#<uid>` / `TOKENGUARD#<scope>#<window>`: short-code attempts in one hourly window,
/// reserved atomically before each comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub attempts: u32,
    #[serde(rename = "expires_at")]
    pub expires_at: i64,
}

/// `LOG#<uid>` / `<time ms, 15 digits>#<id>`: one security event of a user (newest last in key
/// order; read newest first). Expires after `LOG_RETENTION_DAYS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub event: String,
    pub user_id: String,
    #[serde(default)]
    pub user_email: String,
    #[serde(default)]
    pub user_name: String,
    pub ip: String,
    pub time: Millis,
    #[serde(default)]
    pub device: Device,
    #[serde(rename = "expires_at")]
    pub expires_at: i64,
}

pub fn log_pk(uid: &str) -> String {
    format!("LOG#{uid}")
}

/// A TOTP authenticator, embedded in the profile (so authentication reads it for free). The key
/// is sealed (`seal.rs`), never stored in plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpItem {
    pub secret_sealed: String,
    pub verified: bool,
    pub created: Millis,
    /// The last time step a code was accepted for: a code is accepted once (RFC 6238 §5.2).
    #[serde(default)]
    pub last_step: u64,
}

pub const IDENTITY_PREFIX: &str = "IDENTITY#";
pub const IDENTITY_CLAIM_SK: &str = "IDENTITY";

pub fn identity_sk(id: &str) -> String {
    format!("{IDENTITY_PREFIX}{id}")
}

/// The claim key of a provider account at an issuer: provider keys are case-sensitive, provider
/// user IDs are opaque (kept as sent), and the issuer (an OpenID issuer, or a plain provider's
/// token endpoint) is part of the key, so that re-pointing a provider at another issuer never maps
/// that issuer's subjects onto the first one's users. The issuer enters as the first 16 hex digits
/// of its SHA-256 after an `@`, which no provider key contains: `OAUTH#oidc@1a2b…#<sub>`. An empty
/// issuer gives the key of identities linked before issuers were keyed (`OAUTH#<provider>#<uid>`),
/// which the sign-in still reads and moves to the issuer's key on that identity's next sign-in.
pub fn identity_claim_pk(provider: &str, issuer: &str, provider_uid: &str) -> String {
    if issuer.is_empty() {
        return format!("OAUTH#{provider}#{provider_uid}");
    }
    let digest = crate::crypto::sha256_hex(issuer);
    format!("OAUTH#{provider}@{}#{provider_uid}", &digest[..16])
}

pub const IDENTITY_EMAIL_SK: &str = "IDENTITY";

/// `IDEMAIL#<lower-case email>` / `IDENTITY`: which user's identities carry this provider email,
/// verified by a trusted provider (`uid`, the string set `ids` of those identities, and the mark
/// `v`). Sign-up, email changes and new-user tokens refuse an address another user's identity
/// reserves; OAuth2 rule (d) finds its user. A reservation without `v` was made before only
/// verified addresses were reserved: it binds nobody, and the next verified reservation of the
/// address takes it over.
pub fn identity_email_pk(email: &str) -> String {
    format!("IDEMAIL#{email}")
}

/// `USER#<uid>` / `IDENTITY#<id>`: a provider account linked to the user (contract §3.7). The
/// provider's tokens are sealed (`seal.rs`): the owner can read them back, the table cannot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub uid: String,
    pub provider: String,
    pub provider_uid: String,
    /// The issuer the claim is keyed with ([`identity_claim_pk`]); empty for identities linked
    /// before issuers were keyed.
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub provider_email: String,
    /// Whether a provider trusted to verify addresses (`OAUTH2_<KEY>_TRUSTED_EMAIL`) said the
    /// address is verified. Only then is it reserved (`IDEMAIL#`) and used to find an account;
    /// otherwise it is shown as `providerEmail` and nothing else. Identities stored before the
    /// flag existed read as unverified; their next sign-in decides again.
    #[serde(default)]
    pub provider_email_verified: bool,
    #[serde(default)]
    pub access_token_sealed: String,
    #[serde(default)]
    pub refresh_token_sealed: String,
    #[serde(default)]
    pub access_token_expiry: Option<Millis>,
    pub created: Millis,
    pub updated: Millis,
}

impl IdentityItem {
    /// The key of this identity's claim.
    pub fn claim_pk(&self) -> String {
        identity_claim_pk(&self.provider, &self.issuer, &self.provider_uid)
    }

    /// This identity's claim: its provider account belongs to its user.
    pub fn claim(&self) -> IdentityClaimItem {
        IdentityClaimItem {
            pk: self.claim_pk(),
            sk: IDENTITY_CLAIM_SK.into(),
            uid: self.uid.clone(),
            identity_id: self.id.clone(),
        }
    }
}

/// `OAUTH#<provider>#<providerUid>` / `IDENTITY`: one provider account belongs to one user; the
/// sign-in lookup (rule (b) of contract §4.6) reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityClaimItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub uid: String,
    pub identity_id: String,
}

pub const CHALLENGE_PREFIX: &str = "CHALLENGE#";

pub fn challenge_sk(id: &str) -> String {
    format!("{CHALLENGE_PREFIX}{id}")
}

/// The attribute marking a passed MFA challenge (epoch ms). A used challenge is kept until its
/// TTL, so that a late-delivered write of it finds it there and cannot recreate it.
pub const CHALLENGE_USED: &str = "used";

/// `USER#<uid>` / `CHALLENGE#<id>`: an MFA challenge. Email/phone codes are stored as HMACs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub uid: String,
    /// `totp`, `email`, `phone`, `recoveryCode`.
    pub factor: String,
    #[serde(default)]
    pub code_hash: String,
    /// Codes tried so far (reserved before each comparison; the challenge burns at the cap).
    #[serde(default)]
    pub attempts: u32,
    pub created: Millis,
    pub expire: Millis,
    #[serde(rename = "expires_at")]
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's TTL attribute is `expires_at`: every expiring item must use exactly that name.
    #[test]
    fn ttl_attribute_name() {
        let guard = GuardItem {
            pk: "p".into(),
            sk: "s".into(),
            attempts: 1,
            expires_at: 5,
        };
        let v = serde_json::to_value(&guard).unwrap();
        assert_eq!(v["expires_at"], 5);
        let token = TokenItem {
            pk: "p".into(),
            sk: "s".into(),
            id: "i".into(),
            uid: "u".into(),
            kind: "k".into(),
            secret_hash: "h".into(),
            target: "a@b.co".into(),
            created: 0,
            expire: 0,
            expires_at: 7,
            phrase: String::new(),
        };
        assert_eq!(serde_json::to_value(&token).unwrap()["expires_at"], 7);
        let session: SessionItem = serde_json::from_value(serde_json::json!({
            "PK": "p", "SK": "s", "id": "i", "uid": "u", "created": 0, "updated": 0, "expire": 0,
            "expires_at": 9, "secretHash": "h", "provider": "email"
        }))
        .unwrap();
        assert_eq!(serde_json::to_value(&session).unwrap()["expires_at"], 9);
    }
}

/// The partition of the operator's message templates (`custom_templates`).
pub const TEMPLATES_PK: &str = "META#TEMPLATES";

/// One template: `PK = META#TEMPLATES`, `SK = <channel>.<kind>#<locale>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub channel: String,
    pub kind: String,
    pub locale: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub html: String,
    #[serde(default)]
    pub sender_name: String,
    #[serde(default)]
    pub sender_email: String,
    #[serde(default)]
    pub reply_to: String,
    /// The SMS body.
    #[serde(default)]
    pub message: String,
    /// Incremented by every write; a write names the version it replaces.
    pub version: u64,
    pub updated: Millis,
}

/// The provider of a session created from a passkey sign-in.
pub const PASSKEY_PROVIDER: &str = "passkey";
/// The factor such a session holds: a passkey with user verification is both factors.
pub const PASSKEY_FACTOR: &str = "passkey";

/// `USER#<uid>` / `PASSKEY#<id>`: a passkey as the user sees it (listing, renaming). Its
/// credential (public key, signature counter) lives on its claim, which sign-in reads by
/// credential ID.
pub const PASSKEY_PREFIX: &str = "PASSKEY#";
/// `USER#<uid>` / `PASSKEYREG`: the user's one registration ceremony in flight (a new one
/// replaces the last). Sorts outside `PASSKEY#` and outside `PROFILE`..`SESSION#~`.
pub const PASSKEY_REGISTRATION_SK: &str = "PASSKEYREG";
/// The claim of a credential ID: one per credential across all users.
pub const PASSKEY_CLAIM_SK: &str = "PASSKEY";
/// A sign-in ceremony: `PASSKEYLOGIN#<id>` / `CHALLENGE`.
pub const PASSKEY_LOGIN_SK: &str = "CHALLENGE";

pub fn passkey_sk(id: &str) -> String {
    format!("{PASSKEY_PREFIX}{id}")
}

/// `PASSKEYCRED#<sha256(credential ID)>`: a credential ID is up to 1,023 bytes, a key at most
/// 2,048; its hash is fixed-size.
pub fn passkey_claim_pk(credential_id: &[u8]) -> String {
    use sha2::Digest;
    format!(
        "PASSKEYCRED#{}",
        hex::encode(sha2::Sha256::digest(credential_id))
    )
}

pub fn passkey_login_pk(id: &str) -> String {
    format!("PASSKEYLOGIN#{id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    pub uid: String,
    pub name: String,
    /// The credential ID, base64url without padding (the claim's key is its hash).
    pub credential_id: String,
    /// The authenticator model's AAGUID (all zeros when it does not say).
    #[serde(default)]
    pub aaguid: String,
    #[serde(default)]
    pub backup_eligible: bool,
    #[serde(default)]
    pub backup_state: bool,
    pub created: Millis,
    pub updated: Millis,
    #[serde(default)]
    pub last_used: Option<Millis>,
}

/// `PASSKEYCRED#<hash>` / `PASSKEY`: a credential ID belongs to one passkey of one user, and
/// carries what verifies it: the library's credential (public key, counter, backup flags, as
/// JSON). A sign-in replaces `credential` only where it still reads as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyClaimItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub uid: String,
    pub passkey_id: String,
    pub credential: String,
}

/// A passkey ceremony in flight: registration (`USER#<uid>` / `PASSKEYREG`, bound to the session
/// `sid` that asked) or sign-in (`PASSKEYLOGIN#<id>` / `CHALLENGE`, no user yet). `state` is the
/// library's ceremony state (JSON; it holds the challenge). Consumed by a conditional delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyChallengeItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub id: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub sid: String,
    /// Registration: the profile's verified flags when it started. The registration's write
    /// requires them unchanged: an ownership proof in between (it sets one) voids it.
    #[serde(default)]
    pub email_verification: bool,
    #[serde(default)]
    pub phone_verification: bool,
    /// Registration: the passkey's ID (the client's `passkeyId`, or a new one) and name.
    #[serde(default)]
    pub passkey_id: String,
    #[serde(default)]
    pub name: String,
    pub state: String,
    pub created: Millis,
    pub expire: Millis,
    #[serde(rename = "expires_at")]
    pub expires_at: i64,
}
