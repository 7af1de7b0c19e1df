//! A stalled dependency: DynamoDB accepts connections and never answers. Every request must
//! still get an answer, Appwrite's envelope with 503, once the timeouts (not the client) give up.

use integration_tests::*;
use shared::clock::{OsEntropy, SystemClock};
use shared::config::Config;
use shared::store::DynamoStore as Store;
use std::sync::Arc;

/// A TCP endpoint that accepts every connection and holds it open without a byte in reply.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_stalled_table_answers_503_with_the_envelope() {
    shared::init_logging();
    let endpoint = black_hole().await;
    let sdk = shared::aws::load_with_endpoint(&endpoint).await;
    let config = Config {
        project_id: PROJECT.into(),
        rate_limits_enabled: false,
        ..Config::default()
    };
    let store = Store::new(&sdk, "stalled");
    let app = Arc::new(shared::App::new(
        config,
        store,
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
    ));
    let addr = devserver::spawn(app, "127.0.0.1:0").await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/v1");
    // A sign-in reads the email claim first; an authenticated read, the profile and session.
    let login = http
        .post(format!("{base}/account/sessions/email"))
        .header("X-Appwrite-Project", PROJECT)
        .json(&serde_json::json!({"email": "a@example.com", "password": "password1234"}))
        .send()
        .await
        .unwrap();
    Reply::read(login)
        .await
        .assert_error(503, "general_server_error");
    let credential = base64_credential("u1", &format!("{}{}", "a".repeat(20), "b".repeat(236)));
    let me = http
        .get(format!("{base}/account"))
        .header("X-Appwrite-Project", PROJECT)
        .header("X-Appwrite-Session", credential)
        .send()
        .await
        .unwrap();
    Reply::read(me)
        .await
        .assert_error(503, "general_server_error");
}

fn base64_credential(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({"id": id, "secret": secret}).to_string())
}
