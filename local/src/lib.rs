//! The local server: every function's handler mounted in one process on one port, the way API
//! Gateway routes them in AWS. Used by `scripts/dev` and by the integration tests.

pub mod gateway;

use account_core::App;
use account_edge::api::{self, Handler};
use account_edge::http::{ApiRequest, ApiResponse};
use account_edge::routes::Function;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Bodies above this are refused before parsing (API Gateway's own limit is 10 MB).
const MAX_BODY: usize = 1 << 20;

/// The handler of every function, as API Gateway would route to each Lambda.
pub fn handler_for(f: Function) -> Option<Handler> {
    Some(match f {
        Function::Account => fn_account::handler,
        Function::Sessions => fn_sessions::handler,
        Function::Tokens => fn_tokens::handler,
        Function::Verification => fn_verification::handler,
        Function::Recovery => fn_recovery::handler,
        Function::Mfa => fn_mfa::handler,
        Function::Oauth2 => fn_oauth2::handler,
        Function::Passkeys => fn_passkeys::handler,
    })
}

async fn to_api(req: hyper::Request<Incoming>, peer: SocketAddr) -> Option<ApiRequest> {
    let (parts, body) = req.into_parts();
    let body = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()?
        .to_bytes();
    Some(ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        source_ip: peer.ip().to_string(),
        secure: false,
        gateway_domain: None,
    })
}

fn to_hyper(resp: ApiResponse) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(resp.body)));
    *out.status_mut() =
        http::StatusCode::from_u16(resp.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::try_from(k),
            http::HeaderValue::try_from(v),
        ) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

fn too_large() -> hyper::Response<Full<Bytes>> {
    let body = account_core::Error::with_message(
        account_core::ErrorType::ArgumentInvalid,
        "Request body too large.",
    )
    .envelope();
    let mut out = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *out.status_mut() = http::StatusCode::BAD_REQUEST;
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    out
}

/// Serve until the listener fails. Each connection gets its own task.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<Incoming>| {
                let app = app.clone();
                async move {
                    let resp = match to_api(req, peer).await {
                        Some(req) => to_hyper(api::handle(&app, req, &handler_for).await),
                        None => too_large(),
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

/// What a function's Init reads besides its connections: the operator's templates.
pub async fn preload(app: &App) {
    app.templates
        .load(app.store.as_ref(), app.clock.now_ms())
        .await;
}

/// Bind `addr` and serve in the background (after [`preload`]); returns the bound address
/// (port 0 picks a free one).
pub async fn spawn(app: Arc<App>, addr: &str) -> std::io::Result<SocketAddr> {
    preload(&app).await;
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(app, listener));
    Ok(local)
}
