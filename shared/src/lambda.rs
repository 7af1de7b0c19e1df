//! Lambda adapter: API Gateway HTTP API (payload v2) events to [`ApiRequest`] and back. Each
//! function's `main` is `shared::lambda::run(Some(handler))`.

use crate::api::{self, Handler};
use crate::app::App;
use crate::http::{ApiRequest, ApiResponse};
use crate::routes::Function;
use lambda_http::{request::RequestContext, Body, Request, RequestExt, Response};

fn to_api(req: Request) -> ApiRequest {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone().unwrap_or_default(),
        _ => String::new(),
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
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        source_ip,
        secure,
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
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// Run one function: build the app during Init (config, AWS client, TLS warm-up), then serve.
pub async fn run(function: Function, handler: Handler) -> Result<(), lambda_http::Error> {
    crate::init_logging();
    let app = App::from_env()
        .await
        .map_err(|e| format!("configuration: {e}"))?;
    app.store.warm_up().await;
    let app = &app;
    let resolve = move |f: Function| (f == function).then_some(handler);
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(from_api(api::handle(app, to_api(req), &resolve).await))
    }))
    .await
}
