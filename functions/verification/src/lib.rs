//! `verification` function: email and phone verification. Handlers parse params, call
//! `account_core::token` and render the `Token` model.

use account_core::token::{self, Kind};
use account_core::{audit, Error, ErrorType, Result};
use account_edge::api::{Call, HandlerFuture, Reply, UserCall};
use account_edge::routes::{RouteId, Split, VerificationOpenRoute, VerificationUserRoute};
use account_edge::{model, validate};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // Both matches are exhaustive, so a route of this function without a handler is a compile
    // error, and a user route's handler gets a `UserCall`, whose user cannot be missing.
    let RouteId::Verification(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route.split() {
        Split::Open(VerificationOpenRoute::UpdateEmailVerification) => {
            confirm(&call, Kind::VerifyEmail).await
        }
        Split::Open(VerificationOpenRoute::UpdatePhoneVerification) => {
            confirm(&call, Kind::VerifyPhone).await
        }
        Split::User(route) => create(route, &call.into_user()?).await,
    }
}

async fn create(route: VerificationUserRoute, call: &UserCall<'_>) -> Result<Reply> {
    let (cx, user) = (call.cx(), &call.me.user);
    // Parameters are checked before anything is written (the log entry included).
    let url = match route {
        VerificationUserRoute::CreateEmailVerification => {
            let url = call
                .params
                .required_str("url", "Value must be a valid URL")?;
            Some(validate::redirect_url("url", url, &call.app.config)?)
        }
        VerificationUserRoute::CreatePhoneVerification => None,
    };
    let log = audit::for_user(&cx, audit::event::VERIFICATION_CREATE, user);
    let issue = async {
        match &url {
            Some(url) => token::create_email_verification(&cx, user, url).await,
            None => token::create_phone_verification(&cx, user).await,
        }
    };
    let issued = audit::logged(&cx, vec![log], issue).await?;
    Ok(Reply::created(model::token(
        &issued.token,
        call.reveal(&issued.secret),
    )))
}

async fn confirm(call: &Call<'_>, kind: Kind) -> Result<Reply> {
    let (uid, secret) = validate::user_and_secret(&call.params)?;
    let cx = call.cx();
    let log = audit::entry(&cx, audit::event::VERIFICATION_UPDATE, uid, "", "");
    let token = audit::logged(
        &cx,
        vec![log],
        token::confirm_verification(&cx, kind, uid, secret),
    )
    .await?;
    Ok(Reply::ok(model::token(&token, "")))
}
