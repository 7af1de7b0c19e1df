//! The request pipeline every function shares (contract §1.9 order of checks):
//! CORS/preflight → route → origin → project → credential → authentication ‖ rate limit →
//! params → handler → render (cookies, CORS, error envelope).

use crate::app::App;
use crate::clock::Millis;
pub use crate::context::{Admission, Client, Gate, Verdict};
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
    pub auth: Option<Auth>,
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

    /// The authenticated user; the pipeline guarantees it on `Access::User` routes.
    pub fn auth(&self) -> Result<&Auth> {
        self.auth
            .as_ref()
            .ok_or_else(|| Error::new(ErrorType::UserUnauthorized))
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

/// The client IP: the edge's view, or, behind a proxy named by `TRUSTED_IP_HEADER`, the last
/// address in that header (the one the proxy appended; earlier ones are the client's to forge).
fn client_ip(app: &App, req: &ApiRequest) -> String {
    app.config
        .trusted_ip_header
        .as_deref()
        .and_then(|h| req.header(h))
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .rfind(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| req.source_ip.clone())
}

/// Whether the `Origin` may call us (contract §1.12). Requests without one (server SDKs) pass.
fn origin_allowed(app: &App, origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    match url.scheme() {
        "http" | "https" | "chrome-extension" | "moz-extension" | "tauri" => {
            url.host_str().is_some_and(|h| app.config.host_allowed(h))
        }
        "exp" => true,
        s => s == format!("appwrite-callback-{}", app.config.project_id),
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
    if let Some(origin) = req.header("origin").filter(|o| origin_allowed(app, o)) {
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

async fn pipeline(
    app: &App,
    req: &ApiRequest,
    route: &'static Route,
    path: PathParams,
    handler: Handler,
    verdict: &mut Option<Verdict>,
) -> Result<Reply> {
    // The OAuth2 callback is called by providers (Apple posts a form from its own origin).
    if let Some(origin) = req.header("origin").filter(|_| !route.id.project_in_path()) {
        if !origin_allowed(app, origin) {
            return Err(Error::with_message(
                ErrorType::UnknownOrigin,
                format!("Invalid Origin. Register your new client ({origin}) as a new Web platform on your project console dashboard"),
            ));
        }
    }
    // The project: from the path on the OAuth2 callback, else the header, else `?project=`.
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
    if project.as_deref() != Some(app.config.project_id.as_str()) {
        return Err(Error::new(ErrorType::ProjectNotFound));
    }

    let now = app.clock.now_ms();
    let key_header = req.header("x-appwrite-key").map(str::to_owned);
    let params = Params::from_request(req);
    let path_session = path
        .iter()
        .find(|(k, _)| *k == "sessionId")
        .map(|(_, v)| v.as_str());

    // Who is calling: an API key, a session credential, a JWT, or nobody.
    let key_fut = async {
        match &key_header {
            None => Ok(None),
            Some(k) => {
                let stored = match crate::keys::id_of(k) {
                    Some(id) => app.store.get_api_key(id).await?,
                    None => None,
                };
                crate::keys::check(k, stored, now).map(Some)
            }
        }
    };
    let load = match route.access {
        Access::User(load) => Some(load),
        Access::GuestOnly => Some(Load::Session),
        Access::Guest | Access::Public => None,
    };
    let cred = credential(req, &app.config.project_id).and_then(|c| Identity::from_credential(&c));
    let jwt = req.header("x-appwrite-jwt");
    let auth_fut = async {
        if key_header.is_some() {
            return Ok(None);
        }
        // The session first: a valid session together with a JWT is refused.
        let by_session = match (&cred, load.or(jwt.map(|_| Load::Session))) {
            (Some(c), Some(load)) => authenticate(app, c, load, path_session, now).await?,
            _ => None,
        };
        match (by_session, jwt) {
            (Some(_), Some(_)) => Err(Error::new(ErrorType::UserJwtAndCookieSet)),
            (Some(a), None) => Ok(Some(a)),
            (None, Some(token)) => {
                let claims = crate::jwt::verify(&app.config.secret_key, token, now)?;
                let who = Identity {
                    user_id: claims.user_id,
                    session_id: claims.session_id,
                    secret: None,
                };
                match load {
                    Some(load) => authenticate(app, &who, load, path_session, now).await,
                    None => Ok(None),
                }
            }
            (None, None) => Ok(None),
        }
    };
    // Rate limit: counted once; keys are exempt (they still get the headers). The counter runs in
    // parallel with the authentication read, unless its key names the verified user.
    let needs_user = route.rate_limit.is_some_and(|rl| {
        rl.keys
            .iter()
            .chain(rl.guards.iter().map(|(k, _)| k))
            .any(|k| k.contains("{userId}"))
    });
    let rl_params = params.as_ref().ok().cloned();
    let exempt = key_header.is_some();
    let ip = client_ip(app, req);
    let admission_for = |uid: String| -> Admission<'_> {
        let (ip, rl_params) = (ip.clone(), rl_params.clone());
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
                    "ip" => Some(ip.clone()),
                    "userId" => Some(uid.clone()),
                    "projectId" => Some(app.config.project_id.clone()),
                    "method" => Some(route.method.to_owned()),
                    "userAgent" => req.header("user-agent").map(str::to_owned),
                    n => n.strip_prefix("param-").and_then(|p| {
                        let v = rl_params.as_ref()?.get(p)?;
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
            let mut verdict = ratelimit::check(&app.store, &rl, keys, guards, now).await?;
            // `RATE_LIMITS=disabled` (development) still counts and sends the headers, as
            // Appwrite's abuse option does; it just never refuses.
            verdict.allowed |= !app.config.rate_limits_enabled;
            Ok(Some(verdict))
        })
            as futures_util::future::BoxFuture<'_, Result<Option<Verdict>>>)
    };
    let (key, auth, admission) = if needs_user {
        let (key, auth) = tokio::join!(key_fut, auth_fut);
        let uid = auth
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(|a: &Auth| a.user.id.clone())
            .unwrap_or_default();
        (key, auth, admission_for(uid))
    } else if route.admit == Admit::InHandler {
        // The counter will run beside the handler's first read (see below).
        let (key, auth) = tokio::join!(key_fut, auth_fut);
        (key, auth, admission_for(String::new()))
    } else {
        // The counter runs beside the authentication read.
        let admission = admission_for(String::new());
        let (key, auth, _) = tokio::join!(key_fut, auth_fut, admission.clone());
        (key, auth, admission)
    };
    let key = key?;
    let auth = auth?;

    // X-Forwarded-User-Agent is honoured only for servers (API keys).
    let ua_header = if key.is_some() {
        req.header("x-forwarded-user-agent")
            .or(req.header("user-agent"))
    } else {
        req.header("user-agent")
    };
    let user_agent = ua_header.unwrap_or_default().to_owned();
    let client = Client {
        ip: ip.clone(),
        device: device::parse(&user_agent),
        user_agent,
    };

    // Scope checks (contract §1.9 steps 2-6).
    if let Some(k) = &key {
        if !k.has_scope(route.access.scope()) {
            return Err(scope_error("applications", route.access.scope()));
        }
    }
    match (route.access, &auth) {
        (Access::User(_), None) if key.is_none() => return Err(scope_error("guests", "account")),
        (_, Some(a)) if !a.user.status => return Err(Error::new(ErrorType::UserBlocked)),
        (Access::User(_), Some(a)) if a.user.reset => {
            return Err(Error::new(ErrorType::UserPasswordResetRequired))
        }
        _ => {}
    }
    // MFA (contract §1.9 steps 7 and 11). A JWT carries the session it was issued for and obeys
    // that session's factors (else a JWT minted before the second factor would skip it); it can
    // never show a recent challenge.
    if let (Access::User(_), Some(a)) = (route.access, &auth) {
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

    // Auth-method toggles (contract §1.9 step 9); servers (keys) are exempt.
    if let Some(method) = route.id.auth_method() {
        if key_header.is_none() && app.config.auth_methods_disabled.contains(&method) {
            *verdict = admission.clone().await?;
            if verdict.as_ref().is_some_and(|v| !v.allowed) {
                return Err(Error::new(ErrorType::RateLimitExceeded));
            }
            return Err(Error::with_message(
                ErrorType::UserAuthMethodUnsupported,
                method.disabled_message(),
            ));
        }
    }
    let guest_only_violation = route.access == Access::GuestOnly && auth.is_some();
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
            *verdict = admission.clone().await?;
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
                    *verdict = admission.clone().await?;
                    return Err(e);
                }
            };
            // The counter and the handler's first read run concurrently; the handler awaits the
            // verdict (`Gate::pass`) before it writes anything.
            let (rl, result) = tokio::join!(admission.clone(), handler(call(params)));
            *verdict = rl?;
            if verdict.as_ref().is_some_and(|v| !v.allowed) {
                return Err(Error::new(ErrorType::RateLimitExceeded));
            }
            result
        }
    }
}
