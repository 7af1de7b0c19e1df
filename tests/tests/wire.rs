//! Transport details: CORS, preflight, origins, headers on every response.

use integration_tests::*;
use reqwest::Method;

#[tokio::test]
async fn preflight_and_cors() {
    let s = Server::start().await;
    let r = Reply::read(
        reqwest::Client::new()
            .request(
                Method::OPTIONS,
                format!("{}/account/sessions/email", s.base),
            )
            .header("Origin", "http://localhost:3000")
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .contains("X-Appwrite-Project"));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("X-Fallback-Cookies"));
    assert!(r.header("content-type").is_some());

    let evil = Reply::read(
        s.req(Method::GET, "/account")
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    evil.assert_error(403, "general_unknown_origin");
    assert!(evil.header("access-control-allow-origin").is_none());
    let lookalike = Reply::read(
        s.req(Method::GET, "/account")
            .header("Origin", "http://localhost.example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    lookalike.assert_error(403, "general_unknown_origin");
    let ok = Reply::read(
        s.req(Method::GET, "/account")
            .header("Origin", "http://127.0.0.1:5173")
            .send()
            .await
            .unwrap(),
    )
    .await;
    ok.assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://127.0.0.1:5173")
    );
}

#[tokio::test]
async fn same_site_origin_gets_no_fallback_header_and_cookie_domain() {
    let s = Server::with_config(|c| {
        c.platform_hosts = vec!["app.example.com".into(), "localhost".into()]
    })
    .await;
    let (_, email, password) = s.sign_up().await;
    let r = Reply::read(
        s.req(Method::POST, "/account/sessions/email")
            .header("Host", "api.example.com")
            .header("Origin", "https://app.example.com")
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.header("x-fallback-cookies").is_none());
    assert!(r
        .set_cookies()
        .iter()
        .all(|c| c.contains("domain=.api.example.com")));
}

#[tokio::test]
async fn error_responses_are_not_cached() {
    let s = Server::start().await;
    let r = s.get("/account", None).await;
    assert_eq!(
        r.header("cache-control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}
