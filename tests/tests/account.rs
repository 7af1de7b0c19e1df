//! Profile endpoints through HTTP, the real SDK and the emulator.

use integration_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn sign_up_returns_account_model() {
    let s = Server::start().await;
    let email = unique_email();
    let r = s
        .call(Method::POST, "/account", None, Some(json!({"userId": "unique()", "email": email.to_uppercase(), "password": "password1234", "name": "Ann"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = &r.json;
    assert_eq!(a["email"], email, "email is lower-cased");
    assert_eq!(a["name"], "Ann");
    assert_eq!(a["labels"], json!([]));
    assert_eq!(a["prefs"], json!({}));
    assert_eq!(a["status"], true);
    assert_eq!(a["emailVerification"], false);
    assert!(a["emailIsFree"].is_boolean() && a["emailIsDisposable"].is_boolean());
    assert_eq!(a["$id"].as_str().unwrap().len(), 20);
    assert!(a["registration"].as_str().unwrap().ends_with("+00:00"));
    assert!(!a["accessedAt"].as_str().unwrap().is_empty());
    assert_eq!(a["targets"][0]["identifier"], email);
    assert_eq!(a["targets"][0]["providerType"], "email");
    assert!(a.get("password").is_none(), "hash never leaves the server");
    // Sign-up creates no session.
    assert!(r.session_cookie().is_none());
}

#[tokio::test]
async fn sign_up_conflicts_and_validation() {
    let s = Server::start().await;
    let email = unique_email();
    let body =
        |id: &str, email: &str| json!({"userId": id, "email": email, "password": "password1234"});
    let id = format!("custom-{}", &unique_email()[4..20]);
    assert_eq!(
        s.call(Method::POST, "/account", None, Some(body(&id, &email)))
            .await
            .status,
        201
    );
    s.call(
        Method::POST,
        "/account",
        None,
        Some(body("unique()", &email.to_uppercase())),
    )
    .await
    .assert_error(409, "user_already_exists");
    s.call(
        Method::POST,
        "/account",
        None,
        Some(body(&id, &unique_email())),
    )
    .await
    .assert_error(409, "user_already_exists");

    let cases = [
        (
            json!({"email": unique_email(), "password": "password1234"}),
            "Param \"userId\" is not optional.",
        ),
        (
            json!({"userId": "unique()", "password": "password1234"}),
            "Param \"email\" is not optional.",
        ),
        (
            json!({"userId": "unique()", "email": unique_email()}),
            "Param \"password\" is not optional.",
        ),
        (
            json!({"userId": "wrongId$", "email": unique_email(), "password": "password1234"}),
            "Invalid `userId` param: ",
        ),
        (
            json!({"userId": "unique()", "email": "not-an-email", "password": "password1234"}),
            "Invalid `email` param: Value must be a valid email address",
        ),
        (
            json!({"userId": "unique()", "email": unique_email(), "password": "short"}),
            "Invalid `password` param: Password must be between 8 and 256 characters long.",
        ),
        (
            json!({"userId": "unique()", "email": unique_email(), "password": "password1234", "name": "n".repeat(129)}),
            "Invalid `name` param: ",
        ),
    ];
    for (b, msg) in cases {
        let r = s
            .call(Method::POST, "/account", None, Some(b.clone()))
            .await;
        r.assert_error(400, "general_argument_invalid");
        assert!(
            r.json["message"].as_str().unwrap().starts_with(msg),
            "{b}: {}",
            r.body
        );
    }
    // Malformed JSON.
    let r = Reply::read(
        s.req(Method::POST, "/account")
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "general_argument_invalid");
}

#[tokio::test]
async fn guests_project_and_routes() {
    let s = Server::start().await;
    let r = s.get("/account", None).await;
    r.assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        r.json["message"],
        "User (role: guests) missing scopes ([\"account\"])"
    );
    assert_eq!(r.json["version"], "1.9.6");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));

    let client = reqwest::Client::new();
    let wrong = Reply::read(
        client
            .get(format!("{}/account", s.base))
            .header("X-Appwrite-Project", "other")
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong.assert_error(404, "project_not_found");
    let missing = Reply::read(
        client
            .get(format!("{}/account", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    missing.assert_error(404, "project_not_found");
    // `?project=` works as the web SDK's navigation URLs use it.
    let by_query = Reply::read(
        client
            .get(format!("{}/account?project={PROJECT}", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    by_query.assert_error(401, "general_unauthorized_scope");

    s.get("/account/nope", None)
        .await
        .assert_error(404, "general_route_not_found");
    s.call(Method::PUT, "/account", None, None)
        .await
        .assert_error(404, "general_route_not_found");
    // Under a known prefix, an unknown route is a JSON 404 too.
    s.get("/account/passkeys/x/unknown", None)
        .await
        .assert_error(404, "general_route_not_found");
    // A garbage credential is a guest, not an error.
    s.get("/account", Some("garbage"))
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn name_and_prefs() {
    let s = Server::start().await;
    let (_, email, _, c) = s.user().await;
    let r = s
        .call(
            Method::PATCH,
            "/account/name",
            Some(&c),
            Some(json!({"name": "New Name"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["name"], "New Name");
    assert_eq!(r.json["email"], email);
    assert_eq!(s.get("/account", Some(&c)).await.json["name"], "New Name");
    s.call(Method::PATCH, "/account/name", Some(&c), Some(json!({})))
        .await
        .assert_error(400, "general_argument_invalid");
    s.call(
        Method::PATCH,
        "/account/name",
        Some(&c),
        Some(json!({"name": "x".repeat(130)})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    s.call(
        Method::PATCH,
        "/account/name",
        None,
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");

    assert_eq!(s.get("/account/prefs", Some(&c)).await.body, "{}");
    let prefs = json!({"prefKey1": "prefValue1", "prefKey2": "prefValue2", "n": {"deep": [1, 2.5, null, true]}});
    let r = s
        .call(
            Method::PATCH,
            "/account/prefs",
            Some(&c),
            Some(json!({"prefs": prefs})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["prefs"], prefs);
    assert_eq!(s.get("/account/prefs", Some(&c)).await.json, prefs);
    for bad in [
        json!("{}"),
        json!("[]"),
        json!("{\"test\": \"value\"}"),
        json!([1]),
        json!({"k": "🍰".repeat(100_000)}),
        json!({"k": "-".repeat(100_000)}),
    ] {
        s.call(
            Method::PATCH,
            "/account/prefs",
            Some(&c),
            Some(json!({"prefs": bad})),
        )
        .await
        .assert_error(400, "general_argument_invalid");
    }
    s.call(
        Method::PATCH,
        "/account/prefs",
        None,
        Some(json!({"prefs": {}})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn password_change_rules_and_session_invalidation() {
    let s = Server::start().await;
    let (_, email, password, c) = s.user().await;
    let mut others = vec![];
    for _ in 0..3 {
        others.push(s.login(&email, &password).await.0);
    }
    s.call(
        Method::PATCH,
        "/account/password",
        Some(&c),
        Some(json!({})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    s.call(
        Method::PATCH,
        "/account/password",
        Some(&c),
        Some(json!({"password": "newpassword1"})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    s.call(
        Method::PATCH,
        "/account/password",
        Some(&c),
        Some(json!({"password": "newpassword1", "oldPassword": "wrongwrong"})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    s.call(
        Method::PATCH,
        "/account/password",
        None,
        Some(json!({"password": "newpassword1"})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
    let r = s
        .call(
            Method::PATCH,
            "/account/password",
            Some(&c),
            Some(json!({"password": "newpassword1", "oldPassword": password})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Only the current session survives.
    let list = s.get("/account/sessions", Some(&c)).await;
    assert_eq!(list.json["total"], 1, "{}", list.body);
    assert_eq!(list.json["sessions"][0]["current"], true);
    for o in &others {
        s.get("/account", Some(o))
            .await
            .assert_error(401, "general_unauthorized_scope");
    }
    s.call(
        Method::POST,
        "/account/sessions/email",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    s.login(&email, "newpassword1").await;
}

#[tokio::test]
async fn password_change_keeps_sessions_when_not_invalidating() {
    let s = Server::with_config(|c| c.invalidate_sessions = false).await;
    let (_, email, password, c) = s.user().await;
    let (other, _) = s.login(&email, &password).await;
    let r = s
        .call(
            Method::PATCH,
            "/account/password",
            Some(&c),
            Some(json!({"password": "newpassword1", "oldPassword": password})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/account", Some(&other)).await.status, 200);
}

#[tokio::test]
async fn email_change_and_anonymous_conversion() {
    let s = Server::start().await;
    let (_, taken_email, _, _) = s.user().await;
    let (_, old_email, password, c) = s.user().await;
    let sign_up = |email: String| {
        s.post(
            "/account",
            json!({"userId": "unique()", "email": email, "password": "password1234"}),
        )
    };
    // Control: while the user holds it, the address cannot be signed up.
    sign_up(old_email.clone())
        .await
        .assert_error(409, "user_already_exists");
    s.call(Method::PATCH, "/account/email", Some(&c), Some(json!({})))
        .await
        .assert_error(400, "general_argument_invalid");
    let new_email = unique_email();
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&c),
        Some(json!({"email": new_email, "password": "wrongpassword"})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&c),
        Some(json!({"email": taken_email, "password": password})),
    )
    .await
    .assert_error(409, "user_target_already_exists");
    let r = s
        .call(
            Method::PATCH,
            "/account/email",
            Some(&c),
            Some(json!({"email": new_email, "password": password})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["email"], new_email);
    assert_eq!(r.json["emailVerification"], false);
    assert_eq!(r.json["targets"][0]["identifier"], new_email);
    s.login(&new_email, &password).await;

    // Anonymous user converts by setting email + password.
    let anon = s
        .call(
            Method::POST,
            "/account/sessions/anonymous",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(anon.status, 201, "{}", anon.body);
    let ac = anon.session_cookie().unwrap();
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&ac),
        Some(json!({"email": unique_email(), "password": ""})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&ac),
        Some(json!({"email": new_email, "password": "anonpass123"})),
    )
    .await
    .assert_error(409, "user_target_already_exists");
    let conv = unique_email();
    let r = s
        .call(
            Method::PATCH,
            "/account/email",
            Some(&ac),
            Some(json!({"email": conv, "password": "anonpass123"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.json["passwordUpdate"].as_str().unwrap().is_empty());
    s.login(&conv, "anonpass123").await;
    // The user's old email is free again.
    let again = sign_up(old_email.clone()).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json["email"], old_email);
}

#[tokio::test]
async fn phone_change() {
    let s = Server::start().await;
    let (_, _, password, c) = s.user().await;
    let (_, _, password2, c2) = s.user().await;
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 10_000_000;
    let phone = format!("+1415{n:07}");
    s.call(Method::PATCH, "/account/phone", Some(&c), Some(json!({})))
        .await
        .assert_error(400, "general_argument_invalid");
    let bad = s
        .call(
            Method::PATCH,
            "/account/phone",
            Some(&c),
            Some(json!({"phone": "12345", "password": password})),
        )
        .await;
    bad.assert_error(400, "general_argument_invalid");
    assert!(bad.json["message"]
        .as_str()
        .unwrap()
        .contains("must start with a '+'"));
    let r = s
        .call(
            Method::PATCH,
            "/account/phone",
            Some(&c),
            Some(json!({"phone": phone, "password": password})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["phone"], phone);
    assert_eq!(r.json["phoneVerification"], false);
    s.call(
        Method::PATCH,
        "/account/phone",
        Some(&c2),
        Some(json!({"phone": phone, "password": password2})),
    )
    .await
    .assert_error(409, "user_target_already_exists");
    s.call(
        Method::PATCH,
        "/account/phone",
        None,
        Some(json!({"phone": phone, "password": password})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn blocking_the_account() {
    let s = Server::start().await;
    let (_, email, password, c) = s.user().await;
    let r = s
        .call(Method::PATCH, "/account/status", Some(&c), Some(json!({})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["status"], false);
    let cookies = r.set_cookies();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("a_session_{PROJECT}=deleted"))),
        "{cookies:?}"
    );
    assert!(cookies
        .iter()
        .any(|c| c.starts_with(&format!("a_session_{PROJECT}_legacy=deleted"))));
    assert_eq!(r.header("x-fallback-cookies"), Some("[]"));
    s.get("/account", Some(&c))
        .await
        .assert_error(403, "user_blocked");
    s.call(
        Method::POST,
        "/account/sessions/email",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
    .assert_error(403, "user_blocked");
    // Wrong password for a blocked user still says invalid credentials (no oracle).
    s.call(
        Method::POST,
        "/account/sessions/email",
        None,
        Some(json!({"email": email, "password": "wrongpassword"})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
}

#[tokio::test]
async fn identities_are_empty_without_oauth() {
    let s = Server::start().await;
    let (_, _, _, c) = s.user().await;
    let r = s.get("/account/identities", Some(&c)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json, json!({"total": 0, "identities": []}));
    s.call(Method::DELETE, "/account/identities/abc123", Some(&c), None)
        .await
        .assert_error(404, "user_identity_not_found");
    s.get("/account/identities", None)
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.get("/account/identities?queries[0]=notjson", Some(&c))
        .await
        .assert_error(400, "general_query_invalid");
}

#[tokio::test]
async fn user_limit_is_enforced_on_every_sign_up_path() {
    use integration_tests::oidc;
    let _turn = oidc::PROVIDER.lock().await;
    // A table of its own: the limit counts every user in the table.
    let table = format!("itest-limit-{}-{}", std::process::id(), oidc::sub());
    let s = oidc::server_with(&[], |o| {
        o.config.user_limit = 6;
        o.config.table_name = table;
    })
    .await;
    let sign_up =
        || json!({"userId": "unique()", "email": unique_email(), "password": "password1234"});
    let email_token = || json!({"userId": "unique()", "email": unique_email()});
    let phone_token = || json!({"userId": "unique()", "phone": unique_phone()});
    let users = || {
        s.number(
            account_core::item::USER_COUNTER_PK,
            account_core::item::USER_COUNTER_SK,
            "n",
        )
    };
    let oauth2_sign_in = || async {
        oidc::next_login(&oidc::sub(), &unique_email(), true).await;
        integration_tests::browser::Browser::new(&s.base)
            .follow(&oidc::start(&s, "sessions"), &oidc::issuer())
            .await
    };
    // Six users, one by each path that creates one: every path counts.
    let created = [
        s.call(Method::POST, "/account", None, Some(sign_up()))
            .await,
        s.call(Method::POST, "/account/sessions/anonymous", None, None)
            .await,
        s.call(
            Method::POST,
            "/account/tokens/email",
            None,
            Some(email_token()),
        )
        .await,
        s.call(
            Method::POST,
            "/account/tokens/magic-url",
            None,
            Some(email_token()),
        )
        .await,
        s.call(
            Method::POST,
            "/account/tokens/phone",
            None,
            Some(phone_token()),
        )
        .await,
    ];
    for (i, r) in created.iter().enumerate() {
        assert_eq!(r.status, 201, "path {i}: {}", r.body);
    }
    assert_eq!(oauth2_sign_in().await, "http://localhost/ok");
    assert_eq!(users().await, Some(6));
    // At the limit, every path refuses a seventh user.
    for (what, path, body) in [
        ("sign-up", "/account", Some(sign_up())),
        ("anonymous", "/account/sessions/anonymous", None),
        ("email token", "/account/tokens/email", Some(email_token())),
        (
            "magic URL",
            "/account/tokens/magic-url",
            Some(email_token()),
        ),
        ("phone token", "/account/tokens/phone", Some(phone_token())),
    ] {
        let r = s.call(Method::POST, path, None, body).await;
        assert_eq!(
            (r.status, r.json["type"].as_str()),
            (400, Some("user_count_exceeded")),
            "{what}: {}",
            r.body
        );
    }
    let landed = oauth2_sign_in().await;
    assert!(
        landed.starts_with("http://localhost/fail?error=")
            && landed.contains("user_count_exceeded"),
        "OAuth2: {landed}"
    );
    assert_eq!(users().await, Some(6));
}

/// An anonymous account that converts with an email or a phone sets its first password: the
/// project's password policy applies as at sign-up (dictionary, personal data).
#[tokio::test]
async fn anonymous_conversion_meets_the_password_policy() {
    let s = Server::with_config(|c| {
        c.password_policy.dictionary = true;
        c.password_policy.personal_data = true;
    })
    .await;
    let anon = s.post("/account/sessions/anonymous", json!({})).await;
    assert_eq!(anon.status, 201, "{}", anon.body);
    let c = anon.session_cookie().unwrap();
    let email = unique_email();
    let local = email.split('@').next().unwrap().to_owned();
    let change =
        |body: serde_json::Value| s.call(Method::PATCH, "/account/email", Some(&c), Some(body));
    change(json!({"email": email, "password": "12345678"}))
        .await
        .assert_error(400, "general_argument_invalid");
    change(json!({"email": email, "password": format!("{local}!x")}))
        .await
        .assert_error(400, "password_personal_data");
    let phone_change = s
        .call(
            Method::PATCH,
            "/account/phone",
            Some(&c),
            Some(json!({"phone": unique_phone(), "password": "password"})),
        )
        .await;
    phone_change.assert_error(400, "general_argument_invalid");
    // A password the policy accepts converts the account.
    let ok = change(json!({"email": email, "password": "correct horse battery"})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}
