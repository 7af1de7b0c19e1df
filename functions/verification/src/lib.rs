//! `verification` function: email and phone verification. Handlers parse params, call
//! `shared::token` and render the `Token` model.

use shared::api::{Call, HandlerFuture, Reply};
use shared::routes::RouteId;
use shared::token::{self, Kind};
use shared::{model, validate, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    match call.route.id {
        RouteId::CreateEmailVerification => {
            let url = validate::redirect_url(
                "url",
                call.params
                    .required_str("url", "Value must be a valid URL")?,
                &call.app.config,
            )?;
            let issued = token::create_email_verification(
                call.app,
                &call.auth()?.user,
                &url,
                call.locale(),
                call.now,
            )
            .await?;
            Ok(Reply::created(model::token(&issued.token, "")))
        }
        RouteId::CreatePhoneVerification => {
            let issued = token::create_phone_verification(
                call.app,
                &call.auth()?.user,
                call.locale(),
                call.now,
            )
            .await?;
            Ok(Reply::created(model::token(&issued.token, "")))
        }
        RouteId::UpdateEmailVerification => confirm(&call, Kind::VerifyEmail).await,
        RouteId::UpdatePhoneVerification => confirm(&call, Kind::VerifyPhone).await,
        _ => Err(Error::new(ErrorType::RouteNotFound)),
    }
}

async fn confirm(call: &Call<'_>, kind: Kind) -> Result<Reply> {
    let (uid, secret) = validate::user_and_secret(&call.params)?;
    let token = token::confirm_verification(call.app, kind, uid, secret, call.now).await?;
    Ok(Reply::ok(model::token(&token, "")))
}
