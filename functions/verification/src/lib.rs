//! `verification` function: email and phone verification. Handlers parse params, call
//! `shared::token` and render the `Token` model.

use shared::api::{Call, HandlerFuture, Reply};
use shared::routes::{RouteId, VerificationRoute};
use shared::token::{self, Kind};
use shared::{audit, model, validate, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let (app, now) = (call.app, call.now);
    // Another function's route never reaches this Lambda (API Gateway routes by the same table);
    // the match below is exhaustive, so a route of this function without a handler is a
    // compile error.
    let RouteId::Verification(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route {
        VerificationRoute::CreateEmailVerification => {
            let url = call
                .params
                .required_str("url", "Value must be a valid URL")?;
            let url = validate::redirect_url("url", url, &app.config)?;
            let log = audit::for_user(
                app,
                audit::event::VERIFICATION_CREATE,
                &call.auth()?.user,
                &call.client,
                now,
            );
            let issued = audit::alongside(
                app,
                vec![log],
                token::create_email_verification(app, &call.auth()?.user, &url, call.locale(), now),
            )
            .await?;
            Ok(Reply::created(model::token(
                &issued.token,
                call.reveal(&issued.secret),
            )))
        }
        VerificationRoute::CreatePhoneVerification => {
            let log = audit::for_user(
                app,
                audit::event::VERIFICATION_CREATE,
                &call.auth()?.user,
                &call.client,
                now,
            );
            let issued = audit::alongside(
                app,
                vec![log],
                token::create_phone_verification(app, &call.auth()?.user, call.locale(), now),
            )
            .await?;
            Ok(Reply::created(model::token(
                &issued.token,
                call.reveal(&issued.secret),
            )))
        }
        VerificationRoute::UpdateEmailVerification => confirm(&call, Kind::VerifyEmail).await,
        VerificationRoute::UpdatePhoneVerification => confirm(&call, Kind::VerifyPhone).await,
    }
}

async fn confirm(call: &Call<'_>, kind: Kind) -> Result<Reply> {
    let (uid, secret) = validate::user_and_secret(&call.params)?;
    let log = audit::entry(
        call.app,
        audit::event::VERIFICATION_UPDATE,
        uid,
        "",
        "",
        &call.client,
        call.now,
    );
    let token = audit::alongside(
        call.app,
        vec![log],
        token::confirm_verification(call.app, &call.gate(), kind, uid, secret, call.now),
    )
    .await?;
    Ok(Reply::ok(model::token(&token, "")))
}
