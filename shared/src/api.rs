//! The request pipeline every function shares (contract §1.9 order of checks):
//! CORS/preflight → route → origin → project → credential → authentication ‖ rate limit →
//! params → handler → render (cookies, CORS, error envelope).

use crate::app::App;
use crate::clock::Millis;
use crate::credential::Credential;
use crate::crypto;
use crate::device::{self, Device};
use crate::error::{Error, ErrorType, Result};
use crate::http::{cookie_encode, ApiRequest, ApiResponse};
use crate::item::{SessionItem, UserItem};
use crate::params::Params;
use crate::ratelimit::{self, Verdict};
use crate::routes::{self, Access, Function, Load, PathParams, Route};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

const JSON: &str = "application/json; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";
const ALLOW_HEADERS: &str = "Accept, Origin, Cookie, Set-Cookie, Content-Type, Content-Range, X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Dev-Key, X-Appwrite-Locale, X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Response-Format, X-Appwrite-Timeout, X-Appwrite-Session, X-Appwrite-ID, X-Appwrite-Impersonate-User-Id, X-Appwrite-Impersonate-User-Email, X-Appwrite-Impersonate-User-Phone, X-SDK-Version, X-SDK-Name, X-SDK-Language, X-SDK-Platform, X-SDK-GraphQL, Range, Cache-Control, Expires, Pragma, X-Fallback-Cookies, X-Requested-With, X-Forwarded-For, X-Forwarded-User-Agent";

/// Who is calling from where.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
    pub device: Device,
}

/// An authenticated user and what was loaded with them (see [`Load`]).
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: UserItem,
    /// The session whose secret made this request.
    pub session: SessionItem,
    /// Every live session of the user (with [`Load::AllSessions`]); otherwise just the loaded ones.
    pub sessions: Vec<SessionItem>,
}

impl Auth {
    /// Resolve a `{sessionId}` (`current` allowed) among the loaded live sessions.
    pub fn find_session(&self, id: &str) -> Option<&SessionItem> {
        let id = if id == "current" {
            self.session.id.as_str()
        } else {
            id
        };
        self.sessions.iter().find(|s| s.id == id)
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
    pub client: Client,
    pub now: Millis,
}

impl Call<'_> {
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
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body: Some(body),
            cookie: CookieAction::Keep,
        }
    }
    pub fn created(body: Value) -> Self {
        Self {
            status: 201,
            body: Some(body),
            cookie: CookieAction::Keep,
        }
    }
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            cookie: CookieAction::Keep,
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

/// Load and verify the caller's session: one DynamoDB round trip. `Ok(None)` means guest.
pub async fn authenticate(
    app: &App,
    cred: &Credential,
    load: Load,
    path_session: Option<&str>,
    now: Millis,
) -> Result<Option<Auth>> {
    let Some(sid) = cred.session_id() else {
        return Ok(None);
    };
    if !crate::ids::is_valid_custom(&cred.id) {
        return Ok(None);
    }
    let (user, sessions) = match load {
        Load::AllSessions => app.store.get_user_with_all_sessions(&cred.id).await?,
        Load::Session => app.store.get_user_and_sessions(&cred.id, &[sid]).await?,
        Load::PathSession => {
            let extra = path_session.filter(|p| *p != "current" && crate::ids::is_valid_custom(p));
            let ids: Vec<&str> = std::iter::once(sid).chain(extra).collect();
            app.store.get_user_and_sessions(&cred.id, &ids).await?
        }
    };
    let Some(user) = user else { return Ok(None) };
    let hash = crypto::sha256_hex(&cred.secret);
    let sessions: Vec<SessionItem> = sessions.into_iter().filter(|s| s.is_live(now)).collect();
    let current = sessions
        .iter()
        .find(|s| s.id == sid && crypto::ct_eq(&s.secret_hash, &hash))
        .cloned();
    Ok(current.map(|session| Auth {
        user,
        session,
        sessions,
    }))
}

fn client_ip(app: &App, req: &ApiRequest) -> String {
    app.config
        .trusted_ip_header
        .as_deref()
        .and_then(|h| req.header(h))
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find(|ip| ip.parse::<std::net::IpAddr>().is_ok())
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

fn scope_error() -> Error {
    Error::with_message(
        ErrorType::UnauthorizedScope,
        "User (role: guests) missing scopes ([\"account\"])",
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
    let Some(handler) = handler_for(route.function) else {
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
    if let Some(origin) = req.header("origin") {
        if !origin_allowed(app, origin) {
            return Err(Error::with_message(
                ErrorType::UnknownOrigin,
                format!("Invalid Origin. Register your new client ({origin}) as a new Web platform on your project console dashboard"),
            ));
        }
    }
    let project = req
        .header("x-appwrite-project")
        .map(str::to_owned)
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
    let ip = client_ip(app, req);
    let user_agent = req.header("user-agent").unwrap_or_default().to_owned();
    let client = Client {
        ip: ip.clone(),
        device: device::parse(&user_agent),
        user_agent,
    };
    let params = Params::from_request(req);
    let cred = credential(req, &app.config.project_id);
    let path_session = path
        .iter()
        .find(|(k, _)| *k == "sessionId")
        .map(|(_, v)| v.as_str());

    let load = match route.access {
        Access::User(load) => Some(load),
        Access::GuestOnly => Some(Load::Session),
        Access::Guest => None,
    };
    let auth_fut = async {
        match (&cred, load) {
            (Some(c), Some(load)) => authenticate(app, c, load, path_session, now).await,
            _ => Ok(None),
        }
    };
    let rl_fut = |user_id: String| {
        let params = params.as_ref().ok().cloned();
        let ip = ip.clone();
        async move {
            let Some(rl) = route.rate_limit.filter(|_| app.config.rate_limits_enabled) else {
                return Ok(None);
            };
            let vars = |name: &str| -> Option<String> {
                match name {
                    "url" => Some(format!("{}{}", req.hostname(), route.paths[0])),
                    "ip" => Some(ip.clone()),
                    "userId" => Some(user_id.clone()),
                    "projectId" => Some(app.config.project_id.clone()),
                    "method" => Some(route.method.to_owned()),
                    "userAgent" => req.header("user-agent").map(str::to_owned),
                    n => n.strip_prefix("param-").and_then(|p| {
                        params
                            .as_ref()?
                            .get(p)
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    }),
                }
            };
            let keys = rl
                .keys
                .iter()
                .map(|k| ratelimit::fill_key(k, &vars))
                .collect();
            ratelimit::check(&app.store, &rl, keys, now).await.map(Some)
        }
    };
    // The counter runs in parallel with the authentication read unless its key names the
    // (verified) user, which only authentication can supply.
    let needs_user = route
        .rate_limit
        .is_some_and(|rl| rl.keys.iter().any(|k| k.contains("{userId}")));
    let (auth, rl) = if needs_user {
        let auth = auth_fut.await;
        let uid = auth
            .as_ref()
            .ok()
            .and_then(|a| a.as_ref())
            .map(|a| a.user.id.clone())
            .unwrap_or_default();
        (auth, rl_fut(uid).await)
    } else {
        tokio::join!(auth_fut, rl_fut(String::new()))
    };
    let auth = auth?;
    *verdict = rl?;

    match (route.access, &auth) {
        (Access::User(_), None) => return Err(scope_error()),
        (Access::User(_), Some(a)) if !a.user.status => {
            return Err(Error::new(ErrorType::UserBlocked))
        }
        (Access::User(_), Some(a)) if a.user.reset => {
            return Err(Error::new(ErrorType::UserPasswordResetRequired))
        }
        _ => {}
    }
    if verdict.as_ref().is_some_and(|v| !v.allowed) {
        return Err(Error::new(ErrorType::RateLimitExceeded));
    }
    if route.access == Access::GuestOnly && auth.is_some() {
        return Err(Error::new(ErrorType::UserSessionAlreadyExists));
    }
    let params = params?;
    handler(Call {
        app,
        req,
        route,
        path,
        params,
        auth,
        client,
        now,
    })
    .await
}
