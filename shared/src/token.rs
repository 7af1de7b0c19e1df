//! One-time secrets: magic URLs, email and phone OTPs, email/phone verification and password
//! recovery.
//!
//! Security model:
//! * A user has at most one live token per kind (`USER#<uid>` / `TOKEN#<kind>`): issuing a new
//!   one replaces, and so revokes, the last. The secret is stored only as HMAC-SHA256 under
//!   the key ring's token-hash key and compared in constant time; a stolen table does not reveal 6-digit codes.
//! * A token is bound to the address it was sent to. Redemption requires the profile to still
//!   have it, checked in code and again as a condition of the redemption transaction; changing
//!   the email, phone or password also deletes the tokens that change makes stale.
//! * A token is valid until `expire`, whatever TTL has or has not deleted.
//! * Single use under concurrency: redemption deletes the token in the same transaction that
//!   applies its effect, conditioned on the token still holding this secret and being unexpired.
//! * Guessing short codes is bounded per user and hour: every attempt first reserves a slot in a
//!   guard (`ADD attempts 1 IF attempts < CODE_ATTEMPTS_PER_HOUR`), atomically, before any
//!   comparison, so parallel guesses cannot all read "0 failures". Issuing a code does not refill
//!   the budget; a right code does. Guards are per scope (login codes, phone verification), and
//!   long secrets (magic URL, email verification, recovery: 256 bits and more) have none, so
//!   spending a user's code budget cannot lock their links.
//! * Ownership proof: a passwordless login that proves an address the account had not verified
//!   (someone may have pre-registered it) revokes every earlier session and the password, in
//!   the same transaction.
//!
//! ```text
//!  issue ──► [TOKEN#kind, replaces the last] ──redeem ok──► consumed with its effect, atomically
//!  attempt ──► reserve a slot in TOKENGUARD#scope#hour ──full──► refused, right code or not
//! ```

use crate::app::App;
use crate::budget::{Channel, Requester::Anyone};
use crate::clock::{Entropy, Millis};
use crate::context::{Ctx, Gate};
use crate::error::{Error, ErrorType, Result};
use crate::item::{self, EmailItem, PhoneItem, TokenItem, UserItem};
use crate::keyring::{Keyring, Purpose};
use crate::messages::{self, Letter};
use crate::session::{self, NewSession};
use crate::store::{Claims, Conflict, Expect, Redemption, WriteError};
use crate::{crypto, dates, ids};

/// OAuth2 token mode: the secret handed to the success URL is redeemable for this long.
pub const OAUTH2_TOKEN_SECS: i64 = 60;

/// Short-code attempts per user, guard scope and hour (a right code refills the budget).
pub const CODE_ATTEMPTS_PER_HOUR: u32 = 5;

pub use crate::item::{EMAIL_TOKEN_KINDS as EMAIL_KINDS, PHONE_TOKEN_KINDS as PHONE_KINDS};

use crate::config::MAX_CODE_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MagicUrl,
    EmailOtp,
    Phone,
    VerifyEmail,
    VerifyPhone,
    Recovery,
    /// OAuth2 token mode: handed to the success URL, redeemed within 60 s.
    OAuth2,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicUrl => "magic-url",
            Self::EmailOtp => "email-otp",
            Self::Phone => "phone",
            Self::VerifyEmail => "verify-email",
            Self::VerifyPhone => "verify-phone",
            Self::Recovery => item::RECOVERY_TOKEN_KIND,
            Self::OAuth2 => "oauth2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::MagicUrl,
            Self::EmailOtp,
            Self::Phone,
            Self::VerifyEmail,
            Self::VerifyPhone,
            Self::Recovery,
            Self::OAuth2,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Lifetimes from the contract (§1.7), but a phone-verification code: six digits live 15
    /// minutes, as every other code does (Appwrite 1.9.6 gives it an hour; README "Where we
    /// differ").
    pub fn lifetime_secs(self) -> i64 {
        match self {
            Self::EmailOtp | Self::Phone | Self::VerifyPhone => 900,
            Self::MagicUrl | Self::VerifyEmail | Self::Recovery => 3600,
            Self::OAuth2 => OAUTH2_TOKEN_SECS,
        }
    }

    pub fn new_secret(self, entropy: &dyn Entropy) -> String {
        match self {
            Self::MagicUrl => crypto::random_hex(entropy, 32),
            // Wrapped in a JWT with the provider key, which must stay within Appwrite's 256
            // characters for `secret` (see `wrap_oauth2_secret`).
            Self::OAuth2 => crypto::random_b64url(entropy, 32),
            Self::EmailOtp | Self::Phone | Self::VerifyPhone => otp(entropy),
            Self::VerifyEmail | Self::Recovery => crypto::random_hex(entropy, 128),
        }
    }

    /// Whether the secret is a short code (guessable, so guarded).
    pub fn is_code(self) -> bool {
        matches!(self, Self::EmailOtp | Self::Phone | Self::VerifyPhone)
    }

    /// Whether the token was sent to the user's phone (else to their email).
    pub fn by_phone(self) -> bool {
        matches!(self, Self::Phone | Self::VerifyPhone)
    }

    /// The session a login token creates: `(provider, factor)`. Verification and recovery
    /// secrets never create sessions (Appwrite lets phone-verification codes log in; we do not).
    fn session(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::MagicUrl => Some(("magic-url", "email")),
            Self::EmailOtp => Some(("token", "email")),
            Self::Phone => Some(("phone", "phone")),
            _ => None,
        }
    }
}

/// Six uniformly random decimal digits.
fn otp(entropy: &dyn Entropy) -> String {
    loop {
        let mut b = [0u8; 4];
        entropy.fill(&mut b);
        let n = u32::from_le_bytes(b);
        // Reject the top sliver so `n % 1e6` is uniform.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// How a one-time secret or code is stored: a keyed hash under the ring's current key, so a
/// table dump does not give six-digit codes away to a brute force.
pub fn secret_hash(keys: &Keyring, secret: &str) -> String {
    keys.hash(Purpose::TokenHash, secret)
}

/// Whether `stored` (from [`secret_hash`]) is the hash of `secret`; constant time.
pub fn secret_matches(keys: &Keyring, secret: &str, stored: &str) -> bool {
    keys.verify_hash(Purpose::TokenHash, secret, stored)
}

const ADJECTIVES: &[&str] = &[
    "Brave", "Calm", "Clever", "Cosmic", "Curious", "Daring", "Eager", "Fancy", "Gentle", "Golden",
    "Happy", "Humble", "Jolly", "Kind", "Lively", "Lucky", "Mighty", "Noble", "Polite", "Proud",
    "Quick", "Quiet", "Rapid", "Shiny", "Silent", "Smart", "Sunny", "Swift", "Tidy", "Witty",
];
const NOUNS: &[&str] = &[
    "badger", "beacon", "canyon", "comet", "dolphin", "falcon", "forest", "garden", "glacier",
    "harbor", "island", "lantern", "meadow", "monkey", "nebula", "otter", "panda", "pebble",
    "planet", "raven", "river", "rocket", "sparrow", "summit", "tiger", "tulip", "valley",
    "violin", "walrus", "willow",
];

/// `"<Adjective> <noun>"`, shown at sign-in and in the email so users can spot phishing.
pub fn phrase(entropy: &dyn Entropy) -> String {
    let mut b = [0u8; 2];
    entropy.fill(&mut b);
    format!(
        "{} {}",
        ADJECTIVES[usize::from(b[0]) % ADJECTIVES.len()],
        NOUNS[usize::from(b[1]) % NOUNS.len()]
    )
}

/// How often a token request looks its address (or profile) up again when the profile keeps
/// changing under it (a login code's owner moving off the address, a verification or recovery
/// racing the user's own change).
const ADDRESS_LOOKUPS: u32 = 3;

/// A stored token and its secret (returned once).
pub struct Issued {
    pub token: TokenItem,
    pub secret: String,
    /// The user created together with this token (first token for a new address).
    pub new_user: Option<UserItem>,
}

fn build(
    app: &App,
    uid: &str,
    kind: Kind,
    secret: &str,
    target: &str,
    phrase: String,
    now: Millis,
) -> TokenItem {
    let expire = now + kind.lifetime_secs() * 1000;
    TokenItem {
        pk: item::user_pk(uid),
        sk: item::token_sk(kind.as_str()),
        id: ids::unique(now, app.entropy.as_ref()),
        uid: uid.to_owned(),
        kind: kind.as_str().to_owned(),
        secret_hash: secret_hash(&app.config.keys, secret),
        target: target.to_owned(),
        created: now,
        expire,
        expires_at: expire / 1000,
        phrase,
    }
}

/// What a new token is for.
#[derive(Clone, Copy)]
struct NewToken<'a> {
    uid: &'a str,
    kind: Kind,
    /// The address the secret is sent to (the binding).
    target: &'a str,
    /// A mock number's fixed code instead of a random secret.
    fixed_secret: Option<&'a str>,
    want_phrase: bool,
    new_user: Option<(&'a UserItem, Option<&'a EmailItem>, Option<&'a PhoneItem>)>,
}

/// Store a new token, replacing the user's earlier one of its kind (creating `new_user` with
/// it, in the same transaction). `None` when the profile no longer has the address (or is
/// gone), or another request claimed the new address first: nothing was stored or sent, and
/// the flow looks the address (or the profile) up again.
async fn try_store(app: &App, t: NewToken<'_>, now: Millis) -> Result<Option<Issued>> {
    let phrase = if t.want_phrase {
        phrase(app.entropy.as_ref())
    } else {
        String::new()
    };
    let secret = t
        .fixed_secret
        .map_or_else(|| t.kind.new_secret(app.entropy.as_ref()), str::to_owned);
    let token = build(app, t.uid, t.kind, &secret, t.target, phrase, now);
    match app.store.issue_token(&token, t.new_user).await {
        Ok(()) => Ok(Some(Issued {
            token,
            secret,
            new_user: t.new_user.map(|(u, _, _)| u.clone()),
        })),
        Err(WriteError::Conflict(Conflict::Target)) => Ok(None),
        // A parallel request created the user for this new address first: look it up again.
        Err(WriteError::Conflict(Conflict::Email | Conflict::Phone)) if t.new_user.is_some() => {
            Ok(None)
        }
        Err(WriteError::Conflict(Conflict::UserLimit)) => {
            Err(Error::new(ErrorType::UserCountExceeded))
        }
        Err(WriteError::Conflict(Conflict::Phone)) => {
            Err(Error::new(ErrorType::UserPhoneAlreadyExists))
        }
        // Another user's OAuth2 identity uses the address (contract §4.6): the magic URL says
        // so, the email OTP stays vague, as Appwrite's do.
        Err(WriteError::Conflict(Conflict::IdentityEmail)) => Err(Error::new(match t.kind {
            Kind::MagicUrl => ErrorType::UserEmailAlreadyExists,
            _ => ErrorType::BadRequest,
        })),
        Err(WriteError::Conflict(_)) => Err(Error::new(ErrorType::UserAlreadyExists)),
        Err(WriteError::Other(e)) => Err(e),
    }
}

/// Where a magic link points when the client gives no `url`. Appwrite links to its console's
/// magic-URL page; we link to the same path under `PUBLIC_URL`, else the domain API Gateway
/// served the request on, never under the client's `Host` header (a forged Host would send the
/// victim's secret to the attacker).
pub fn default_magic_url(
    config: &crate::config::Config,
    gateway_domain: Option<&str>,
) -> Result<url::Url> {
    let base = match (&config.public_url, gateway_domain) {
        (Some(url), _) => url.clone(),
        (None, Some(domain)) => format!("https://{domain}"),
        (None, None) => "http://localhost".to_owned(),
    };
    url::Url::parse(&format!("{base}/auth/magic-url")).map_err(Error::internal)
}

/// `url` with `userId`, `secret`, `expire` and `project` appended, in that order.
pub fn link(base: &url::Url, uid: &str, secret: &str, expire: Millis, project: &str) -> String {
    let mut u = base.clone();
    u.query_pairs_mut()
        .append_pair("userId", uid)
        .append_pair("secret", secret)
        .append_pair("expire", &dates::format(expire))
        .append_pair("project", project);
    u.to_string()
}

async fn send_email(app: &App, locale: &str, m: Letter<'_>) -> Result<()> {
    let email = messages::email(&app.config.project_name, locale, m);
    app.outbox.email(&email).await
}

/// Email a link carrying `issued`'s secret to `to` (address, name) with `template`; a failed
/// send withdraws the token.
async fn send_link(
    cx: &Ctx<'_, '_>,
    locale: &str,
    template: &str,
    url: &url::Url,
    issued: &Issued,
    to: (&str, &str),
) -> Result<()> {
    let app = cx.app;
    let t = &issued.token;
    let l = link(
        url,
        &t.uid,
        &issued.secret,
        t.expire,
        &app.config.project_id,
    );
    let message = Letter {
        template,
        to: to.0,
        name: to.1,
        vars: &[("link", &l)],
        link: Some(&l),
        phrase: "",
    };
    deliver(app, issued, send_email(app, locale, message)).await
}

/// Deliver, or withdraw the token so nothing usable is left behind. (The message was admitted
/// by its budgets before the token was written: a refusal leaves the last token live.)
async fn deliver(
    app: &App,
    issued: &Issued,
    send: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    if let Err(e) = send.await {
        // Withdraw the token, and the user if this request created it: nothing half-made stays.
        let withdrawn = match &issued.new_user {
            Some(user) => app.store.withdraw_new_user(user, &issued.token).await,
            None => app.store.delete_token(&issued.token).await,
        };
        if let Err(del) = withdrawn {
            tracing::error!(error = %del, "could not withdraw an undelivered token");
        }
        return Err(e);
    }
    Ok(())
}

fn new_uid(app: &App, requested: &str, now: Millis) -> String {
    if requested == "unique()" {
        ids::unique(now, app.entropy.as_ref())
    } else {
        requested.to_owned()
    }
}

/// A login token for `token.target`: for the user whose claim holds it (`owner`), else for a
/// new user (`new_user` builds it from its ID) created in the same transaction. When the
/// address changed hands between the lookup and the write (its owner moved off it, or a
/// parallel request created its user), it is looked up again.
async fn login_token<Fut>(
    cx: &Ctx<'_, '_>,
    owner: impl Fn() -> Fut,
    token: NewToken<'_>,
    requested_uid: &str,
    new_user: impl Fn(&str) -> (UserItem, Option<EmailItem>, Option<PhoneItem>),
) -> Result<Issued>
where
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    // The message's budgets are counted once the route's own limit has let the request
    // through, before the token is written; a mock number's fixed code sends nothing.
    let channel = match token.kind.by_phone() {
        true => Channel::Sms,
        false => Channel::Email,
    };
    let mut admitted = token.fixed_secret.is_some();
    for _ in 0..ADDRESS_LOOKUPS {
        let owner = owner().await?;
        cx.gate.pass().await?;
        if !admitted {
            crate::budget::admit(cx, channel, token.target, Anyone).await?;
            admitted = true;
        }
        let stored = match owner {
            Some(uid) => try_store(cx.app, NewToken { uid: &uid, ..token }, cx.now).await?,
            None => {
                let uid = new_uid(cx.app, requested_uid, cx.now);
                let (user, email, phone) = new_user(&uid);
                let t = NewToken {
                    uid: &uid,
                    new_user: Some((&user, email.as_ref(), phone.as_ref())),
                    ..token
                };
                try_store(cx.app, t, cx.now).await?
            }
        };
        if let Some(issued) = stored {
            return Ok(issued);
        }
    }
    Err(Error::contended())
}

/// What `POST /account/tokens/email` and `/tokens/magic-url` ask for.
pub struct EmailLogin<'a> {
    pub kind: Kind,
    /// `userId` param: used only when the email is new (`unique()` generates one).
    pub requested_uid: &'a str,
    pub email: &'a str,
    /// Where the magic link points (magic URLs only).
    pub url: Option<&'a url::Url>,
    pub phrase: bool,
    pub locale: &'a str,
}

/// A login token for an email, creating a password-less user on first use.
pub async fn create_email_login(cx: &Ctx<'_, '_>, req: EmailLogin<'_>) -> Result<Issued> {
    let app = cx.app;
    let now = cx.now;
    if !app.outbox.mail_enabled() {
        return Err(Error::new(ErrorType::SmtpDisabled));
    }
    let token = NewToken {
        uid: "",
        kind: req.kind,
        target: req.email,
        fixed_secret: None,
        want_phrase: req.phrase,
        new_user: None,
    };
    let owner = || async { Ok(app.store.get_email(req.email).await?.map(|c| c.uid)) };
    let issued = login_token(cx, owner, token, req.requested_uid, |uid| {
        let mut user = UserItem::new(uid, now);
        user.email = Some(req.email.to_owned());
        user.targets
            .push(crate::account::target(app, "email", req.email, now));
        let claim = EmailItem::new(req.email, uid, None);
        (user, Some(claim), None)
    })
    .await?;
    let link_text = match (req.kind, req.url) {
        (Kind::MagicUrl, Some(u)) => Some(link(
            u,
            &issued.token.uid,
            &issued.secret,
            issued.token.expire,
            &app.config.project_id,
        )),
        _ => None,
    };
    let (template, vars): (&str, Vec<(&str, &str)>) = match &link_text {
        Some(l) => ("magicSession", vec![("link", l.as_str())]),
        None => ("emailOtp", vec![("otp", issued.secret.as_str())]),
    };
    let message = Letter {
        template,
        to: req.email,
        name: "",
        vars: &vars,
        link: link_text.as_deref(),
        phrase: &issued.token.phrase,
    };
    deliver(app, &issued, send_email(app, req.locale, message)).await?;
    Ok(issued)
}

/// `POST /account/tokens/phone`: a login code by SMS (or a mock number's fixed code, no SMS).
pub async fn create_phone_login(
    cx: &Ctx<'_, '_>,
    requested_uid: &str,
    phone: &str,
) -> Result<Issued> {
    let app = cx.app;
    let locale = cx.locale;
    let now = cx.now;
    let mock = app.config.mock_otp(phone).map(str::to_owned);
    if mock.is_none() && !app.outbox.sms_enabled() {
        return Err(Error::new(ErrorType::PhoneDisabled));
    }
    if mock.is_none() {
        // Before anything is written: no user or token for a number we will not text.
        crate::budget::sms_country_allowed(cx, phone)?;
    }
    let token = NewToken {
        uid: "",
        kind: Kind::Phone,
        target: phone,
        fixed_secret: mock.as_deref(),
        want_phrase: false,
        new_user: None,
    };
    let owner = || async { Ok(app.store.get_phone(phone).await?.map(|c| c.uid)) };
    let issued = login_token(cx, owner, token, requested_uid, |uid| {
        let mut user = UserItem::new(uid, now);
        user.phone = Some(phone.to_owned());
        user.targets
            .push(crate::account::target(app, "sms", phone, now));
        (user, None, Some(PhoneItem::new(phone, uid)))
    })
    .await?;
    if mock.is_none() {
        let sms = messages::code_sms(&app.config.project_name, locale, phone, &issued.secret);
        deliver(app, &issued, app.outbox.text(&sms)).await?;
    }
    Ok(issued)
}

/// Where a redemption's guessing budget is kept. Only short codes have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuardScope {
    /// Email-OTP and phone login codes (`POST /account/sessions/token` and aliases).
    LoginCode,
    /// Phone-verification codes.
    PhoneVerification,
}

impl GuardScope {
    fn as_str(self) -> &'static str {
        match self {
            Self::LoginCode => "login-code",
            Self::PhoneVerification => "verify-phone",
        }
    }
}

/// A token that `secret` opened, with the profile read beside it.
struct Found {
    user: UserItem,
    token: TokenItem,
    kind: Kind,
    /// The guard this attempt was counted in (a right code clears it).
    guard: Option<String>,
}

/// The profile's current address for a token of `kind`.
fn address_of(user: &UserItem, kind: Kind) -> Option<&str> {
    if kind.by_phone() {
        user.phone.as_deref()
    } else {
        user.email.as_deref()
    }
}

/// The profile condition that binds a redemption to the address its token was sent to.
fn bound_to(token: &TokenItem, kind: Kind) -> Expect {
    if kind.by_phone() {
        Expect::Phone(token.target.clone())
    } else {
        Expect::Email(token.target.clone())
    }
}

fn invalid_token() -> Error {
    Error::new(ErrorType::UserInvalidToken)
}

/// Find the live token among `kinds` that `secret` opens. With a guard, one attempt is reserved
/// first (beside the read, so no added latency); once the budget is spent even the right code is
/// refused. A token whose address is no longer the profile's is refused.
/// What a redemption presents and may open.
struct Lookup<'a> {
    uid: &'a str,
    secret: &'a str,
    kinds: &'a [Kind],
    guard: Option<GuardScope>,
    /// The error when `uid` names no user.
    missing_user: ErrorType,
}

async fn find(app: &App, gate: &Gate<'_, '_>, q: Lookup<'_>, now: Millis) -> Result<Found> {
    let Lookup {
        uid,
        secret,
        kinds,
        guard,
        missing_user,
    } = q;
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let (window_start, window_end) = crate::dates::window(now, 3600);
    let guard_sk = guard.map(|g| item::guard_sk(g.as_str(), window_start));
    let reserve = async {
        match &guard_sk {
            None => Ok(true),
            Some(sk) => {
                app.store
                    .reserve_attempt(uid, sk, CODE_ATTEMPTS_PER_HOUR, window_end)
                    .await
            }
        }
    };
    let (read, admitted) = tokio::join!(app.store.get_redeemable(uid, &names), reserve);
    let (r, admitted) = (read?, admitted?);
    gate.pass().await?;
    let Some(user) = r.user else {
        return Err(Error::new(missing_user));
    };
    if !admitted {
        return Err(invalid_token());
    }
    // Compare with every candidate, so timing does not tell which kinds are outstanding.
    let mut matched = None;
    for t in r.tokens {
        if secret_matches(&app.config.keys, secret, &t.secret_hash) {
            matched = Some(t);
        }
    }
    let token = matched
        .filter(|t| t.expire > now)
        .ok_or_else(invalid_token)?;
    let kind = Kind::parse(&token.kind)
        .filter(|k| kinds.contains(k))
        .ok_or_else(invalid_token)?;
    // OAuth2 secrets are bound to their provider (the target), not to an address.
    if kind != Kind::OAuth2 && address_of(&user, kind) != Some(token.target.as_str()) {
        return Err(invalid_token());
    }
    Ok(Found {
        user,
        token,
        kind,
        guard: guard_sk,
    })
}

fn redeem_error(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(_) => invalid_token(),
        WriteError::Other(e) => e,
    }
}

/// The profile again, after a conflicting write, still bound to the token's address.
async fn reread(app: &App, found: &Found) -> Result<UserItem> {
    let (user, _) = app
        .store
        .get_user_and_sessions(&found.token.uid, &[])
        .await?;
    user.filter(|u| address_of(u, found.kind) == Some(found.token.target.as_str()))
        .ok_or_else(invalid_token)
}

/// What an ownership proof takes from whoever held the account before: the password, the MFA
/// authenticator and recovery codes (the owner sets new ones), the other address, verified or
/// not (its holder could log back in through it; the owner can add it again), and a live OAuth2
/// token-mode secret (a linked provider account's sign-in in flight). Returns the claim changes
/// that go in the same transaction; the identities themselves go too (`Redemption`).
fn revoke_unproven(changed: &mut UserItem, kind: Kind) -> Claims {
    let mut claims = Claims {
        revoke_tokens: vec![Kind::OAuth2.as_str()],
        ..Claims::default()
    };
    changed.password = None;
    changed.totp = None;
    changed.recovery_codes = None;
    changed.mfa = false;
    if kind.by_phone() {
        if let Some(email) = changed.email.take() {
            changed.email_verification = false;
            changed.targets.retain(|t| t.provider_type != "email");
            claims.delete_email = Some(email);
            claims.revoke_tokens.extend(EMAIL_KINDS);
        }
    } else {
        if let Some(email) = &changed.email {
            claims.email_password = Some((email.clone(), None));
        }
        if let Some(phone) = changed.phone.take() {
            changed.phone_verification = false;
            changed.targets.retain(|t| t.provider_type != "sms");
            claims.delete_phone = Some(phone);
            claims.revoke_tokens.extend(PHONE_KINDS);
        }
    }
    claims
}

/// Token mode's second step: the 60-second OAuth2 secret becomes a session carrying the
/// provider, the provider account and its tokens (copied from the identity, still sealed).
async fn oauth2_session(
    cx: &Ctx<'_, '_>,
    uid: &str,
    secret: &str,
    provider: &str,
) -> Result<NewSession> {
    let app = cx.app;
    let q = Lookup {
        uid,
        secret,
        kinds: &[Kind::OAuth2],
        guard: None,
        missing_user: ErrorType::UserInvalidToken,
    };
    let (found, identities) = tokio::join!(
        find(app, &cx.gate, q, cx.now),
        app.store.list_identities(uid)
    );
    let found = found?;
    if found.token.target != provider {
        return Err(invalid_token());
    }
    if !found.user.status {
        return Err(Error::new(ErrorType::UserBlocked));
    }
    let identity = identities?.into_iter().find(|i| i.provider == provider);
    let provider_uid = identity
        .as_ref()
        .map(|i| i.provider_uid.as_str())
        .unwrap_or("");
    let mut new = session::build(cx, uid, provider, provider_uid, &["email"]);
    if let Some(i) = &identity {
        new.item.provider_access_token = i.access_token_sealed.clone();
        new.item.provider_refresh_token = i.refresh_token_sealed.clone();
        new.item.provider_access_token_expiry = i.access_token_expiry;
    }
    let mut changed = found.user.clone();
    changed.accessed = cx.now;
    let r = Redemption {
        session: Some(&new.item),
        user_change: Some((&found.user, &changed)),
        // An ownership proof committed since the secret was found revoked it; this condition
        // also refuses a secret whose identity the proof deleted after it was read.
        expect: vec![Expect::Accessed(found.user.accessed)],
        ..Redemption::default()
    };
    let log = crate::audit::for_user(cx, crate::audit::event::SESSION_CREATE, &found.user);
    let write = async {
        app.store
            .redeem(&found.token, cx.now, r)
            .await
            .map_err(redeem_error)
    };
    crate::audit::logged(cx, vec![log], write).await?;
    if let Ok(index) = app.store.session_index(uid).await {
        session::enforce_limit(cx, uid, &new.item.id, index).await?;
    }
    Ok(new)
}

/// `POST /account/sessions/token` (and the deprecated `PUT /account/sessions/magic-url|phone`):
/// exchange a login token for a session. One read (‖ the guard reservation for codes), then one
/// transaction that deletes the token, writes the session and marks the email/phone verified.
///
/// Ownership proof: if the address was not verified before, this login is the first proof that
/// its owner holds the account, and whoever registered it may not be the owner. The same
/// transaction then deletes every earlier session and the password (conditioned on no session
/// having been created since they were read; a conflict re-reads and retries).
pub async fn create_session(cx: &Ctx<'_, '_>, uid: &str, secret: &str) -> Result<NewSession> {
    if secret.contains('.') {
        // OAuth2 token mode: the wrapped secret the success URL received.
        let (inner, provider) =
            unwrap_oauth2_secret(&cx.app.config.keys, secret, cx.now).ok_or_else(invalid_token)?;
        return oauth2_session(cx, uid, &inner, &provider).await;
    }
    let app = cx.app;
    let gate = &cx.gate;
    let _client = cx.client;
    let now = cx.now;
    let (kinds, guard): (&[Kind], _) = if secret.len() <= MAX_CODE_LEN {
        (&[Kind::EmailOtp, Kind::Phone], Some(GuardScope::LoginCode))
    } else {
        (&[Kind::MagicUrl], None)
    };
    let q = Lookup {
        uid,
        secret,
        kinds,
        guard,
        missing_user: ErrorType::UserInvalidToken,
    };
    let found = find(app, gate, q, now).await?;
    let kind = found.kind;
    let (provider, factor) = kind.session().ok_or_else(invalid_token)?;
    let new = session::build(cx, uid, provider, &found.token.target, &[factor]);
    let log = crate::audit::for_user(cx, crate::audit::event::SESSION_CREATE, &found.user);
    // Returns whether this login was an ownership proof (earlier sessions are gone).
    let write = async {
        let mut user = found.user.clone();
        for attempt in 0..3 {
            if attempt > 0 {
                user = reread(app, &found).await?;
            }
            let unproven = if kind.by_phone() {
                !user.phone_verification
            } else {
                !user.email_verification
            };
            // Anything but this proof that could reach the account makes it a proof: a
            // password, a session (ever made, or live), a linked identity. Only an unproven
            // address pays for the reads.
            let (index, identities) = match unproven {
                true => {
                    let (ix, ids) =
                        tokio::join!(app.store.session_index(uid), app.store.list_identities(uid));
                    (ix?, ids?)
                }
                false => (vec![], vec![]),
            };
            let proof = unproven
                && (user.password.is_some()
                    || user.accessed > user.registration
                    || !index.is_empty()
                    || !identities.is_empty());
            let mut changed = user.clone();
            changed.accessed = now;
            match kind {
                Kind::Phone => changed.phone_verification = true,
                _ => changed.email_verification = true,
            }
            let mut r = Redemption {
                session: Some(&new.item),
                expect: vec![bound_to(&found.token, kind)],
                clear_guard: found.guard.clone(),
                ..Redemption::default()
            };
            if unproven {
                // No session or link may appear between these reads and the write.
                r.expect.push(Expect::Accessed(user.accessed));
            }
            if proof {
                r.delete_sessions = index.into_iter().map(|(id, _)| id).collect();
                r.delete_identities = identities;
                r.claims = revoke_unproven(&mut changed, kind);
            }
            r.user_change = Some((&user, &changed));
            match app.store.redeem(&found.token, now, r).await {
                Ok(()) => return Ok(proof),
                Err(WriteError::Conflict(Conflict::ProfileCondition)) if attempt < 2 => continue,
                Err(WriteError::Conflict(Conflict::ProfileCondition)) => {
                    return Err(Error::contended())
                }
                Err(e) => return Err(redeem_error(e)),
            }
        }
        Err(Error::contended())
    };
    let (written, index) = tokio::join!(
        crate::audit::logged(cx, vec![log], write),
        app.store.session_index(uid)
    );
    let proof = written?;
    if let (false, Ok(index)) = (proof, index) {
        let others = index.iter().filter(|(id, _)| *id != new.item.id).count();
        session::enforce_limit(cx, uid, &new.item.id, index).await?;
        // Alerts only for sessions that did not prove the email itself (phone codes).
        if let (true, Kind::Phone, Some(email)) = (
            app.config.session_alerts && others > 0,
            kind,
            found.user.email.as_deref(),
        ) {
            session::alert(cx, email, &found.user.name, &new.item).await;
        }
    }
    Ok(new)
}

/// `POST /account/verifications/email`.
pub async fn create_email_verification(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    url: &url::Url,
) -> Result<Issued> {
    let app = cx.app;
    let locale = cx.locale;
    let now = cx.now;
    if !app.outbox.mail_enabled() {
        return Err(Error::new(ErrorType::SmtpDisabled));
    }
    let mut user = user.clone();
    if let Some(email) = user.email.as_deref().filter(|_| !user.email_verification) {
        // Before the token is written: a refusal leaves the last link live.
        crate::budget::admit(cx, Channel::Email, email, Anyone).await?;
    }
    for _ in 0..ADDRESS_LOOKUPS {
        let Some(email) = user.email.clone().filter(|e| !e.is_empty()) else {
            return Err(Error::new(ErrorType::UserEmailNotFound));
        };
        if user.email_verification {
            return Err(Error::new(ErrorType::UserEmailAlreadyVerified));
        }
        let Some(issued) =
            verification(app, &mut user, Kind::VerifyEmail, &email, None, now).await?
        else {
            continue;
        };
        let to = (email.as_str(), user.name.as_str());
        send_link(cx, locale, "verification", url, &issued, to).await?;
        return Ok(issued);
    }
    Err(Error::contended())
}

/// `POST /account/verifications/phone`.
pub async fn create_phone_verification(cx: &Ctx<'_, '_>, user: &UserItem) -> Result<Issued> {
    let app = cx.app;
    let locale = cx.locale;
    let now = cx.now;
    let mut user = user.clone();
    let mut admitted = false;
    for _ in 0..ADDRESS_LOOKUPS {
        let Some(phone) = user.phone.clone().filter(|p| !p.is_empty()) else {
            return Err(Error::new(ErrorType::UserPhoneNotFound));
        };
        let mock = app.config.mock_otp(&phone).map(str::to_owned);
        if mock.is_none() && !app.outbox.sms_enabled() {
            return Err(Error::new(ErrorType::PhoneDisabled));
        }
        if user.phone_verification {
            return Err(Error::new(ErrorType::UserPhoneAlreadyVerified));
        }
        if mock.is_none() && !admitted {
            // Before the code is stored: a refusal leaves the last code live.
            crate::budget::admit(cx, Channel::Sms, &phone, Anyone).await?;
            admitted = true;
        }
        let fixed = mock.as_deref();
        let Some(issued) =
            verification(app, &mut user, Kind::VerifyPhone, &phone, fixed, now).await?
        else {
            continue;
        };
        if mock.is_none() {
            let sms = messages::code_sms(&app.config.project_name, locale, &phone, &issued.secret);
            deliver(app, &issued, app.outbox.text(&sms)).await?;
        }
        return Ok(issued);
    }
    Err(Error::contended())
}

/// Store a verification token for `user`'s `target`; `None` when the profile changed under
/// the request, with `user` read again to decide on.
async fn verification(
    app: &App,
    user: &mut UserItem,
    kind: Kind,
    target: &str,
    fixed_secret: Option<&str>,
    now: Millis,
) -> Result<Option<Issued>> {
    let t = NewToken {
        uid: &user.id,
        kind,
        target,
        fixed_secret,
        want_phrase: false,
        new_user: None,
    };
    let issued = try_store(app, t, now).await?;
    if issued.is_none() {
        *user = profile_again(app, &user.id).await?;
    }
    Ok(issued)
}

/// The profile again, after a token write found it changed under the request (its address
/// moved): the request is then decided on what is stored, as if it had come a moment later.
async fn profile_again(app: &App, uid: &str) -> Result<UserItem> {
    app.store
        .get_user_and_sessions(uid, &[])
        .await?
        .0
        .ok_or_else(|| Error::new(ErrorType::UserNotFound))
}

/// `PUT /account/verifications/email|phone`: mark the channel verified and consume the token,
/// if the profile still has the address the token was sent to.
pub async fn confirm_verification(
    cx: &Ctx<'_, '_>,
    kind: Kind,
    uid: &str,
    secret: &str,
) -> Result<TokenItem> {
    let app = cx.app;
    let gate = &cx.gate;
    let now = cx.now;
    let guard = kind.is_code().then_some(GuardScope::PhoneVerification);
    let q = Lookup {
        uid,
        secret,
        kinds: &[kind],
        guard,
        missing_user: ErrorType::UserNotFound,
    };
    let found = find(app, gate, q, now).await?;
    let mut changed = found.user.clone();
    changed.updated = now;
    match kind {
        Kind::VerifyPhone => changed.phone_verification = true,
        _ => changed.email_verification = true,
    }
    let r = Redemption {
        user_change: Some((&found.user, &changed)),
        expect: vec![bound_to(&found.token, kind)],
        clear_guard: found.guard.clone(),
        ..Redemption::default()
    };
    app.store
        .redeem(&found.token, now, r)
        .await
        .map_err(redeem_error)?;
    Ok(found.token)
}

/// `POST /account/recovery`: a reset link for an existing, unblocked user.
pub async fn create_recovery(cx: &Ctx<'_, '_>, email: &str, url: &url::Url) -> Result<Issued> {
    let app = cx.app;
    let gate = &cx.gate;
    let _client = cx.client;
    let locale = cx.locale;
    let now = cx.now;
    if !app.outbox.mail_enabled() {
        return Err(Error::new(ErrorType::SmtpDisabled));
    }
    let claim = app
        .store
        .get_email(email)
        .await?
        .ok_or_else(|| Error::new(ErrorType::UserNotFound));
    gate.pass().await?;
    let claim = claim?;
    let (user, _) = app.store.get_user_and_sessions(&claim.uid, &[]).await?;
    let user = user.ok_or_else(|| Error::new(ErrorType::UserNotFound))?;
    if !user.status {
        return Err(Error::new(ErrorType::UserBlocked));
    }
    // Before the link is stored: a refusal leaves the last link live.
    crate::budget::admit(cx, Channel::Email, email, Anyone).await?;
    let log = crate::audit::for_user(cx, crate::audit::event::RECOVERY_CREATE, &user);
    let send = async {
        let issued = store_recovery(app, &user, email, now).await?;
        send_link(cx, locale, "recovery", url, &issued, (email, &user.name)).await?;
        Ok(issued)
    };
    let issued = crate::audit::logged(cx, vec![log], send).await?;
    Ok(issued)
}

/// Store a recovery link for `user`, bound to `email` and to the password it has now. When the
/// profile changed under the request, it is read again: an email that moved away answers as if
/// it had moved before (`user_not_found`); a password changed meanwhile gets a link stamped
/// after the change (the link was asked for by whoever reads that mailbox, like one asked for
/// a moment later).
async fn store_recovery(app: &App, user: &UserItem, email: &str, now: Millis) -> Result<Issued> {
    let mut now = now;
    for _ in 0..ADDRESS_LOOKUPS {
        let t = NewToken {
            uid: &user.id,
            kind: Kind::Recovery,
            target: email,
            fixed_secret: None,
            want_phrase: false,
            new_user: None,
        };
        if let Some(issued) = try_store(app, t, now).await? {
            return Ok(issued);
        }
        let fresh = profile_again(app, &user.id).await?;
        if fresh.email.as_deref() != Some(email) {
            return Err(Error::new(ErrorType::UserNotFound));
        }
        if !fresh.status {
            return Err(Error::new(ErrorType::UserBlocked));
        }
        // Stamped after the change, but never more than a second ahead of this clock: another
        // function's clock far ahead would otherwise stretch the link's lifetime.
        let clock = app.clock.now_ms();
        now = now
            .max(clock)
            .max(fresh.password_update.unwrap_or(0).min(clock + 1_000));
    }
    Err(Error::contended())
}

/// `PUT /account/recovery`: set the new password (and verify the email: the user proved they
/// read it) and consume the token, in one transaction that also deletes the user's sessions
/// (all of them with `INVALIDATE_SESSIONS`, or when the email was unverified: an ownership
/// proof). The transaction is conditioned on no session having been created since the sessions
/// were listed; a conflict re-reads and retries, so the answer is never "password changed,
/// sessions kept".
pub async fn complete_recovery(
    cx: &Ctx<'_, '_>,
    uid: &str,
    secret: &str,
    password: &str,
) -> Result<TokenItem> {
    let app = cx.app;
    let gate = &cx.gate;
    let now = cx.now;
    let q = Lookup {
        uid,
        secret,
        kinds: &[Kind::Recovery],
        guard: None,
        missing_user: ErrorType::UserNotFound,
    };
    let found = find(app, gate, q, now).await?;
    let policy = &app.config.password_policy;
    crate::password::check_history(policy, &found.user.password_history, password).await?;
    let revoke = app.config.invalidate_sessions || !found.user.email_verification;
    // What goes with the password change: the sessions (revoked), and, as an ownership proof
    // of an unverified email, the linked identities.
    let holdings = |proof: bool| async move {
        let (ix, ids) = tokio::join!(
            async {
                match revoke {
                    true => app.store.session_index(uid).await.map(Some),
                    false => Ok(None),
                }
            },
            async {
                match proof {
                    true => app.store.list_identities(uid).await,
                    false => Ok(vec![]),
                }
            }
        );
        Ok::<_, Error>((ix?, ids?))
    };
    let (phc, held) = tokio::join!(
        crypto::hash_password_async(password.to_owned(), app.entropy.clone()),
        holdings(!found.user.email_verification)
    );
    let phc = phc.map_err(Error::internal)?;
    let (mut index, mut identities) = held?;
    let mut user = found.user.clone();
    for attempt in 0..3 {
        if attempt > 0 {
            user = reread(app, &found).await?;
            (index, identities) = holdings(!user.email_verification).await?;
        }
        let mut changed = user.clone();
        // Recovery proves the email too: an unproven holder's phone and MFA go, as in a login.
        let mut claims = if user.email_verification {
            Claims::default()
        } else {
            revoke_unproven(&mut changed, Kind::Recovery)
        };
        claims.email_password = Some((found.token.target.clone(), Some(phc.clone())));
        crate::password::remember(policy, &mut changed.password_history, &phc);
        changed.password = Some(phc.clone());
        changed.password_update = Some(now);
        changed.email_verification = true;
        changed.updated = now;
        let mut r = Redemption {
            user_change: Some((&user, &changed)),
            expect: vec![Expect::Email(found.token.target.clone())],
            claims,
            ..Redemption::default()
        };
        if let Some(ix) = &index {
            r.delete_sessions = ix.iter().map(|(id, _)| id.clone()).collect();
            r.expect.push(Expect::Accessed(user.accessed));
        }
        r.delete_identities = identities.clone();
        match app.store.redeem(&found.token, now, r).await {
            Ok(()) => return Ok(found.token),
            Err(WriteError::Conflict(Conflict::ProfileCondition)) if attempt < 2 => continue,
            Err(WriteError::Conflict(Conflict::ProfileCondition)) => return Err(Error::contended()),
            Err(e) => return Err(redeem_error(e)),
        }
    }
    Err(Error::contended())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WrappedSecret {
    secret: String,
    provider: String,
    exp: i64,
}

/// Token mode's `secret` parameter, as Appwrite shapes it: an HS256 JWT `{secret, provider, exp}`
/// that expires with the token (60 s).
pub fn wrap_oauth2_secret(
    keys: &Keyring,
    secret: &str,
    provider: &str,
    now: Millis,
) -> Result<String> {
    let claims = WrappedSecret {
        secret: secret.to_owned(),
        provider: provider.to_owned(),
        exp: now / 1000 + OAUTH2_TOKEN_SECS,
    };
    crate::jwt::sign(keys, Purpose::OAuth2Secret, &claims)
}

/// The secret and provider inside a token-mode `secret`, if it is one of ours and unexpired.
pub fn unwrap_oauth2_secret(
    keys: &Keyring,
    wrapped: &str,
    now: Millis,
) -> Option<(String, String)> {
    let claims: WrappedSecret = crate::jwt::open(keys, Purpose::OAuth2Secret, wrapped).ok()?;
    (claims.exp * 1000 > now).then_some((claims.secret, claims.provider))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wrapped_secret_fits_appwrites_secret_param_for_every_provider() {
        // The longest key ID a ring accepts, every provider key, a real secret.
        let k = Keyring::parse("abcdefghijklmnop:0123456789abcdef0123456789abcdef").unwrap();
        let secret = Kind::OAuth2.new_secret(&crate::clock::OsEntropy);
        assert_eq!(secret.len(), 43);
        for key in crate::providers::APPWRITE_KEYS {
            let w = wrap_oauth2_secret(&k, &secret, key, 4_102_444_800_000).unwrap();
            assert!(w.len() <= 256, "{key}: {} characters", w.len());
        }
    }

    #[test]
    fn token_secrets_are_ours_and_expire() {
        let k = Keyring::parse("k1:0123456789abcdef0123456789abcdef").unwrap();
        let other = Keyring::parse("k1:fedcba9876543210fedcba9876543210").unwrap();
        let w = wrap_oauth2_secret(&k, "abc", "github", 1_000_000).unwrap();
        assert_eq!(
            unwrap_oauth2_secret(&k, &w, 1_000_000),
            Some(("abc".into(), "github".into()))
        );
        assert_eq!(
            unwrap_oauth2_secret(&k, &w, 1_000_000 + OAUTH2_TOKEN_SECS * 1000),
            None
        );
        assert_eq!(unwrap_oauth2_secret(&other, &w, 1_000_000), None);
        // An account JWT of the same ring is not a wrapped secret.
        let jwt = crate::jwt::issue(&k, "u1", "s1", 900, 1_000_000).unwrap();
        assert_eq!(unwrap_oauth2_secret(&k, &jwt, 1_000_000), None);
    }

    use super::*;
    use crate::clock::SeqEntropy;

    #[test]
    fn secrets_have_contract_shapes() {
        let e = SeqEntropy::default();
        assert_eq!(Kind::MagicUrl.new_secret(&e).len(), 64);
        assert_eq!(Kind::Recovery.new_secret(&e).len(), 256);
        assert_eq!(Kind::VerifyEmail.new_secret(&e).len(), 256);
        let o = Kind::EmailOtp.new_secret(&e);
        assert!(o.len() == 6 && o.bytes().all(|b| b.is_ascii_digit()), "{o}");
    }

    #[test]
    fn hmac_is_keyed() {
        let a = Keyring::parse("k:0123456789abcdef0123456789abcdef").unwrap();
        let b = Keyring::parse("k:fedcba9876543210fedcba9876543210").unwrap();
        assert_ne!(secret_hash(&a, "123456"), secret_hash(&b, "123456"));
        assert_eq!(secret_hash(&a, "123456").len(), "k:".len() + 64);
        assert!(secret_matches(&a, "123456", &secret_hash(&a, "123456")));
        assert!(!secret_matches(&b, "123456", &secret_hash(&a, "123456")));
    }

    #[test]
    fn link_appends_in_order() {
        let base = url::Url::parse("http://localhost/magic?existing=1").unwrap();
        let l = link(&base, "u1", "s3cr3t", 1_602_743_880_000, "p");
        assert_eq!(l, "http://localhost/magic?existing=1&userId=u1&secret=s3cr3t&expire=2020-10-15T06%3A38%3A00.000%2B00%3A00&project=p");
    }

    #[test]
    fn phrase_shape() {
        let p = phrase(&SeqEntropy::default());
        let words: Vec<&str> = p.split(' ').collect();
        assert_eq!(words.len(), 2);
        assert!(words[0].chars().next().unwrap().is_uppercase());
    }

    #[test]
    fn default_magic_link_from_configuration_then_gateway() {
        let mut c = crate::config::Config::default();
        let url = |c: &crate::config::Config, d| default_magic_url(c, d).unwrap().to_string();
        assert_eq!(url(&c, None), "http://localhost/auth/magic-url");
        assert_eq!(
            url(&c, Some("abc.execute-api.eu-west-1.amazonaws.com")),
            "https://abc.execute-api.eu-west-1.amazonaws.com/auth/magic-url"
        );
        c.public_url = Some("https://api.example.com".into());
        assert_eq!(
            url(&c, Some("abc.execute-api.eu-west-1.amazonaws.com")),
            "https://api.example.com/auth/magic-url"
        );
    }

    #[test]
    fn kind_lists_match_the_kinds() {
        for k in EMAIL_KINDS.iter().chain(PHONE_KINDS) {
            let kind = Kind::parse(k).unwrap();
            assert_eq!(kind.by_phone(), PHONE_KINDS.contains(k), "{k}");
        }
        assert_eq!(EMAIL_KINDS.len() + PHONE_KINDS.len(), 6);
    }

    #[test]
    fn only_login_tokens_make_sessions() {
        assert!(
            Kind::MagicUrl.session().is_some()
                && Kind::EmailOtp.session().is_some()
                && Kind::Phone.session().is_some()
        );
        assert!(Kind::VerifyPhone.session().is_none() && Kind::Recovery.session().is_none());
    }
}
