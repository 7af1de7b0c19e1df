//! A proxy in front of DynamoDB Local that loses answers: the request it was told to lose is
//! forwarded and runs (a write lands), and the client gets a 500 `InternalServerError` instead of
//! the answer, as when a failure happens on DynamoDB's way back. The resend tests use it to prove
//! that each kind of write is safe to repeat.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    /// Operations whose next request loses its answer, one entry per request to lose.
    armed: Vec<String>,
    /// Every operation forwarded, in order.
    forwarded: Vec<String>,
    lost: Vec<String>,
    /// Operations answered 500 every time, without reaching DynamoDB.
    broken: Vec<String>,
    /// Operations whose next request is refused with `TransactionConflictException` (the item
    /// is in a transaction in flight), without reaching DynamoDB.
    conflicted: Vec<String>,
}

#[derive(Clone)]
pub struct LostAnswers {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl LostAnswers {
    /// A proxy to `AWS_ENDPOINT_URL_DYNAMODB` (else `AWS_ENDPOINT_URL`) on a free loopback port.
    pub async fn start() -> Self {
        let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .expect("AWS_ENDPOINT_URL_DYNAMODB: run the tests through scripts/test");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let http = reqwest::Client::new();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (st, http, upstream) = (st.clone(), http.clone(), upstream.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<Incoming>| {
                        forward(req, st.clone(), http.clone(), upstream.clone())
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), svc)
                        .await;
                });
            }
        });
        Self { url, state }
    }

    /// Lose the answer to the next request of `operation` (`TransactWriteItems`, `PutItem`, …).
    pub fn lose_next(&self, operation: &str) {
        self.state.lock().unwrap().armed.push(operation.to_owned());
    }

    /// Refuse the next request of `operation` as DynamoDB refuses a single-item write that meets
    /// a transaction in flight on its item: `TransactionConflictException`, nothing written.
    pub fn conflict_next(&self, operation: &str) {
        self.state
            .lock()
            .unwrap()
            .conflicted
            .push(operation.to_owned());
    }

    /// Answer every request of `operation` with a 500 from now on, without forwarding it.
    pub fn break_all(&self, operation: &str) {
        self.state.lock().unwrap().broken.push(operation.to_owned());
    }

    /// How many requests of `operation` reached DynamoDB.
    pub fn forwarded(&self, operation: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.forwarded.iter().filter(|o| *o == operation).count()
    }

    /// The operations whose answers were lost so far.
    pub fn lost(&self) -> Vec<String> {
        self.state.lock().unwrap().lost.clone()
    }
}

async fn forward(
    req: hyper::Request<Incoming>,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    upstream: String,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        .unwrap_or_default()
        .to_owned();
    {
        let mut st = state.lock().unwrap();
        if st.broken.contains(&op) {
            return Ok(internal_server_error());
        }
        if let Some(i) = st.conflicted.iter().position(|o| *o == op) {
            st.conflicted.remove(i);
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#;
            return Ok(hyper::Response::builder()
                .status(400)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amzn-errortype", "TransactionConflictException")
                .body(Full::new(Bytes::from(body)))
                .unwrap());
        }
    }
    let mut out = http.post(&upstream).body(body.clone());
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let Ok(res) = out.send().await else {
        return Ok(hyper::Response::builder()
            .status(502)
            .body(Full::new(Bytes::new()))
            .unwrap());
    };
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let answer = res.bytes().await.unwrap_or_default();
    let lose = {
        let mut st = state.lock().unwrap();
        st.forwarded.push(op.clone());
        match st.armed.iter().position(|o| *o == op) {
            Some(i) => {
                st.armed.remove(i);
                st.lost.push(op.clone());
                true
            }
            None => false,
        }
    };
    if lose {
        return Ok(internal_server_error());
    }
    let mut b = hyper::Response::builder().status(status);
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            b = b.header(k, v);
        }
    }
    Ok(b.body(Full::new(answer)).unwrap())
}

fn internal_server_error() -> hyper::Response<Full<Bytes>> {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test proxy"}"#;
    hyper::Response::builder()
        .status(500)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", "InternalServerError")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
