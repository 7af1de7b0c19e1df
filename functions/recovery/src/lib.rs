//! `recovery` function: password recovery. Handlers parse params, call `shared::token` and
//! render the `Token` model.

use shared::api::{Call, HandlerFuture, Reply};
use shared::routes::{RecoveryRoute, RouteId};
use shared::{audit, model, token, validate, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let (app, now) = (call.app, call.now);
    // Another function's route never reaches this Lambda (API Gateway routes by the same table);
    // the match below is exhaustive, so a route of this function without a handler is a
    // compile error.
    let RouteId::Recovery(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route {
        RecoveryRoute::CreateRecovery => {
            let email = validate::email_param(&call.params, "email")?;
            let url = call
                .params
                .required_str("url", "Value must be a valid URL")?;
            let url = validate::redirect_url("url", url, &app.config)?;
            let issued = token::create_recovery(
                app,
                &call.gate(),
                &call.client,
                &email,
                &url,
                call.locale(),
                now,
            )
            .await?;
            Ok(Reply::created(model::token(
                &issued.token,
                call.reveal(&issued.secret),
            )))
        }
        RecoveryRoute::UpdateRecovery => {
            let (uid, secret) = validate::user_and_secret(&call.params)?;
            let password = validate::new_password_param(
                &app.config.password_policy,
                &call.params,
                "password",
            )?;
            let log = audit::entry(
                app,
                audit::event::RECOVERY_UPDATE,
                uid,
                "",
                "",
                &call.client,
                now,
            );
            let token = audit::alongside(
                app,
                vec![log],
                token::complete_recovery(app, &call.gate(), uid, secret, password, now),
            )
            .await?;
            Ok(Reply::ok(model::token(&token, "")))
        }
    }
}
