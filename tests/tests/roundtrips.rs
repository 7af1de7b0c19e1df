//! DynamoDB operations per request, counted by an SDK interceptor on the server's own client.
//! Each test has its own server, so the counter sees only its requests.

use integration_tests::*;
use reqwest::Method;
use serde_json::json;

async fn calls_for(s: &Server, f: impl std::future::Future<Output = Reply>) -> (u64, Reply) {
    let before = s.ddb_calls();
    let r = f.await;
    (s.ddb_calls() - before, r)
}

#[tokio::test]
async fn authenticated_reads_cost_one_call() {
    let s = Server::start().await;
    let (_, email, password, c) = s.user().await;
    let (n, r) = calls_for(&s, s.get("/account", Some(&c))).await;
    assert_eq!((n, r.status), (1, 200), "GET /account");
    let (n, r) = calls_for(&s, s.get("/account/prefs", Some(&c))).await;
    assert_eq!((n, r.status), (1, 200), "GET /account/prefs");
    let (n, r) = calls_for(&s, s.get("/account/sessions", Some(&c))).await;
    assert_eq!((n, r.status), (1, 200), "GET /account/sessions");
    let (n, r) = calls_for(&s, s.get("/account/sessions/current", Some(&c))).await;
    assert_eq!((n, r.status), (1, 200), "GET /account/sessions/current");
    let (other, sess) = s.login(&email, &password).await;
    let _ = other;
    let (n, r) = calls_for(
        &s,
        s.get(
            &format!("/account/sessions/{}", sess["$id"].as_str().unwrap()),
            Some(&c),
        ),
    )
    .await;
    assert_eq!((n, r.status), (1, 200), "GET /account/sessions/{{id}}");
    // A guest costs nothing.
    let (n, _) = calls_for(&s, s.get("/account", None)).await;
    assert_eq!(n, 0, "guest GET /account");
}

#[tokio::test]
async fn writes_cost_their_floor() {
    let s = Server::start().await;
    let email = unique_email();
    let body = json!({"userId": "unique()", "email": email, "password": "password1234"});
    let (n, r) = calls_for(&s, s.call(Method::POST, "/account", None, Some(body))).await;
    assert_eq!((n, r.status), (1, 201), "sign-up: one transaction");

    // Login: claim read, then the session write and the session index in parallel.
    let login = json!({"email": email, "password": "password1234"});
    let (n, r) = calls_for(
        &s,
        s.call(Method::POST, "/account/sessions/email", None, Some(login)),
    )
    .await;
    assert_eq!((n, r.status), (3, 201), "login");
    let c = r.session_cookie().unwrap();

    let (n, r) = calls_for(
        &s,
        s.call(
            Method::PATCH,
            "/account/name",
            Some(&c),
            Some(json!({"name": "x"})),
        ),
    )
    .await;
    assert_eq!(
        (n, r.status),
        (2, 200),
        "PATCH /account/name: auth + update"
    );
    let (n, r) = calls_for(
        &s,
        s.call(Method::PATCH, "/account/sessions/current", Some(&c), None),
    )
    .await;
    assert_eq!((n, r.status), (2, 200), "PATCH /account/sessions/current");
    let (n, r) = calls_for(
        &s,
        s.call(Method::POST, "/account/sessions/anonymous", None, None),
    )
    .await;
    assert_eq!((n, r.status), (1, 201), "anonymous: one transaction");
    let (n, r) = calls_for(
        &s,
        s.call(Method::DELETE, "/account/sessions/current", Some(&c), None),
    )
    .await;
    assert_eq!((n, r.status), (2, 204), "DELETE /account/sessions/current");
}

#[tokio::test]
async fn rate_limit_counter_adds_one_call_in_parallel() {
    let s = Server::with_config(|c| c.rate_limits_enabled = true).await;
    let body = json!({"userId": "unique()", "email": unique_email(), "password": "password1234"});
    let (n, r) = calls_for(&s, s.call(Method::POST, "/account", None, Some(body))).await;
    assert_eq!((n, r.status), (2, 201), "sign-up + rate-limit counter");
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
}
