//! Email and phone verification: issue, and confirm.

use super::*;

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
            let custom = app
                .template(&crate::custom_templates::SMS_VERIFICATION, locale)
                .await;
            let sms = messages::code_sms(
                &app.config.project_name,
                locale,
                &phone,
                &issued.secret,
                custom.as_ref(),
            );
            deliver(app, &issued, app.outbox.text(&sms)).await?;
        }
        return Ok(issued);
    }
    Err(Error::contended())
}

/// Store a verification token for `user`'s `target`; `None` when the profile changed under
/// the request, with `user` read again to decide on.
pub(super) async fn verification(
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
pub(super) async fn profile_again(app: &App, uid: &str) -> Result<UserItem> {
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
