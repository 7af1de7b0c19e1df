//! `recovery` function: password recovery. Handlers parse params, call `account_core::token` and
//! render the `Token` model.

use account_core::{audit, token, Error, ErrorType, Result};
use account_edge::api::{Call, HandlerFuture, Reply};
use account_edge::routes::{RecoveryOpenRoute, RouteId, Split};
use account_edge::{model, validate};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let (app, cx) = (call.app, call.cx());
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // The match is exhaustive, so a route of this function without a handler is a compile
    // error; the function has no user routes.
    let RouteId::Recovery(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    let route = match route.split() {
        Split::Open(route) => route,
        Split::User(route) => match route {},
    };
    match route {
        RecoveryOpenRoute::CreateRecovery => {
            let email = validate::email_param(&call.params, "email")?;
            let url = call
                .params
                .required_str("url", "Value must be a valid URL")?;
            let url = validate::redirect_url("url", url, &app.config)?;
            let issued = token::create_recovery(&cx, &email, &url).await?;
            Ok(Reply::created(model::token(
                &issued.token,
                call.reveal(&issued.secret),
            )))
        }
        RecoveryOpenRoute::UpdateRecovery => {
            let (uid, secret) = validate::user_and_secret(&call.params)?;
            let password = validate::new_password_param(
                &app.config.password_policy,
                &call.params,
                "password",
            )?;
            let log = audit::entry(&cx, audit::event::RECOVERY_UPDATE, uid, "", "");
            let token = audit::logged(
                &cx,
                vec![log],
                token::complete_recovery(&cx, uid, secret, password),
            )
            .await?;
            Ok(Reply::ok(model::token(&token, "")))
        }
    }
}
