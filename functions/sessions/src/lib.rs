//! `sessions` function: create (email/password, anonymous, token exchange), list, get, extend and
//! delete sessions, and mint JWTs from a session. Handlers parse params, call `shared::session`
//! / `shared::token` / `shared::jwt` and render the model.

use shared::api::{Auth, Call, CookieAction, HandlerFuture, Reply};
use shared::item::SessionItem;
use shared::routes::{RouteId, SessionsRoute};
use shared::session::{self, NewSession};
use shared::{audit, jwt, model, validate, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table);
    // the match below is exhaustive, so a route of this function without a handler is a
    // compile error.
    let RouteId::Sessions(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route {
        SessionsRoute::CreateEmailPasswordSession => create_email_password(&call).await,
        SessionsRoute::CreateAnonymousSession => {
            let new = session::create_anonymous(call.app, &call.client, call.now).await?;
            Ok(created(&call, new))
        }
        SessionsRoute::CreateSession
        | SessionsRoute::UpdateMagicUrlSession
        | SessionsRoute::UpdatePhoneSession => {
            let (uid, secret) = validate::user_and_secret(&call.params)?;
            let new = shared::token::create_session(
                call.app,
                &call.gate(),
                uid,
                secret,
                &call.client,
                call.now,
            )
            .await?;
            Ok(created(&call, new))
        }
        SessionsRoute::ListSessions => list(&call),
        SessionsRoute::GetSession => {
            let auth = call.auth()?;
            let s = path_session(&call, auth)?;
            Ok(Reply::ok(render(auth, s)))
        }
        SessionsRoute::UpdateSession => {
            let auth = call.auth()?;
            let s = path_session(&call, auth)?;
            let log = audit::for_user(
                call.app,
                audit::event::SESSION_UPDATE,
                &auth.user,
                &call.client,
                call.now,
            );
            let s = audit::alongside(call.app, vec![log], session::extend(call.app, s, call.now))
                .await?;
            Ok(Reply::ok(render(auth, &s)))
        }
        SessionsRoute::DeleteSession => {
            let auth = call.auth()?;
            let s = path_session(&call, auth)?;
            let log = audit::for_user(
                call.app,
                audit::event::SESSION_DELETE,
                &auth.user,
                &call.client,
                call.now,
            );
            audit::alongside(call.app, vec![log], session::delete(call.app, s)).await?;
            let reply = Reply::no_content();
            Ok(if auth.is_current(s) {
                reply.cookie(CookieAction::Clear)
            } else {
                reply
            })
        }
        SessionsRoute::DeleteSessions => {
            let auth = call.auth()?;
            let log = audit::for_user(
                call.app,
                audit::event::SESSION_DELETE,
                &auth.user,
                &call.client,
                call.now,
            );
            audit::alongside(
                call.app,
                vec![log],
                session::delete_all(call.app, &auth.user.id, &auth.sessions),
            )
            .await?;
            let reply = Reply::no_content();
            Ok(if auth.jwt {
                reply
            } else {
                reply.cookie(CookieAction::Clear)
            })
        }
        SessionsRoute::CreateJwt => create_jwt(&call),
    }
}

/// A creation response: `current` is true and the credential goes into the cookies. Servers
/// (API keys) also get it as `secret`, to forward with `X-Appwrite-Session` (SSR).
fn created(call: &Call<'_>, new: NewSession) -> Reply {
    let encoded = new.encoded();
    let secret = if call.privileged() {
        encoded.as_str()
    } else {
        ""
    };
    let body = model::session(&new.item, true, secret);
    let expire = new.item.expire;
    Reply::created(body).cookie(CookieAction::Set {
        credential: encoded,
        expire,
    })
}

fn render(auth: &Auth, s: &SessionItem) -> serde_json::Value {
    model::session(s, auth.is_current(s), "")
}

fn path_session<'a>(call: &Call<'_>, auth: &'a Auth) -> Result<&'a SessionItem> {
    let id = call.path_param("sessionId");
    session::validate_session_id(id)?;
    auth.find_session(id)
        .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))
}

fn list(call: &Call<'_>) -> Result<Reply> {
    let auth = call.auth()?;
    let items: Vec<_> = auth.sessions.iter().map(|s| render(auth, s)).collect();
    Ok(Reply::ok(model::session_list(&items)))
}

async fn create_email_password(call: &Call<'_>) -> Result<Reply> {
    let email = validate::email_param(&call.params, "email")?;
    let password = validate::password_param(&call.params, "password")?;
    let new = session::create_email_password(
        call.app,
        &call.gate(),
        &email,
        password,
        &call.client,
        call.now,
    )
    .await?;
    Ok(created(call, new))
}

fn create_jwt(call: &Call<'_>) -> Result<Reply> {
    let auth = call.auth()?;
    if auth.jwt {
        return Err(Error::new(ErrorType::UserJwtCreationDenied));
    }
    let duration = validate::jwt_duration(call.params.get("duration"))?;
    let token = jwt::issue(
        &call.app.config.secret_key,
        &auth.user.id,
        &auth.session.id,
        duration,
        call.now,
    )?;
    Ok(Reply::created(serde_json::json!({ "jwt": token })))
}
