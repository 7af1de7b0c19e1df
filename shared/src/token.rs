//! One-time secrets: magic URLs, email and phone OTPs, email/phone verification and password
//! recovery.
//!
//! Security model:
//! * A secret is stored only as HMAC-SHA256(`SECRET_KEY`, secret), which is also its item key
//!   (`USER#<uid>` / `TOKEN#<hmac>`): redemption reads it directly, and a stolen table does not
//!   reveal 6-digit codes to a dictionary attack.
//! * A token is valid until `expire`, whatever TTL has or has not deleted.
//! * Single use under concurrency: redemption deletes the token in the same transaction that
//!   applies its effect, conditioned on the token still existing and being unexpired.
//! * Guessing is bounded: after [`MAX_FAILURES`] wrong secrets for a user, every redemption for
//!   that user fails until a new token is issued (issuing resets the count). With 6-digit codes
//!   an attacker's chance is 5 in a million per issued code.
//!
//! ```text
//!  issue ──► [stored, failures = 0] ──redeem ok──► consumed (deleted with the effect, atomically)
//!                 │  wrong secret: failures += 1
//!                 └─ failures ≥ 5 ─► every redemption refused until the next issue
//! ```

use crate::api::{Client, Gate};
use crate::app::App;
use crate::clock::{Entropy, Millis};
use crate::error::{Error, ErrorType, Result};
use crate::item::{self, EmailItem, PhoneItem, TokenItem, UserItem};
use crate::outbox::{Email, Sms};
use crate::session::{self, NewSession};
use crate::store::{Claims, Conflict, WriteError};
use crate::{crypto, dates, ids, templates};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Wrong secrets accepted per user between two issued tokens.
pub const MAX_FAILURES: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MagicUrl,
    EmailOtp,
    Phone,
    VerifyEmail,
    VerifyPhone,
    Recovery,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicUrl => "magic-url",
            Self::EmailOtp => "email-otp",
            Self::Phone => "phone",
            Self::VerifyEmail => "verify-email",
            Self::VerifyPhone => "verify-phone",
            Self::Recovery => "recovery",
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
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Lifetimes from the contract (§1.7).
    pub fn lifetime_secs(self) -> i64 {
        match self {
            Self::EmailOtp | Self::Phone => 900,
            Self::MagicUrl | Self::VerifyEmail | Self::VerifyPhone | Self::Recovery => 3600,
        }
    }

    fn new_secret(self, entropy: &dyn Entropy) -> String {
        match self {
            Self::MagicUrl => crypto::random_hex(entropy, 32),
            Self::EmailOtp | Self::Phone | Self::VerifyPhone => otp(entropy),
            Self::VerifyEmail | Self::Recovery => crypto::random_hex(entropy, 128),
        }
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

/// HMAC-SHA256 of a secret under the server key, hex.
pub fn secret_hash(key: &str, secret: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(secret.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; this branch cannot run.
        Err(_) => crypto::sha256_hex(secret),
    }
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

/// A stored token and its secret (returned once).
pub struct Issued {
    pub token: TokenItem,
    pub secret: String,
    /// The user created together with this token (first token for a new address).
    pub new_user: Option<UserItem>,
}

fn build(app: &App, uid: &str, kind: Kind, secret: &str, phrase: String, now: Millis) -> TokenItem {
    let expire = now + kind.lifetime_secs() * 1000;
    TokenItem {
        pk: item::user_pk(uid),
        sk: item::token_sk(&secret_hash(&app.config.secret_key, secret)),
        id: ids::unique(now, app.entropy.as_ref()),
        uid: uid.to_owned(),
        kind: kind.as_str().to_owned(),
        created: now,
        expire,
        expires_at: expire / 1000,
        phrase,
    }
}

/// Store a new token (creating `new_user` with it, in the same transaction). A secret that
/// collides with a live token of the same user is drawn again.
async fn store_new(
    app: &App,
    uid: &str,
    kind: Kind,
    fixed_secret: Option<&str>,
    want_phrase: bool,
    new_user: Option<(&UserItem, Option<&EmailItem>, Option<&PhoneItem>)>,
    now: Millis,
) -> Result<Issued> {
    let phrase = if want_phrase {
        phrase(app.entropy.as_ref())
    } else {
        String::new()
    };
    for _ in 0..3 {
        let secret =
            fixed_secret.map_or_else(|| kind.new_secret(app.entropy.as_ref()), str::to_owned);
        let token = build(app, uid, kind, &secret, phrase.clone(), now);
        match app.store.issue_token(&token, new_user).await {
            Ok(()) => {
                let new_user = new_user.map(|(u, _, _)| u.clone());
                return Ok(Issued {
                    token,
                    secret,
                    new_user,
                });
            }
            Err(WriteError::Conflict(Conflict::Token)) if fixed_secret.is_none() => continue,
            Err(WriteError::Conflict(Conflict::Token)) => {
                // A mock number's fixed OTP is still live: replace it.
                let old = build(app, uid, kind, &secret, String::new(), now);
                app.store.delete_token(&old).await?;
            }
            Err(WriteError::Conflict(Conflict::UserLimit)) => {
                return Err(Error::new(ErrorType::UserCountExceeded))
            }
            Err(WriteError::Conflict(Conflict::Email)) => {
                return Err(Error::new(ErrorType::UserAlreadyExists))
            }
            Err(WriteError::Conflict(Conflict::Phone)) => {
                return Err(Error::new(ErrorType::UserPhoneAlreadyExists))
            }
            Err(WriteError::Conflict(_)) => return Err(Error::new(ErrorType::UserAlreadyExists)),
            Err(WriteError::Other(e)) => return Err(e),
        }
    }
    Err(Error::internal("could not draw a unique token secret"))
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

fn greeting_name(locale: &str, name: &str) -> String {
    if name.is_empty() {
        templates::render(locale, "greeting.fallback", &[])
    } else {
        name.to_owned()
    }
}

/// An email to render from the `<template>.subject` / `<template>.body` pair.
struct Message<'a> {
    template: &'a str,
    to: &'a str,
    /// The recipient's name (greeting and `To:` display name), may be empty.
    name: &'a str,
    vars: &'a [(&'a str, &'a str)],
    link: Option<&'a str>,
    phrase: &'a str,
}

async fn send_email(app: &App, locale: &str, m: Message<'_>) -> Result<()> {
    let project = app.config.project_name.as_str();
    let greeting = greeting_name(locale, m.name);
    let mut all: Vec<(&str, &str)> = vec![("project", project), ("name", &greeting)];
    all.extend_from_slice(m.vars);
    let mut text = templates::render(locale, &format!("{}.body", m.template), &all);
    if !m.phrase.is_empty() {
        text.push_str("\n\n");
        text.push_str(&templates::render(
            locale,
            "phrase.line",
            &[("phrase", m.phrase)],
        ));
    }
    let email = Email {
        to: m.to.to_owned(),
        to_name: m.name.to_owned(),
        subject: templates::render(locale, &format!("{}.subject", m.template), &all),
        html: templates::html(&text, m.link),
        text,
    };
    app.outbox.email(&email).await
}

/// Deliver, or withdraw the token so nothing usable is left behind.
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
pub async fn create_email_login(
    app: &App,
    gate: &Gate<'_, '_>,
    req: EmailLogin<'_>,
    now: Millis,
) -> Result<Issued> {
    if !app.outbox.mail_enabled() {
        return Err(Error::new(ErrorType::SmtpDisabled));
    }
    let claim = app.store.get_email(req.email).await?;
    gate.pass().await?;
    let issued = match claim {
        Some(claim) => store_new(app, &claim.uid, req.kind, None, req.phrase, None, now).await?,
        None => {
            let uid = new_uid(app, req.requested_uid, now);
            let mut user = UserItem::new(&uid, now);
            user.email = Some(req.email.to_owned());
            user.targets
                .push(crate::account::target(app, "email", req.email, now));
            let claim = EmailItem::new(req.email, &uid, None);
            store_new(
                app,
                &uid,
                req.kind,
                None,
                req.phrase,
                Some((&user, Some(&claim), None)),
                now,
            )
            .await?
        }
    };
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
    let message = Message {
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
    app: &App,
    gate: &Gate<'_, '_>,
    requested_uid: &str,
    phone: &str,
    locale: &str,
    now: Millis,
) -> Result<Issued> {
    let mock = app.config.mock_otp(phone).map(str::to_owned);
    if mock.is_none() && !app.outbox.sms_enabled() {
        return Err(Error::new(ErrorType::PhoneDisabled));
    }
    let claim = app.store.get_phone(phone).await?;
    gate.pass().await?;
    let issued = match claim {
        Some(claim) => {
            store_new(
                app,
                &claim.uid,
                Kind::Phone,
                mock.as_deref(),
                false,
                None,
                now,
            )
            .await?
        }
        None => {
            let uid = new_uid(app, requested_uid, now);
            let mut user = UserItem::new(&uid, now);
            user.phone = Some(phone.to_owned());
            user.targets
                .push(crate::account::target(app, "sms", phone, now));
            let claim = PhoneItem::new(phone, &uid);
            store_new(
                app,
                &uid,
                Kind::Phone,
                mock.as_deref(),
                false,
                Some((&user, None, Some(&claim))),
                now,
            )
            .await?
        }
    };
    if mock.is_none() {
        let body = templates::render(
            locale,
            "sms.otp",
            &[
                ("otp", &issued.secret),
                ("project", &app.config.project_name),
            ],
        );
        deliver(
            app,
            &issued,
            app.outbox.text(&Sms {
                to: phone.to_owned(),
                body,
            }),
        )
        .await?;
    }
    Ok(issued)
}

/// Load a token by its secret and check it. Wrong or guessed-out secrets count a failure.
async fn find(
    app: &App,
    gate: &Gate<'_, '_>,
    uid: &str,
    secret: &str,
    kinds: &[Kind],
    now: Millis,
    missing_user: ErrorType,
) -> Result<(UserItem, TokenItem)> {
    let sk = item::token_sk(&secret_hash(&app.config.secret_key, secret));
    let r = app.store.get_redeemable(uid, &sk).await?;
    gate.pass().await?;
    let Some(user) = r.user else {
        return Err(Error::new(missing_user));
    };
    let usable = r.token.filter(|t| {
        t.expire > now
            && Kind::parse(&t.kind).is_some_and(|k| kinds.contains(&k))
            && r.failures < MAX_FAILURES
    });
    match usable {
        Some(t) => Ok((user, t)),
        None => {
            // The guard lives as long as the longest token.
            if let Err(e) = app.store.record_token_failure(uid, now / 1000 + 3600).await {
                tracing::warn!(error = %e, "could not record a token failure");
            }
            Err(Error::new(ErrorType::UserInvalidToken))
        }
    }
}

fn redeem_error(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(_) => Error::new(ErrorType::UserInvalidToken),
        WriteError::Other(e) => e,
    }
}

/// `POST /account/sessions/token` (and the deprecated `PUT /account/sessions/magic-url|phone`):
/// exchange a login token for a session. One read, then one transaction that deletes the token,
/// writes the session and marks the email/phone verified.
pub async fn create_session(
    app: &App,
    gate: &Gate<'_, '_>,
    uid: &str,
    secret: &str,
    client: &Client,
    now: Millis,
) -> Result<NewSession> {
    let (user, token) = find(
        app,
        gate,
        uid,
        secret,
        &[Kind::MagicUrl, Kind::EmailOtp, Kind::Phone],
        now,
        ErrorType::UserInvalidToken,
    )
    .await?;
    let kind = Kind::parse(&token.kind).ok_or_else(|| Error::new(ErrorType::UserInvalidToken))?;
    let (provider, factor) = kind
        .session()
        .ok_or_else(|| Error::new(ErrorType::UserInvalidToken))?;
    let provider_uid = match kind {
        Kind::Phone => user.phone.clone().unwrap_or_default(),
        _ => user.email.clone().unwrap_or_default(),
    };
    let new = session::build(app, uid, provider, &provider_uid, &[factor], client, now);
    let mut changed = user.clone();
    changed.accessed = now;
    match kind {
        Kind::Phone => changed.phone_verification = true,
        _ => changed.email_verification = true,
    }
    let no_claims = Claims::default();
    let log = crate::audit::for_user(app, crate::audit::event::SESSION_CREATE, &user, client, now);
    let redeem = async {
        app.store
            .redeem(
                &token,
                now,
                Some(&new.item),
                Some((&user, &changed)),
                &no_claims,
            )
            .await
            .map_err(redeem_error)
    };
    let (written, index) = tokio::join!(
        crate::audit::alongside(app, vec![log], redeem),
        app.store.session_index(uid)
    );
    written?;
    if let Ok(index) = index {
        let others = index.iter().filter(|(id, _)| *id != new.item.id).count();
        session::enforce_limit(app, uid, &new.item.id, index).await?;
        // Alerts only for sessions that did not prove the email itself (phone codes).
        if let (true, Kind::Phone, Some(email)) = (
            app.config.session_alerts && others > 0,
            kind,
            user.email.as_deref(),
        ) {
            session::alert(app, email, &user.name, &new.item).await;
        }
    }
    Ok(new)
}

/// `POST /account/verifications/email`.
pub async fn create_email_verification(
    app: &App,
    user: &UserItem,
    url: &url::Url,
    locale: &str,
    now: Millis,
) -> Result<Issued> {
    if !app.outbox.mail_enabled() {
        return Err(Error::new(ErrorType::SmtpDisabled));
    }
    let Some(email) = user.email.clone().filter(|e| !e.is_empty()) else {
        return Err(Error::new(ErrorType::UserEmailNotFound));
    };
    if user.email_verification {
        return Err(Error::new(ErrorType::UserEmailAlreadyVerified));
    }
    let issued = store_new(app, &user.id, Kind::VerifyEmail, None, false, None, now).await?;
    let l = link(
        url,
        &user.id,
        &issued.secret,
        issued.token.expire,
        &app.config.project_id,
    );
    let message = Message {
        template: "verification",
        to: &email,
        name: &user.name,
        vars: &[("link", &l)],
        link: Some(&l),
        phrase: "",
    };
    deliver(app, &issued, send_email(app, locale, message)).await?;
    Ok(issued)
}

/// `POST /account/verifications/phone`.
pub async fn create_phone_verification(
    app: &App,
    user: &UserItem,
    locale: &str,
    now: Millis,
) -> Result<Issued> {
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
    let issued = store_new(
        app,
        &user.id,
        Kind::VerifyPhone,
        mock.as_deref(),
        false,
        None,
        now,
    )
    .await?;
    if mock.is_none() {
        let body = templates::render(
            locale,
            "sms.otp",
            &[
                ("otp", &issued.secret),
                ("project", &app.config.project_name),
            ],
        );
        deliver(app, &issued, app.outbox.text(&Sms { to: phone, body })).await?;
    }
    Ok(issued)
}

/// `PUT /account/verifications/email|phone`: mark the channel verified and consume the token.
pub async fn confirm_verification(
    app: &App,
    gate: &Gate<'_, '_>,
    kind: Kind,
    uid: &str,
    secret: &str,
    now: Millis,
) -> Result<TokenItem> {
    let (user, token) = find(
        app,
        gate,
        uid,
        secret,
        &[kind],
        now,
        ErrorType::UserNotFound,
    )
    .await?;
    let mut changed = user.clone();
    changed.updated = now;
    match kind {
        Kind::VerifyPhone => changed.phone_verification = true,
        _ => changed.email_verification = true,
    }
    app.store
        .redeem(
            &token,
            now,
            None,
            Some((&user, &changed)),
            &Claims::default(),
        )
        .await
        .map_err(redeem_error)?;
    Ok(token)
}

/// `POST /account/recovery`: a reset link for an existing, unblocked user.
pub async fn create_recovery(
    app: &App,
    gate: &Gate<'_, '_>,
    client: &Client,
    email: &str,
    url: &url::Url,
    locale: &str,
    now: Millis,
) -> Result<Issued> {
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
    let log = crate::audit::for_user(
        app,
        crate::audit::event::RECOVERY_CREATE,
        &user,
        client,
        now,
    );
    let send = async {
        let issued = store_new(app, &user.id, Kind::Recovery, None, false, None, now).await?;
        let l = link(
            url,
            &user.id,
            &issued.secret,
            issued.token.expire,
            &app.config.project_id,
        );
        let message = Message {
            template: "recovery",
            to: email,
            name: &user.name,
            vars: &[("link", &l)],
            link: Some(&l),
            phrase: "",
        };
        deliver(app, &issued, send_email(app, locale, message)).await?;
        Ok(issued)
    };
    let issued = crate::audit::alongside(app, vec![log], send).await?;
    Ok(issued)
}

/// `PUT /account/recovery`: set the new password (and verify the email: the user proved they
/// read it), consume the token, then delete every session if `INVALIDATE_SESSIONS`.
pub async fn complete_recovery(
    app: &App,
    gate: &Gate<'_, '_>,
    uid: &str,
    secret: &str,
    password: &str,
    now: Millis,
) -> Result<TokenItem> {
    let (user, token) = find(
        app,
        gate,
        uid,
        secret,
        &[Kind::Recovery],
        now,
        ErrorType::UserNotFound,
    )
    .await?;
    let policy = &app.config.password_policy;
    crate::password::check_history(policy, &user.password_history, password).await?;
    let phc = crypto::hash_password_async(password.to_owned(), app.entropy.clone())
        .await
        .map_err(Error::internal)?;
    let mut changed = user.clone();
    crate::password::remember(policy, &mut changed.password_history, &phc);
    changed.password = Some(phc.clone());
    changed.password_update = Some(now);
    changed.email_verification = true;
    changed.updated = now;
    let claims = Claims {
        email_password: user.email.clone().map(|e| (e, Some(phc))),
        ..Claims::default()
    };
    app.store
        .redeem(&token, now, None, Some((&user, &changed)), &claims)
        .await
        .map_err(redeem_error)?;
    if app.config.invalidate_sessions {
        let index = app.store.session_index(uid).await?;
        let ids: Vec<String> = index.into_iter().map(|(id, _)| id).collect();
        app.store.delete_sessions(uid, &ids).await?;
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
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
        assert_ne!(secret_hash("k1", "123456"), secret_hash("k2", "123456"));
        assert_eq!(secret_hash("k1", "123456").len(), 64);
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
    fn only_login_tokens_make_sessions() {
        assert!(
            Kind::MagicUrl.session().is_some()
                && Kind::EmailOtp.session().is_some()
                && Kind::Phone.session().is_some()
        );
        assert!(Kind::VerifyPhone.session().is_none() && Kind::Recovery.session().is_none());
    }
}
