//! The request pipeline every function shares (contract §1.9 order of checks):
//! CORS/preflight → route → origin → project → credential → authentication ‖ rate limit →
//! params → handler → render (cookies, CORS, error envelope).

use crate::app::App;
use crate::clock::Millis;
use crate::config::Config;
pub use crate::context::{Admission, Client, Ctx, Gate, Verdict};
use crate::credential::Credential;
use crate::crypto;
use crate::device;
use crate::error::{Error, ErrorType, Result};
use crate::http::{cookie_encode, ApiRequest, ApiResponse};
use crate::item::{SessionItem, UserItem};
use crate::params::Params;
use crate::ratelimit;
use crate::routes::{self, Access, Admit, Function, Load, PathParams, Route};
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
    pub key: Option<crate::keys::KeyItem>,
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

    /// Message language: `X-Appwrite-Locale` header or `locale` param, resolved to a shipped locale.
    pub fn locale(&self) -> &'static str {
        let requested = self
            .req
            .header("x-appwrite-locale")
            .or_else(|| self.params.get("locale").and_then(|v| v.as_str()));
        crate::templates::resolve(requested)
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
            Some(a) if crate::mfa::second_factor_required(&a.user, &a.session) => {
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
    if !crate::ids::is_valid_custom(&who.user_id) {
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
            let extra = path_session.filter(|p| *p != "current" && crate::ids::is_valid_custom(p));
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
fn client_ip(config: &Config, req: &ApiRequest) -> String {
    let hops = config.trusted_proxy_hops.max(1);
    config
        .trusted_ip_header
        .as_deref()
        .and_then(|h| req.header(h))
        .and_then(|v| v.rsplit(',').nth(hops - 1))
        .map(str::trim)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
        .unwrap_or_else(|| req.source_ip.clone())
}

/// Whether the `Origin` may call us (contract §1.12). Requests without one (server SDKs) pass.
fn origin_allowed(config: &Config, origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let host_allowed = || url.host_str().is_some_and(|h| config.host_allowed(h));
    let scheme_allowed = |s: &str| config.redirect_schemes.iter().any(|r| r == s);
    // The same rules as redirect URLs (`validate::redirect_url`): a credentialed origin the
    // redirect rules would refuse (plain http off loopback, an unconfigured custom scheme) is
    // refused here too.
    match url.scheme() {
        "https" | "chrome-extension" | "moz-extension" | "tauri" => host_allowed(),
        "http" => {
            let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
                || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
            host_allowed() && (loopback || config.redirect_allow_http)
        }
        "exp" => scheme_allowed("exp"),
        s => {
            s == format!("appwrite-callback-{}", config.project_id)
                && scheme_allowed("appwrite-callback")
        }
    }
}

fn cors_headers(app: &App, req: &ApiRequest, headers: &mut Vec<(String, String)>) {
    let h = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    headers.push(h(
        "Access-Control-Allow-Methods",
        "GET, POST, PUT, PATCH, DELETE",
    ));
    headers.push(h("Access-Control-Allow-Headers", ALLOW_HEADERS));
    headers.push(h(
        "Access-Control-Expose-Headers",
        "X-Appwrite-Session, X-Fallback-Cookies",
    ));
    headers.push(h("Access-Control-Allow-Credentials", "true"));
    headers.push(h("Access-Control-Max-Age", "86400"));
    if let Some(origin) = req
        .header("origin")
        .filter(|o| origin_allowed(&app.config, o))
    {
        headers.push(h("Access-Control-Allow-Origin", origin));
        headers.push(h("Vary", "Origin"));
    }
}

fn registrable(host: &str) -> Option<String> {
    if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    (labels.len() >= 2).then(|| labels[labels.len() - 2..].join("."))
}

/// Appwrite adds `X-Fallback-Cookies` when the page's site differs from the API's (or is unknown).
fn fallback_applies(req: &ApiRequest) -> bool {
    let page = req
        .header("origin")
        .or_else(|| req.header("referer"))
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    match (
        page.as_deref().and_then(registrable),
        registrable(&req.hostname()),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => true,
    }
}

fn cookie_headers(
    app: &App,
    req: &ApiRequest,
    action: &CookieAction,
    headers: &mut Vec<(String, String)>,
) {
    let project = &app.config.project_id;
    let host = req.hostname();
    let domain =
        if host == "localhost" || host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok()
        {
            String::new()
        } else {
            format!("; domain=.{host}")
        };
    let secure = if req.secure { "; secure" } else { "" };
    let (value, expires, max_age, fallback) = match action {
        CookieAction::Keep => return,
        CookieAction::Set { credential, expire } => (
            cookie_encode(credential),
            crate::dates::cookie(*expire),
            String::new(),
            serde_json::json!({ format!("a_session_{project}"): credential }).to_string(),
        ),
        CookieAction::Clear => (
            "deleted".to_owned(),
            crate::dates::cookie(1000),
            "; Max-Age=0".to_owned(),
            "[]".to_owned(),
        ),
    };
    let base = format!("={value}; expires={expires}{max_age}; path=/{domain}{secure}; httponly");
    headers.push((
        "Set-Cookie".into(),
        format!("a_session_{project}_legacy{base}"),
    ));
    headers.push((
        "Set-Cookie".into(),
        format!("a_session_{project}{base}; samesite=None"),
    ));
    if fallback_applies(req) {
        headers.push(("X-Fallback-Cookies".into(), fallback));
    }
}

fn render(app: &App, req: &ApiRequest, result: Result<Reply>, rl: Option<&Verdict>) -> ApiResponse {
    let mut headers = vec![("X-Content-Type-Options".to_owned(), "nosniff".to_owned())];
    cors_headers(app, req, &mut headers);
    if let Some(v) = rl {
        headers.push(("X-RateLimit-Limit".into(), v.limit.to_string()));
        headers.push(("X-RateLimit-Remaining".into(), v.remaining.to_string()));
        headers.push(("X-RateLimit-Reset".into(), v.reset.to_string()));
    }
    match result {
        Ok(reply) => {
            cookie_headers(app, req, &reply.cookie, &mut headers);
            headers.extend(reply.headers.iter().cloned());
            let (ctype, body) = match &reply.body {
                Some(v) => (JSON, v.to_string()),
                None => (HTML, String::new()),
            };
            headers.push(("Content-Type".into(), ctype.into()));
            ApiResponse {
                status: reply.status,
                headers,
                body,
            }
        }
        Err(e) => {
            headers.push(("Content-Type".into(), JSON.into()));
            headers.push((
                "Cache-Control".into(),
                "no-cache, no-store, must-revalidate".into(),
            ));
            headers.push(("Expires".into(), "0".into()));
            headers.push(("Pragma".into(), "no-cache".into()));
            let status = e.status();
            // The one place failures are logged, with their source; 4xx and the configured 503s
            // (SMTP or SMS disabled) are answers, not failures.
            if e.source.is_some() || status == 500 {
                tracing::error!(
                    r#type = e.kind.as_str(),
                    source = e.source.as_deref().unwrap_or(""),
                    "request failed"
                );
            }
            ApiResponse {
                status,
                headers,
                body: e.envelope().to_string(),
            }
        }
    }
}

fn scope_error(role: &str, scope: &str) -> Error {
    Error::with_message(
        ErrorType::UnauthorizedScope,
        format!("User (role: {role}) missing scopes ([\"{scope}\"])"),
    )
}

/// Serve one request. `handler_for` gives the handler of a function, or `None` when this process
/// does not host it (a Lambda receiving another function's route answers 404).
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
fn unless_param_error(rl: Result<Option<Verdict>>, e: &Error) -> Result<Option<Verdict>> {
    let param_error = matches!(
        e.kind,
        ErrorType::ArgumentInvalid | ErrorType::BadRequest | ErrorType::QueryInvalid
    );
    match rl {
        Err(failed) if param_error => {
            tracing::warn!(error = %failed, "rate-limit counter failed; the parameter error stands");
            Ok(None)
        }
        rl => rl,
    }
}

/// Stage "origin" (contract §1.9 step 0): a browser's `Origin` must be a registered platform,
/// or the API's own origin (its pages, `pages.rs`, which serve nothing but their own script).
/// The OAuth2 callback is exempt: providers call it (Apple posts a form from its own origin).
fn check_origin(config: &Config, req: &ApiRequest, route: &Route) -> Result<()> {
    let own = url::Url::parse(&crate::oauth2::api_origin(
        config,
        req.gateway_domain.as_deref(),
    ))
    .map(|u| u.origin().ascii_serialization())
    .unwrap_or_default();
    match req.header("origin").filter(|_| !route.id.project_in_path()) {
        Some(origin) if origin != own && !origin_allowed(config, origin) => Err(Error::with_message(
            ErrorType::UnknownOrigin,
            format!("Invalid Origin. Register your new client ({origin}) as a new Web platform on your project console dashboard"),
        )),
        _ => Ok(()),
    }
}

/// Stage "project" (step 1): from the path on the OAuth2 callback, else the header, else
/// `?project=`; it must be the one project this deployment serves.
fn check_project(
    config: &Config,
    req: &ApiRequest,
    route: &Route,
    path: &PathParams,
) -> Result<()> {
    let in_path = route.id.project_in_path().then(|| {
        path.iter()
            .find(|(k, _)| *k == "projectId")
            .map(|(_, v)| v.clone())
    });
    let project = in_path
        .flatten()
        .or_else(|| req.header("x-appwrite-project").map(str::to_owned))
        .or_else(|| {
            req.query_pairs()
                .into_iter()
                .find(|(k, _)| k == "project")
                .map(|(_, v)| v)
        });
    if project.as_deref() == Some(config.project_id.as_str()) {
        Ok(())
    } else {
        Err(Error::new(ErrorType::ProjectNotFound))
    }
}

/// Who is calling, as the "identify" stage found out.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A server with an API key (never also a user).
    Key(crate::keys::KeyItem),
    /// A user, by session credential or JWT.
    User(Box<Auth>),
    Guest,
}

/// Stage "identify" (step 2): an API key, a session credential, a JWT, or nobody. One read.
async fn identify(
    app: &App,
    req: &ApiRequest,
    route: &Route,
    path: &PathParams,
    now: Millis,
) -> Result<Caller> {
    if let Some(k) = req.header("x-appwrite-key") {
        let stored = match crate::keys::id_of(k) {
            Some(id) => app.store.get_api_key(id).await?,
            None => None,
        };
        return crate::keys::check(k, stored, now).map(Caller::Key);
    }
    let load = match route.access {
        Access::User(load) => Some(load),
        Access::GuestOnly => Some(Load::Session),
        Access::Guest | Access::Public | Access::Page => None,
    };
    let path_session = path
        .iter()
        .find(|(k, _)| *k == "sessionId")
        .map(|(_, v)| v.as_str());
    let cred = credential(req, &app.config.project_id).and_then(|c| Identity::from_credential(&c));
    let jwt = req.header("x-appwrite-jwt");
    // The session first: a valid session together with a JWT is refused.
    let by_session = match (&cred, load.or(jwt.map(|_| Load::Session))) {
        (Some(c), Some(load)) => authenticate(app, c, load, path_session, now).await?,
        _ => None,
    };
    let user = match (by_session, jwt) {
        (Some(_), Some(_)) => return Err(Error::new(ErrorType::UserJwtAndCookieSet)),
        (Some(a), None) => Some(a),
        (None, Some(token)) => {
            let claims = crate::jwt::verify(&app.config.keys, token, now)?;
            let who = Identity {
                user_id: claims.user_id,
                session_id: claims.session_id,
                secret: None,
            };
            match load {
                Some(load) => authenticate(app, &who, load, path_session, now).await?,
                None => None,
            }
        }
        (None, None) => None,
    };
    Ok(user.map_or(Caller::Guest, |a| Caller::User(Box::new(a))))
}

/// Stage "admit" (step 8): the route's rate limit, counted once. Keys are exempt (they still get
/// the headers).
struct Limiter<'a> {
    app: &'a App,
    req: &'a ApiRequest,
    route: &'static Route,
    params: Option<Params>,
    ip: String,
    exempt: bool,
    now: Millis,
}

impl<'a> Limiter<'a> {
    /// Whether a key names the verified user, so the counter must wait for "identify".
    fn needs_user(&self) -> bool {
        self.route.rate_limit.is_some_and(|rl| {
            rl.keys
                .iter()
                .chain(rl.guards.iter().map(|(k, _)| k))
                .any(|k| k.contains("{userId}"))
        })
    }

    fn admission(&self, uid: String) -> Admission<'a> {
        let Limiter {
            app,
            req,
            route,
            exempt,
            now,
            ..
        } = *self;
        let (ip, params) = (self.ip.clone(), self.params.clone());
        futures_util::FutureExt::shared(Box::pin(async move {
            let Some(rl) = route.rate_limit else {
                return Ok(None);
            };
            if exempt {
                let (_, reset) = ratelimit::window(now, rl.period_secs);
                return Ok(Some(Verdict {
                    limit: rl.limit,
                    remaining: rl.limit,
                    reset,
                    allowed: true,
                    counters: vec![],
                }));
            }
            let vars = |name: &str| -> Option<String> {
                match name {
                    // The route template only: the Host header is the client's to choose, and one
                    // deployment serves one API host anyway.
                    "url" => Some(route.paths[0].to_owned()),
                    // An IPv6 client counts per /64, as in the message budgets.
                    "ip" => Some(crate::budget::client_key(&ip)),
                    "userId" => Some(uid.clone()),
                    "projectId" => Some(app.config.project_id.clone()),
                    "method" => Some(route.method.to_owned()),
                    "userAgent" => req.header("user-agent").map(str::to_owned),
                    n => n.strip_prefix("param-").and_then(|p| {
                        let v = params.as_ref()?.get(p)?;
                        let raw = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        Some(ratelimit::normalise_param(p, &raw))
                    }),
                }
            };
            let keys = rl
                .keys
                .iter()
                .map(|k| ratelimit::fill_key(k, &vars))
                .collect();
            let guards = rl
                .guards
                .iter()
                .map(|(k, _)| ratelimit::fill_key(k, &vars))
                .collect();
            let mut verdict = ratelimit::check(app.store.as_ref(), &rl, keys, guards, now).await?;
            // `RATE_LIMITS=disabled` (development) still counts and sends the headers, as
            // Appwrite's abuse option does; it just never refuses.
            verdict.allowed |= !app.config.rate_limits_enabled;
            Ok(Some(verdict))
        })
            as futures_util::future::BoxFuture<'a, Result<Option<Verdict>>>)
    }
}

/// Who is calling from where. `X-Forwarded-User-Agent` is honoured only for servers (API keys).
fn client_of(req: &ApiRequest, caller: &Caller, ip: String) -> Client {
    let ua_header = match caller {
        Caller::Key(_) => req
            .header("x-forwarded-user-agent")
            .or(req.header("user-agent")),
        _ => req.header("user-agent"),
    };
    let user_agent = ua_header.unwrap_or_default().to_owned();
    Client {
        ip,
        device: device::parse(&user_agent),
        user_agent,
        server: matches!(caller, Caller::Key(_)),
    }
}

/// Stage "authorize" (steps 2–7 and 11): scopes, blocked and reset-required users, the second
/// factor and the recent challenge. Pure: it reads only what "identify" loaded.
fn authorize(route: &Route, caller: &Caller, now: Millis) -> Result<()> {
    let scope = route.access.scope();
    match (caller, route.access) {
        (Caller::Key(k), _) if !k.has_scope(scope) => {
            return Err(scope_error("applications", scope))
        }
        (Caller::Guest, Access::User(_)) => return Err(scope_error("guests", "account")),
        (Caller::User(a), _) if !a.user.status => return Err(Error::new(ErrorType::UserBlocked)),
        (Caller::User(a), Access::User(_)) if a.user.reset => {
            return Err(Error::new(ErrorType::UserPasswordResetRequired))
        }
        _ => {}
    }
    // MFA. A JWT carries the session it was issued for and obeys that session's factors (else a
    // JWT minted before the second factor would skip it); it can never show a recent challenge.
    if let (Caller::User(a), Access::User(_)) = (caller, route.access) {
        if !route.id.mfa_exempt() && crate::mfa::second_factor_required(&a.user, &a.session) {
            return Err(Error::new(ErrorType::UserMoreFactorsRequired));
        }
        let recent = !a.jwt
            && a.session
                .mfa_updated_at
                .is_some_and(|t| now - t <= crate::mfa::RECENT_MS);
        if route.id.needs_recent_challenge() && !recent {
            return Err(Error::new(ErrorType::UserChallengeRequired));
        }
    }
    Ok(())
}

/// Stage "auth-method toggle" (step 9): the refusal for a disabled method; servers are exempt.
fn method_disabled(config: &Config, route: &Route, caller: &Caller) -> Option<Error> {
    let method = route.id.auth_method()?;
    (!matches!(caller, Caller::Key(_)) && config.auth_methods_disabled.contains(&method)).then(
        || {
            Error::with_message(
                ErrorType::UserAuthMethodUnsupported,
                method.disabled_message(),
            )
        },
    )
}

#[cfg(test)]
mod stage_tests {
    //! The order of checks, stage by stage, without a store, a server or HTTP: each stage reads
    //! only what the request and "identify" gave it.
    use super::*;
    use crate::routes::{find, RouteId};

    const NOW: Millis = 1_800_000_000_000;

    fn route(method: &str, path: &str) -> &'static Route {
        find(method, path).expect("route").0
    }

    fn request(headers: &[(&str, &str)]) -> ApiRequest {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        ApiRequest {
            method: http::Method::GET,
            path: "/v1/account".into(),
            query: String::new(),
            headers: h,
            body: bytes::Bytes::new(),
            source_ip: "127.0.0.1".into(),
            secure: false,
            gateway_domain: None,
        }
    }

    /// A user with a session carrying `factors`; `mfa` on with a verified TOTP if `mfa`.
    fn user(factors: &[&str], mfa: bool, mfa_updated_at: Option<Millis>) -> Caller {
        let mut user = UserItem::new("u1", NOW - 1000);
        if mfa {
            user.mfa = true;
            user.totp = Some(crate::item::TotpItem {
                secret_sealed: String::new(),
                verified: true,
                created: NOW - 1000,
                last_step: 0,
            });
        }
        let session = SessionItem {
            pk: crate::item::user_pk("u1"),
            sk: crate::item::session_sk("s1"),
            id: "s1".into(),
            uid: "u1".into(),
            created: NOW - 1000,
            updated: NOW - 1000,
            expire: NOW + 1000,
            expires_at: 0,
            secret_hash: String::new(),
            provider: "email".into(),
            provider_uid: String::new(),
            provider_access_token: String::new(),
            provider_refresh_token: String::new(),
            provider_access_token_expiry: None,
            ip: String::new(),
            device: Default::default(),
            country_code: String::new(),
            country_name: String::new(),
            factors: factors.iter().map(|f| (*f).to_owned()).collect(),
            mfa_updated_at,
        };
        Caller::User(Box::new(Auth {
            user,
            sessions: vec![session.clone()],
            session,
            jwt: false,
        }))
    }

    fn key(scopes: &[&str]) -> Caller {
        Caller::Key(crate::keys::KeyItem {
            pk: String::new(),
            sk: String::new(),
            id: "k1".into(),
            name: "k".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            secret_hash: String::new(),
            created: 0,
            expire: None,
        })
    }

    fn kind(r: Result<()>) -> Option<&'static str> {
        r.err().map(|e| e.kind.as_str())
    }

    #[test]
    fn authorize_in_contract_order() {
        let get_account = route("GET", "/v1/account");
        let challenge = route("PUT", "/v1/account/mfa/challenges");
        let codes = route("GET", "/v1/account/mfa/recovery-codes");
        let login = route("POST", "/v1/account/sessions/email");
        let mut blocked = user(&["password"], false, None);
        if let Caller::User(a) = &mut blocked {
            a.user.status = false;
            a.user.reset = true;
        }
        let mut reset = user(&["password"], false, None);
        if let Caller::User(a) = &mut reset {
            a.user.reset = true;
        }
        let cases: Vec<(&Route, Caller, Option<&str>)> = vec![
            (
                get_account,
                Caller::Guest,
                Some("general_unauthorized_scope"),
            ),
            (
                get_account,
                key(&["sessions.write"]),
                Some("general_unauthorized_scope"),
            ),
            (login, key(&["sessions.write"]), None),
            (
                login,
                key(&["users.read"]),
                Some("general_unauthorized_scope"),
            ),
            (login, Caller::Guest, None),
            // Blocked wins over reset-required (step 5 before 6), on any route.
            (get_account, blocked.clone(), Some("user_blocked")),
            (login, blocked, Some("user_blocked")),
            (get_account, reset, Some("user_password_reset_required")),
            (get_account, user(&["password"], false, None), None),
            // Step 7: MFA on, one factor: refused except on the MFA routes.
            (
                get_account,
                user(&["password"], true, None),
                Some("user_more_factors_required"),
            ),
            (challenge, user(&["password"], true, None), None),
            (get_account, user(&["password", "totp"], true, None), None),
            // Step 11: a recent challenge (30 minutes).
            (
                codes,
                user(&["password", "totp"], true, None),
                Some("user_challenge_required"),
            ),
            (
                codes,
                user(&["password", "totp"], true, Some(NOW - 1_801_000)),
                Some("user_challenge_required"),
            ),
            (
                codes,
                user(&["password", "totp"], true, Some(NOW - 60_000)),
                None,
            ),
        ];
        for (i, (r, caller, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                kind(authorize(r, &caller, NOW)),
                want,
                "case {i}: {:?}",
                r.id
            );
        }
    }

    #[test]
    fn a_jwt_owes_its_sessions_factors_and_never_shows_a_recent_challenge() {
        let mut jwt = user(&["password"], true, Some(NOW));
        if let Caller::User(a) = &mut jwt {
            a.jwt = true;
        }
        assert_eq!(
            kind(authorize(route("GET", "/v1/account"), &jwt, NOW)),
            Some("user_more_factors_required")
        );
        let mut jwt = user(&["password", "totp"], true, Some(NOW));
        if let Caller::User(a) = &mut jwt {
            a.jwt = true;
        }
        assert_eq!(
            kind(authorize(route("GET", "/v1/account"), &jwt, NOW)),
            None
        );
        assert_eq!(
            kind(authorize(
                route("GET", "/v1/account/mfa/recovery-codes"),
                &jwt,
                NOW
            )),
            Some("user_challenge_required")
        );
    }

    #[test]
    fn origin_then_project() {
        let config = Config {
            redirect_schemes: vec!["exp".into()],
            ..Config::default()
        };
        let get_account = route("GET", "/v1/account");
        let callback = find("GET", "/v1/account/sessions/oauth2/callback/github/local").unwrap();
        let cases = [
            (
                vec![("origin", "http://localhost:3000")],
                Ok(()),
                Some("project_not_found"),
            ),
            (
                vec![("origin", "https://evil.example")],
                Err("general_unknown_origin"),
                None,
            ),
            (
                vec![("origin", "exp://x")],
                Ok(()),
                Some("project_not_found"),
            ),
            (
                vec![("origin", "exp://x"), ("x-appwrite-project", "local")],
                Ok(()),
                None,
            ),
            (vec![("x-appwrite-project", "local")], Ok(()), None),
            (
                vec![("x-appwrite-project", "other")],
                Ok(()),
                Some("project_not_found"),
            ),
        ];
        for (i, (headers, origin, project)) in cases.into_iter().enumerate() {
            let req = request(&headers);
            let got = check_origin(&config, &req, get_account).map_err(|e| e.kind.as_str());
            assert_eq!(got, origin, "case {i}");
            if origin.is_ok() {
                let p = kind(check_project(&config, &req, get_account, &vec![]));
                assert_eq!(p, project, "case {i}");
            }
        }
        // The OAuth2 callback takes its project from the path and any origin (providers post).
        let req = request(&[("origin", "https://appleid.apple.com")]);
        assert!(check_origin(&config, &req, callback.0).is_ok());
        assert!(check_project(&config, &req, callback.0, &callback.1).is_ok());
        // The API's own origin (its pages exchange a magic link there) is allowed even when
        // the platforms list only the app; a look-alike of it is not.
        let own = Config {
            public_url: Some("https://api.example.test".into()),
            ..config.clone()
        };
        let redeem = route("POST", "/v1/account/sessions/token");
        for (origin, ok) in [
            ("https://api.example.test", true),
            ("https://api.example.test.evil.example", false),
            ("http://api.example.test", false),
        ] {
            let req = request(&[("origin", origin)]);
            assert_eq!(check_origin(&own, &req, redeem).is_ok(), ok, "{origin}");
        }
    }

    #[test]
    fn disabled_methods_refuse_everyone_but_servers() {
        let config = Config {
            auth_methods_disabled: vec![crate::config::AuthMethod::Anonymous],
            ..Config::default()
        };
        let anon = route("POST", "/v1/account/sessions/anonymous");
        assert_eq!(anon.id, RouteId::CreateAnonymousSession);
        let refusal = method_disabled(&config, anon, &Caller::Guest).map(|e| e.message);
        assert_eq!(
            refusal.as_deref(),
            Some("Anonymous authentication is disabled for this project")
        );
        assert!(method_disabled(&config, anon, &key(&["sessions.write"])).is_none());
        let login = route("POST", "/v1/account/sessions/email");
        assert!(method_disabled(&config, login, &Caller::Guest).is_none());
    }
}

#[cfg(test)]
mod pipeline_tests {
    //! The whole pipeline (`handle`) in the order of contract §1.9, on the in-memory store with
    //! a fixed clock: each row is one request and the stage that must answer it. The handler is
    //! a stand-in that names the route, so a row that reaches it proves every stage let it pass.
    use super::*;
    use crate::config::AuthMethod;
    use crate::store::Accounts;
    use crate::testkit::World;

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
        let user = crate::account::sign_up(
            &cx,
            crate::account::SignUp {
                user_id: "unique()",
                email,
                password: "correct horse battery",
                name: "",
            },
        )
        .await
        .unwrap();
        let new = crate::session::create_email_password(&cx, email, "correct horse battery")
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
