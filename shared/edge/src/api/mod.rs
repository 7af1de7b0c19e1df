//! The request pipeline every function shares (contract §1.9 order of checks):
//! CORS/preflight → route → origin → project → credential → authentication ‖ rate limit →
//! params → handler → render (cookies, CORS, error envelope).

use crate::http::{cookie_encode, ApiRequest, ApiResponse};
use crate::params::Params;
use crate::ratelimit;
use crate::routes::{self, Access, Admit, Function, Load, PathParams, Route};
use account_core::app::App;
use account_core::clock::Millis;
use account_core::config::Config;
pub use account_core::context::{Admission, Client, Ctx, Gate, Verdict};
use account_core::credential::Credential;
use account_core::crypto;
use account_core::device;
use account_core::error::{Error, ErrorType, Result};
use account_core::item::{SessionItem, UserItem};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

const JSON: &str = "application/json; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";
const ALLOW_HEADERS: &str = "Accept, Origin, Cookie, Set-Cookie, Content-Type, Content-Range, X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Dev-Key, X-Appwrite-Locale, X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Response-Format, X-Appwrite-Timeout, X-Appwrite-Session, X-Appwrite-ID, X-Appwrite-Impersonate-User-Id, X-Appwrite-Impersonate-User-Email, X-Appwrite-Impersonate-User-Phone, X-SDK-Version, X-SDK-Name, X-SDK-Language, X-SDK-Platform, X-SDK-GraphQL, Range, Cache-Control, Expires, Pragma, X-Fallback-Cookies, X-Requested-With, X-Forwarded-For, X-Forwarded-User-Agent";

/// An authenticated user and what was loaded with them (see [`Load`]).
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: UserItem,
    /// The session whose secret made this request.
    pub session: SessionItem,
    /// Every live session of the user (with [`Load::AllSessions`]); otherwise just the loaded ones.
    pub sessions: Vec<SessionItem>,
    /// Authenticated by `X-Appwrite-JWT`: such a request has no *current* session.
    pub jwt: bool,
}

impl Auth {
    /// Resolve a `{sessionId}` (`current` allowed) among the loaded live sessions.
    pub fn find_session(&self, id: &str) -> Option<&SessionItem> {
        let id = match id {
            "current" if self.jwt => return None,
            "current" => self.session.id.as_str(),
            other => other,
        };
        self.sessions.iter().find(|s| s.id == id)
    }

    /// The session this request was made with (none for JWT requests).
    pub fn current(&self) -> Option<&SessionItem> {
        (!self.jwt).then_some(&self.session)
    }

    pub fn is_current(&self, s: &SessionItem) -> bool {
        !self.jwt && s.id == self.session.id
    }
}

/// One request as a handler sees it.
pub struct Call<'a> {
    pub app: &'a App,
    pub req: &'a ApiRequest,
    pub route: &'static Route,
    pub path: PathParams,
    pub params: Params,
    /// The signed-in user: handed to user routes as [`UserCall::me`] by [`Call::into_user`].
    auth: Option<Auth>,
    /// The API key, when the caller is a server (`X-Appwrite-Key`).
    pub key: Option<account_core::keys::KeyItem>,
    pub client: Client,
    pub now: Millis,
    admission: Admission<'a>,
}

impl<'a> Call<'a> {
    pub fn path_param(&self, name: &str) -> &str {
        self.path
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Message language (contract §1.3): the `locale` parameter, else the
    /// `X-Appwrite-Locale` header, else `DEFAULT_LOCALE`; each falls back region → language
    /// before the next is tried.
    pub fn locale(&self) -> &'static str {
        let shipped = account_core::templates::shipped;
        self.params
            .get("locale")
            .and_then(|v| v.as_str())
            .and_then(shipped)
            .or_else(|| self.req.header("x-appwrite-locale").and_then(shipped))
            .unwrap_or(self.app.config.default_locale)
    }

    /// Privileged callers (API keys) see secrets in creation responses (the SSR flow).
    pub fn privileged(&self) -> bool {
        self.key.is_some()
    }

    /// `secret` as a response shows it: to servers (API keys) only, `""` to everyone else.
    pub fn reveal<'s>(&self, secret: &'s str) -> &'s str {
        if self.privileged() {
            secret
        } else {
            ""
        }
    }

    /// The rate-limit gate. Routes declared `Admit::InHandler` pass it to their domain function,
    /// which waits at it after its first read and before any write or message.
    pub fn gate(&self) -> Gate<'_, 'a> {
        Gate::new(&self.admission)
    }

    /// The signed-in user on an open route that does not load one in the pipeline (the OAuth2
    /// redirect links a provider account to them): one read, only when a session credential is
    /// presented. A session that still owes its second factor may not link anything.
    pub async fn session_user(&self) -> Result<Option<Auth>> {
        let Some(who) = credential(self.req, &self.app.config.project_id)
            .and_then(|c| Identity::from_credential(&c))
        else {
            return Ok(None);
        };
        let auth = authenticate(self.app, &who, Load::Session, None, self.now).await?;
        match auth {
            Some(a) if account_core::mfa::second_factor_required(&a.user, &a.session) => {
                Err(Error::new(ErrorType::UserMoreFactorsRequired))
            }
            other => Ok(other),
        }
    }

    /// The context of this request's domain call.
    pub fn cx(&self) -> Ctx<'_, 'a> {
        Ctx {
            app: self.app,
            client: &self.client,
            now: self.now,
            locale: self.locale(),
            gate: self.gate(),
        }
    }

    /// This call as a user route's handler gets it: with a user that cannot be missing. The
    /// `authorize` stage refused every caller without one on `Access::User` routes, and the
    /// route ids' user groups are those routes (`routes::tests`), so the error arm is only
    /// defence in depth.
    pub fn into_user(mut self) -> Result<UserCall<'a>> {
        match self.auth.take() {
            Some(me) => Ok(UserCall { call: self, me }),
            None => Err(Error::new(ErrorType::UserUnauthorized)),
        }
    }
}

/// A user route's request: the call and its signed-in user.
pub struct UserCall<'a> {
    pub call: Call<'a>,
    pub me: Auth,
}

impl<'a> std::ops::Deref for UserCall<'a> {
    type Target = Call<'a>;
    fn deref(&self) -> &Call<'a> {
        &self.call
    }
}

/// What to do with the session cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieAction {
    Keep,
    Set { credential: String, expire: Millis },
    Clear,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub cookie: CookieAction,
    /// Extra headers (`Location` of a redirect, …).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body: Some(body),
            cookie: CookieAction::Keep,
            headers: vec![],
        }
    }
    pub fn created(body: Value) -> Self {
        Self {
            status: 201,
            body: Some(body),
            cookie: CookieAction::Keep,
            headers: vec![],
        }
    }
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            cookie: CookieAction::Keep,
            headers: vec![],
        }
    }
    /// A `301` to `location`, not cached (Appwrite's OAuth2 redirects).
    pub fn redirect(location: String) -> Self {
        Self {
            status: 301,
            body: None,
            cookie: CookieAction::Keep,
            headers: vec![
                ("Location".into(), location),
                (
                    "Cache-Control".into(),
                    "no-store, no-cache, must-revalidate, max-age=0".into(),
                ),
                ("Pragma".into(), "no-cache".into()),
            ],
        }
    }

    pub fn cookie(mut self, action: CookieAction) -> Self {
        self.cookie = action;
        self
    }
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply>> + Send + 'a>>;
/// A function crate's entry: dispatches on `call.route.id`.
pub type Handler = for<'a> fn(Call<'a>) -> HandlerFuture<'a>;

/// The credential of this request: cookie (`a_session_<p>`, then `_legacy`), then
/// `X-Appwrite-Session`, then `X-Fallback-Cookies`.
pub fn credential(req: &ApiRequest, project: &str) -> Option<Credential> {
    let name = format!("a_session_{project}");
    req.cookie(&name)
        .or_else(|| req.cookie(&format!("{name}_legacy")))
        .and_then(|v| Credential::decode(&v))
        .or_else(|| {
            req.header("x-appwrite-session")
                .and_then(Credential::decode)
        })
        .or_else(|| {
            let fallback: Value = serde_json::from_str(req.header("x-fallback-cookies")?).ok()?;
            Credential::decode(fallback.get(&name)?.as_str()?)
        })
}

/// Who a request claims to be: from a session credential (with its secret) or a JWT (without).
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub session_id: String,
    /// The session secret to verify; `None` when a verified JWT named the session.
    pub secret: Option<String>,
}

impl Identity {
    pub fn from_credential(c: &Credential) -> Option<Self> {
        let sid = c.session_id()?;
        Some(Self {
            user_id: c.id.clone(),
            session_id: sid.to_owned(),
            secret: Some(c.secret.clone()),
        })
    }
}

/// Load and verify the caller's session: one DynamoDB round trip. `Ok(None)` means guest.
pub async fn authenticate(
    app: &App,
    who: &Identity,
    load: Load,
    path_session: Option<&str>,
    now: Millis,
) -> Result<Option<Auth>> {
    if !account_core::ids::is_valid_custom(&who.user_id) {
        return Ok(None);
    }
    let sid = who.session_id.as_str();
    let (user, sessions) = match load {
        Load::AllSessions => app.store.get_user_with_all_sessions(&who.user_id).await?,
        Load::Session => {
            app.store
                .get_user_and_sessions(&who.user_id, &[sid])
                .await?
        }
        Load::PathSession => {
            let extra =
                path_session.filter(|p| *p != "current" && account_core::ids::is_valid_custom(p));
            let ids: Vec<&str> = std::iter::once(sid).chain(extra).collect();
            app.store.get_user_and_sessions(&who.user_id, &ids).await?
        }
    };
    let Some(user) = user else { return Ok(None) };
    let sessions: Vec<SessionItem> = sessions.into_iter().filter(|s| s.is_live(now)).collect();
    let proof = who.secret.as_deref().map(crypto::sha256_hex);
    let current = sessions
        .iter()
        .find(|s| {
            s.id == sid
                && proof
                    .as_deref()
                    .is_none_or(|h| crypto::ct_eq(&s.secret_hash, h))
        })
        .cloned();
    Ok(current.map(|session| Auth {
        user,
        session,
        sessions,
        jwt: who.secret.is_none(),
    }))
}

/// The client IP: the edge's view, or, behind proxies named by `TRUSTED_IP_HEADER`, the entry
/// `TRUSTED_PROXY_HOPS` from the right of that header (1: the last, the one our proxy appended;
/// earlier ones are the client's to forge). Exactly that entry: when it is not an address (an
/// `ip:port`, `unknown`), the edge's view stands, never an earlier entry.
pub async fn handle(
    app: &App,
    req: ApiRequest,
    handler_for: &(dyn Fn(Function) -> Option<Handler> + Sync),
) -> ApiResponse {
    let started = std::time::Instant::now();
    let (resp, route_path) = serve(app, &req, handler_for).await;
    tracing::info!(
        method = %req.method,
        route = route_path,
        status = resp.status,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

async fn serve(
    app: &App,
    req: &ApiRequest,
    handler_for: &(dyn Fn(Function) -> Option<Handler> + Sync),
) -> (ApiResponse, &'static str) {
    if req.method == http::Method::OPTIONS {
        return (render(app, req, Ok(Reply::no_content()), None), "OPTIONS");
    }
    let Some((route, path)) = routes::find(req.method.as_str(), &req.path) else {
        return (
            render(app, req, Err(Error::new(ErrorType::RouteNotFound)), None),
            "unknown",
        );
    };
    let Some(handler) = handler_for(route.id.function()) else {
        return (
            render(app, req, Err(Error::new(ErrorType::RouteNotFound)), None),
            route.paths[0],
        );
    };
    if let Some((headers, body)) = crate::pages::render(route.id) {
        return (
            ApiResponse {
                status: 200,
                headers,
                body,
            },
            route.paths[0],
        );
    }
    let mut verdict = None;
    let result = pipeline(app, req, route, path, handler, &mut verdict).await;
    if let (Ok(reply), Some(v), Some(rl)) = (&result, &verdict, route.rate_limit) {
        if rl.reset_on_success && reply.status == 201 {
            if let Err(e) = app.store.delete_counters(&v.counters).await {
                tracing::warn!(error = %e, "rate-limit reset failed");
            }
        }
    }
    (render(app, req, result, verdict.as_ref()), route.paths[0])
}

/// The named stages of every request (contract §1.9): origin → project → identify ‖ admit →
/// authorize → auth-method toggle → handler (with its parameters). `render` turns the result
/// into the response.
async fn pipeline(
    app: &App,
    req: &ApiRequest,
    route: &'static Route,
    path: PathParams,
    handler: Handler,
    verdict: &mut Option<Verdict>,
) -> Result<Reply> {
    check_origin(&app.config, req, route)?;
    check_project(&app.config, req, route, &path)?;
    let now = app.clock.now_ms();
    let key_header = req.header("x-appwrite-key");
    let params = Params::from_request(req);
    let ip = client_ip(&app.config, req);
    let limiter = Limiter {
        app,
        req,
        route,
        params: params.as_ref().ok().cloned(),
        ip: ip.clone(),
        exempt: key_header.is_some(),
        now,
    };
    let who = identify(app, req, route, &path, now);
    // The counter runs beside the authentication read, unless its key names the verified user
    // (then after it) or the handler's first read (then beside that, see below).
    let (caller, admission) = if limiter.needs_user() {
        let caller = who.await;
        let uid = match &caller {
            Ok(Caller::User(a)) => a.user.id.clone(),
            _ => String::new(),
        };
        (caller, limiter.admission(uid))
    } else if route.admit == Admit::InHandler {
        (who.await, limiter.admission(String::new()))
    } else {
        let admission = limiter.admission(String::new());
        let (caller, _) = tokio::join!(who, admission.clone());
        (caller, admission)
    };
    let caller = caller?;
    let client = client_of(req, &caller, ip);
    authorize(route, &caller, now)?;
    if let Some(refusal) = method_disabled(&app.config, route, &caller) {
        *verdict = admission.clone().await?;
        if verdict.as_ref().is_some_and(|v| !v.allowed) {
            return Err(Error::new(ErrorType::RateLimitExceeded));
        }
        return Err(refusal);
    }
    let guest_only_violation =
        route.access == Access::GuestOnly && matches!(caller, Caller::User(_));
    let (auth, key) = match caller {
        Caller::User(a) => (Some(*a), None),
        Caller::Key(k) => (None, Some(k)),
        Caller::Guest => (None, None),
    };
    let call = |params: Params| Call {
        app,
        req,
        route,
        path,
        params,
        auth,
        key,
        client,
        now,
        admission: admission.clone(),
    };
    match route.admit {
        Admit::Before => {
            *verdict = match &params {
                Err(e) => unless_param_error(admission.clone().await, e)?,
                Ok(_) => admission.clone().await?,
            };
            if verdict.as_ref().is_some_and(|v| !v.allowed) {
                return Err(Error::new(ErrorType::RateLimitExceeded));
            }
            if guest_only_violation {
                return Err(Error::new(ErrorType::UserSessionAlreadyExists));
            }
            handler(call(params?)).await
        }
        Admit::InHandler => {
            if guest_only_violation {
                *verdict = admission.clone().await?;
                return Err(Error::new(ErrorType::UserSessionAlreadyExists));
            }
            let params = match params {
                Ok(p) => p,
                Err(e) => {
                    *verdict = unless_param_error(admission.clone().await, &e)?;
                    return Err(e);
                }
            };
            // The counter and the handler's first read run concurrently; the handler awaits the
            // verdict (`Gate::pass`) before it writes anything.
            let (rl, result) = tokio::join!(admission.clone(), handler(call(params)));
            *verdict = match &result {
                Err(e) => unless_param_error(rl, e)?,
                Ok(_) => rl?,
            };
            if verdict.as_ref().is_some_and(|v| !v.allowed) {
                return Err(Error::new(ErrorType::RateLimitExceeded));
            }
            result
        }
    }
}

/// The rate-limit verdict of a request that failed with `e`, except that a counter which could
/// not be counted (DynamoDB failing after every resend) does not turn a parameter error into a
/// 503: that answer does not depend on the table. The contract counts the limit first (§1.9
/// step 8), so a 429 still wins over the 400 whenever the counter answered.
mod render;
mod stages;

use render::render;
use stages::origin_allowed;
pub use stages::Caller;
use stages::{
    authorize, check_origin, check_project, client_ip, client_of, identify, method_disabled,
    unless_param_error, Limiter,
};

#[cfg(test)]
mod pipeline_tests {
    //! The whole pipeline (`handle`) in the order of contract §1.9, on the in-memory store with
    //! a fixed clock: each row is one request and the stage that must answer it. The handler is
    //! a stand-in that names the route, so a row that reaches it proves every stage let it pass.
    use super::*;
    use account_core::config::AuthMethod;
    use account_core::store::Accounts;
    use account_core::testkit::World;

    fn reached(_call: Call<'_>) -> HandlerFuture<'_> {
        Box::pin(async move { Ok(Reply::ok(serde_json::json!({ "reached": true }))) })
    }

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> ApiRequest {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        ApiRequest {
            method: method.parse().unwrap(),
            path: path.into(),
            query: query.into(),
            headers: h,
            body: bytes::Bytes::new(),
            source_ip: "203.0.113.9".into(),
            secure: false,
            gateway_domain: None,
        }
    }

    /// Exactly the configured hop from the right, or the edge's view: an entry appended after
    /// the client's forged ones that is not an address never lets a forged one through.
    #[test]
    fn client_ip_is_the_configured_hop_or_the_edges_view() {
        let mut c = Config {
            trusted_ip_header: Some("x-forwarded-for".into()),
            ..Config::default()
        };
        let ip =
            |c: &Config, v: &str| client_ip(c, &request("GET", "/", &[("x-forwarded-for", v)]));
        assert_eq!(ip(&c, "198.51.100.1, 192.0.2.7"), "192.0.2.7");
        assert_eq!(ip(&c, "198.51.100.1, 192.0.2.7:4711"), "203.0.113.9");
        assert_eq!(ip(&c, "198.51.100.1, unknown"), "203.0.113.9");
        assert_eq!(ip(&c, "2001:db8::1"), "2001:db8::1");
        c.trusted_proxy_hops = 2;
        assert_eq!(ip(&c, "198.51.100.1, 192.0.2.7, 10.0.0.1"), "192.0.2.7");
        assert_eq!(ip(&c, "10.0.0.1"), "203.0.113.9");
        c.trusted_ip_header = None;
        assert_eq!(ip(&c, "198.51.100.1"), "203.0.113.9");
    }

    /// A credentialed origin follows the redirect rules: plain http only on loopback unless
    /// `REDIRECT_ALLOW_HTTP`, custom schemes only when `REDIRECT_SCHEMES` names them.
    #[test]
    fn cors_origins_follow_the_redirect_rules() {
        let mut c = Config {
            platform_hosts: vec!["localhost".into(), "app.example.com".into()],
            ..Config::default()
        };
        assert!(origin_allowed(&c, "https://app.example.com"));
        assert!(origin_allowed(&c, "http://localhost:3000"));
        assert!(!origin_allowed(&c, "http://app.example.com"));
        assert!(!origin_allowed(&c, "https://evil.example.com"));
        assert!(!origin_allowed(&c, "exp://192.168.1.2:8081"));
        assert!(!origin_allowed(
            &c,
            &format!("appwrite-callback-{}://", c.project_id)
        ));
        c.redirect_allow_http = true;
        c.redirect_schemes = vec!["exp".into(), "appwrite-callback".into()];
        assert!(origin_allowed(&c, "http://app.example.com"));
        assert!(origin_allowed(&c, "exp://192.168.1.2:8081"));
        assert!(origin_allowed(
            &c,
            &format!("appwrite-callback-{}://", c.project_id)
        ));
        assert!(!origin_allowed(&c, "appwrite-callback-other://"));
    }

    /// `(status, type)` of the response; type `"reached"` when the handler ran.
    async fn send(w: &World, req: ApiRequest) -> (u16, String) {
        let resp = handle(&w.app, req, &|_| Some(reached as Handler)).await;
        let body: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        let kind = if body["reached"] == true {
            "reached".to_owned()
        } else {
            body["type"].as_str().unwrap_or_default().to_owned()
        };
        (resp.status, kind)
    }

    /// A signed-in user's `X-Appwrite-Session` value.
    async fn session(w: &World, email: &str) -> (String, String) {
        let cx = w.cx();
        let user = account_core::account::sign_up(
            &cx,
            account_core::account::SignUp {
                user_id: "unique()",
                email,
                password: "correct horse battery",
                name: "",
            },
        )
        .await
        .unwrap();
        let new = account_core::session::create_email_password(&cx, email, "correct horse battery")
            .await
            .unwrap();
        (user.id, new.encoded())
    }

    #[tokio::test]
    async fn stages_answer_in_contract_order() {
        let w = World::with(|c| c.auth_methods_disabled = vec![AuthMethod::Anonymous]);
        let (_, s) = session(&w, "pipe@example.com").await;
        let (blocked_uid, blocked) = session(&w, "blocked@example.com").await;
        let (u, _) = w
            .store
            .get_user_with_all_sessions(&blocked_uid)
            .await
            .unwrap();
        let u = u.unwrap();
        let mut b = u.clone();
        b.status = false;
        w.store.update_user(&u, &b).await.unwrap();
        let (mfa_uid, pending) = session(&w, "mfa@example.com").await;
        let (u, _) = w.store.get_user_with_all_sessions(&mfa_uid).await.unwrap();
        let u = u.unwrap();
        let mut m = u.clone();
        m.mfa = true;
        m.email_verification = true;
        w.store.update_user(&u, &m).await.unwrap();

        let p = ("x-appwrite-project", "test");
        let rows: Vec<(&str, ApiRequest, u16, &str)> = vec![
            ("preflight", request("OPTIONS", "/v1/account", &[]), 204, ""),
            (
                "unknown route",
                request("GET", "/v1/nope", &[p]),
                404,
                "general_route_not_found",
            ),
            (
                "origin before project",
                request("GET", "/v1/account", &[("origin", "https://evil.example")]),
                403,
                "general_unknown_origin",
            ),
            (
                "no project",
                request("GET", "/v1/account", &[]),
                404,
                "project_not_found",
            ),
            (
                "another project",
                request("GET", "/v1/account", &[("x-appwrite-project", "other")]),
                404,
                "project_not_found",
            ),
            (
                "project in the query",
                request(
                    "GET",
                    "/v1/account?project=test",
                    &[("x-appwrite-session", &s)],
                ),
                200,
                "reached",
            ),
            (
                "guest on a user route",
                request("GET", "/v1/account", &[p]),
                401,
                "general_unauthorized_scope",
            ),
            (
                "a forged session is a guest",
                request(
                    "GET",
                    "/v1/account",
                    &[
                        p,
                        ("x-appwrite-session", "eyJpZCI6IngiLCJzZWNyZXQiOiJ5In0="),
                    ],
                ),
                401,
                "general_unauthorized_scope",
            ),
            (
                "user",
                request("GET", "/v1/account", &[p, ("x-appwrite-session", &s)]),
                200,
                "reached",
            ),
            (
                "blocked user",
                request("GET", "/v1/account", &[p, ("x-appwrite-session", &blocked)]),
                403,
                "user_blocked",
            ),
            (
                "second factor owed",
                request("GET", "/v1/account", &[p, ("x-appwrite-session", &pending)]),
                401,
                "user_more_factors_required",
            ),
            (
                "…but the challenge route is open to it",
                request(
                    "POST",
                    "/v1/account/mfa/challenges",
                    &[p, ("x-appwrite-session", &pending)],
                ),
                200,
                "reached",
            ),
            (
                "user on a guest-only route",
                request(
                    "POST",
                    "/v1/account/sessions/email",
                    &[p, ("x-appwrite-session", &s)],
                ),
                401,
                "user_session_already_exists",
            ),
            (
                "disabled auth method",
                request("POST", "/v1/account/sessions/anonymous", &[p]),
                501,
                "user_auth_method_unsupported",
            ),
            (
                "guest route",
                request("POST", "/v1/account/tokens/email", &[p]),
                200,
                "reached",
            ),
        ];
        for (name, req, status, kind) in rows {
            let (got_status, got_kind) = send(&w, req).await;
            assert_eq!((got_status, got_kind.as_str()), (status, kind), "{name}");
        }

        // An expired session is a guest's: the clock passes its expiry (the item is still stored).
        w.clock.advance_secs(w.app.config.session_duration_secs + 1);
        let (status, kind) = send(
            &w,
            request("GET", "/v1/account", &[p, ("x-appwrite-session", &s)]),
        )
        .await;
        assert_eq!((status, kind.as_str()), (401, "general_unauthorized_scope"));
    }

    #[tokio::test]
    async fn the_rate_limit_answers_after_the_route_and_before_the_handler() {
        let w = World::with(|c| c.rate_limits_enabled = true);
        let route = find_route("POST", "/v1/account/sessions/anonymous");
        let limit = route
            .rate_limit
            .expect("anonymous sessions are limited")
            .limit;
        let req = || {
            request(
                "POST",
                "/v1/account/sessions/anonymous",
                &[("x-appwrite-project", "test")],
            )
        };
        for i in 0..limit {
            assert_eq!(
                send(&w, req()).await,
                (200, "reached".into()),
                "request {i}"
            );
        }
        assert_eq!(
            send(&w, req()).await,
            (429, "general_rate_limit_exceeded".into())
        );
        // The window passes with the clock.
        w.clock
            .advance_secs(i64::from(route.rate_limit.unwrap().period_secs));
        assert_eq!(send(&w, req()).await, (200, "reached".into()));
    }

    fn find_route(method: &str, path: &str) -> &'static Route {
        routes::find(method, path).unwrap().0
    }
}
