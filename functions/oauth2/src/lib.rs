//! `oauth2` function: OAuth2 sign-in (contract §4.6). Handlers validate Appwrite's parameters,
//! call `account_core::oauth2` and turn its answer into redirects and cookies.

use account_core::oauth2::{self, FinishRequest, Finished, StartRequest};
use account_core::{Error, ErrorType, Result};
use account_edge::api::{Call, CookieAction, HandlerFuture, Reply};
use account_edge::routes::{Oauth2OpenRoute, RouteId, Split};
use account_edge::validate;

pub fn handler(call: Call<'_>) -> HandlerFuture<'_> {
    Box::pin(handle(call))
}

async fn handle(call: Call<'_>) -> Result<Reply> {
    // Another function's route never reaches this Lambda (API Gateway routes by the same table).
    // The match is exhaustive, so a route of this function without a handler is a compile
    // error; the function has no user routes.
    let RouteId::Oauth2(route) = call.route.id else {
        return Err(Error::new(ErrorType::RouteNotFound));
    };
    let route = match route.split() {
        Split::Open(route) => route,
        Split::User(route) => match route {},
    };
    let provider = call.path_param("provider");
    oauth2::provider_param(provider)?;
    match route {
        Oauth2OpenRoute::CreateOAuth2Session => start(&call, provider, false).await,
        Oauth2OpenRoute::CreateOAuth2Token => start(&call, provider, true).await,
        Oauth2OpenRoute::OAuth2Callback | Oauth2OpenRoute::OAuth2CallbackPost => {
            Ok(Reply::redirect(relay(&call, provider)))
        }
        Oauth2OpenRoute::OAuth2Redirect => finish(&call, provider).await,
    }
}

fn origin(call: &Call<'_>) -> String {
    oauth2::api_origin(&call.app.config, call.req.gateway_domain.as_deref())
}

/// The binding cookie: set by the start, gone after [`oauth2::FLOW_SECS`] or at the end of the
/// flow. Over HTTPS a `__Host-` cookie (so `Path=/`); in plain-HTTP development it is sent back
/// only to the OAuth2 routes of this host.
fn binding_cookie(call: &Call<'_>, value: &str, max_age: i64) -> (String, String) {
    let secure = call.req.secure;
    let name = oauth2::binding_cookie(&call.app.config.project_id, secure);
    let scope = match secure {
        true => "Path=/; Secure",
        false => "Path=/v1/account/sessions/oauth2",
    };
    (
        "Set-Cookie".into(),
        format!("{name}={value}; Max-Age={max_age}; {scope}; HttpOnly; SameSite=Lax"),
    )
}

/// The [`oauth2::session_mark`] of the session credential this request presents, if any.
fn session_mark(call: &Call<'_>) -> Option<String> {
    account_edge::api::credential(call.req, &call.app.config.project_id)
        .map(|c| oauth2::session_mark(&c.secret))
}

async fn start(call: &Call<'_>, provider: &str, token: bool) -> Result<Reply> {
    let (p, config) = (&call.params, &call.app.config);
    let origin = origin(call);
    let url = |name: &str| -> Result<Option<String>> {
        p.optional_str(name, "Value must be a valid URL")?
            .map(|u| validate::redirect_url(name, u, config).map(|u| u.to_string()))
            .transpose()
    };
    let success = url("success")?
        .unwrap_or_else(|| oauth2::default_page(&origin, "success", &config.project_id));
    let failure = url("failure")?
        .unwrap_or_else(|| oauth2::default_page(&origin, "failure", &config.project_id));
    let scopes = match p.get("scopes") {
        None => vec![],
        Some(serde_json::Value::Array(a))
            if a.len() <= 100
                && a.iter()
                    .all(|s| s.as_str().is_some_and(|s| s.len() <= 4096)) =>
        {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        }
        Some(serde_json::Value::String(s)) if s.len() <= 4096 => vec![s.clone()],
        Some(_) => {
            return Err(Error::invalid_param(
                "scopes",
                "Value must be a valid array no longer than 100 items",
            ))
        }
    };
    let started = oauth2::start(
        &call.cx(),
        StartRequest {
            provider,
            success,
            failure: Some(failure),
            scopes,
            token,
            origin: &origin,
            session: session_mark(call),
        },
    )
    .await?;
    let mut reply = Reply::redirect(started.location);
    reply
        .headers
        .push(binding_cookie(call, &started.binding, oauth2::FLOW_SECS));
    Ok(reply)
}

/// `GET|POST …/callback/{provider}/{projectId}`: relay every parameter the provider sent (query
/// for GET, form body for POST, as Apple's `form_post`) to the redirect route on this host.
fn relay(call: &Call<'_>, provider: &str) -> String {
    let pairs: Vec<(String, String)> = if call.req.method == http::Method::GET {
        call.req.query_pairs()
    } else {
        url::form_urlencoded::parse(&call.req.body)
            .into_owned()
            .collect()
    };
    oauth2::callback_location(provider, call.path_param("projectId"), &pairs)
}

async fn finish(call: &Call<'_>, provider: &str) -> Result<Reply> {
    let cx = call.cx();
    let config = &call.app.config;
    let param = |name: &str| -> Result<Option<&str>> {
        call.params
            .optional_str(name, "Value must be a valid string")
    };
    // A state we did not seal (or expired) names no URL we could trust: the error is the answer.
    let state = oauth2::open_state(&cx, provider, param("state")?)?;
    let origin = origin(call);
    // The URLs were valid at the start; configuration may have changed since.
    let success = if state.s == oauth2::default_page(&origin, "success", &config.project_id) {
        state.s.clone()
    } else {
        validate::redirect_url("success", &state.s, config)
            .map_err(|_| Error::new(ErrorType::InvalidSuccessUrl))?
            .to_string()
    };
    let failure = state
        .f
        .as_deref()
        .map(
            |f| match f == oauth2::default_page(&origin, "failure", &config.project_id) {
                true => url::Url::parse(f).map_err(|_| ()),
                false => validate::redirect_url("failure", f, config).map_err(|_| ()),
            },
        )
        .transpose()
        .map_err(|_| Error::new(ErrorType::InvalidFailureUrl))?;
    let binding = call
        .req
        .cookie(&oauth2::binding_cookie(&config.project_id, call.req.secure));
    // The signed-in user matters only to a flow this same session started (linking): any other
    // finish is signed out and reads no session.
    let mark = session_mark(call);
    let me = match state.started_by(mark.as_deref()) {
        true => call.session_user().await?,
        false => None,
    };
    let result = oauth2::finish(
        &cx,
        FinishRequest {
            state: &state,
            code: param("code")?,
            error: param("error")?,
            user: param("user")?,
            binding: binding.as_deref(),
            current: me
                .as_ref()
                .zip(mark)
                .map(|(a, mark)| (&a.user, a.session.id.as_str(), mark)),
            origin: &origin,
        },
    )
    .await;
    let clear = binding_cookie(call, "deleted", 0);
    let mut reply = match (result, failure) {
        (Ok(Finished::Session(new)), _) => Reply::redirect(success).cookie(CookieAction::Set {
            credential: new.encoded(),
            expire: new.item.expire,
        }),
        (Ok(Finished::Token(location)), _) => Reply::redirect(location),
        (Err(e), Some(mut failure)) => {
            tracing::warn!(error = %e.message, source = ?e.source, "OAuth2 sign-in failed");
            let error = serde_json::json!({
                "message": e.message,
                "type": e.kind.as_str(),
                "code": e.kind.status(),
            });
            failure
                .query_pairs_mut()
                .append_pair("error", &error.to_string());
            Reply::redirect(failure.to_string())
        }
        (Err(e), None) => return Err(e),
    };
    reply.headers.push(clear);
    Ok(reply)
}
