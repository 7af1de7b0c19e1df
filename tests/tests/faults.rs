//! A stalled dependency: DynamoDB accepts connections and never answers. Every request must
//! still get an answer, Appwrite's envelope with 503, once the timeouts (not the client) give up:
//! the stalled calls were made (connections reached the black hole), and the answer came after
//! an attempt timed out, well inside the Lambda's 12 s.

use account_adapters::dynamo::DynamoStore as Store;
use integration_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP endpoint that accepts every connection and holds it open without a byte in reply;
/// counts the connections it accepted.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (format!("http://{addr}"), accepted)
}

/// The production timeouts the store below runs with (README "Timeouts").
const ATTEMPT: Duration = Duration::from_secs(1);
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(12);

/// Send `req`, and check that its 503 came after the stall (at least one attempt timed out)
/// and before the Lambda timeout, and that it reached the black hole.
async fn stalled(req: reqwest::RequestBuilder, accepted: &AtomicUsize) {
    let before = accepted.load(Ordering::SeqCst);
    let started = Instant::now();
    let res = req.send().await.unwrap();
    let took = started.elapsed();
    Reply::read(res)
        .await
        .assert_error(503, "general_server_error");
    assert!(
        accepted.load(Ordering::SeqCst) > before,
        "no call reached DynamoDB: the 503 did not come from a stall"
    );
    assert!(
        took >= ATTEMPT,
        "answered in {took:?}, before any attempt timed out"
    );
    assert!(
        took < LAMBDA_TIMEOUT,
        "answered in {took:?}, after the Lambda timeout"
    );
}

#[tokio::test]
async fn a_stalled_table_answers_503_with_the_envelope() {
    account_edge::init_logging();
    let (endpoint, accepted) = black_hole().await;
    let sdk = account_adapters::aws::load_with_endpoint(&endpoint).await;
    let base = serve_store(Store::new(&sdk, "stalled"), false).await;
    let http = reqwest::Client::new();
    // A sign-in reads the email claim first; an authenticated read, the profile and session.
    let login = http
        .post(format!("{base}/account/sessions/email"))
        .header("X-Appwrite-Project", PROJECT)
        .json(&serde_json::json!({"email": "a@example.com", "password": "password1234"}));
    stalled(login, &accepted).await;
    let credential = base64_credential("u1", &format!("{}{}", "a".repeat(20), "b".repeat(236)));
    let me = http
        .get(format!("{base}/account"))
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-Session", credential);
    stalled(me, &accepted).await;
}

fn base64_credential(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({"id": id, "secret": secret}).to_string())
}
