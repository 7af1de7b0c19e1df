//! Redemption: find the token (guarding short codes), check it is still bound to its address,
//! and spend it with its effect in one transaction; token mode's wrapped OAuth2 secrets.

use super::*;

/// Where a redemption's guessing budget is kept. Only short codes have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GuardScope {
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
pub(super) struct Found {
    pub(super) user: UserItem,
    pub(super) token: TokenItem,
    pub(super) kind: Kind,
    /// The guard this attempt was counted in (a right code clears it).
    pub(super) guard: Option<String>,
}

/// The profile's current address for a token of `kind`.
pub(super) fn address_of(user: &UserItem, kind: Kind) -> Option<&str> {
    if kind.by_phone() {
        user.phone.as_deref()
    } else {
        user.email.as_deref()
    }
}

/// The profile condition that binds a redemption to the address its token was sent to.
pub(super) fn bound_to(token: &TokenItem, kind: Kind) -> Expect {
    if kind.by_phone() {
        Expect::Phone(token.target.clone())
    } else {
        Expect::Email(token.target.clone())
    }
}

pub(super) fn invalid_token() -> Error {
    Error::new(ErrorType::UserInvalidToken)
}

/// Find the live token among `kinds` that `secret` opens. With a guard, one attempt is reserved
/// first (beside the read, so no added latency); once the budget is spent even the right code is
/// refused. A token whose address is no longer the profile's is refused.
/// What a redemption presents and may open.
pub(super) struct Lookup<'a> {
    pub(super) uid: &'a str,
    pub(super) secret: &'a str,
    pub(super) kinds: &'a [Kind],
    pub(super) guard: Option<GuardScope>,
    /// The error when `uid` names no user.
    pub(super) missing_user: ErrorType,
}

pub(super) async fn find(
    app: &App,
    gate: &Gate<'_, '_>,
    q: Lookup<'_>,
    now: Millis,
) -> Result<Found> {
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
    // OAuth2 secrets are bound to their provider (the target), passkey secrets to their
    // passkey, not to an address.
    let by_address = !matches!(kind, Kind::OAuth2 | Kind::Passkey);
    if by_address && address_of(&user, kind) != Some(token.target.as_str()) {
        return Err(invalid_token());
    }
    Ok(Found {
        user,
        token,
        kind,
        guard: guard_sk,
    })
}

pub(super) fn redeem_error(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(_) => invalid_token(),
        WriteError::Other(e) => e,
    }
}

/// The profile again, after a conflicting write, still bound to the token's address.
pub(super) async fn reread(app: &App, found: &Found) -> Result<UserItem> {
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
pub(super) fn revoke_unproven(changed: &mut UserItem, kind: Kind) -> Claims {
    let mut claims = Claims {
        revoke_tokens: vec![Kind::OAuth2.as_str(), Kind::Passkey.as_str()],
        ..Claims::default()
    };
    changed.password = None;
    // Its passkeys go too (`Redemption::delete_passkeys`), and with them their count.
    changed.passkeys = 0;
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
pub(super) async fn oauth2_session(
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
    // An ownership proof committed since the secret was found revoked it; the condition on
    // `accessed` also refuses a secret whose identity the proof deleted after it was read.
    spend_for_session(cx, &found, new).await
}

/// Spend a token that proves no address (OAuth2 token mode, a passkey sign-in) for `new`: one
/// transaction (token, session, the profile's `accessed`), conditioned on nothing having been
/// created since the profile was read (an ownership proof in between revoked the token), then
/// the log and the session limit.
async fn spend_for_session(cx: &Ctx<'_, '_>, found: &Found, new: NewSession) -> Result<NewSession> {
    let app = cx.app;
    let uid = found.user.id.as_str();
    let mut changed = found.user.clone();
    changed.accessed = cx.now;
    let r = Redemption {
        session: Some(&new.item),
        user_change: Some((&found.user, &changed)),
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

/// A passkey token becomes a session: provider `passkey`, and both factors at once (a passkey
/// with user verification is a multi-factor authenticator: README "Where we differ").
async fn passkey_session(cx: &Ctx<'_, '_>, found: Found) -> Result<NewSession> {
    if !found.user.status {
        return Err(Error::new(ErrorType::UserBlocked));
    }
    let uid = found.user.id.clone();
    let mut new = session::build(
        cx,
        &uid,
        item::PASSKEY_PROVIDER,
        &found.token.target,
        &[crate::item::PASSKEY_FACTOR],
    );
    new.item.mfa_updated_at = Some(cx.now);
    // An ownership proof committed since the token was read revoked it (and the passkey).
    spend_for_session(cx, &found, new).await
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
        (&[Kind::MagicUrl, Kind::Passkey], None)
    };
    let q = Lookup {
        uid,
        secret,
        kinds,
        guard,
        missing_user: ErrorType::UserInvalidToken,
    };
    let found = find(app, gate, q, now).await?;
    if found.kind == Kind::Passkey {
        return passkey_session(cx, found).await;
    }
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
            // password, a session (ever made, or live), a linked identity, a passkey. Only an
            // unproven address pays for the reads.
            let (index, identities, passkeys) = match unproven {
                true => {
                    let (ix, ids, pks) = tokio::join!(
                        app.store.session_index(uid),
                        app.store.list_identities(uid),
                        app.store.list_passkeys(uid)
                    );
                    (ix?, ids?, pks?)
                }
                false => (vec![], vec![], vec![]),
            };
            let proof = unproven
                && (user.password.is_some()
                    || user.accessed > user.registration
                    || !index.is_empty()
                    || !identities.is_empty()
                    || !passkeys.is_empty());
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
                r.delete_passkeys = passkeys;
                r.expect.push(Expect::Passkeys(user.passkeys));
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

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct WrappedSecret {
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
