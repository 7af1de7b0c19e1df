//! Lambda adapter: API Gateway HTTP API (payload v2) events to [`ApiRequest`] and back. Each
//! function's `main` is `account_edge::lambda::run(function, handler, wiring)`.

use crate::api::{self, Handler};
use crate::http::{ApiRequest, ApiResponse};
use crate::routes::Function;
use account_core::app::App;
use lambda_http::{request::RequestContext, Body, Request, RequestExt, Response};

/// The path the API sees: the event's `rawPath` less a named stage that leads it (the
/// execute-api URL of a stage other than `$default`). Behind a custom domain's API mapping the
/// stage is not in `rawPath`, and nothing is taken off: lambda_http's own URI would add it.
fn api_path(raw: &str, stage: Option<&str>) -> String {
    if let Some(rest) = stage
        .filter(|s| *s != "$default" && !s.is_empty())
        .and_then(|s| raw.strip_prefix('/')?.strip_prefix(s))
        .filter(|rest| *rest == "/v1" || rest.starts_with("/v1/"))
    {
        return rest.to_owned();
    }
    raw.to_owned()
}

fn to_api(req: Request) -> ApiRequest {
    let (source_ip, gateway_domain, stage) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.http.source_ip.clone().unwrap_or_default(),
            ctx.domain_name.clone(),
            ctx.stage.clone(),
        ),
        _ => (String::new(), None, None),
    };
    let path = match req.raw_http_path() {
        "" => req.uri().path().to_owned(),
        raw => api_path(raw, stage.as_deref()),
    };
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => bytes::Bytes::new(),
        Body::Text(t) => bytes::Bytes::from(t),
        Body::Binary(b) => bytes::Bytes::from(b),
        _ => bytes::Bytes::new(),
    };
    let secure = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|p| p.eq_ignore_ascii_case("https"));
    ApiRequest {
        method: parts.method,
        path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        source_ip,
        secure,
        gateway_domain,
    }
}

fn from_api(resp: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        // lambda_http turns repeated `Set-Cookie` headers into the v2 `cookies` array.
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = if resp.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(resp.body)
    };
    builder.body(body).unwrap_or_else(|e| {
        // A header the HTTP types refuse (a bug of ours): the client still gets Appwrite's 500
        // envelope, never an empty 200.
        let err = account_core::Error::internal(format!("unbuildable response: {e}"));
        tracing::error!(error = %err.message, source = ?err.source, "request failed");
        let mut fallback = Response::new(Body::Text(err.envelope().to_string()));
        *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        fallback
    })
}

/// Run one function: build the app during Init (`app`: the wiring's configuration and AWS
/// clients, `account_adapters::wiring::from_env`), warm up, then serve.
pub async fn run(
    function: Function,
    handler: Handler,
    app: impl std::future::Future<Output = account_core::Result<App>>,
) -> Result<(), lambda_http::Error> {
    crate::init_logging();
    let app = app.await.map_err(|e| format!("configuration: {e}"))?;
    // The functions that show countries (sessions, security logs) read the GeoIP database
    // during Init, beside the connection warm-up.
    let geo = async {
        if function.shows_countries() {
            let _ = tokio::task::spawn_blocking(account_core::geo::preload).await;
        }
    };
    // The functions that send messages read the operator's templates (one `Query`) once now;
    // after that only in the background (`custom_templates::TemplateCache`).
    let templates = async {
        if function.sends_messages(app.config.session_alerts) {
            app.templates
                .load(app.store.as_ref(), app.clock.now_ms())
                .await;
        }
    };
    tokio::join!(app.store.warm_up(), geo, templates);
    let app = &app;
    let resolve = move |f: Function| (f == function).then_some(handler);
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(from_api(api::handle(app, to_api(req), &resolve).await))
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gateway_v2_event_becomes_an_api_request() {
        let event = include_str!("../tests/data/apigw-v2-get-account.json");
        let req = to_api(lambda_http::request::from_str(event).unwrap());
        assert_eq!(req.method, http::Method::GET);
        assert_eq!(req.path, "/v1/account/sessions/current");
        assert_eq!(req.query, "a=1&project=local");
        // The edge's view of the client, never X-Forwarded-For.
        assert_eq!(req.source_ip, "203.0.113.7");
        assert!(req.secure);
        assert_eq!(req.gateway_domain.as_deref(), Some("api.example.com"));
        // API Gateway v2 sends cookies apart from the headers; they must still be readable.
        assert_eq!(
            req.cookie("a_session_local").as_deref(),
            Some("eyJpZCI6InUxIiwic2VjcmV0IjoicyJ9")
        );
        assert_eq!(req.cookie("theme").as_deref(), Some("dark"));
        assert_eq!(req.header("x-appwrite-project"), Some("local"));
    }

    fn fixture(name: &str) -> ApiRequest {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        to_api(lambda_http::request::from_str(&text).unwrap())
    }

    #[test]
    fn a_minimal_event_without_cookies_or_body() {
        let req = fixture("apigw-v2-minimal.json");
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("GET", "/v1/account")
        );
        assert_eq!(req.query, "");
        assert!(req.body.is_empty());
        assert_eq!(req.cookie("a_session_local"), None);
        assert!(req.header("cookie").is_none());
        assert_eq!(req.source_ip, "198.51.100.9");
        // No X-Forwarded-Proto: API Gateway only speaks HTTPS to clients.
        assert!(req.secure);
        assert_eq!(
            req.gateway_domain.as_deref(),
            Some("abc123.execute-api.eu-west-1.amazonaws.com")
        );
        let p = crate::params::Params::from_request(&req).unwrap();
        assert!(p.get("email").is_none());
    }

    #[test]
    fn a_base64_body_arrives_decoded() {
        let req = fixture("apigw-v2-base64-body.json");
        assert_eq!(req.method, http::Method::POST);
        let p = crate::params::Params::from_request(&req).unwrap();
        assert_eq!(p.get("email").unwrap(), "b64@example.com");
        assert_eq!(p.get("password").unwrap(), "pässwörd-123");
        assert_eq!(p.get("name").unwrap(), "Zoë");
    }

    #[test]
    fn repeated_query_keys_keep_every_value() {
        let req = fixture("apigw-v2-repeated-query.json");
        assert_eq!(req.path, "/v1/account/logs");
        let p = crate::params::Params::from_request(&req).unwrap();
        assert_eq!(
            p.get("queries").unwrap(),
            &serde_json::json!(["limit(10)", "offset(5)"]),
            "not API Gateway's comma-joined queryStringParameters"
        );
        assert_eq!(p.get("total").unwrap(), "false");
    }

    #[test]
    fn a_named_stage_is_not_part_of_the_route() {
        for name in [
            "apigw-v2-stage-in-path.json",
            "apigw-v2-stage-custom-domain.json",
        ] {
            let req = fixture(name);
            assert_eq!(req.path, "/v1/account/prefs", "{name}");
            assert!(crate::routes::find("GET", &req.path).is_some(), "{name}");
        }
        assert_eq!(api_path("/v1/v1/account", Some("v1")), "/v1/account");
        assert_eq!(api_path("/v1/account", Some("v1")), "/v1/account");
        assert_eq!(api_path("/prod/x", Some("prod")), "/prod/x");
        assert_eq!(
            api_path("/production/v1/account", Some("prod")),
            "/production/v1/account"
        );
    }

    #[test]
    fn an_unbuildable_response_is_a_500_envelope() {
        let resp = from_api(ApiResponse {
            status: 301,
            headers: vec![("Location".into(), "http://x/\r\nSet-Cookie: evil=1".into())],
            body: String::new(),
        });
        assert_eq!(resp.status(), 500);
        assert!(resp.headers().get("set-cookie").is_none());
        let Body::Text(body) = resp.body() else {
            panic!("a JSON body")
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (v["code"].as_u64(), v["type"].as_str()),
            (Some(500), Some("general_server_error"))
        );
    }

    #[test]
    fn responses_keep_every_set_cookie() {
        let resp = from_api(ApiResponse {
            status: 201,
            headers: vec![
                ("Set-Cookie".into(), "a=1".into()),
                ("Set-Cookie".into(), "b=2".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: "{}".into(),
        });
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers().get_all("set-cookie").iter().count(), 2);
    }
}
