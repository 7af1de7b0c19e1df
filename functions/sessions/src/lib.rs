//! `sessions` function: create (email/password, anonymous, token exchange), list, get, extend and
//! delete sessions, and mint JWTs from a session. Handlers parse params, call `account_core::session`
//! / `account_core::token` / `account_core::jwt` and render the model.

use account_core::item::SessionItem;
use account_core::session::{self, NewSession};
use account_core::{audit, jwt, Error, ErrorType, Result};
use account_edge::api::{Auth, Call, CookieAction, HandlerFuture, Reply, UserCall};
use account_edge::routes::{RouteId, SessionsOpenRoute, SessionsUserRoute, Split};
use account_edge::{model, validate};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // Both matches are exhaustive, so a route of this function without a handler is a compile
    // error, and a user route's handler gets a `UserCall`, whose user cannot be missing.
    let RouteId::Sessions(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    match route.split() {
        Split::Open(route) => open_route(route, &call).await,
        Split::User(route) => user_route(route, &call.into_user()?).await,
    }
}

async fn open_route(route: SessionsOpenRoute, call: &Call<'_>) -> Result<Reply> {
    let cx = call.cx();
    match route {
        SessionsOpenRoute::CreateEmailPasswordSession => {
            let email = validate::email_param(&call.params, "email")?;
            let password = validate::password_param(&call.params, "password")?;
            let new = session::create_email_password(&cx, &email, password).await?;
            Ok(created(call, new))
        }
        SessionsOpenRoute::CreateAnonymousSession => {
            let new = session::create_anonymous(&cx).await?;
            Ok(created(call, new))
        }
        SessionsOpenRoute::CreateSession
        | SessionsOpenRoute::UpdateMagicUrlSession
        | SessionsOpenRoute::UpdatePhoneSession => {
            let (uid, secret) = validate::user_and_secret(&call.params)?;
            let new = account_core::token::create_session(&cx, uid, secret).await?;
            Ok(created(call, new))
        }
    }
}

async fn user_route(route: SessionsUserRoute, call: &UserCall<'_>) -> Result<Reply> {
    let (cx, me) = (call.cx(), &call.me);
    match route {
        SessionsUserRoute::ListSessions => {
            let items: Vec<_> = me.sessions.iter().map(|s| render(call, s)).collect();
            Ok(Reply::ok(model::session_list(&items)))
        }
        SessionsUserRoute::GetSession => {
            let s = path_session(call, me)?;
            Ok(Reply::ok(render(call, s)))
        }
        SessionsUserRoute::UpdateSession => {
            let s = path_session(call, me)?;
            let log = audit::for_user(&cx, audit::event::SESSION_UPDATE, &me.user);
            // An OAuth2 session also gets fresh provider tokens (contract §4.6).
            let update = async {
                match account_core::oauth2::refresh_tokens(&cx, s).await? {
                    Some(tokens) => session::extend_with_tokens(&cx, &me.user, s, tokens).await,
                    None => session::extend(&cx, s).await,
                }
            };
            let s = audit::logged(&cx, vec![log], update).await?;
            Ok(Reply::ok(render(call, &s)))
        }
        SessionsUserRoute::DeleteSession => {
            let s = path_session(call, me)?;
            let log = audit::for_user(&cx, audit::event::SESSION_DELETE, &me.user);
            audit::logged(&cx, vec![log], session::delete(&cx, s)).await?;
            let reply = Reply::no_content();
            Ok(if me.is_current(s) {
                reply.cookie(CookieAction::Clear)
            } else {
                reply
            })
        }
        SessionsUserRoute::DeleteSessions => {
            let log = audit::for_user(&cx, audit::event::SESSION_DELETE, &me.user);
            audit::logged(
                &cx,
                vec![log],
                session::delete_all(&cx, &me.user.id, &me.sessions),
            )
            .await?;
            let reply = Reply::no_content();
            Ok(if me.jwt {
                reply
            } else {
                reply.cookie(CookieAction::Clear)
            })
        }
        SessionsUserRoute::CreateJwt => create_jwt(call),
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
    let item = account_core::oauth2::reveal_session(&call.app.config.keys, &new.item);
    let body = model::session(&item, true, secret);
    let expire = new.item.expire;
    Reply::created(body).cookie(CookieAction::Set {
        credential: encoded,
        expire,
    })
}

/// A session for its owner: OAuth2 provider tokens are unsealed for them.
fn render(call: &UserCall<'_>, s: &SessionItem) -> serde_json::Value {
    let revealed = account_core::oauth2::reveal_session(&call.app.config.keys, s);
    model::session(&revealed, call.me.is_current(s), "")
}

fn path_session<'a>(call: &Call<'_>, auth: &'a Auth) -> Result<&'a SessionItem> {
    let id = call.path_param("sessionId");
    session::validate_session_id(id)?;
    auth.find_session(id)
        .ok_or_else(|| Error::new(ErrorType::UserSessionNotFound))
}

fn create_jwt(call: &UserCall<'_>) -> Result<Reply> {
    let auth = &call.me;
    if auth.jwt {
        return Err(Error::new(ErrorType::UserJwtCreationDenied));
    }
    let duration = validate::jwt_duration(call.params.get("duration"))?;
    let token = jwt::issue(
        &call.app.config.keys,
        &auth.user.id,
        &auth.session.id,
        duration,
        call.now,
    )?;
    Ok(Reply::created(serde_json::json!({ "jwt": token })))
}
