//! Password recovery: issue the link, and complete it with the new password.

use super::*;

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
pub(super) async fn store_recovery(
    app: &App,
    user: &UserItem,
    email: &str,
    now: Millis,
) -> Result<Issued> {
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
        let (ix, ids, pks) = tokio::join!(
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
            },
            async {
                match proof {
                    true => app.store.list_passkeys(uid).await,
                    false => Ok(vec![]),
                }
            }
        );
        Ok::<_, Error>((ix?, ids?, pks?))
    };
    let (phc, held) = tokio::join!(
        crypto::hash_password_async(password.to_owned(), app.entropy.clone()),
        holdings(!found.user.email_verification)
    );
    let phc = phc.map_err(Error::internal)?;
    let (mut index, mut identities, mut passkeys) = held?;
    let mut user = found.user.clone();
    for attempt in 0..3 {
        if attempt > 0 {
            user = reread(app, &found).await?;
            (index, identities, passkeys) = holdings(!user.email_verification).await?;
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
        }
        // A proof (the address was not verified when this attempt read the profile) holds only
        // while nothing was created since its reads: no session, link or passkey.
        if index.is_some() || !user.email_verification {
            r.expect.push(Expect::Accessed(user.accessed));
        }
        if !user.email_verification {
            r.expect.push(Expect::Passkeys(user.passkeys));
        }
        r.delete_identities = identities.clone();
        r.delete_passkeys = passkeys.clone();
        match app.store.redeem(&found.token, now, r).await {
            Ok(()) => return Ok(found.token),
            Err(WriteError::Conflict(Conflict::ProfileCondition)) if attempt < 2 => continue,
            Err(WriteError::Conflict(Conflict::ProfileCondition)) => return Err(Error::contended()),
            Err(e) => return Err(redeem_error(e)),
        }
    }
    Err(Error::contended())
}
