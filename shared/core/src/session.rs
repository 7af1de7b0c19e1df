//! Sessions: creation (email/password, anonymous), listing, extension, deletion, and the
//! per-user session limit.
//!
//! Session limit: after a new session is written, if the user has more than `SESSION_LIMIT`
//! sessions the oldest (by creation) are deleted. The index query runs in parallel with the
//! session write, so eviction adds a round trip only when something must be evicted.

use crate::audit;
use crate::clock::Millis;
use crate::context::Ctx;
use crate::credential::{self, Credential};
use crate::crypto;
use crate::error::{Error, ErrorType, Result};
use crate::ids;
use crate::item::{self, SessionItem, UserItem};
use crate::store::{Conflict, WriteError};

/// A new session and the credential that proves it (shown once, never stored).
pub struct NewSession {
    pub item: SessionItem,
    pub credential: Credential,
}

impl NewSession {
    pub fn encoded(&self) -> String {
        self.credential.encode()
    }
}

/// Build a session for `uid` (not yet stored).
pub fn build(
    cx: &Ctx<'_, '_>,
    uid: &str,
    provider: &str,
    provider_uid: &str,
    factors: &[&str],
) -> NewSession {
    let app = cx.app;
    let client = cx.client;
    let now = cx.now;
    let sid = ids::unique(now, app.entropy.as_ref());
    let secret = credential::new_session_secret(&sid, app.entropy.as_ref());
    let expire = now + app.config.session_duration_secs * 1000;
    let item = SessionItem {
        pk: item::user_pk(uid),
        sk: item::session_sk(&sid),
        id: sid,
        uid: uid.to_owned(),
        created: now,
        updated: now,
        expire,
        expires_at: expire / 1000,
        secret_hash: crypto::sha256_hex(&secret),
        provider: provider.to_owned(),
        provider_uid: provider_uid.to_owned(),
        provider_access_token: String::new(),
        provider_refresh_token: String::new(),
        provider_access_token_expiry: None,
        ip: client.ip.clone(),
        device: client.device.clone(),
        country_code: String::new(),
        country_name: String::new(),
        factors: factors.iter().map(|f| (*f).to_owned()).collect(),
        mfa_updated_at: None,
    };
    NewSession {
        item,
        credential: Credential {
            id: uid.to_owned(),
            secret,
        },
    }
}

/// Store a session for an existing user (refused if the user is blocked), then apply the limit.
/// Two calls in parallel (the write and the session index), a third only to evict.
/// Returns how many other sessions the user already had (0 when unknown).
pub async fn store_for_existing_user(
    cx: &Ctx<'_, '_>,
    session: &SessionItem,
    clear_lockout: Option<&str>,
    expect_password: Option<&str>,
) -> Result<usize> {
    let app = cx.app;
    let (written, index) = tokio::join!(
        app.store
            .create_session_for_active_user(session, clear_lockout, expect_password),
        app.store.session_index(&session.uid)
    );
    match written {
        Ok(()) => {}
        // Blocked, or (password logins) the password changed since it was checked: one more
        // read tells which, on this failure path only.
        Err(WriteError::Conflict(Conflict::ProfileCondition)) if expect_password.is_some() => {
            let (user, _) = app.store.get_user_and_sessions(&session.uid, &[]).await?;
            return Err(match user {
                Some(u) if !u.status => Error::new(ErrorType::UserBlocked),
                _ => Error::new(ErrorType::UserInvalidCredentials),
            });
        }
        Err(WriteError::Conflict(Conflict::ProfileCondition)) => {
            return Err(Error::new(ErrorType::UserBlocked))
        }
        Err(WriteError::Conflict(_)) => return Err(Error::internal("session id collision")),
        Err(WriteError::Other(e)) => return Err(e),
    }
    match index {
        Ok(index) => {
            let others = index.iter().filter(|(id, _)| *id != session.id).count();
            enforce_limit(cx, &session.uid, &session.id, index).await?;
            Ok(others)
        }
        // The session exists; a failed eviction must not fail the login.
        Err(e) => {
            tracing::warn!(error = %e, "session index failed; limit not enforced");
            Ok(0)
        }
    }
}

/// `SESSION_ALERTS`: tell the user about a new session (not their first). A failed send is
/// logged, never fails the login.
pub async fn alert(cx: &Ctx<'_, '_>, email: &str, name: &str, session: &SessionItem) {
    let app = cx.app;
    // In the project's language, not the request's: the alert is for the owner, and whoever
    // made the session (maybe not the owner) chose the request's.
    let locale = app.config.default_locale;
    let custom = app
        .template(&crate::custom_templates::EMAIL_SESSION_ALERT, locale)
        .await;
    let mail = crate::messages::session_alert(
        &app.config.project_name,
        locale,
        email,
        name,
        session,
        custom.as_ref(),
    );
    let sent = match crate::budget::admit(
        cx,
        crate::budget::Channel::Email,
        email,
        crate::budget::Requester::Anyone,
    )
    .await
    {
        Ok(()) => app.outbox.email(&mail).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "session alert not sent");
    }
}

/// Sessions to evict so that at most `max` remain, newest kept; `new_sid` is always kept.
pub fn over_limit(
    mut index: Vec<(String, Millis)>,
    new_sid: &str,
    new_created: Millis,
    max: usize,
) -> Vec<String> {
    if max == 0 {
        return vec![];
    }
    if !index.iter().any(|(id, _)| id == new_sid) {
        index.push((new_sid.to_owned(), new_created));
    }
    if index.len() <= max {
        return vec![];
    }
    index.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let excess = index.len() - max;
    index
        .into_iter()
        .filter(|(id, _)| id != new_sid)
        .take(excess)
        .map(|(id, _)| id)
        .collect()
}

pub async fn enforce_limit(
    cx: &Ctx<'_, '_>,
    uid: &str,
    new_sid: &str,
    index: Vec<(String, Millis)>,
) -> Result<()> {
    let app = cx.app;
    let evict = over_limit(index, new_sid, app.clock.now_ms(), app.config.max_sessions);
    if !evict.is_empty() {
        app.store.delete_sessions(uid, &evict).await?;
    }
    Ok(())
}

/// `POST /account/sessions/email`: unknown email, no password, wrong password and a locked
/// account all cost one Argon2 verification and answer the same 401 (see `password::Lockout`).
pub async fn create_email_password(
    cx: &Ctx<'_, '_>,
    email: &str,
    password: &str,
) -> Result<NewSession> {
    let app = cx.app;
    let gate = &cx.gate;
    let _client = cx.client;
    let now = cx.now;
    let claim = app.store.get_email(email).await?;
    gate.pass().await?;
    // Reserve the attempt atomically while Argon2 runs (no added latency); the verdict counts
    // only if the reservation was admitted. Unknown emails make the same (failing) write.
    let lockout = app.config.lockout;
    let failures = claim.as_ref().map_or(0, |c| c.failures);
    let reserve = async {
        if lockout.threshold == 0 {
            return Ok(true);
        }
        let cutoff = lockout.admit_cutoff(failures, now);
        app.store
            .reserve_login_attempt(email, lockout.threshold, cutoff, now)
            .await
    };
    let hash = claim.as_ref().and_then(|c| c.password.clone());
    let (admitted, verified) = tokio::join!(
        reserve,
        crypto::verify_password_async(password.to_owned(), hash.clone())
    );
    let claim = match (admitted? && verified, claim) {
        (true, Some(c)) => c,
        _ => return Err(Error::new(ErrorType::UserInvalidCredentials)),
    };
    let new = build(cx, &claim.uid, "email", email, &["password"]);
    // The reservation counted this attempt; the session transaction clears it, and refuses the
    // login if the password changed meanwhile (e.g. an ownership proof cleared it).
    let clear = (lockout.threshold > 0).then_some(email);
    let log = audit::entry(cx, audit::event::SESSION_CREATE, &claim.uid, email, "");
    let others = audit::logged(
        cx,
        vec![log],
        store_for_existing_user(cx, &new.item, clear, hash.as_deref()),
    )
    .await?;
    if let Some(verified) = hash.as_deref() {
        crate::account::upgrade_hash(app, &claim.uid, password, verified).await;
    }
    if app.config.session_alerts && others > 0 {
        alert(cx, email, "", &new.item).await;
    }
    Ok(new)
}

/// `POST /account/sessions/anonymous`: a new password-less user and its session, one transaction.
pub async fn create_anonymous(cx: &Ctx<'_, '_>) -> Result<NewSession> {
    let app = cx.app;
    let _client = cx.client;
    let now = cx.now;
    let uid = ids::unique(now, app.entropy.as_ref());
    let user = UserItem::new(&uid, now);
    let new = build(cx, &uid, "anonymous", "", &["anonymous"]);
    let logs = vec![
        audit::entry(cx, audit::event::USER_CREATE, &uid, "", ""),
        audit::entry(cx, audit::event::SESSION_CREATE, &uid, "", ""),
    ];
    let create = async {
        app.store
            .create_user(&user, None, None, Some(&new.item))
            .await
            .map_err(|e| match e {
                WriteError::Conflict(Conflict::UserLimit) => {
                    Error::new(ErrorType::UserCountExceeded)
                }
                WriteError::Conflict(_) => Error::internal("anonymous user id collision"),
                WriteError::Other(e) => e,
            })
    };
    audit::logged(cx, logs, create).await?;
    Ok(new)
}

/// `PATCH /account/sessions/{id}`: push the expiry to now + session duration.
/// An OAuth2 session's provider tokens, sealed as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTokens {
    pub access_sealed: String,
    pub refresh_sealed: String,
    pub expiry: Option<Millis>,
}

/// `PATCH /account/sessions/{id}` of an OAuth2 session whose provider gave fresh tokens: the
/// new expiry and the tokens in one conditional write.
pub async fn extend_with_tokens(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: &SessionItem,
    tokens: ProviderTokens,
) -> Result<SessionItem> {
    let mut new = session.clone();
    new.expire = cx.now + cx.app.config.session_duration_secs * 1000;
    new.expires_at = new.expire / 1000;
    new.updated = cx.now;
    new.provider_access_token = tokens.access_sealed;
    new.provider_refresh_token = tokens.refresh_sealed;
    new.provider_access_token_expiry = tokens.expiry;
    match cx
        .app
        .store
        .update_user_and_session((user, user), (session, &new), None, &[])
        .await
    {
        Ok(()) => Ok(new),
        Err(WriteError::Conflict(_)) => Err(Error::new(ErrorType::UserSessionNotFound)),
        Err(WriteError::Other(e)) => Err(e),
    }
}

pub async fn extend(cx: &Ctx<'_, '_>, session: &SessionItem) -> Result<SessionItem> {
    let app = cx.app;
    let now = cx.now;
    let expire = now + app.config.session_duration_secs * 1000;
    app.store
        .extend_session(&session.uid, &session.id, expire, now)
        .await?
        .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))
}

/// `DELETE /account/sessions/{id}`.
pub async fn delete(cx: &Ctx<'_, '_>, session: &SessionItem) -> Result<()> {
    let app = cx.app;
    if app.store.delete_session(&session.uid, &session.id).await? {
        Ok(())
    } else {
        Err(Error::new(ErrorType::UserSessionNotFound))
    }
}

/// Delete every session in `sessions` (used by logout-all and password changes).
pub async fn delete_all(cx: &Ctx<'_, '_>, uid: &str, sessions: &[SessionItem]) -> Result<()> {
    let app = cx.app;
    let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    app.store.delete_sessions(uid, &ids).await
}

/// Validate a `{sessionId}` path parameter (`current` or an ID).
pub fn validate_session_id(id: &str) -> Result<()> {
    if id == "current" || ids::is_valid_custom(id) {
        Ok(())
    } else {
        Err(Error::invalid_param("sessionId", ids::UID_DESCRIPTION))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(n: usize) -> Vec<(String, Millis)> {
        (0..n).map(|i| (format!("s{i}"), i as Millis)).collect()
    }

    #[test]
    fn evicts_oldest_beyond_limit() {
        assert!(over_limit(idx(9), "new", 100, 10).is_empty());
        assert_eq!(over_limit(idx(10), "new", 100, 10), vec!["s0"]);
        assert_eq!(over_limit(idx(12), "new", 100, 10), vec!["s0", "s1", "s2"]);
        // The index may already contain the new session.
        let mut with_new = idx(10);
        with_new.push(("new".into(), 100));
        assert_eq!(over_limit(with_new, "new", 100, 10), vec!["s0"]);
        assert!(over_limit(idx(50), "new", 100, 0).is_empty());
    }

    #[test]
    fn new_session_is_never_evicted_even_if_clock_skewed() {
        assert_eq!(over_limit(idx(2), "new", -5, 1), vec!["s0", "s1"]);
    }
}
