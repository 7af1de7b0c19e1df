//! Passwordless login tokens: email OTP and magic URL (new users too), phone OTP.

use super::*;

/// A login token for `token.target`: for the user whose claim holds it (`owner`), else for a
/// new user (`new_user` builds it from its ID) created in the same transaction. When the
/// address changed hands between the lookup and the write (its owner moved off it, or a
/// parallel request created its user), it is looked up again.
pub(super) async fn login_token<Fut>(
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
        let custom = app
            .template(&crate::custom_templates::SMS_LOGIN, locale)
            .await;
        let sms = messages::code_sms(
            &app.config.project_name,
            locale,
            phone,
            &issued.secret,
            custom.as_ref(),
        );
        deliver(app, &issued, app.outbox.text(&sms)).await?;
    }
    Ok(issued)
}
