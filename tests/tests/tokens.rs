//! Passwordless logins, verification and recovery: HTTP in, real SDK to moto, mail and SMS read
//! back from moto's `data.json`.

use integration_tests::*;
use reqwest::Method;
use serde_json::json;

async fn email_otp(s: &Server, email: &str, user_id: &str) -> (Reply, String) {
    let r = s
        .call(
            Method::POST,
            "/account/tokens/email",
            None,
            Some(json!({"userId": user_id, "email": email})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (subject, body) = last_email(email).await.expect("otp email");
    assert_eq!(subject, "OTP for Integration Login");
    (r, six_digits(&body).expect("code in email"))
}

#[tokio::test]
async fn email_otp_login_creates_verified_user_and_is_single_use() {
    let s = Server::start().await;
    let email = unique_email();
    let (t, code) = email_otp(&s, &email, "unique()").await;
    assert_eq!(t.json["secret"], "");
    assert_eq!(t.json["phrase"], "");
    for k in ["$id", "$createdAt", "userId", "expire"] {
        assert!(!t.json[k].as_str().unwrap().is_empty(), "{k}");
    }
    let (_, body) = last_email(&email).await.unwrap();
    assert!(
        body.contains(&format!(
            "Use OTP {code} to sign in to Integration. Expires in 15 minutes."
        )),
        "{body}"
    );
    assert!(!body.contains("security phrase"));
    let uid = t.json["userId"].as_str().unwrap().to_string();

    let r = s
        .call(
            Method::POST,
            "/account/sessions/token",
            None,
            Some(json!({"userId": uid, "secret": code})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["userId"], uid.as_str());
    assert_eq!(r.json["provider"], "token");
    assert_eq!(r.json["factors"], json!(["email"]));
    assert_eq!(r.json["secret"], "");
    let c = r.session_cookie().unwrap();
    let me = s.get("/account", Some(&c)).await;
    assert_eq!(me.json["emailVerification"], true);
    assert_eq!(me.json["email"], email);
    assert_eq!(me.json["targets"][0]["identifier"], email);
    assert_eq!(me.json["passwordUpdate"], "");

    // Reuse fails.
    s.call(
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": uid, "secret": code})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    // A second token for the same email keeps the same user (userId param ignored).
    let (t2, _) = email_otp(&s, &email, "unique()").await;
    assert_eq!(t2.json["userId"], uid.as_str());
}

#[tokio::test]
async fn email_otp_phrase_and_validation() {
    let s = Server::start().await;
    let email = unique_email();
    let custom = format!("otp{}", &email[4..18]);
    let r = s
        .call(
            Method::POST,
            "/account/tokens/email",
            None,
            Some(json!({"userId": custom, "email": email, "phrase": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["userId"], custom.as_str());
    let phrase = r.json["phrase"].as_str().unwrap().to_string();
    assert!(phrase.contains(' '), "{phrase}");
    let (_, body) = last_email(&email).await.unwrap();
    assert!(
        body.contains("security phrase") && body.contains(&phrase),
        "{body}"
    );

    for (b, field) in [
        (json!({"userId": "unique()", "email": "nope"}), "email"),
        (
            json!({"userId": "wrongId$", "email": unique_email()}),
            "userId",
        ),
        (json!({"userId": "unique()"}), "email"),
        (json!({"email": unique_email()}), "userId"),
    ] {
        let r = s
            .call(Method::POST, "/account/tokens/email", None, Some(b))
            .await;
        r.assert_error(400, "general_argument_invalid");
        assert!(
            r.json["message"].as_str().unwrap().contains(field),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn magic_url_login() {
    let s = Server::start().await;
    let email = unique_email();
    let r = s
        .call(Method::POST, "/account/tokens/magic-url", None, Some(json!({"userId": "unique()", "email": email, "url": "http://127.0.0.1:5173/magiclogin?x=1"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["secret"], "");
    let (subject, body) = last_email(&email).await.unwrap();
    assert_eq!(subject, "Integration Login");
    assert!(
        body.contains("Sign in to Integration with your secure link. Expires in 1 hour."),
        "{body}"
    );
    assert!(
        body.contains("http://127.0.0.1:5173/magiclogin?x=1&userId="),
        "{body}"
    );
    let secret = link_param(&body, "secret").unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(
        link_param(&body, "expire").unwrap(),
        r.json["expire"].as_str().unwrap()
    );
    assert_eq!(link_param(&body, "project").unwrap(), PROJECT);
    let uid = link_param(&body, "userId").unwrap();
    assert_eq!(uid, r.json["userId"].as_str().unwrap());

    s.call(
        Method::PUT,
        "/account/sessions/magic-url",
        None,
        Some(json!({"userId": uid, "secret": "0".repeat(64)})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    s.call(
        Method::PUT,
        "/account/sessions/magic-url",
        None,
        Some(json!({"userId": "unknownuser", "secret": secret})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    let sess = s
        .call(
            Method::PUT,
            "/account/sessions/magic-url",
            None,
            Some(json!({"userId": uid, "secret": secret})),
        )
        .await;
    assert_eq!(sess.status, 201, "{}", sess.body);
    assert_eq!(sess.json["provider"], "magic-url");
    let me = s
        .get("/account", Some(&sess.session_cookie().unwrap()))
        .await;
    assert_eq!(me.json["emailVerification"], true);
}

#[tokio::test]
async fn magic_url_redirect_validation_and_alias() {
    let s = Server::start().await;
    let post = |url: &str| {
        let body = json!({"userId": "unique()", "email": unique_email(), "url": url});
        s.call(Method::POST, "/account/tokens/magic-url", None, Some(body))
    };
    for ok in [
        "http://localhost/x",
        "http://localhost:3000/x",
        "http://127.0.0.1/x",
        "http://[::1]:3000/x",
    ] {
        assert_eq!(post(ok).await.status, 201, "{ok}");
    }
    for bad in [
        "localhost/x",
        "http://localhost.example.com/x",
        "http://127.0.0.2/x",
        "http://[0:0:0:0:0:0:0:1]/x",
        "http://remotehost/x",
    ] {
        let r = post(bad).await;
        r.assert_error(400, "general_argument_invalid");
        assert!(
            r.json["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid `url` param: Invalid URI."),
            "{}",
            r.body
        );
    }
    // Without url: a default link; alias path with a phrase.
    let email = unique_email();
    let r = s
        .call(
            Method::POST,
            "/account/sessions/magic-url",
            None,
            Some(json!({"userId": "unique()", "email": email, "phrase": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (_, body) = last_email(&email).await.unwrap();
    assert!(body.contains(r.json["phrase"].as_str().unwrap()));
    assert!(link_param(&body, "secret").is_some(), "{body}");
}

#[tokio::test]
async fn phone_login_and_mock_numbers() {
    let s = Server::start().await;
    let phone = unique_phone();
    let r = s
        .call(
            Method::POST,
            "/account/tokens/phone",
            None,
            Some(json!({"userId": "unique()", "phone": phone})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["secret"], "");
    let sms = last_sms(&phone).await.expect("sms");
    let code = sms.split_whitespace().next().unwrap().to_string();
    assert_eq!(code.len(), 6);
    let uid = r.json["userId"].as_str().unwrap().to_string();
    s.call(
        Method::PUT,
        "/account/sessions/phone",
        None,
        Some(json!({"userId": uid, "secret": "000000x"})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    let sess = s
        .call(
            Method::PUT,
            "/account/sessions/phone",
            None,
            Some(json!({"userId": uid, "secret": code})),
        )
        .await;
    assert_eq!(sess.status, 201, "{}", sess.body);
    assert_eq!(sess.json["provider"], "phone");
    assert_eq!(sess.json["factors"], json!(["phone"]));
    let me = s
        .get("/account", Some(&sess.session_cookie().unwrap()))
        .await;
    assert_eq!(me.json["phone"], phone);
    assert_eq!(me.json["phoneVerification"], true);
    s.call(
        Method::PUT,
        "/account/sessions/phone",
        None,
        Some(json!({"userId": uid, "secret": code})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    s.call(
        Method::POST,
        "/account/tokens/phone",
        None,
        Some(json!({"userId": "unique()"})),
    )
    .await
    .assert_error(400, "general_argument_invalid");

    // Mock number: fixed OTP, no SMS. (Counted for this number only: the other tests of this
    // file send SMS in parallel.)
    let to_mock = || async {
        sent()
            .await
            .sms
            .iter()
            .filter(|m| m["phone_number"] == "+15555550123")
            .count()
    };
    let before = to_mock().await;
    let r = s
        .call(
            Method::POST,
            "/account/tokens/phone",
            None,
            Some(json!({"userId": "unique()", "phone": "+15555550123"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(to_mock().await, before, "no SMS for a mock number");
    let uid = r.json["userId"].as_str().unwrap();
    s.call(
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": uid, "secret": "654321"})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    let ok = s
        .call(
            Method::POST,
            "/account/sessions/token",
            None,
            Some(json!({"userId": uid, "secret": "123456"})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test]
async fn otp_guessing_is_bounded() {
    let s = Server::start().await;
    let email = unique_email();
    let (t, code) = email_otp(&s, &email, "unique()").await;
    let uid = t.json["userId"].as_str().unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..account_core::token::CODE_ATTEMPTS_PER_HOUR {
        s.call(
            Method::POST,
            "/account/sessions/token",
            None,
            Some(json!({"userId": uid, "secret": wrong})),
        )
        .await
        .assert_error(401, "user_invalid_token");
    }
    // The budget is spent: the right code no longer works.
    s.call(
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": uid, "secret": code})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    // Issuing a new code does not refill the budget (an attacker could otherwise reset it).
    let (_, code2) = email_otp(&s, &email, "unique()").await;
    s.call(
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": uid, "secret": code2})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    // The next hour has a fresh budget.
    let s2 = Server::with(Options {
        fixed_clock: true,
        ..Options::default()
    })
    .await;
    let clock = s2.clock.clone().unwrap();
    clock.advance_secs(3600);
    let (_, code3) = email_otp(&s2, &email, "unique()").await;
    let ok = s2
        .call(
            Method::POST,
            "/account/sessions/token",
            None,
            Some(json!({"userId": uid, "secret": code3})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_redemptions_one_success() {
    let s = std::sync::Arc::new(Server::start().await);
    let email = unique_email();
    let (t, code) = email_otp(&s, &email, "unique()").await;
    let uid = t.json["userId"].as_str().unwrap().to_string();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, uid, code) = (s.clone(), uid.clone(), code.clone());
            tokio::spawn(async move {
                s.call(
                    Method::POST,
                    "/account/sessions/token",
                    None,
                    Some(json!({"userId": uid, "secret": code})),
                )
                .await
            })
        })
        .collect();
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap().status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        19,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn token_to_session_is_one_read_and_one_transaction() {
    let s = Server::start().await;
    let email = unique_email();
    let exchange = |uid: String, code: String| {
        let s = &s;
        async move {
            s.recorder.take_ops();
            let r = s
                .call(
                    Method::POST,
                    "/account/sessions/token",
                    None,
                    Some(json!({"userId": uid, "secret": code})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            let mut ops = s.recorder.take_ops();
            ops.sort();
            ops
        }
    };
    // Read ‖ rate-limit counter, then the one transaction ‖ session index ‖ log, then the
    // counter reset that follows a successful exchange. Both UpdateItems run beside the read:
    // Appwrite's IP+user counter and the code-attempt reservation.
    let verified = vec![
        "BatchGetItem",
        "BatchWriteItem",
        "PutItem",
        "Query",
        "TransactWriteItems",
        "UpdateItem",
        "UpdateItem",
    ];
    // The first login proves an unverified address: one more round, the user's sessions ‖
    // identities ‖ passkeys (anything but this login that could reach the account makes it an
    // ownership proof).
    let (t, code) = email_otp(&s, &email, "unique()").await;
    let uid = t.json["userId"].as_str().unwrap().to_owned();
    let mut first = verified.clone();
    first.extend(["Query", "Query", "Query"]);
    first.sort();
    assert_eq!(exchange(uid.clone(), code).await, first);
    // Once the address is verified, a code login is the read and the transaction only.
    let (_, code) = email_otp(&s, &email, "unique()").await;
    assert_eq!(exchange(uid, code).await, verified);
}

#[tokio::test]
async fn email_verification() {
    let s = Server::start().await;
    let (uid, email, _, c) = s.user().await;
    s.call(
        Method::POST,
        "/account/verification",
        None,
        Some(json!({"url": "http://localhost/verify"})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
    for bad in ["localhost/verification", "http://remotehost/verification"] {
        s.call(
            Method::POST,
            "/account/verification",
            Some(&c),
            Some(json!({"url": bad})),
        )
        .await
        .assert_error(400, "general_argument_invalid");
    }
    let r = s
        .call(
            Method::POST,
            "/account/verification",
            Some(&c),
            Some(json!({"url": "http://localhost/verify"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["secret"], "");
    let (subject, body) = last_email(&email).await.unwrap();
    assert_eq!(subject, "Account Verification for Integration");
    assert!(body.contains("Verify your email to activate your Integration account."));
    assert!(
        body.contains("Hello Test User"),
        "recipient greeted by name: {body}"
    );
    assert_eq!(link_param(&body, "userId").unwrap(), uid);
    assert_eq!(
        link_param(&body, "expire").unwrap(),
        r.json["expire"].as_str().unwrap()
    );
    let secret = link_param(&body, "secret").unwrap();
    assert_eq!(secret.len(), 256);

    s.call(
        Method::PUT,
        "/account/verification",
        None,
        Some(json!({"userId": uid, "secret": "x".repeat(256)})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    s.call(
        Method::PUT,
        "/account/verification",
        None,
        Some(json!({"userId": "nosuchuser", "secret": secret})),
    )
    .await
    .assert_error(404, "user_not_found");
    let ok = s
        .call(
            Method::PUT,
            "/account/verifications/email",
            None,
            Some(json!({"userId": uid, "secret": secret})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json["userId"], uid.as_str());
    assert_eq!(
        s.get("/account", Some(&c)).await.json["emailVerification"],
        true
    );
    s.call(
        Method::POST,
        "/account/verifications/email",
        Some(&c),
        Some(json!({"url": "http://localhost/verify"})),
    )
    .await
    .assert_error(409, "user_email_already_verified");

    // Anonymous users have no email.
    let anon = s
        .call(Method::POST, "/account/sessions/anonymous", None, None)
        .await
        .session_cookie()
        .unwrap();
    s.call(
        Method::POST,
        "/account/verification",
        Some(&anon),
        Some(json!({"url": "http://localhost/verify"})),
    )
    .await
    .assert_error(400, "user_email_not_found");
}

#[tokio::test]
async fn phone_verification() {
    let s = Server::start().await;
    let (uid, _, password, c) = s.user().await;
    s.call(Method::POST, "/account/verification/phone", Some(&c), None)
        .await
        .assert_error(400, "user_phone_not_found");
    let phone = unique_phone();
    assert_eq!(
        s.call(
            Method::PATCH,
            "/account/phone",
            Some(&c),
            Some(json!({"phone": phone, "password": password}))
        )
        .await
        .status,
        200
    );
    let r = s
        .call(Method::POST, "/account/verification/phone", Some(&c), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["secret"], "");
    let code = six_digits(&last_sms(&phone).await.unwrap()).unwrap();
    s.call(
        Method::PUT,
        "/account/verification/phone",
        None,
        Some(json!({"userId": uid, "secret": "999999"})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    s.call(
        Method::PUT,
        "/account/verification/phone",
        None,
        Some(json!({"userId": "nosuchuser", "secret": code})),
    )
    .await
    .assert_error(404, "user_not_found");
    // A verification code is not a login code.
    s.call(
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": uid, "secret": code})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    let ok = s
        .call(
            Method::PUT,
            "/account/verifications/phone",
            None,
            Some(json!({"userId": uid, "secret": code})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        s.get("/account", Some(&c)).await.json["phoneVerification"],
        true
    );
    s.call(Method::POST, "/account/verifications/phone", Some(&c), None)
        .await
        .assert_error(409, "user_phone_already_verified");
}

#[tokio::test]
async fn password_recovery() {
    let s = Server::start().await;
    let (uid, email, password, c) = s.user().await;
    s.call(
        Method::POST,
        "/account/recovery",
        None,
        Some(json!({"email": unique_email(), "url": "http://localhost/reset"})),
    )
    .await
    .assert_error(404, "user_not_found");
    s.call(
        Method::POST,
        "/account/recovery",
        None,
        Some(json!({"email": email, "url": "http://evil.example/reset"})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    let r = s
        .call(
            Method::POST,
            "/account/recovery",
            None,
            Some(json!({"email": email, "url": "http://localhost/reset"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["secret"], "");
    let (subject, body) = last_email(&email).await.unwrap();
    assert_eq!(subject, "Password Reset for Integration");
    assert!(body.contains("Reset your Integration password using the link."));
    assert_eq!(
        link_param(&body, "expire").unwrap(),
        r.json["expire"].as_str().unwrap()
    );
    let secret = link_param(&body, "secret").unwrap();

    let put = |uid: &str, secret: &str, pw: &str| {
        s.call(
            Method::PUT,
            "/account/recovery",
            None,
            Some(json!({"userId": uid, "secret": secret, "password": pw})),
        )
    };
    put(&uid, &"f".repeat(256), "newpassword99")
        .await
        .assert_error(401, "user_invalid_token");
    put("nosuchuser", &secret, "newpassword99")
        .await
        .assert_error(404, "user_not_found");
    put(&uid, &secret, "short")
        .await
        .assert_error(400, "general_argument_invalid");
    let ok = put(&uid, &secret, "newpassword99").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json["userId"], uid.as_str());
    put(&uid, &secret, "another-pass-1")
        .await
        .assert_error(401, "user_invalid_token");

    // Old sessions are gone, the old password fails, the new one works, the email is verified.
    s.get("/account", Some(&c))
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.call(
        Method::POST,
        "/account/sessions/email",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    let (c2, _) = s.login(&email, "newpassword99").await;
    assert_eq!(
        s.get("/account", Some(&c2)).await.json["emailVerification"],
        true
    );
}

#[tokio::test]
async fn expired_tokens_are_refused_before_ttl() {
    let s = Server::with(Options {
        fixed_clock: true,
        ..Options::default()
    })
    .await;
    let email = unique_email();
    let redeem = |uid: serde_json::Value, code: String| {
        s.post(
            "/account/sessions/token",
            json!({"userId": uid, "secret": code}),
        )
    };
    // Control: a code one second short of its 15 minutes still signs in.
    let (t, code) = email_otp(&s, &email, "unique()").await;
    s.clock.as_ref().unwrap().advance_secs(899);
    let r = redeem(t.json["userId"].clone(), code).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The next code, one second past them, is refused (the item is still there: no TTL yet).
    let (t, code) = email_otp(&s, &email, "unique()").await;
    s.clock.as_ref().unwrap().advance_secs(901);
    redeem(t.json["userId"].clone(), code)
        .await
        .assert_error(401, "user_invalid_token");
}

#[tokio::test]
async fn phone_verification_codes_live_fifteen_minutes() {
    let s = Server::with(Options {
        fixed_clock: true,
        ..Options::default()
    })
    .await;
    let (uid, _, password, c) = s.user().await;
    let phone = unique_phone();
    let r = s.change(&c, "phone", &phone, &password).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let verify = |code: String| {
        s.call(
            Method::PUT,
            "/account/verifications/phone",
            None,
            Some(json!({"userId": uid, "secret": code})),
        )
    };
    let sent = s
        .call(Method::POST, "/account/verifications/phone", Some(&c), None)
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let now = account_core::clock::Clock::now_ms(s.clock.as_ref().unwrap().as_ref());
    assert_eq!(sent.json["$createdAt"], account_core::dates::format(now));
    assert_eq!(
        sent.json["expire"],
        account_core::dates::format(now + 900_000)
    );
    // One second past the 15 minutes: refused, though the item is still there.
    let code = six_digits(&last_sms(&phone).await.unwrap()).unwrap();
    s.clock.as_ref().unwrap().advance_secs(901);
    verify(code).await.assert_error(401, "user_invalid_token");
    // A fresh code one second short of them verifies.
    s.call(Method::POST, "/account/verifications/phone", Some(&c), None)
        .await;
    let code = six_digits(&last_sms(&phone).await.unwrap()).unwrap();
    s.clock.as_ref().unwrap().advance_secs(899);
    assert_eq!(verify(code).await.status, 200);
}

#[tokio::test]
async fn undeliverable_mail_is_a_clear_5xx_and_leaves_no_token() {
    let mut o = Options {
        verify_sender: false,
        ..Options::default()
    };
    o.config.mail_from = Some(format!("unverified{}@example.com", std::process::id()));
    let s = Server::with(o).await;
    let items_of = |uid: String| {
        let store = s.dynamo.clone();
        async move {
            let out = store
                .client()
                .query()
                .table_name(store.table())
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{uid}")),
                )
                .send()
                .await
                .unwrap();
            out.items()
                .iter()
                .filter_map(|i| i.get("SK").and_then(|v| v.as_s().ok()).cloned())
                .collect::<Vec<String>>()
        }
    };

    // A new address: the user created with the token is withdrawn too.
    let email = unique_email();
    let uid = format!("undeliv{}", &email[4..20]);
    let r = s
        .call(
            Method::POST,
            "/account/tokens/email",
            None,
            Some(json!({"userId": uid, "email": email})),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("could not be sent"),
        "{}",
        r.body
    );
    assert!(
        s.app.store.get_email(&email).await.unwrap().is_none(),
        "no email claim left behind"
    );
    assert!(
        items_of(uid.clone()).await.is_empty(),
        "no profile or token left behind"
    );

    // An existing user keeps their account; only the token goes.
    let (uid, email, _) = s.sign_up().await;
    let r = s
        .call(
            Method::POST,
            "/account/tokens/email",
            None,
            Some(json!({"userId": "unique()", "email": email})),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(items_of(uid).await, vec!["PROFILE".to_string()]);
}

#[tokio::test]
async fn disabled_channels_answer_503() {
    let s = Server::with_config(|c| {
        c.mail_from = None;
        c.sms_enabled = false;
    })
    .await;
    s.call(
        Method::POST,
        "/account/tokens/email",
        None,
        Some(json!({"userId": "unique()", "email": unique_email()})),
    )
    .await
    .assert_error(503, "general_smtp_disabled");
    s.call(
        Method::POST,
        "/account/tokens/phone",
        None,
        Some(json!({"userId": "unique()", "phone": unique_phone()})),
    )
    .await
    .assert_error(503, "general_phone_disabled");
}
