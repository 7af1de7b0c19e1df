//! `tokens` function: passwordless login tokens (email OTP, magic URL, phone OTP). Handlers parse
//! params, call `account_core::token` and render the `Token` model.

use account_core::credential::Credential;
use account_core::token::{self, Kind};
use account_core::{ids, Error, ErrorType, Result};
use account_edge::api::{Call, HandlerFuture, Reply};
use account_edge::routes::{RouteId, Split, TokensOpenRoute};
use account_edge::{model, validate};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // The match is exhaustive, so a route of this function without a handler is a compile
    // error; the function has no user routes.
    let RouteId::Tokens(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route.split() {
        Split::Open(TokensOpenRoute::CreateEmailToken) => email_login(&call, Kind::EmailOtp).await,
        Split::Open(TokensOpenRoute::CreateMagicUrlToken) => {
            email_login(&call, Kind::MagicUrl).await
        }
        Split::Open(TokensOpenRoute::CreatePhoneToken) => phone_login(&call).await,
        Split::User(route) => match route {},
    }
}

fn user_id<'a>(call: &'a Call<'_>) -> Result<&'a str> {
    let id = call
        .params
        .required_str("userId", ids::CUSTOM_ID_DESCRIPTION)?;
    if id == "unique()" || ids::is_valid_custom(id) {
        Ok(id)
    } else {
        Err(Error::invalid_param("userId", ids::CUSTOM_ID_DESCRIPTION))
    }
}

async fn email_login(call: &Call<'_>, kind: Kind) -> Result<Reply> {
    let uid = user_id(call)?;
    let email = validate::email_param(&call.params, "email")?;
    let url = match (
        kind,
        call.params
            .optional_str("url", "Value must be a valid URL")?,
    ) {
        (Kind::MagicUrl, Some(u)) => Some(validate::redirect_url("url", u, &call.app.config)?),
        (Kind::MagicUrl, None) => Some(token::default_magic_url(
            &call.app.config,
            call.req.gateway_domain.as_deref(),
        )?),
        _ => None,
    };
    let phrase = call.params.optional_bool("phrase")?.unwrap_or(false);
    let request = token::EmailLogin {
        kind,
        requested_uid: uid,
        email: &email,
        url: url.as_ref(),
        phrase,
        locale: call.locale(),
    };
    let issued = token::create_email_login(&call.cx(), request).await?;
    Ok(Reply::created(model::token(
        &issued.token,
        call.reveal(&issued.secret),
    )))
}

async fn phone_login(call: &Call<'_>) -> Result<Reply> {
    let uid = user_id(call)?;
    let phone = validate::phone_param(&call.params, "phone")?;
    let issued = token::create_phone_login(&call.cx(), uid, &phone).await?;
    // Appwrite quirk kept for SDK parity: servers get the phone code wrapped as a credential.
    let wrapped = Credential {
        id: issued.token.uid.clone(),
        secret: issued.secret.clone(),
    }
    .encode();
    Ok(Reply::created(model::token(
        &issued.token,
        call.reveal(&wrapped),
    )))
}
