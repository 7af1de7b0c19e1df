//! A thin stand-in for API Gateway's HTTP API, for the Lambda-path test lane (`scripts/test`):
//! each request is routed by the route table (as `template.yaml`'s events route it: a matched
//! route to its function, anything else to `ANY /{proxy+}` on the account function), turned into
//! a payload-2.0 event as API Gateway builds it, and invoked on the real function binary that
//! `cargo lambda watch` runs. The function's answer goes back the way API Gateway returns it.
//!
//! What API Gateway does and this does too: cookies leave the headers for the `cookies` array,
//! repeated headers and query keys are joined with commas (the raw query string is kept), bodies
//! that are not text arrive base64-encoded, `sourceIp` is the TCP peer, the stage is
//! `$default`; on the way back every `cookies` entry becomes a `Set-Cookie`, a base64 body is
//! decoded, and a function that fails or answers nonsense is API Gateway's own
//! `500 {"message":"Internal Server Error"}`.

use account_edge::routes::{self, Function};
use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// API Gateway's own limit on a payload.
const MAX_BODY: usize = 10 << 20;

/// The function API Gateway would invoke for `method` and `path`, with the event's `routeKey`
/// and path parameters.
pub fn route(method: &str, path: &str) -> (Function, String, Vec<(String, String)>) {
    match routes::find(method, path) {
        Some((r, params)) => (
            r.id.function(),
            format!("{} {}", r.method, r.paths[0]),
            params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ),
        None => (
            Function::Account,
            "ANY /{proxy+}".to_owned(),
            vec![("proxy".to_owned(), path.trim_start_matches('/').to_owned())],
        ),
    }
}

fn is_text(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.starts_with("application/json")
        || ct.starts_with("application/x-www-form-urlencoded")
}

/// The payload-2.0 event for one request.
pub fn event(
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
    epoch_ms: i64,
) -> Value {
    let path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or_default();
    let (_, route_key, params) = route(parts.method.as_str(), path);

    let mut headers = Map::new();
    let mut cookies = vec![];
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        join(&mut headers, name.as_str(), value);
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    join(&mut headers, "x-forwarded-for", peer.ip().to_string());
    headers.insert("x-forwarded-proto".into(), "http".into());
    headers.insert("x-forwarded-port".into(), peer.port().to_string().into());
    let domain = host.split(':').next().unwrap_or_default().to_owned();

    let mut query = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        join(&mut query, &k, v.into_owned());
    }

    let mut e = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get(http::header::USER_AGENT)
                    .and_then(|h| h.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": time_of(epoch_ms),
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        e["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        e["pathParameters"] = params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
    }
    if !body.is_empty() {
        let text = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(is_text);
        match std::str::from_utf8(body) {
            Ok(s) if text => e["body"] = s.into(),
            _ => {
                e["body"] = STANDARD.encode(body).into();
                e["isBase64Encoded"] = true.into();
            }
        }
    }
    e
}

/// API Gateway joins repeated headers and query keys with commas.
fn join(map: &mut Map<String, Value>, key: &str, value: String) {
    match map.get_mut(key) {
        Some(Value::String(s)) => {
            s.push(',');
            s.push_str(&value);
        }
        _ => {
            map.insert(key.to_owned(), value.into());
        }
    }
}

/// `requestContext.time` as API Gateway writes it, e.g. `12/Mar/2020:19:03:58 +0000`.
fn time_of(epoch_ms: i64) -> String {
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::from_unix_timestamp(epoch_ms / 1000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// API Gateway's answer when the integration fails.
fn gateway_error() -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from_static(
        br#"{"message":"Internal Server Error"}"#,
    )));
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// The HTTP response for a function's payload-2.0 answer (`None` for a failed invocation).
pub fn response(answer: Option<&[u8]>) -> http::Response<Full<Bytes>> {
    let Some(v) = answer.and_then(|a| serde_json::from_slice::<Value>(a).ok()) else {
        return gateway_error();
    };
    let Some(status) = v["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| http::StatusCode::from_u16(s).ok())
    else {
        return gateway_error();
    };
    let body = match (&v["body"], v["isBase64Encoded"].as_bool().unwrap_or(false)) {
        (Value::String(b), true) => match STANDARD.decode(b) {
            Ok(raw) => raw,
            Err(_) => return gateway_error(),
        },
        (Value::String(b), false) => b.clone().into_bytes(),
        _ => vec![],
    };
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let out = r.headers_mut();
    let mut add = |k: &str, v: &str| {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::try_from(k),
            http::HeaderValue::try_from(v),
        ) {
            out.append(k, v);
        }
    };
    if let Some(h) = v["headers"].as_object() {
        for (k, val) in h {
            if let Some(s) = val.as_str() {
                add(k, s);
            }
        }
    }
    if let Some(c) = v["cookies"].as_array() {
        for cookie in c.iter().filter_map(Value::as_str) {
            add("set-cookie", cookie);
        }
    }
    r
}

/// Serve on `listener`, invoking functions through the Lambda Invoke API at `invoke`
/// (`cargo lambda watch`, e.g. `http://127.0.0.1:9000`).
pub async fn serve(listener: tokio::net::TcpListener, invoke: String) -> std::io::Result<()> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    loop {
        let (stream, peer) = listener.accept().await?;
        let (client, invoke, counter) = (client.clone(), invoke.clone(), counter.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let (client, invoke, counter) = (client.clone(), invoke.clone(), counter.clone());
                async move {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok::<_, std::convert::Infallible>(forward(&client, &invoke, req, peer, n).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    invoke: &str,
    req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    n: u64,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let Ok(body) = http_body_util::Limited::new(body, MAX_BODY).collect().await else {
        let mut r = gateway_error();
        *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
        return r;
    };
    let body = body.to_bytes();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let (function, _, _) = route(parts.method.as_str(), parts.uri.path());
    let event = event(&parts, &body, peer, &format!("local-{n}"), now);
    let url = format!(
        "{invoke}/2015-03-31/functions/{}/invocations",
        function.name()
    );
    let Ok(call) = http::Request::post(url).body(Full::new(Bytes::from(event.to_string()))) else {
        return gateway_error();
    };
    let answer = match client.request(call).await {
        // The Invoke API marks a function's own failure with X-Amz-Function-Error.
        Ok(r) if r.status().is_success() && !r.headers().contains_key("x-amz-function-error") => {
            r.into_body().collect().await.ok().map(|b| b.to_bytes())
        }
        Ok(r) => {
            let status = r.status();
            let text = r
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            tracing::warn!(%status, body = %String::from_utf8_lossy(&text), function = function.name(), "invocation failed");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, function = function.name(), "invocation failed");
            None
        }
    };
    response(answer.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn peer() -> SocketAddr {
        "198.51.100.4:50000".parse().unwrap()
    }

    #[test]
    fn routes_as_the_template_does() {
        let (f, key, params) = route("GET", "/v1/account/identities");
        assert_eq!(
            (f, key.as_str()),
            (Function::Account, "GET /v1/account/identities")
        );
        assert!(params.is_empty());
        let (f, key, params) = route("DELETE", "/v1/account/sessions/abc");
        assert_eq!(f, Function::Sessions);
        assert_eq!(key, "DELETE /v1/account/sessions/{sessionId}");
        assert_eq!(params, vec![("sessionId".to_owned(), "abc".to_owned())]);
        let (f, key, _) = route("OPTIONS", "/v1/account");
        assert_eq!((f, key.as_str()), (Function::Account, "ANY /{proxy+}"));
    }

    #[test]
    fn events_carry_what_api_gateway_sends() {
        let p = parts(
            "POST",
            "/v1/account/sessions/email?a=1&a=2&b=x%20y",
            &[
                ("host", "api.example.com:8080"),
                ("cookie", "a_session_p=abc; theme=dark"),
                ("x-appwrite-project", "p"),
                ("accept", "text/html"),
                ("accept", "application/json"),
                ("content-type", "application/octet-stream"),
            ],
        );
        let e = event(&p, &[0xff, 0x00, 0x01], peer(), "r1", 1_800_000_000_000);
        assert_eq!(e["cookies"], json!(["a_session_p=abc", "theme=dark"]));
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["headers"]["accept"], "text/html,application/json");
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], STANDARD.encode([0xff, 0x00, 0x01]));
        assert_eq!(e["requestContext"]["http"]["sourceIp"], "198.51.100.4");
        assert_eq!(e["requestContext"]["domainName"], "api.example.com");
        assert_eq!(e["requestContext"]["time"], "15/Jan/2027:08:00:00 +0000");
        // The shape lambda_http reads: the functions' own adapter takes it.
        lambda_http::request::from_str(&e.to_string()).unwrap();
        let text = event(
            &parts(
                "POST",
                "/v1/account",
                &[("content-type", "application/json")],
            ),
            br#"{"a":1}"#,
            peer(),
            "r2",
            0,
        );
        assert_eq!(
            (text["body"].as_str(), text["isBase64Encoded"].as_bool()),
            (Some(r#"{"a":1}"#), Some(false))
        );
        assert!(text.get("cookies").is_none() && text.get("queryStringParameters").is_none());
    }

    #[test]
    fn answers_come_back_as_api_gateway_returns_them() {
        let r = response(Some(
            br#"{"statusCode":201,"headers":{"content-type":"application/json"},"cookies":["a=1; HttpOnly","b=2"],"body":"e30=","isBase64Encoded":true}"#,
        ));
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        for bad in [None, Some(&b"not json"[..]), Some(br#"{"errorType":"x"}"#)] {
            let r = response(bad);
            assert_eq!(r.status(), 500);
        }
    }
}
