//! Multi-factor authentication: TOTP authenticators, challenges (TOTP, email, phone, recovery
//! code), recovery codes, and the factor accounting the pipeline enforces.
//!
//! ```text
//!  login (1 factor) ──► user.mfa && a verified second factor? ── no ──► full access
//!                                  │ yes
//!                                  ▼
//!     only MFA routes (401 user_more_factors_required elsewhere)
//!                                  │ POST /mfa/challenges, PUT /mfa/challenges (right code)
//!                                  ▼
//!     session.factors += factor, mfaUpdatedAt = now ──► full access;
//!     "recent" (≤ 30 min) unlocks recovery-code reads and authenticator removal
//! ```
//!
//! TOTP: SHA-1, 6 digits, 30 s, exact step only (as Appwrite), and each step is accepted once
//! (RFC 6238 §5.2; Appwrite does not check replays). TOTP keys and recovery codes are sealed
//! (`seal.rs`); email/phone challenge codes are stored as HMACs.

use crate::app::App;
use crate::clock::Millis;
use crate::context::Ctx;
use crate::error::{Error, ErrorType, Result};
use crate::item::{self, ChallengeItem, SessionItem, TotpItem, UserItem};

use crate::keyring::Purpose;
use crate::store::{Conflict, Expect, WriteError};
use crate::{crypto, custom_templates, ids, messages, seal, token};
use serde_json::{json, Value};
use totp_rs::{Builder, Secret};

/// A challenge "recently" passed: unlocks `mfaProtected` routes.
pub const RECENT_MS: Millis = 1_800_000;
const CHALLENGE_TTL_MS: Millis = 3_600_000;
/// Codes tried against one challenge before it burns (a new challenge must be requested).
pub const MAX_CHALLENGE_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    Email,
    Phone,
    RecoveryCode,
}

impl Factor {
    /// Case-insensitive (the SDK enums send `recoverycode`). `custom` is off by policy: 501.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "totp" => Ok(Self::Totp),
            "email" => Ok(Self::Email),
            "phone" => Ok(Self::Phone),
            "recoverycode" => Ok(Self::RecoveryCode),
            "custom" => Err(Error::with_message(
                ErrorType::UserAuthMethodUnsupported,
                "The requested factor is disabled by the MFA factors policy",
            )),
            _ => Err(Error::invalid_param(
                "factor",
                "Value must be one of (email, phone, totp, recoveryCode, custom)",
            )),
        }
    }

    /// The canonical name stored in `session.factors`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::RecoveryCode => "recoveryCode",
        }
    }
}

fn totp_verified(user: &UserItem) -> bool {
    user.totp.as_ref().is_some_and(|t| t.verified)
}

fn email_verified(user: &UserItem) -> bool {
    user.email_verification && user.email.as_deref().is_some_and(|e| !e.is_empty())
}

fn phone_verified(user: &UserItem) -> bool {
    user.phone_verification && user.phone.as_deref().is_some_and(|p| !p.is_empty())
}

/// Whether a session of this user must show two factors (contract §1.9 step 7).
pub fn second_factor_required(user: &UserItem, session: &SessionItem) -> bool {
    user.mfa
        && (totp_verified(user) || email_verified(user) || phone_verified(user))
        && session.factors.len() < 2
        // A passkey with user verification is both factors (README "Where we differ").
        && !session.factors.iter().any(|f| f == crate::item::PASSKEY_FACTOR)
}

/// `GET /account/mfa/factors`.
pub fn factors(user: &UserItem) -> Value {
    json!({
        "totp": totp_verified(user),
        "phone": phone_verified(user),
        "email": email_verified(user),
        "recoveryCode": user.recovery_codes.is_some(),
        "custom": false,
    })
}

fn add_factor(session: &mut SessionItem, factor: &str) {
    if !session.factors.iter().any(|f| f == factor) {
        session.factors.push(factor.to_owned());
    }
}

fn write_error(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(Conflict::Token) => Error::new(ErrorType::UserInvalidToken),
        WriteError::Conflict(_) => Error::new(ErrorType::UserSessionNotFound),
        WriteError::Other(e) => e,
    }
}

fn totp_of(app: &App, t: &TotpItem) -> Result<totp_rs::Totp> {
    let key = seal::open(&app.config.keys, Purpose::Totp, &t.secret_sealed)?;
    Builder::new()
        .with_secret(key)
        .with_skew(0)
        .build()
        .map_err(|e| Error::internal(format!("{e:?}")))
}

/// `t` after a successful code at `step`: the step recorded, and the key re-sealed under the
/// ring's current key if an older one sealed it (so the older key can be retired without the
/// user enrolling again).
fn totp_used(app: &App, t: &TotpItem, step: u64, verified: bool) -> Result<TotpItem> {
    let resealed = seal::reseal(
        &app.config.keys,
        Purpose::Totp,
        &t.secret_sealed,
        app.entropy.as_ref(),
    )?;
    Ok(TotpItem {
        secret_sealed: resealed.unwrap_or_else(|| t.secret_sealed.clone()),
        verified,
        last_step: step,
        created: t.created,
    })
}

/// The step `otp` is valid for right now, if it is and that step was not used before.
fn accept_totp(app: &App, t: &TotpItem, otp: &str, now: Millis) -> Result<Option<u64>> {
    let secs = u64::try_from(now / 1000).unwrap_or(0);
    let expected = totp_of(app, t)?.generate(secs).to_string();
    let step = secs / 30;
    Ok((crypto::ct_eq(&expected, otp.trim()) && step > t.last_step).then_some(step))
}

/// `POST /account/mfa/authenticators/totp`: a new (unverified) authenticator, replacing an
/// unverified one. Returns the Base32 key and the `otpauth://` URI, shown once.
pub async fn create_authenticator(cx: &Ctx<'_, '_>, user: &UserItem) -> Result<(String, String)> {
    let app = cx.app;
    let now = cx.now;
    if totp_verified(user) {
        return Err(Error::new(ErrorType::UserAuthenticatorAlreadyVerified));
    }
    let mut raw = [0u8; 64];
    app.entropy.fill(&mut raw);
    let secret = Secret::from(raw.to_vec()).to_base32();
    let mut new = user.clone();
    new.totp = Some(TotpItem {
        secret_sealed: seal::seal(&app.config.keys, Purpose::Totp, &raw, app.entropy.as_ref())?,
        verified: false,
        created: now,
        last_step: 0,
    });
    new.updated = now;
    app.store
        .update_user(user, &new)
        .await?
        .ok_or_else(|| Error::new(ErrorType::UserNotFound))?;
    let label_user = user
        .email
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| user.id.clone());
    let issuer = &app.config.project_name;
    let label: String =
        url::form_urlencoded::byte_serialize(format!("{issuer}:{label_user}").as_bytes())
            .collect::<String>()
            .replace('+', "%20");
    let issuer_q: String = url::form_urlencoded::byte_serialize(issuer.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    Ok((
        secret.clone(),
        format!("otpauth://totp/{label}?secret={secret}&issuer={issuer_q}"),
    ))
}

/// `PUT /account/mfa/authenticators/totp`: verify with a current code; the session gains `totp`.
pub async fn verify_authenticator(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: &SessionItem,
    otp: &str,
) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let t = user
        .totp
        .as_ref()
        .ok_or_else(|| Error::new(ErrorType::UserAuthenticatorNotFound))?;
    if t.verified {
        return Err(Error::new(ErrorType::UserAuthenticatorAlreadyVerified));
    }
    let step =
        accept_totp(app, t, otp, now)?.ok_or_else(|| Error::new(ErrorType::UserInvalidToken))?;
    let mut new = user.clone();
    new.totp = Some(totp_used(app, t, step, true)?);
    new.updated = now;
    let mut s = session.clone();
    add_factor(&mut s, Factor::Totp.as_str());
    s.updated = now;
    app.store
        .update_user_and_session(
            (user, &new),
            (session, &s),
            None,
            &[Expect::TotpStep(t.last_step)],
        )
        .await
        .map_err(write_error)?;
    Ok(new)
}

/// `DELETE /account/mfa/authenticators/totp`.
pub async fn delete_authenticator(cx: &Ctx<'_, '_>, user: &UserItem) -> Result<()> {
    let app = cx.app;
    let now = cx.now;
    if user.totp.is_none() {
        return Err(Error::new(ErrorType::UserAuthenticatorNotFound));
    }
    let mut new = user.clone();
    new.totp = None;
    new.updated = now;
    app.store.update_user(user, &new).await?;
    Ok(())
}

/// `PATCH /account/mfa`. Enabling adds the user's verified factors to the current session so the
/// caller is not locked out.
pub async fn set_enabled(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: Option<&SessionItem>,
    enabled: bool,
) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let mut new = user.clone();
    new.mfa = enabled;
    new.updated = now;
    match session.filter(|_| enabled) {
        Some(session) => {
            let mut s = session.clone();
            for (ok, f) in [
                (totp_verified(user), "totp"),
                (email_verified(user), "email"),
                (phone_verified(user), "phone"),
            ] {
                if ok {
                    add_factor(&mut s, f);
                }
            }
            app.store
                .update_user_and_session((user, &new), (session, &s), None, &[])
                .await
                .map_err(write_error)?;
            Ok(new)
        }
        None => app
            .store
            .update_user(user, &new)
            .await?
            .ok_or_else(|| Error::new(ErrorType::UserNotFound)),
    }
}

/// `POST /account/mfa/challenges`: store a challenge and send its code (email/phone).
pub async fn create_challenge(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    factor: Factor,
) -> Result<ChallengeItem> {
    let app = cx.app;
    let locale = cx.locale;
    let now = cx.now;
    let code = token_code(app);
    match factor {
        Factor::Totp if !totp_verified(user) => {
            return Err(Error::new(ErrorType::UserAuthenticatorNotFound))
        }
        Factor::Email => {
            if !app.outbox.mail_enabled() {
                return Err(Error::new(ErrorType::SmtpDisabled));
            }
            if user.email.as_deref().is_none_or(str::is_empty) {
                return Err(Error::new(ErrorType::UserEmailNotFound));
            }
            if !user.email_verification {
                return Err(Error::new(ErrorType::UserEmailNotVerified));
            }
        }
        Factor::Phone => {
            if !app.outbox.sms_enabled() {
                return Err(Error::new(ErrorType::PhoneDisabled));
            }
            if user.phone.as_deref().is_none_or(str::is_empty) {
                return Err(Error::new(ErrorType::UserPhoneNotFound));
            }
            if !user.phone_verification {
                return Err(Error::new(ErrorType::UserPhoneNotVerified));
            }
        }
        _ => {}
    }
    // Within the message budgets, before the challenge is stored (nothing to withdraw). The
    // factor is the signed-in owner's own verified one: the recipient's budget does not apply.
    use crate::budget::{admit, Channel, Requester::Owner};
    match factor {
        Factor::Email => {
            let to = user.email.as_deref().unwrap_or_default();
            admit(cx, Channel::Email, to, Owner).await?;
        }
        Factor::Phone => {
            let to = user.phone.as_deref().unwrap_or_default();
            admit(cx, Channel::Sms, to, Owner).await?;
        }
        _ => {}
    }
    let id = ids::unique(now, app.entropy.as_ref());
    let expire = now + CHALLENGE_TTL_MS;
    let challenge = ChallengeItem {
        pk: item::user_pk(&user.id),
        sk: item::challenge_sk(&id),
        id,
        uid: user.id.clone(),
        factor: factor.as_str().to_owned(),
        code_hash: token::secret_hash(&app.config.keys, &code),
        attempts: 0,
        created: now,
        expire,
        expires_at: expire / 1000,
    };
    app.store.put_challenge(&challenge).await?;
    let project = app.config.project_name.as_str();
    let sent = match factor {
        Factor::Email => {
            let to = user.email.as_deref().unwrap_or_default();
            let custom = app.template(&custom_templates::EMAIL_MFA, locale).await;
            let email =
                messages::challenge_email(project, locale, to, &user.name, &code, custom.as_ref());
            app.outbox.email(&email).await
        }
        Factor::Phone => {
            let to = user.phone.as_deref().unwrap_or_default();
            let custom = app.template(&custom_templates::SMS_MFA, locale).await;
            app.outbox
                .text(&messages::code_sms(
                    project,
                    locale,
                    to,
                    &code,
                    custom.as_ref(),
                ))
                .await
        }
        _ => Ok(()),
    };
    if let Err(e) = sent {
        // Nothing usable stays behind when the code could not be delivered.
        if let Err(del) = app.store.delete_challenge(&challenge).await {
            tracing::warn!(error = %del, "could not withdraw an undelivered challenge");
        }
        return Err(e);
    }
    Ok(challenge)
}

fn token_code(app: &App) -> String {
    let mut b = [0u8; 4];
    loop {
        app.entropy.fill(&mut b);
        let n = u32::from_le_bytes(b);
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// `PUT /account/mfa/challenges`: check the code for the challenge's factor; on success the
/// challenge is consumed and the session gains the factor, atomically.
pub async fn complete_challenge(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: &SessionItem,
    challenge_id: &str,
    otp: &str,
) -> Result<SessionItem> {
    let app = cx.app;
    let now = cx.now;
    let invalid = || Error::new(ErrorType::UserInvalidToken);
    if !ids::is_valid_custom(challenge_id) {
        return Err(invalid());
    }
    // The attempt is counted before the code is compared: parallel guesses cannot outrun it.
    let challenge = app
        .store
        .attempt_challenge(&user.id, challenge_id, MAX_CHALLENGE_ATTEMPTS, now)
        .await?
        .filter(|c| c.expire > now)
        .ok_or_else(invalid)?;
    let mut new_user = user.clone();
    let mut expect = vec![];
    let factor = match challenge.factor.as_str() {
        "totp" => {
            let t = user
                .totp
                .as_ref()
                .filter(|t| t.verified)
                .ok_or_else(invalid)?;
            let step = accept_totp(app, t, otp, now)?.ok_or_else(invalid)?;
            new_user.totp = Some(totp_used(app, t, step, t.verified)?);
            // Each step once, even for two challenges verified in parallel.
            expect.push(Expect::TotpStep(t.last_step));
            Factor::Totp
        }
        "recoveryCode" => {
            let mut codes = read_codes(app, user)?.ok_or_else(invalid)?;
            let i = codes
                .iter()
                .position(|c| crypto::ct_eq(c, otp.trim()))
                .ok_or_else(invalid)?;
            codes.remove(i);
            new_user.recovery_codes = Some(seal_codes(app, &codes)?);
            // Each code once: the sealed list must be the one the code was found in.
            expect.push(Expect::RecoveryCodes(
                user.recovery_codes.clone().unwrap_or_default(),
            ));
            Factor::RecoveryCode
        }
        f => {
            if !token::secret_matches(&app.config.keys, otp.trim(), &challenge.code_hash) {
                return Err(invalid());
            }
            Factor::parse(f)?
        }
    };
    let mut s = session.clone();
    add_factor(&mut s, factor.as_str());
    s.mfa_updated_at = Some(now);
    s.updated = now;
    app.store
        .update_user_and_session(
            (user, &new_user),
            (session, &s),
            Some((&challenge, now)),
            &expect,
        )
        .await
        .map_err(write_error)?;
    Ok(s)
}

fn seal_codes(app: &App, codes: &[String]) -> Result<String> {
    let json = serde_json::to_vec(codes).map_err(Error::internal)?;
    seal::seal(
        &app.config.keys,
        Purpose::RecoveryCodes,
        &json,
        app.entropy.as_ref(),
    )
}

fn read_codes(app: &App, user: &UserItem) -> Result<Option<Vec<String>>> {
    let Some(sealed) = &user.recovery_codes else {
        return Ok(None);
    };
    let raw = seal::open(&app.config.keys, Purpose::RecoveryCodes, sealed)?;
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(Error::internal)
}

/// Six single-use codes of ten lower-case hex characters.
fn new_codes(app: &App) -> Vec<String> {
    (0..6)
        .map(|_| crypto::random_hex(app.entropy.as_ref(), 5))
        .collect()
}

/// `POST /account/mfa/recovery-codes` (once) and `PATCH` (replace).
pub async fn generate_recovery_codes(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    replace: bool,
) -> Result<Vec<String>> {
    let app = cx.app;
    let now = cx.now;
    match (user.recovery_codes.is_some(), replace) {
        (true, false) => return Err(Error::new(ErrorType::UserRecoveryCodesAlreadyExists)),
        (false, true) => return Err(Error::new(ErrorType::UserRecoveryCodesNotFound)),
        _ => {}
    }
    let codes = new_codes(app);
    let mut new = user.clone();
    new.recovery_codes = Some(seal_codes(app, &codes)?);
    new.updated = now;
    app.store
        .update_user(user, &new)
        .await?
        .ok_or_else(|| Error::new(ErrorType::UserNotFound))?;
    Ok(codes)
}

/// `GET /account/mfa/recovery-codes`.
pub fn recovery_codes(cx: &Ctx<'_, '_>, user: &UserItem) -> Result<Vec<String>> {
    let app = cx.app;
    read_codes(app, user)?.ok_or_else(|| Error::new(ErrorType::UserRecoveryCodesNotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_names() {
        assert_eq!(
            Factor::parse("recoverycode").unwrap().as_str(),
            "recoveryCode"
        );
        assert_eq!(Factor::parse("TOTP").unwrap(), Factor::Totp);
        assert_eq!(
            Factor::parse("custom").unwrap_err().kind,
            ErrorType::UserAuthMethodUnsupported
        );
        assert_eq!(
            Factor::parse("sms").unwrap_err().kind,
            ErrorType::ArgumentInvalid
        );
    }

    #[test]
    fn second_factor_rule() {
        let mut u = UserItem::new("u", 0);
        let s: SessionItem = serde_json::from_value(json!({
            "PK": "p", "SK": "s", "id": "i", "uid": "u", "created": 0, "updated": 0, "expire": 1,
            "expires_at": 1, "secretHash": "h", "provider": "email", "factors": ["password"]
        }))
        .unwrap();
        u.mfa = true;
        assert!(
            !second_factor_required(&u, &s),
            "no usable second factor: not enforced"
        );
        u.email = Some("a@b.co".into());
        u.email_verification = true;
        assert!(second_factor_required(&u, &s));
        let mut s2 = s.clone();
        add_factor(&mut s2, "email");
        assert!(!second_factor_required(&u, &s2));
        u.mfa = false;
        assert!(!second_factor_required(&u, &s));
    }
}
