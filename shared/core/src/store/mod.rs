//! Storage behind capability traits. The domain sees only these traits (through
//! `App::store`); `account_adapters::dynamo::DynamoStore` implements them over the single table and
//! `memory::MemoryStore` is its in-memory twin, held to the same behaviour by the conformance
//! suite (`conformance.rs`, run against both). Item types and key layout: `item.rs`,
//! `infra/storage.md`.
//!
//! Every method is one round trip unless its doc says otherwise, and every write that can race
//! is conditional: a method that returns `Conflict` or `false`/`None` wrote nothing.

use crate::clock::Millis;
use crate::error::Result;
use crate::item::TemplateItem;
use crate::item::{
    ChallengeItem, EmailItem, IdentityClaimItem, IdentityItem, LogItem, PasskeyChallengeItem,
    PasskeyClaimItem, PasskeyItem, PhoneItem, SessionItem, TokenItem, UserItem,
};
use crate::keys::KeyItem;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod invariants;
#[cfg(any(test, feature = "twin"))]
pub mod memory;

pub use crate::config::Timeouts;
#[cfg(any(test, feature = "twin"))]
pub use memory::MemoryStore;

/// Why a write that claims unique keys was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The user ID is taken.
    User,
    /// The email claim is taken.
    Email,
    /// The phone claim is taken.
    Phone,
    /// The profile is gone or (for session creation) the user is blocked.
    ProfileCondition,
    /// The token was already used or has expired.
    Token,
    /// The profile no longer has the address the token is for (or is gone).
    Target,
    /// The project's user limit is reached.
    UserLimit,
    /// The provider account is linked to a user already.
    Identity,
    /// Another user's OAuth2 identity uses the email.
    IdentityEmail,
    /// The session the write relies on is gone (an OAuth2 link whose session an ownership proof
    /// deleted meanwhile).
    Session,
    /// The counter at this position of a multi-counter hit is at its limit.
    Counter(usize),
    /// The passkey's credential ID is registered already (to this user or another).
    Passkey,
}

#[derive(Debug)]
pub enum WriteError {
    Conflict(Conflict),
    Other(crate::error::Error),
}

impl From<crate::error::Error> for WriteError {
    fn from(e: crate::error::Error) -> Self {
        Self::Other(e)
    }
}

/// What a profile update requires to still be true when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No session was created since the profile was read (every session write sets `accessed`).
    Accessed(Millis),
    /// The last accepted TOTP step is unchanged: a code counts once.
    TotpStep(u64),
    /// The sealed recovery codes are unchanged: a code is consumed once.
    RecoveryCodes(String),
    /// The profile still has this email (the address a token was sent to).
    Email(String),
    /// The profile still has this phone number.
    Phone(String),
    /// The profile's password hash is still this one (a hash upgrade replaces only the hash it
    /// verified).
    Password(String),
    /// The profile still counts this many passkeys (an ownership proof deletes the ones it
    /// listed: a registration in between fails it, also within the same millisecond).
    Passkeys(u32),
}

impl Expect {
    /// Whether a stored profile meets this expectation (the twin's reading of the condition
    /// `dynamo` writes as an expression).
    pub fn holds(&self, user: &UserItem) -> bool {
        match self {
            Self::Accessed(t) => user.accessed == *t,
            // Profiles written before `lastStep` existed lack it: step 0 accepts that too.
            Self::TotpStep(n) => user.totp.as_ref().map_or(*n == 0, |t| t.last_step == *n),
            Self::RecoveryCodes(c) => user.recovery_codes.as_deref() == Some(c.as_str()),
            Self::Email(e) => user.email.as_deref() == Some(e.as_str()),
            Self::Phone(p) => user.phone.as_deref() == Some(p.as_str()),
            Self::Password(p) => user.password.as_deref() == Some(p.as_str()),
            Self::Passkeys(n) => user.passkeys == *n,
        }
    }
}

/// A unique-key claim written with a user change: put the new key, release the old one.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub put_email: Option<EmailItem>,
    pub delete_email: Option<String>,
    pub put_phone: Option<PhoneItem>,
    pub delete_phone: Option<String>,
    /// Refresh the password copy on the user's current email item.
    pub email_password: Option<(String, Option<String>)>,
    /// Token kinds whose live token this change revokes (an email change revokes what was sent
    /// to the old address, a password change the recovery link, …).
    pub revoke_tokens: Vec<&'static str>,
}

/// What a redemption needs, read in one `BatchGetItem`.
#[derive(Debug, Default)]
pub struct Redeemable {
    pub user: Option<UserItem>,
    /// The user's live tokens of the kinds asked for (at most one per kind).
    pub tokens: Vec<TokenItem>,
}

/// One token redemption, written in one transaction.
#[derive(Debug, Default)]
pub struct Redemption<'a> {
    pub session: Option<&'a SessionItem>,
    pub user_change: Option<(&'a UserItem, &'a UserItem)>,
    /// Conditions the profile must still meet (the address the token was sent to, …).
    pub expect: Vec<Expect>,
    pub claims: Claims,
    /// The guessing guard to clear (a right code resets the window's budget).
    pub clear_guard: Option<String>,
    /// Sessions deleted together with the redemption (recovery, ownership proof).
    pub delete_sessions: Vec<String>,
    /// OAuth2 identities deleted together with the redemption (ownership proof), each with its
    /// claim and its reserved address.
    pub delete_identities: Vec<IdentityItem>,
    /// Passkeys deleted together with the redemption (ownership proof), each with its claim.
    pub delete_passkeys: Vec<PasskeyItem>,
}

/// At most this many sessions are deleted inside a redemption or password transaction
/// (DynamoDB allows 100 items per transaction); `SESSION_LIMIT` keeps real counts far below.
pub const MAX_SESSIONS_IN_TRANSACTION: usize = 80;

/// Items an identity takes in a transaction that deletes it (the link, its claim, its address).
pub const ITEMS_PER_IDENTITY: usize = 3;

/// How many of a redemption's session deletes fit in its transaction beside its identity
/// deletes; the rest are deleted right after it.
pub fn session_room(r: &Redemption<'_>) -> usize {
    let identities = r.delete_identities.len().min(MAX_IDENTITIES_IN_TRANSACTION);
    let passkeys = r.delete_passkeys.len().min(MAX_PASSKEYS_IN_TRANSACTION);
    MAX_SESSIONS_IN_TRANSACTION
        .saturating_sub(identities * ITEMS_PER_IDENTITY)
        .saturating_sub(passkeys * ITEMS_PER_PASSKEY)
}

/// Items a passkey takes in a transaction that deletes it (the passkey and its claim).
pub const ITEMS_PER_PASSKEY: usize = 2;

/// At most this many passkeys are deleted inside a redemption's transaction (a user has at most
/// `passkey::MAX_PER_USER`); any more are deleted just before it.
pub const MAX_PASSKEYS_IN_TRANSACTION: usize = 20;

/// Sessions a passkey deletion revokes inside its transaction (beside at most 19 other passkeys
/// or 8 identities it checks); the rest are deleted right after it.
pub const REVOKED_IN_TRANSACTION: usize = 40;

/// At most this many identities are deleted inside a redemption's transaction; more (nobody
/// links that many provider accounts but an attacker) are deleted just before it.
pub const MAX_IDENTITIES_IN_TRANSACTION: usize = 8;

/// Profiles and their unique-key claims (email, phone): reads, creation, changes.
#[async_trait::async_trait]
pub trait Accounts: Send + Sync {
    /// The profile and the named sessions of one user (strongly consistent).
    async fn get_user_and_sessions(
        &self,
        uid: &str,
        sids: &[&str],
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)>;

    /// The profile and every session of a user, oldest session first.
    async fn get_user_with_all_sessions(
        &self,
        uid: &str,
    ) -> Result<(Option<UserItem>, Vec<SessionItem>)>;

    async fn get_email(&self, email: &str) -> Result<Option<EmailItem>>;

    async fn get_phone(&self, phone: &str) -> Result<Option<PhoneItem>>;

    /// One transaction: a new profile with its email/phone claims and optional first session.
    async fn create_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        session: Option<&SessionItem>,
    ) -> Result<(), WriteError>;

    /// One transaction: an imported user (`admin users import`): the profile with its email and
    /// phone claims (and the user counter under `USER_LIMIT`), and its provider identities with
    /// their claims. The identities are unverified: they reserve no address until their first
    /// sign-in decides. Refused as a whole (`User`, `Email`, `Phone`, `IdentityEmail`,
    /// `Identity`, `UserLimit`) when any key is taken.
    async fn import_user(
        &self,
        user: &UserItem,
        email: Option<&EmailItem>,
        phone: Option<&PhoneItem>,
        identities: &[IdentityItem],
    ) -> Result<(), WriteError>;

    /// Write the attributes that differ between `old` and `new`; the stored profile after the
    /// update, `None` if it no longer exists.
    async fn update_user(&self, old: &UserItem, new: &UserItem) -> Result<Option<UserItem>>;

    /// One transaction: a profile change under `expect`, its claims, and the deletion of
    /// `sessions` (beyond [`MAX_SESSIONS_IN_TRANSACTION`], the rest follow after it).
    async fn update_user_atomically(
        &self,
        old: &UserItem,
        new: &UserItem,
        claims: &Claims,
        expect: &[Expect],
        sessions: &[String],
    ) -> Result<(), WriteError>;

    /// A profile change together with unique-key claims and releases.
    async fn update_user_with_claims(
        &self,
        old: &UserItem,
        new: &UserItem,
        claims: &Claims,
    ) -> Result<(), WriteError> {
        self.update_user_atomically(old, new, claims, &[], &[])
            .await
    }

    /// Before the password is checked, count this attempt on the email claim as a failure (a
    /// success clears it in its session transaction). Admitted while the account has fewer than
    /// `threshold` failures or its last failure is older than `cutoff`. An unknown email is
    /// refused and writes nothing.
    async fn reserve_login_attempt(
        &self,
        email: &str,
        threshold: u32,
        cutoff: Millis,
        now: Millis,
    ) -> Result<bool>;
}

/// Sessions: the index used by the session limit, creation, extension, deletion.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync {
    /// `(sid, created)` of every session of a user, for eviction.
    async fn session_index(&self, uid: &str) -> Result<Vec<(String, Millis)>>;

    /// One transaction: the session, conditioned on its user existing and not blocked (and, for
    /// password logins, still having `expect_password`); optionally clearing a login lockout.
    /// Sets the profile's `accessed` to the session's creation time.
    async fn create_session_for_active_user(
        &self,
        session: &SessionItem,
        clear_lockout: Option<&str>,
        expect_password: Option<&str>,
    ) -> Result<(), WriteError>;

    /// Set a live session's expiry; `None` if it does not exist or has expired.
    async fn extend_session(
        &self,
        uid: &str,
        sid: &str,
        expire: Millis,
        now: Millis,
    ) -> Result<Option<SessionItem>>;

    /// Whether the session existed.
    async fn delete_session(&self, uid: &str, sid: &str) -> Result<bool>;

    async fn delete_sessions(&self, uid: &str, sids: &[String]) -> Result<()>;

    /// One transaction: a profile change and a session change together, optionally consuming
    /// an MFA challenge (only if it still exists, unexpired and unused; it stays, marked used).
    async fn update_user_and_session(
        &self,
        user: (&UserItem, &UserItem),
        session: (&SessionItem, &SessionItem),
        consume: Option<(&ChallengeItem, Millis)>,
        expect: &[Expect],
    ) -> Result<(), WriteError>;
}

/// One-time secrets (magic URL, OTPs, verification, recovery) and MFA challenges.
#[async_trait::async_trait]
pub trait Tokens: Send + Sync {
    /// Store a token, replacing the user's earlier one of the same kind, only while the profile
    /// exists and still has the token's `target` address ([`Conflict::Target`] otherwise: an
    /// address change, or a write landing late, never leaves a token for an old address). With
    /// `new_user`, one transaction that also creates the user (profile + claims) the token is for.
    async fn issue_token(
        &self,
        token: &TokenItem,
        new_user: Option<(&UserItem, Option<&EmailItem>, Option<&PhoneItem>)>,
    ) -> Result<(), WriteError>;

    /// Delete a token whose message could not be sent; a newer token of the same kind, issued
    /// meanwhile, is left alone.
    async fn delete_token(&self, token: &TokenItem) -> Result<()>;

    /// The profile and the tokens of `kinds` (strongly consistent).
    async fn get_redeemable(&self, uid: &str, kinds: &[&str]) -> Result<Redeemable>;

    /// Reserve one short-code attempt in the user's guard for this window. `false` when the
    /// budget is spent: N parallel guesses admit at most `limit`.
    async fn reserve_attempt(
        &self,
        uid: &str,
        guard_sk: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool>;

    /// One transaction: consume the token (only if it is still this secret and unexpired) and
    /// apply its effect.
    async fn redeem(
        &self,
        token: &TokenItem,
        now: Millis,
        r: Redemption<'_>,
    ) -> Result<(), WriteError>;

    /// Store a new challenge; an error if one with its key is stored (even a used one).
    async fn put_challenge(&self, c: &ChallengeItem) -> Result<()>;

    /// Withdraw a challenge whose code could not be sent.
    async fn delete_challenge(&self, c: &ChallengeItem) -> Result<()>;

    /// Reserve one attempt at an MFA challenge before its code is compared, returning the
    /// challenge; `None` when it is gone, expired, passed or used up.
    async fn attempt_challenge(
        &self,
        uid: &str,
        id: &str,
        max_attempts: u32,
        now: Millis,
    ) -> Result<Option<ChallengeItem>>;

    /// One transaction undoing a token issue that also created its user.
    async fn withdraw_new_user(&self, user: &UserItem, token: &TokenItem) -> Result<()>;
}

/// Rate-limit counters, API keys and security logs.
#[async_trait::async_trait]
pub trait Security: Send + Sync {
    /// Count a hit if the counter is below `limit`: the new count, or `None` when the limit was
    /// already reached (the hit is not counted).
    async fn hit_counter(&self, counter: &str, limit: u32, expires_at: i64) -> Result<Option<u32>>;

    /// Count a hit on every one of `counters` (`(counter, limit, expires_at)`), all or none:
    /// `Some(i)` when counter `i` was at its limit and nothing was counted. One transaction.
    async fn hit_counters(&self, counters: &[(String, u32, i64)]) -> Result<Option<usize>>;

    async fn delete_counters(&self, counters: &[String]) -> Result<()>;

    async fn get_api_key(&self, id: &str) -> Result<Option<KeyItem>>;

    async fn put_api_key(&self, k: &KeyItem) -> Result<()>;

    /// Whether the key existed.
    async fn delete_api_key(&self, id: &str) -> Result<bool>;

    /// Every API key (operator CLI only, never on a request path).
    async fn list_api_keys(&self) -> Result<Vec<KeyItem>>;

    async fn put_logs(&self, logs: &[LogItem]) -> Result<()>;

    /// A user's log entries newest first, and their total when asked (counting stops at
    /// `count_cap`).
    async fn list_logs(
        &self,
        uid: &str,
        limit: usize,
        offset: usize,
        with_total: bool,
        count_cap: usize,
    ) -> Result<(Vec<LogItem>, usize)>;
}

/// How an OAuth2 sign-in changes the identity.
#[derive(Debug)]
pub enum IdentityWrite<'a> {
    /// A new link: the identity and its claim (refused as `Identity` if the claim exists).
    /// A verified provider address is reserved for the user, refused as `IdentityEmail` while
    /// another user's identities hold it and as `Email` while another user's email claim does.
    New(&'a IdentityItem),
    /// Fresh tokens or email on a known link; the reservation follows the address and its
    /// verified flag, under the same conditions as for a new link.
    Update(&'a IdentityItem, &'a IdentityItem),
}

/// One OAuth2 sign-in, written in one transaction.
#[derive(Debug)]
pub struct OAuthSignIn<'a> {
    /// Rule (e): the user is new (with its email claim, when the provider gave an email).
    pub new_user: Option<(&'a UserItem, Option<&'a EmailItem>)>,
    /// Otherwise: the existing user, who must still exist and not be blocked. Their `accessed`
    /// is set (as by every session write).
    pub existing: Option<&'a str>,
    pub identity: IdentityWrite<'a>,
    /// Cookie mode: the new session.
    pub session: Option<&'a SessionItem>,
    /// Token mode: the one-time secret, replacing the user's earlier one.
    pub token: Option<&'a TokenItem>,
    /// Rule (a): the session that linked the identity, deleted with the sign-in; refused as
    /// `Session` when it is gone already.
    pub delete_session: Option<&'a str>,
    pub now: Millis,
}

/// Provider accounts linked to users (OAuth2 identities).
#[async_trait::async_trait]
pub trait Identities: Send + Sync {
    /// The claim of a provider account at `issuer` (see `item::identity_claim_pk`), or of
    /// before issuers were keyed; the issuer's key wins when both exist.
    async fn get_identity_claim(
        &self,
        provider: &str,
        issuer: &str,
        provider_uid: &str,
    ) -> Result<Option<IdentityClaimItem>>;

    /// A user's identities, in ID order.
    async fn list_identities(&self, uid: &str) -> Result<Vec<IdentityItem>>;

    /// The user whose identities carry `email` as their provider email, if any.
    async fn identity_email_owner(&self, email: &str) -> Result<Option<String>>;

    /// Delete an identity and its claim; `false` when it was gone already.
    async fn delete_identity(&self, identity: &IdentityItem) -> Result<bool>;

    /// One transaction: user (new or checked), identity, session or token.
    async fn oauth2_sign_in(&self, w: OAuthSignIn<'_>) -> Result<(), WriteError>;
}

/// What a passkey sign-in records on the passkey.
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    pub uid: String,
    pub id: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub now: Millis,
}

/// Passkeys (WebAuthn): the user's passkeys, their credential-ID claims, and ceremonies.
#[async_trait::async_trait]
pub trait Passkeys: Send + Sync {
    /// A user's passkeys, in ID order (one `Query`).
    async fn list_passkeys(&self, uid: &str) -> Result<Vec<PasskeyItem>>;

    /// Store a ceremony: a registration replaces the user's last one (one in flight per user),
    /// a sign-in ceremony is new (an error if its key is taken).
    async fn put_passkey_challenge(&self, c: &PasskeyChallengeItem) -> Result<()>;

    /// The user's registration ceremony in flight (strongly consistent).
    async fn get_passkey_registration(&self, uid: &str) -> Result<Option<PasskeyChallengeItem>>;

    /// A sign-in ceremony and the claim of a credential ID: one `BatchGetItem`.
    async fn get_passkey_sign_in(
        &self,
        challenge_id: &str,
        credential_id: &[u8],
    ) -> Result<(Option<PasskeyChallengeItem>, Option<PasskeyClaimItem>)>;

    /// Delete a ceremony only while it is this one (an answer that failed burns it).
    async fn burn_passkey_challenge(&self, c: &PasskeyChallengeItem) -> Result<()>;

    /// One transaction: consume the registration ceremony (`Token` when it is gone, expired or
    /// another one), check that its session still exists (`Session`), count the passkey on the
    /// profile while it has fewer than `max` and the verified flags the ceremony saw, setting
    /// `accessed` (`ProfileCondition`), claim the credential ID (`Passkey`) and store the
    /// passkey.
    async fn add_passkey(
        &self,
        c: &PasskeyChallengeItem,
        passkey: &PasskeyItem,
        claim: &PasskeyClaimItem,
        max: u32,
        now: Millis,
    ) -> Result<(), WriteError>;

    /// One transaction: consume the sign-in ceremony (`Token`, also when expired at `used.now`),
    /// replace the credential where it
    /// still is `old_credential` (`Token`: another sign-in moved it meanwhile), mark the passkey
    /// used (`ProfileCondition` when it is gone), and store `token` (replacing the user's last).
    async fn passkey_sign_in(
        &self,
        c: &PasskeyChallengeItem,
        claim: &PasskeyClaimItem,
        old_credential: &str,
        used: &PasskeyUse,
        token: &TokenItem,
    ) -> Result<(), WriteError>;

    /// Rename a passkey; `None` when it is gone.
    async fn rename_passkey(
        &self,
        uid: &str,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<Option<PasskeyItem>>;

    /// One transaction: delete the passkey and its claim (`Token` when gone already), count it
    /// off the profile, revoke the user's passkey token and the sessions `revoke` (those it
    /// opened), while each item at `keep` (`(PK, SK)`) still exists (`ProfileCondition`): the
    /// account's other ways in.
    async fn delete_passkey(
        &self,
        p: &PasskeyItem,
        keep: &[(String, String)],
        revoke: &[String],
    ) -> Result<(), WriteError>;
}

/// The operator's message templates (`custom_templates`): one partition, read whole.
#[async_trait::async_trait]
pub trait Templates: Send + Sync {
    /// Every template (one `Query`).
    async fn list_templates(&self) -> Result<Vec<TemplateItem>>;

    /// Write a template if the stored one is at `replaces` (0: none is stored); `false` when
    /// another write came first (nothing written).
    async fn put_template(&self, t: &TemplateItem, replaces: u64) -> Result<bool>;

    /// Whether the template existed.
    async fn delete_template(&self, sk: &str) -> Result<bool>;
}

/// Every capability: what `App` holds.
#[async_trait::async_trait]
pub trait Storage:
    Accounts + Sessions + Tokens + Security + Identities + Templates + Passkeys
{
    /// Create what the store needs (the table, locally); a no-op where it exists.
    async fn prepare(&self) -> Result<()> {
        Ok(())
    }

    /// Open connections during Init so the first request does not pay for them.
    async fn warm_up(&self) {}

    /// Enforce a project user limit (`USER_LIMIT`) on every user creation; 0 = unlimited. The
    /// limit holds under races: creation and the counter are one conditional transaction.
    fn with_user_limit(self, limit: u32) -> Self
    where
        Self: Sized;
}
