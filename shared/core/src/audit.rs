//! Security logs (`GET /account/logs`): one item per security-relevant action, written once the
//! action has succeeded, so the log never claims what did not happen.

use crate::context::Ctx;
use crate::error::Result;
use crate::item::{self, LogItem, UserItem};
use std::future::Future;

/// Appwrite's audit event names.
pub mod event {
    pub const USER_CREATE: &str = "user.create";
    pub const USER_UPDATE: &str = "user.update";
    pub const SESSION_CREATE: &str = "session.create";
    pub const SESSION_UPDATE: &str = "session.update";
    pub const SESSION_DELETE: &str = "session.delete";
    pub const RECOVERY_CREATE: &str = "recovery.create";
    pub const RECOVERY_UPDATE: &str = "recovery.update";
    pub const VERIFICATION_CREATE: &str = "verification.create";
    pub const VERIFICATION_UPDATE: &str = "verification.update";
    pub const CHALLENGE_CREATE: &str = "challenge.create";
    pub const CHALLENGES_UPDATE: &str = "challenges.update";
    pub const IDENTITY_DELETE: &str = "identity.delete";
    pub const PASSKEY_CREATE: &str = "passkey.create";
    pub const PASSKEY_UPDATE: &str = "passkey.update";
    pub const PASSKEY_DELETE: &str = "passkey.delete";
    /// A passkey answered a sign-in ceremony (its token follows).
    pub const PASSKEY_SIGN_IN: &str = "passkey.signin";
    /// A sign-in refused because the passkey's signature counter went backwards: the
    /// authenticator may have been cloned.
    pub const PASSKEY_CLONE_SUSPECTED: &str = "passkey.clone";
}

/// A log entry for `uid` (email and name as known at the time).
pub fn entry(cx: &Ctx<'_, '_>, event: &str, uid: &str, email: &str, name: &str) -> LogItem {
    let app = cx.app;
    let client = cx.client;
    let now = cx.now;
    let id = crate::ids::unique(now, app.entropy.as_ref());
    LogItem {
        pk: item::log_pk(uid),
        sk: format!("{now:015}#{id}"),
        event: event.to_owned(),
        user_id: uid.to_owned(),
        user_email: email.to_owned(),
        user_name: name.to_owned(),
        ip: client.ip.clone(),
        time: now,
        device: client.device.clone(),
        expires_at: now / 1000 + app.config.log_retention_days * 86_400,
    }
}

/// An entry for an existing user.
pub fn for_user(cx: &Ctx<'_, '_>, event: &str, user: &UserItem) -> LogItem {
    let _app = cx.app;
    let _client = cx.client;
    let _now = cx.now;
    entry(
        cx,
        event,
        &user.id,
        user.email.as_deref().unwrap_or_default(),
        &user.name,
    )
}

/// Run `action`, then, once it has succeeded, write `logs`. The log never claims what did not
/// happen, whatever fails in between (the fault lane's table check holds us to it): an action
/// that fails leaves no entry. The price is one sequential `PutItem` after the action; a log
/// write that fails is reported and does not undo the action.
pub async fn logged<T>(
    cx: &Ctx<'_, '_>,
    logs: Vec<LogItem>,
    action: impl Future<Output = Result<T>>,
) -> Result<T> {
    let result = action.await?;
    if let Err(e) = cx.app.store.put_logs(&logs).await {
        tracing::warn!(error = %e, "security log not written");
    }
    Ok(result)
}
