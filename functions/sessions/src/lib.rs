//! `sessions` function: create (email/password, anonymous), list, get, extend and delete
//! sessions. Handlers parse params, call `shared::session` and render the model.

use shared::api::{Auth, Call, CookieAction, HandlerFuture, Reply};
use shared::item::SessionItem;
use shared::routes::RouteId;
use shared::session::{self, NewSession};
use shared::{model, validate, Error, ErrorType, Result};

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    match call.route.id {
        RouteId::CreateEmailPasswordSession => create_email_password(&call).await,
        RouteId::CreateAnonymousSession => {
            let new = session::create_anonymous(call.app, &call.client, call.now).await?;
            Ok(created(new))
        }
        RouteId::CreateSession | RouteId::UpdateMagicUrlSession | RouteId::UpdatePhoneSession => {
            let (uid, secret) = validate::user_and_secret(&call.params)?;
            let new = shared::token::create_session(call.app, uid, secret, &call.client, call.now)
                .await?;
            Ok(created(new))
        }
        RouteId::ListSessions => list(&call),
        RouteId::GetSession => {
            let auth = call.auth()?;
            let s = path_session(&call, auth)?;
            Ok(Reply::ok(render(auth, s)))
        }
        RouteId::UpdateSession => {
            let auth = call.auth()?;
            let s = path_session(&call, auth)?;
            let s = session::extend(call.app, s, call.now).await?;
            Ok(Reply::ok(render(auth, &s)))
        }
        RouteId::DeleteSession => {
            let auth = call.auth()?;
            let s = path_session(&call, auth)?;
            session::delete(call.app, s).await?;
            let reply = Reply::no_content();
            Ok(if s.id == auth.session.id {
                reply.cookie(CookieAction::Clear)
            } else {
                reply
            })
        }
        RouteId::DeleteSessions => {
            let auth = call.auth()?;
            session::delete_all(call.app, &auth.user.id, &auth.sessions).await?;
            Ok(Reply::no_content().cookie(CookieAction::Clear))
        }
        _ => Err(Error::new(ErrorType::RouteNotFound)),
    }
}

/// A creation response: `current` is true and the credential goes into the cookies.
fn created(new: NewSession) -> Reply {
    let body = model::session(&new.item, true, "");
    let expire = new.item.expire;
    Reply::created(body).cookie(CookieAction::Set {
        credential: new.encoded(),
        expire,
    })
}

fn render(auth: &Auth, s: &SessionItem) -> serde_json::Value {
    model::session(s, s.id == auth.session.id, "")
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
    let email = validate::email(
        "email",
        call.params
            .required_str("email", validate::EMAIL_DESCRIPTION)?,
    )?;
    let password = call
        .params
        .required_str("password", validate::PASSWORD_DESCRIPTION)?;
    validate::password("password", password)?;
    let new =
        session::create_email_password(call.app, &email, password, &call.client, call.now).await?;
    Ok(created(new))
}
