//! Accounts: sign-up and profile changes. Email and phone uniqueness are claims (`EMAIL#`,
//! `PHONE#` items) written in the same transaction as the profile, so concurrent sign-ups with one
//! email yield exactly one user.

use crate::app::App;
use crate::clock::Millis;
use crate::context::Ctx;
use crate::crypto;
use crate::error::{Error, ErrorType, Result};
use crate::ids;
use crate::item::{EmailItem, PhoneItem, SessionItem, TargetItem, UserItem};
use crate::store::{Claims, Conflict, Expect, WriteError};
use serde_json::{Map, Value};

pub struct SignUp<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
}

/// A new messaging target (`email` or `sms`) for a user's address.
pub(crate) fn target(app: &App, provider_type: &str, identifier: &str, now: Millis) -> TargetItem {
    TargetItem {
        id: ids::unique(now, app.entropy.as_ref()),
        created: now,
        updated: now,
        provider_type: provider_type.to_owned(),
        identifier: identifier.to_owned(),
    }
}

/// Point the user's target of `provider_type` at `identifier` (created if missing).
fn set_target(app: &App, user: &mut UserItem, provider_type: &str, identifier: &str, now: Millis) {
    match user
        .targets
        .iter_mut()
        .find(|t| t.provider_type == provider_type)
    {
        Some(t) => {
            t.identifier = identifier.to_owned();
            t.updated = now;
        }
        None => user
            .targets
            .push(target(app, provider_type, identifier, now)),
    }
}

async fn hash(app: &App, password: &str) -> Result<String> {
    crypto::hash_password_async(password.to_owned(), app.entropy.clone())
        .await
        .map_err(Error::internal)
}

/// `POST /account`: one transaction writing the profile and the email claim.
/// The rate-limit counter is checked while the password hashes (`gate`), so it adds no latency.
pub async fn sign_up(cx: &Ctx<'_, '_>, input: SignUp<'_>) -> Result<UserItem> {
    let app = cx.app;
    let gate = &cx.gate;
    let now = cx.now;
    let uid = if input.user_id == "unique()" {
        ids::unique(now, app.entropy.as_ref())
    } else {
        input.user_id.to_owned()
    };
    let policy = &app.config.password_policy;
    let mut user = UserItem::new(&uid, now);
    user.name = input.name.to_owned();
    user.email = Some(input.email.to_owned());
    policy.check_personal(input.password, &user)?;
    let (phc, admitted) = tokio::join!(hash(app, input.password), gate.pass());
    admitted?;
    let phc = phc?;
    crate::password::remember(policy, &mut user.password_history, &phc);
    user.password = Some(phc.clone());
    user.password_update = Some(now);
    user.targets.push(target(app, "email", input.email, now));
    let claim = EmailItem::new(input.email, &uid, Some(phc));
    match app.store.create_user(&user, Some(&claim), None, None).await {
        Ok(()) => Ok(user),
        Err(WriteError::Conflict(Conflict::UserLimit)) => {
            Err(Error::new(ErrorType::UserCountExceeded))
        }
        // Another user's OAuth2 identity uses the address: deliberately vague (contract §4.6).
        Err(WriteError::Conflict(Conflict::IdentityEmail)) => {
            Err(Error::new(ErrorType::BadRequest))
        }
        Err(WriteError::Conflict(_)) => Err(Error::new(ErrorType::UserAlreadyExists)),
        Err(WriteError::Other(e)) => Err(e),
    }
}

async fn save(app: &App, old: &UserItem, new: UserItem) -> Result<UserItem> {
    app.store
        .update_user(old, &new)
        .await?
        .ok_or_else(|| Error::new(ErrorType::UserNotFound))
}

pub async fn update_name(cx: &Ctx<'_, '_>, user: &UserItem, name: &str) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let mut new = user.clone();
    new.name = name.to_owned();
    new.updated = now;
    save(app, user, new).await
}

pub async fn update_prefs(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    prefs: &Map<String, Value>,
) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let mut new = user.clone();
    new.prefs = Value::Object(prefs.clone()).to_string();
    new.updated = now;
    save(app, user, new).await
}

/// `PATCH /account/status`: block the account (sessions stay but every later call is 403).
pub async fn block(cx: &Ctx<'_, '_>, user: &UserItem) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let mut new = user.clone();
    new.status = false;
    new.updated = now;
    save(app, user, new).await
}

/// The PHC string the user will have: the account's password confirmed against `password`, or,
/// for an account without one (an anonymous account converting), `password` hashed as its
/// first, which must then meet the project's password policy, personal data included (`after`
/// is the account as the change leaves it), as at sign-up.
async fn confirm_or_set_password(
    app: &App,
    user: &UserItem,
    after: &UserItem,
    password: &str,
) -> Result<String> {
    match &user.password {
        Some(phc) => {
            if crypto::verify_password_async(password.to_owned(), Some(phc.clone())).await {
                Ok(phc.clone())
            } else {
                Err(Error::new(ErrorType::UserInvalidCredentials))
            }
        }
        None => {
            let policy = &app.config.password_policy;
            policy.check("password", password)?;
            policy.check_personal(password, after)?;
            hash(app, password).await
        }
    }
}

/// After a successful password check: a hash that is not what [`crypto::hash_password`] makes
/// today (an imported algorithm, or Argon2 at other parameters) is replaced by an Argon2id hash
/// of the same password, in one transaction conditioned on the hash that was verified (profile
/// and email-claim copy together). Whether it happened, never an error: a failed upgrade leaves
/// the old hash, which still verifies, and never fails the login.
pub async fn upgrade_hash(app: &App, uid: &str, password: &str, verified: &str) -> bool {
    if crypto::is_current(verified) {
        return false;
    }
    let replace = async {
        let new = crypto::hash_password_async(password.to_owned(), app.entropy.clone())
            .await
            .map_err(Error::internal)?;
        let (Some(user), _) = app.store.get_user_and_sessions(uid, &[]).await? else {
            return Ok(false);
        };
        if user.password.as_deref() != Some(verified) {
            return Ok(false);
        }
        let mut after = user.clone();
        after.password = Some(new.clone());
        let claims = Claims {
            email_password: user.email.clone().map(|e| (e, Some(new))),
            ..Claims::default()
        };
        let expect = [Expect::Password(verified.to_owned())];
        match app
            .store
            .update_user_atomically(&user, &after, &claims, &expect, &[])
            .await
        {
            Ok(()) => Ok(true),
            Err(WriteError::Conflict(_)) => Ok(false),
            Err(WriteError::Other(e)) => Err(e),
        }
    };
    match replace.await {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %e.message, source = ?e.source, "password hash upgrade failed; the old hash stays");
            false
        }
    }
}

fn write_conflict(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(Conflict::IdentityEmail) => Error::new(ErrorType::BadRequest),
        WriteError::Conflict(Conflict::Email | Conflict::Phone) => {
            Error::new(ErrorType::UserTargetAlreadyExists)
        }
        WriteError::Conflict(_) => Error::new(ErrorType::UserNotFound),
        WriteError::Other(e) => e,
    }
}

/// `PATCH /account/email`: one transaction claiming the new email and releasing the old one.
pub async fn update_email(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    email: &str,
    password: &str,
) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let mut new = user.clone();
    new.email = Some(email.to_owned());
    let phc = confirm_or_set_password(app, user, &new, password).await?;
    let first_password = user.password.is_none();
    // The hash just verified, if the account had one: upgraded once the change is written.
    let verified = (!first_password).then(|| phc.clone());
    new.email_verification = user.email.as_deref() == Some(email) && user.email_verification;
    new.password = Some(phc.clone());
    if first_password {
        new.password_update = Some(now);
    }
    new.updated = now;
    set_target(app, &mut new, "email", email, now);
    let mut claims = Claims::default();
    if user.email.as_deref() == Some(email) {
        if first_password {
            claims.email_password = Some((email.to_owned(), Some(phc)));
        }
    } else {
        claims.put_email = Some(EmailItem::new(email, &user.id, Some(phc)));
        claims.delete_email = user.email.clone();
        claims.revoke_tokens = crate::item::EMAIL_TOKEN_KINDS.to_vec();
    }
    app.store
        .update_user_with_claims(user, &new, &claims)
        .await
        .map_err(write_conflict)?;
    if let Some(verified) = verified {
        upgrade_hash(app, &user.id, password, &verified).await;
    }
    Ok(new)
}

/// `PATCH /account/phone`: one transaction claiming the new number and releasing the old one.
pub async fn update_phone(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    phone: &str,
    password: &str,
) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let mut new = user.clone();
    new.phone = Some(phone.to_owned());
    let phc = confirm_or_set_password(app, user, &new, password).await?;
    let first_password = user.password.is_none();
    // The hash just verified, if the account had one: upgraded once the change is written.
    let verified = (!first_password).then(|| phc.clone());
    new.phone_verification = user.phone.as_deref() == Some(phone) && user.phone_verification;
    new.password = Some(phc.clone());
    if first_password {
        new.password_update = Some(now);
    }
    new.updated = now;
    set_target(app, &mut new, "sms", phone, now);
    let mut claims = Claims::default();
    if user.phone.as_deref() != Some(phone) {
        claims.put_phone = Some(PhoneItem::new(phone, &user.id));
        claims.delete_phone = user.phone.clone();
        claims.revoke_tokens = crate::item::PHONE_TOKEN_KINDS.to_vec();
    }
    if let (true, Some(email)) = (first_password, &user.email) {
        claims.email_password = Some((email.clone(), Some(phc)));
    }
    app.store
        .update_user_with_claims(user, &new, &claims)
        .await
        .map_err(|e| match e {
            WriteError::Conflict(Conflict::Phone) => Error::new(ErrorType::UserTargetAlreadyExists),
            e => write_conflict(e),
        })?;
    if let Some(verified) = verified {
        upgrade_hash(app, &user.id, password, &verified).await;
    }
    Ok(new)
}

/// What `PATCH /account/password` asks for.
pub struct PasswordChange<'a> {
    pub password: &'a str,
    pub old_password: Option<&'a str>,
    /// The session the request was made with, or that its JWT was issued for: it is kept.
    pub current: &'a SessionItem,
    pub sessions: &'a [SessionItem],
}

/// `PATCH /account/password`. A user with a password must confirm it with `old_password`. With
/// `INVALIDATE_SESSIONS` on, every other session of the user is deleted in the same transaction
/// as the password, conditioned on no session having been created since they were listed (a
/// login racing the change); a conflict re-reads and retries, so the answer is never "password
/// changed, other sessions kept". The live recovery link, if any, is revoked.
pub async fn update_password(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    change: PasswordChange<'_>,
) -> Result<UserItem> {
    let app = cx.app;
    let now = cx.now;
    let PasswordChange {
        password,
        old_password,
        current,
        sessions,
    } = change;
    if let Some(phc) = &user.password {
        let old = old_password.unwrap_or_default().to_owned();
        if !crypto::verify_password_async(old, Some(phc.clone())).await {
            return Err(Error::new(ErrorType::UserInvalidCredentials));
        }
    }
    let policy = &app.config.password_policy;
    crate::password::check_history(policy, &user.password_history, password).await?;
    policy.check_personal(password, user)?;
    let phc = hash(app, password).await?;
    let (mut user, mut sessions) = (user.clone(), sessions.to_vec());
    for attempt in 0..3 {
        if attempt > 0 {
            let (u, all) = app.store.get_user_with_all_sessions(&user.id).await?;
            user = u.ok_or_else(|| Error::new(ErrorType::UserNotFound))?;
            sessions = all;
        }
        let mut new = user.clone();
        crate::password::remember(policy, &mut new.password_history, &phc);
        new.password = Some(phc.clone());
        new.password_update = Some(now);
        new.updated = now;
        let claims = Claims {
            email_password: user.email.clone().map(|e| (e, Some(phc.clone()))),
            revoke_tokens: vec!["recovery"],
            ..Claims::default()
        };
        let (others, expect): (Vec<String>, Vec<Expect>) = if app.config.invalidate_sessions {
            let ids = sessions
                .iter()
                .filter(|s| s.id != current.id)
                .map(|s| s.id.clone())
                .collect();
            (ids, vec![Expect::Accessed(user.accessed)])
        } else {
            (vec![], vec![])
        };
        match app
            .store
            .update_user_atomically(&user, &new, &claims, &expect, &others)
            .await
        {
            Ok(()) => return Ok(new),
            Err(WriteError::Conflict(Conflict::ProfileCondition)) if attempt < 2 => continue,
            Err(WriteError::Conflict(Conflict::ProfileCondition)) => return Err(Error::contended()),
            Err(e) => return Err(write_conflict(e)),
        }
    }
    Err(Error::contended())
}
