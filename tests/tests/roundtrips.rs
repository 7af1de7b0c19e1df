//! DynamoDB operations per request, recorded by an SDK interceptor on the server's own client.
//! Each test has its own server, so the log sees only its requests. Security-log `PutItem`s run
//! in parallel with the write they record; the rate-limit `UpdateItem` in parallel with the
//! first read. The default test server does not enforce limits but, like Appwrite's abuse
//! option, still counts them (and resets the login counter after a 201).

use integration_tests::*;
use reqwest::Method;
use serde_json::json;

/// The operations one request issued, sorted (parallel calls have no order).
async fn ops_for(s: &Server, f: impl std::future::Future<Output = Reply>) -> (Vec<String>, Reply) {
    s.recorder.take_ops();
    let r = f.await;
    let mut ops = s.recorder.take_ops();
    ops.sort();
    (ops, r)
}

#[tokio::test]
async fn authenticated_reads_cost_one_call() {
    let s = Server::start().await;
    let (_, email, password, c) = s.user().await;
    for path in ["/account", "/account/prefs", "/account/sessions/current"] {
        let (ops, r) = ops_for(&s, s.get(path, Some(&c))).await;
        assert_eq!(
            (ops, r.status),
            (vec!["BatchGetItem".to_string()], 200),
            "GET {path}"
        );
    }
    let (ops, r) = ops_for(&s, s.get("/account/sessions", Some(&c))).await;
    assert_eq!(
        (ops, r.status),
        (vec!["Query".to_string()], 200),
        "GET /account/sessions"
    );
    let (_, sess) = s.login(&email, &password).await;
    let (ops, r) = ops_for(
        &s,
        s.get(
            &format!("/account/sessions/{}", sess["$id"].as_str().unwrap()),
            Some(&c),
        ),
    )
    .await;
    assert_eq!(
        (ops, r.status),
        (vec!["BatchGetItem".to_string()], 200),
        "GET /account/sessions/{{id}}"
    );
    // A guest costs nothing.
    let (ops, _) = ops_for(&s, s.get("/account", None)).await;
    assert!(ops.is_empty(), "guest GET /account: {ops:?}");
}

#[tokio::test]
async fn writes_cost_their_floor() {
    let s = Server::start().await;
    let email = unique_email();
    let body = json!({"userId": "unique()", "email": email, "password": "password1234"});
    let (ops, r) = ops_for(&s, s.call(Method::POST, "/account", None, Some(body))).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        ops,
        ["PutItem", "TransactWriteItems", "UpdateItem"],
        "sign-up: one transaction ‖ log ‖ counter"
    );

    let login = json!({"email": email, "password": "password1234"});
    let (ops, r) = ops_for(
        &s,
        s.call(Method::POST, "/account/sessions/email", None, Some(login)),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        ops,
        [
            "BatchWriteItem",
            "GetItem",
            "PutItem",
            "Query",
            "TransactWriteItems",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem"
        ],
        "login: claim ‖ email counter ‖ IP guard → attempt reservation ‖ Argon2 → session write \
         ‖ index ‖ log → counter reset"
    );
    let c = r.session_cookie().unwrap();

    // A code for a known address: the claim, then the token beside a check that the profile
    // still has that address (one transaction), then the email.
    let body = json!({"userId": "unique()", "email": email});
    let (ops, r) = ops_for(
        &s,
        s.call(Method::POST, "/account/tokens/email", None, Some(body)),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        ops,
        ["GetItem", "TransactWriteItems", "UpdateItem", "UpdateItem"],
        "email token: claim ‖ two counters → token transaction"
    );

    let (ops, r) = ops_for(
        &s,
        s.call(
            Method::PATCH,
            "/account/name",
            Some(&c),
            Some(json!({"name": "x"})),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ops,
        ["BatchGetItem", "PutItem", "UpdateItem", "UpdateItem"],
        "PATCH /account/name: auth → per-user counter → update ‖ log"
    );
    let (ops, r) = ops_for(
        &s,
        s.call(Method::PATCH, "/account/sessions/current", Some(&c), None),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ops,
        ["BatchGetItem", "PutItem", "UpdateItem", "UpdateItem"],
        "PATCH /account/sessions/current: auth ‖ counter → update ‖ log"
    );
    let (ops, r) = ops_for(
        &s,
        s.call(Method::POST, "/account/sessions/anonymous", None, None),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        ops,
        ["PutItem", "PutItem", "TransactWriteItems", "UpdateItem"],
        "anonymous: counter → one transaction ‖ 2 logs"
    );
    let (ops, r) = ops_for(
        &s,
        s.call(Method::DELETE, "/account/sessions/current", Some(&c), None),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        ops,
        ["BatchGetItem", "DeleteItem", "PutItem", "UpdateItem"],
        "DELETE /account/sessions/current: auth ‖ counter → delete ‖ log"
    );
}

#[tokio::test]
async fn rate_limits_add_only_their_counters_beside_the_first_read() {
    let s = Server::with_config(|c| c.rate_limits_enabled = true).await;
    let email = unique_email();
    let password = "password1234".to_string();
    let body = json!({"userId": "unique()", "email": email, "password": password});
    let (ops, r) = ops_for(&s, s.call(Method::POST, "/account", None, Some(body))).await;
    assert_eq!(r.status, 201);
    // The counter is checked while the password hashes, then one transaction ‖ its log.
    assert_eq!(ops, ["PutItem", "TransactWriteItems", "UpdateItem"]);
    let login = json!({"email": email, "password": password});
    s.recorder.take_overlaps();
    let (ops, r) = ops_for(
        &s,
        s.call(Method::POST, "/account/sessions/email", None, Some(login)),
    )
    .await;
    assert_eq!(r.status, 201);
    let pairs = s.recorder.take_overlaps();
    assert!(
        overlapped(&pairs, "UpdateItem", "GetItem"),
        "the counter runs beside the email read: {pairs:?}"
    );
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
    // + the email counter and the per-IP guard (in parallel with GetItem), the lockout
    // reservation (in parallel with Argon2), and the counter reset after the 201.
    assert_eq!(
        ops,
        [
            "BatchWriteItem",
            "GetItem",
            "PutItem",
            "Query",
            "TransactWriteItems",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem"
        ]
    );
    let c = r.session_cookie().unwrap();
    s.recorder.take_overlaps();
    let (ops, r) = ops_for(
        &s,
        s.call(Method::PATCH, "/account/sessions/current", Some(&c), None),
    )
    .await;
    assert_eq!(r.status, 200);
    // Counter ‖ auth read, then the extension ‖ its log.
    assert_eq!(ops, ["BatchGetItem", "PutItem", "UpdateItem", "UpdateItem"]);
    let pairs = s.recorder.take_overlaps();
    assert!(
        overlapped(&pairs, "UpdateItem", "BatchGetItem"),
        "the counter runs beside the auth read: {pairs:?}"
    );
}

/// Whether `a` and `b` were on the wire at the same time.
fn overlapped(pairs: &[(String, String)], a: &str, b: &str) -> bool {
    pairs
        .iter()
        .any(|(x, y)| (x == a && y == b) || (x == b && y == a))
}

#[tokio::test]
async fn rate_limit_adds_no_sequential_round_trip() {
    let s = Server::with_config(|c| c.rate_limits_enabled = true).await;
    let (_, email, password) = s.sign_up().await;
    s.recorder.take_overlaps();
    let r = s
        .call(
            Method::POST,
            "/account/sessions/email",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(r.status, 201);
    let pairs = s.recorder.take_overlaps();
    assert!(
        overlapped(&pairs, "UpdateItem", "GetItem"),
        "login: the counter runs beside the email read: {pairs:?}"
    );
    let c = r.session_cookie().unwrap();

    s.recorder.take_overlaps();
    let r = s
        .call(Method::PATCH, "/account/sessions/current", Some(&c), None)
        .await;
    assert_eq!(r.status, 200);
    let pairs = s.recorder.take_overlaps();
    assert!(
        overlapped(&pairs, "UpdateItem", "BatchGetItem"),
        "the counter runs beside the auth read: {pairs:?}"
    );

    let email = unique_email();
    s.recorder.take_overlaps();
    let r = s
        .call(
            Method::POST,
            "/account/tokens/email",
            None,
            Some(json!({"userId": "unique()", "email": email})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pairs = s.recorder.take_overlaps();
    assert!(
        overlapped(&pairs, "UpdateItem", "GetItem"),
        "token: the counters run beside the claim read: {pairs:?}"
    );
}

/// Passkeys (issue 23's targets): a ceremony's options are one write; a sign-in is one read and
/// one transaction (and the log entry after it).
#[tokio::test]
async fn passkey_routes_cost_their_floor() {
    use integration_tests::passkey::{Key, ORIGIN};
    let s = Server::start().await;
    let (_, _, _, c) = s.user().await;
    let mut key = Key::synced();
    let (ops, r) = ops_for(
        &s,
        s.call(
            Method::POST,
            "/account/passkeys/registration",
            Some(&c),
            Some(json!({})),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        ops,
        ["BatchGetItem", "PutItem", "Query", "UpdateItem"],
        "registration options: auth ‖ counter → the user's passkeys (excludeCredentials) → one write"
    );
    let cred = key.create(&r.json["options"], ORIGIN).await.unwrap();
    let body = json!({"challengeId": r.json["$id"], "credential": cred});
    let (ops, r) = ops_for(
        &s,
        s.call(
            Method::PUT,
            "/account/passkeys/registration",
            Some(&c),
            Some(body),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        ops,
        [
            "BatchGetItem",
            "GetItem",
            "PutItem",
            "TransactWriteItems",
            "UpdateItem"
        ],
        "registration: auth ‖ counter → the ceremony → one transaction → log"
    );
    let (ops, r) = ops_for(
        &s,
        s.call(
            Method::POST,
            "/account/tokens/passkey",
            None,
            Some(json!({})),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        ops,
        ["PutItem", "UpdateItem"],
        "sign-in options: one write ‖ counter"
    );
    let answer = key.get(&r.json["options"], ORIGIN).await.unwrap();
    let body = json!({"challengeId": r.json["$id"], "credential": answer});
    let (ops, r) = ops_for(
        &s,
        s.call(Method::PUT, "/account/tokens/passkey", None, Some(body)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        ops,
        [
            "BatchGetItem",
            "PutItem",
            "TransactWriteItems",
            "UpdateItem"
        ],
        "sign-in: one read (ceremony + credential) ‖ counter → one transaction → log"
    );
    let (ops, r) = ops_for(&s, s.get("/account/passkeys", Some(&c))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ops, ["BatchGetItem", "Query"], "list: auth → one Query");
}
