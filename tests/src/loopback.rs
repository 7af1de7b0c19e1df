//! What every provider double shares: an HTTP/1 server on a free loopback port that answers each
//! request with a route function, and a JSON reply.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;

pub type Response = hyper::Response<Full<Bytes>>;

/// Serve `route` on a free loopback port; returns its base URL (`http://127.0.0.1:<port>`).
/// `route` gets the base too (an issuer names itself).
pub async fn serve<F, Fut>(route: F) -> String
where
    F: Fn(String, hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let at = base.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (route, at) = (route.clone(), at.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (route, at) = (route.clone(), at.clone());
                    async move { Ok::<_, Infallible>(route(at, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    base
}

/// A reply of `status` with `headers` and a body of `content_type`.
pub fn reply(
    status: u16,
    headers: &[(&str, String)],
    content_type: &str,
    body: String,
) -> Response {
    let mut b = hyper::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// A JSON reply.
pub fn json(status: u16, headers: &[(&str, String)], body: Value) -> Response {
    reply(status, headers, "application/json", body.to_string())
}
