//! `passkeys` function: WebAuthn registration, listing, renaming and deletion of a user's
//! passkeys, and the guest sign-in ceremony that ends in a token for `createSession`. Handlers
//! parse params, call `account_core::passkey` and render the models.

use account_core::passkey;
use account_core::{ids, Error, ErrorType, Result};
use account_edge::api::{Call, HandlerFuture, Reply, UserCall};
use account_edge::model;
use account_edge::routes::{PasskeysOpenRoute, PasskeysUserRoute, RouteId, Split};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    let RouteId::Passkeys(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route.split() {
        Split::User(route) => user_route(route, &call.into_user()?).await,
        Split::Open(PasskeysOpenRoute::CreatePasskeyToken) => {
            let c = passkey::start_sign_in(&call.cx()).await?;
            Ok(Reply::created(model::passkey_challenge(&c)))
        }
        Split::Open(PasskeysOpenRoute::UpdatePasskeyToken) => {
            let (id, credential) = answer(&call)?;
            let issued = passkey::finish_sign_in(&call.cx(), id, credential).await?;
            // The client needs the secret for createSession: the answer proved the passkey.
            Ok(Reply::created(model::token(&issued.token, &issued.secret)))
        }
    }
}

const NAME: &str = "Value must be a valid string and at least 1 chars and no longer than 128 chars";

/// `credential`: the `PublicKeyCredential` JSON.
fn credential<'a>(call: &'a Call<'_>) -> Result<&'a serde_json::Value> {
    let credential = call.params.required("credential")?;
    if !credential.is_object() {
        return Err(Error::invalid_param(
            "credential",
            "Value must be a valid JSON object (the PublicKeyCredential)",
        ));
    }
    Ok(credential)
}

/// `challengeId` and `credential` (the `PublicKeyCredential` JSON).
fn answer<'a>(call: &'a Call<'_>) -> Result<(&'a str, &'a serde_json::Value)> {
    let id = call.params.required_str(
        "challengeId",
        "Value must be a valid string and at least 1 chars and no longer than 36 chars",
    )?;
    if id.is_empty() || id.len() > 36 {
        return Err(Error::invalid_param(
            "challengeId",
            "Value must be a valid string and at least 1 chars and no longer than 36 chars",
        ));
    }
    Ok((id, credential(call)?))
}

async fn user_route(route: PasskeysUserRoute, call: &UserCall<'_>) -> Result<Reply> {
    let (cx, auth) = (call.cx(), &call.me);
    let user = &auth.user;
    let session = &auth.session;
    // A JWT is never a recent sign-in (as for MFA-protected routes): a server holding one may
    // not add or remove a way into the account.
    let changes = matches!(
        route,
        PasskeysUserRoute::CreatePasskeyRegistration
            | PasskeysUserRoute::UpdatePasskeyRegistration
            | PasskeysUserRoute::DeletePasskey
    );
    if changes && auth.jwt {
        return Err(Error::with_message(
            ErrorType::UserChallengeRequired,
            "Passkeys are added and removed from a session, not with a JWT.",
        ));
    }
    match route {
        PasskeysUserRoute::CreatePasskeyRegistration => {
            let new = passkey::NewPasskey {
                id: call
                    .params
                    .optional_str("passkeyId", ids::CUSTOM_ID_DESCRIPTION)?,
                name: call.params.optional_str("name", NAME)?,
            };
            let c = passkey::start_registration(&cx, user, session, new).await?;
            Ok(Reply::created(model::passkey_challenge(&c)))
        }
        PasskeysUserRoute::UpdatePasskeyRegistration => {
            // `PUT /account/passkeys/{passkeyId}/verification` names the passkey; the alias
            // `PUT /account/passkeys/registration` names the ceremony.
            let (which, credential) = match call.path_param("passkeyId") {
                "" => {
                    let (id, credential) = answer(call)?;
                    (passkey::Registration::Challenge(id), credential)
                }
                id => (passkey::Registration::Passkey(id), credential(call)?),
            };
            let name = call.params.optional_str("name", NAME)?;
            let p =
                passkey::finish_registration(&cx, user, session, which, credential, name).await?;
            Ok(Reply::created(model::passkey(&p)))
        }
        PasskeysUserRoute::GetPasskey => {
            let p = passkey::get(&cx, user, call.path_param("passkeyId")).await?;
            Ok(Reply::ok(model::passkey(&p)))
        }
        PasskeysUserRoute::ListPasskeys => {
            let list = passkey::list(&cx, user).await?;
            Ok(Reply::ok(model::passkey_list(&list)))
        }
        PasskeysUserRoute::UpdatePasskey => {
            let name = call.params.required_str("name", NAME)?;
            let p = passkey::rename(&cx, user, call.path_param("passkeyId"), name).await?;
            Ok(Reply::ok(model::passkey(&p)))
        }
        PasskeysUserRoute::DeletePasskey => {
            let id = call.path_param("passkeyId");
            passkey::delete(&cx, user, session, &auth.sessions, id).await?;
            Ok(Reply::no_content())
        }
    }
}
