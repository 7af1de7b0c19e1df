//! Stage "render": the reply or the error envelope, with the session cookies (and the
//! fallback header), CORS and rate-limit headers.

use super::*;

pub(super) fn cors_headers(app: &App, req: &ApiRequest, headers: &mut Vec<(String, String)>) {
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

pub(super) fn registrable(host: &str) -> Option<String> {
    if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    (labels.len() >= 2).then(|| labels[labels.len() - 2..].join("."))
}

/// Appwrite adds `X-Fallback-Cookies` when the page's site differs from the API's (or is unknown).
pub(super) fn fallback_applies(req: &ApiRequest) -> bool {
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

pub(super) fn cookie_headers(
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
            account_core::dates::cookie(*expire),
            String::new(),
            serde_json::json!({ format!("a_session_{project}"): credential }).to_string(),
        ),
        CookieAction::Clear => (
            "deleted".to_owned(),
            account_core::dates::cookie(1000),
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

pub(super) fn render(
    app: &App,
    req: &ApiRequest,
    result: Result<Reply>,
    rl: Option<&Verdict>,
) -> ApiResponse {
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
