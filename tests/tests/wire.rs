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
    // The session cookie and its legacy twin, both for the API's domain.
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies
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

#[tokio::test]
async fn oauth2_providers_report_disabled() {
    let s = Server::start().await;
    let r = s
        .get(
            "/account/tokens/oauth2/github?success=http%3A%2F%2Flocalhost%2Fok",
            None,
        )
        .await;
    r.assert_error(412, "project_provider_disabled");
    s.get("/account/sessions/oauth2/github", None)
        .await
        .assert_error(412, "project_provider_disabled");
    s.get(
        "/account/tokens/oauth2/github?success=http%3A%2F%2Fevil.example%2F",
        None,
    )
    .await
    .assert_error(400, "general_argument_invalid");
    s.get("/account/tokens/oauth2/GitHub", None)
        .await
        .assert_error(400, "general_argument_invalid");

    // The provider's callback relays to the redirect route with the project added.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cb = Reply::read(
        client
            .get(format!(
                "{}/account/sessions/oauth2/callback/github/{PROJECT}?code=abc&state=xyz",
                s.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(cb.status, 301);
    assert_eq!(
        cb.header("location"),
        Some(
            format!(
                "/v1/account/sessions/oauth2/github/redirect?code=abc&state=xyz&project={PROJECT}"
            )
            .as_str()
        )
    );
    assert!(cb.header("content-type").is_some());
    let wrong = Reply::read(
        client
            .get(format!(
                "{}/account/sessions/oauth2/callback/github/other?code=abc",
                s.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong.assert_error(404, "project_not_found");

    // Providers that post the answer as a form (Apple's `form_post`): the same relay, from the body,
    // with whatever `project` the form carries replaced by the path's.
    let posted = Reply::read(
        client
            .post(format!(
                "{}/account/sessions/oauth2/callback/github/{PROJECT}",
                s.base
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://appleid.apple.com")
            .body("code=c%201&state=s2&project=evil")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(posted.status, 301, "{}", posted.json);
    assert_eq!(
        posted.header("location"),
        Some(
            format!(
                "/v1/account/sessions/oauth2/github/redirect?code=c+1&state=s2&project={PROJECT}"
            )
            .as_str()
        )
    );

    // A state we did not seal is refused outright: its failure URL is not followed (Appwrite
    // trusts an unsigned JSON state; see oauth2_flows.rs for the sealed one).
    let state = r#"{"success":"http://localhost/ok","failure":"http://localhost/fail"}"#;
    let q: String =
        reqwest::Url::parse_with_params("http://x/", &[("state", state), ("project", PROJECT)])
            .unwrap()
            .query()
            .unwrap_or_default()
            .to_string();
    let red = Reply::read(
        client
            .get(format!(
                "{}/account/sessions/oauth2/github/redirect?{q}",
                s.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    red.assert_error(400, "general_bad_request");
    let plain = Reply::read(
        client
            .get(format!(
                "{}/account/sessions/oauth2/github/redirect?project={PROJECT}",
                s.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    plain.assert_error(400, "general_bad_request");
}
