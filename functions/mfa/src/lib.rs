//! `mfa` function: TOTP authenticators, challenges, recovery codes and the MFA switch. Handlers
//! parse params, call `account_core::mfa` and render the model.

use account_core::audit::{self, event};
use account_core::mfa::{self, Factor};
use account_core::{Error, ErrorType, Result};
use account_edge::api::{Call, HandlerFuture, Reply, UserCall};
use account_edge::routes::{MfaUserRoute, RouteId, Split};
use account_edge::{model, validate};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // The match is exhaustive, so a route of this function without a handler is a compile
    // error; every route here needs a user, so every handler gets a `UserCall`.
    let RouteId::Mfa(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route.split() {
        Split::User(route) => user_route(route, &call.into_user()?).await,
        Split::Open(route) => match route {},
    }
}

async fn user_route(route: MfaUserRoute, call: &UserCall<'_>) -> Result<Reply> {
    let (cx, auth) = (call.cx(), &call.me);
    let user = &auth.user;
    match route {
        MfaUserRoute::ListMfaFactors => Ok(Reply::ok(mfa::factors(user))),
        MfaUserRoute::UpdateMfa => {
            let enabled = match call.params.required("mfa")? {
                serde_json::Value::Bool(b) => *b,
                _ => return Err(Error::invalid_param("mfa", "Value must be a valid boolean")),
            };
            let log = audit::for_user(&cx, event::USER_UPDATE, user);
            let user = audit::logged(
                &cx,
                vec![log],
                mfa::set_enabled(&cx, user, auth.current(), enabled),
            )
            .await?;
            Ok(Reply::ok(model::account(&user)))
        }
        MfaUserRoute::CreateMfaAuthenticator => {
            authenticator_type(call)?;
            let (secret, uri) = mfa::create_authenticator(&cx, user).await?;
            Ok(Reply::ok(
                serde_json::json!({ "secret": secret, "uri": uri }),
            ))
        }
        MfaUserRoute::UpdateMfaAuthenticator => {
            authenticator_type(call)?;
            let otp = otp(call, "otp")?;
            let session = auth
                .current()
                .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))?;
            let user = mfa::verify_authenticator(&cx, user, session, otp).await?;
            Ok(Reply::ok(model::account(&user)))
        }
        MfaUserRoute::DeleteMfaAuthenticator => {
            authenticator_type(call)?;
            mfa::delete_authenticator(&cx, user).await?;
            Ok(Reply::no_content())
        }
        MfaUserRoute::CreateMfaChallenge => {
            let factor = Factor::parse(
                call.params
                    .required_str("factor", "Value must be a valid string")?,
            )?;
            let log = audit::for_user(&cx, event::CHALLENGE_CREATE, user);
            let c = audit::logged(&cx, vec![log], mfa::create_challenge(&cx, user, factor)).await?;
            Ok(Reply::created(model::challenge(&c)))
        }
        MfaUserRoute::UpdateMfaChallenge => {
            let id = call
                .params
                .required_str("challengeId", &validate::text_description(256))?;
            validate::text("challengeId", id, 256)?;
            let otp = otp(call, "otp")?;
            let session = auth
                .current()
                .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))?;
            let log = audit::for_user(&cx, event::CHALLENGES_UPDATE, user);
            let s = audit::logged(
                &cx,
                vec![log],
                mfa::complete_challenge(&cx, user, session, id, otp),
            )
            .await?;
            Ok(Reply::ok(model::session(&s, true, "")))
        }
        MfaUserRoute::GetMfaRecoveryCodes => Ok(Reply::ok(codes(mfa::recovery_codes(&cx, user)?))),
        MfaUserRoute::CreateMfaRecoveryCodes => Ok(Reply::created(codes(
            mfa::generate_recovery_codes(&cx, user, false).await?,
        ))),
        MfaUserRoute::UpdateMfaRecoveryCodes => Ok(Reply::ok(codes(
            mfa::generate_recovery_codes(&cx, user, true).await?,
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
