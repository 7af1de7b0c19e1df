//! `mfa` function: TOTP authenticators, challenges, recovery codes and the MFA switch. Handlers
//! parse params, call `shared::mfa` and render the model.

use shared::api::{Call, HandlerFuture, Reply};
use shared::audit::{self, event};
use shared::mfa::{self, Factor};
use shared::routes::{MfaRoute, RouteId};
use shared::{model, validate, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    let (app, now) = (call.app, call.now);
    let auth = call.auth()?;
    let user = &auth.user;
    // Another function's route never reaches this Lambda (API Gateway routes by the same table);
    // the match below is exhaustive, so a route of this function without a handler is a
    // compile error.
    let RouteId::Mfa(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route {
        MfaRoute::ListMfaFactors => Ok(Reply::ok(mfa::factors(user))),
        MfaRoute::UpdateMfa => {
            let enabled = match call.params.required("mfa")? {
                serde_json::Value::Bool(b) => *b,
                _ => return Err(Error::invalid_param("mfa", "Value must be a valid boolean")),
            };
            let log = audit::for_user(app, event::USER_UPDATE, user, &call.client, now);
            let user = audit::alongside(
                app,
                vec![log],
                mfa::set_enabled(app, user, auth.current(), enabled, now),
            )
            .await?;
            Ok(Reply::ok(model::account(&user)))
        }
        MfaRoute::CreateMfaAuthenticator => {
            authenticator_type(&call)?;
            let (secret, uri) = mfa::create_authenticator(app, user, now).await?;
            Ok(Reply::ok(
                serde_json::json!({ "secret": secret, "uri": uri }),
            ))
        }
        MfaRoute::UpdateMfaAuthenticator => {
            authenticator_type(&call)?;
            let otp = otp(&call, "otp")?;
            let session = auth
                .current()
                .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))?;
            let user = mfa::verify_authenticator(app, user, session, otp, now).await?;
            Ok(Reply::ok(model::account(&user)))
        }
        MfaRoute::DeleteMfaAuthenticator => {
            authenticator_type(&call)?;
            mfa::delete_authenticator(app, user, now).await?;
            Ok(Reply::no_content())
        }
        MfaRoute::CreateMfaChallenge => {
            let factor = Factor::parse(
                call.params
                    .required_str("factor", "Value must be a valid string")?,
            )?;
            let log = audit::for_user(app, event::CHALLENGE_CREATE, user, &call.client, now);
            let c = audit::alongside(
                app,
                vec![log],
                mfa::create_challenge(app, user, factor, call.locale(), now),
            )
            .await?;
            Ok(Reply::created(model::challenge(&c)))
        }
        MfaRoute::UpdateMfaChallenge => {
            let id = call
                .params
                .required_str("challengeId", &validate::text_description(256))?;
            validate::text("challengeId", id, 256)?;
            let otp = otp(&call, "otp")?;
            let session = auth
                .current()
                .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))?;
            let log = audit::for_user(app, event::CHALLENGES_UPDATE, user, &call.client, now);
            let s = audit::alongside(
                app,
                vec![log],
                mfa::complete_challenge(app, user, session, id, otp, now),
            )
            .await?;
            Ok(Reply::ok(model::session(&s, true, "")))
        }
        MfaRoute::GetMfaRecoveryCodes => Ok(Reply::ok(codes(mfa::recovery_codes(app, user)?))),
        MfaRoute::CreateMfaRecoveryCodes => Ok(Reply::created(codes(
            mfa::generate_recovery_codes(app, user, false, now).await?,
        ))),
        MfaRoute::UpdateMfaRecoveryCodes => Ok(Reply::ok(codes(
            mfa::generate_recovery_codes(app, user, true, now).await?,
        ))),
    }
}

fn codes(list: Vec<String>) -> serde_json::Value {
    serde_json::json!({ "recoveryCodes": list })
}

/// `{type}` must be `totp` (case-insensitive).
fn authenticator_type(call: &Call<'_>) -> Result<()> {
    if call.path_param("type").eq_ignore_ascii_case("totp") {
        Ok(())
    } else {
        Err(Error::invalid_param("type", "Value must be one of (totp)"))
    }
}

fn otp<'a>(call: &'a Call<'_>, name: &str) -> Result<&'a str> {
    let v = call
        .params
        .required_str(name, &validate::text_description(256))?;
    validate::text(name, v, 256)?;
    Ok(v)
}
