//! Account-takeover paths: each test replays an attack that worked before the hardening (see
//! `docs/security.md`, which maps every threat to its test) and asserts it no longer does.

use account_core::clock::Clock;
use integration_tests::*;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

/// Redirect URLs that the old validator read differently from the link builder, or that point
/// elsewhere in other ways.
const FOREIGN_LINKS: &[&str] = &[
    "https://evil.example\\@localhost/r",
    "http://evil.example%5c@localhost/r",
    "http://localhost\t.evil.example/r",
    "http://localhost@evil.example/r",
    "//evil.example/r",
    "http://localhost./r",
];

/// A code that is not `code`.
fn wrong_for(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

async fn redeem(s: &Server, uid: &str, secret: &str) -> Reply {
    s.post(
        "/account/sessions/token",
        json!({"userId": uid, "secret": secret}),
    )
    .await
}

#[tokio::test]
async fn recovery_links_cannot_point_at_another_host() {
    let s = Server::start().await;
    let (_, email, _) = s.sign_up().await;
    for url in FOREIGN_LINKS {
        s.post("/account/recovery", json!({"email": email, "url": url}))
            .await
            .assert_error(400, "general_argument_invalid");
    }
    assert!(last_email(&email).await.is_none(), "no link was mailed");
    // The same parser guards magic URLs and verification links.
    for url in FOREIGN_LINKS {
        let body = json!({"userId": "unique()", "email": unique_email(), "url": url});
        s.post("/account/tokens/magic-url", body)
            .await
            .assert_error(400, "general_argument_invalid");
    }
    let (_, own, _, c) = s.user().await;
    for url in FOREIGN_LINKS {
        s.call(
            Method::POST,
            "/account/verifications/email",
            Some(&c),
            Some(json!({"url": url})),
        )
        .await
        .assert_error(400, "general_argument_invalid");
    }
    assert!(last_email(&own).await.is_none());
    // An allowed URL still works, and the mailed link is the parsed one.
    let ok = s
        .post(
            "/account/recovery",
            json!({"email": email, "url": "http://LOCALHOST:3000/r"}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let (_, body) = last_email(&email).await.unwrap();
    assert!(body.contains("http://localhost:3000/r?userId="), "{body}");
}

#[tokio::test]
async fn the_default_magic_link_ignores_the_host_header() {
    let s = Server::with_config(|c| c.public_url = Some("https://api.example.test".into())).await;
    let email = unique_email();
    let r = s
        .req(Method::POST, "/account/tokens/magic-url")
        .header("Host", "evil.example")
        .json(&json!({"userId": "unique()", "email": email}));
    let r = Reply::read(r.send().await.unwrap()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (_, body) = last_email(&email).await.unwrap();
    assert!(
        body.contains("https://api.example.test/auth/magic-url?userId=") && !body.contains("evil"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_code_guesses_admit_at_most_the_budget() {
    // Client addresses from X-Forwarded-For, rate limits on (one address would meet the route's
    // per-address limit: 429s), and a fixed clock, so the guard's hour cannot roll over mid-test.
    let s = Arc::new(
        Server::with(Options {
            fixed_clock: true,
            config: account_core::config::Config {
                trusted_ip_header: Some("x-forwarded-for".into()),
                rate_limits_enabled: true,
                ..Options::default().config
            },
            ..Options::default()
        })
        .await,
    );
    let (uid, code) = s.email_code(&unique_email()).await;
    let now = s.clock.as_ref().unwrap().now_ms() / 1000;
    let hour = now - now % 3600;
    // 29 wrong guesses at once, each from another client address.
    let tasks: Vec<_> = (0..29)
        .map(|i| {
            let (s, uid) = (s.clone(), uid.clone());
            let wrong = wrong_for(&code);
            tokio::spawn(async move {
                let r = s
                    .req(Method::POST, "/account/sessions/token")
                    .header("X-Forwarded-For", format!("203.0.113.{i}"))
                    .json(&json!({"userId": uid, "secret": wrong}));
                Reply::read(r.send().await.unwrap()).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().assert_error(401, "user_invalid_token");
    }
    // Every guess reserved its attempt before comparing: exactly the budget was admitted.
    let attempts = s
        .number(
            &format!("USER#{uid}"),
            &format!("TOKENGUARD#login-code#{hour}"),
            "attempts",
        )
        .await;
    assert_eq!(
        attempts,
        Some(i64::from(account_core::token::CODE_ATTEMPTS_PER_HOUR))
    );
    // The right code, last: refused.
    redeem(&s, &uid, &code)
        .await
        .assert_error(401, "user_invalid_token");
}

#[tokio::test]
async fn a_new_code_revokes_the_last_and_links_keep_their_own_budget() {
    let s = Server::start().await;
    let email = unique_email();
    let (uid, first) = s.email_code(&email).await;
    let (_, second) = s.email_code(&email).await;
    if first != second {
        redeem(&s, &uid, &first)
            .await
            .assert_error(401, "user_invalid_token");
    }
    assert_eq!(redeem(&s, &uid, &second).await.status, 201);
    // An attacker spends the user's code budget...
    let (_, third) = s.email_code(&email).await;
    for _ in 0..account_core::token::CODE_ATTEMPTS_PER_HOUR {
        redeem(&s, &uid, wrong_for(&third))
            .await
            .assert_error(401, "user_invalid_token");
    }
    redeem(&s, &uid, &third)
        .await
        .assert_error(401, "user_invalid_token");
    // ...but the user's magic link (256 bits, nothing to guess) still works.
    let t = s
        .post(
            "/account/tokens/magic-url",
            json!({"userId": "unique()", "email": email, "url": "http://localhost/m"}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    let secret = link_param(&last_email(&email).await.unwrap().1, "secret").unwrap();
    assert_eq!(redeem(&s, &uid, &secret).await.status, 201);
}

#[tokio::test]
async fn a_verification_link_cannot_verify_a_changed_email() {
    let s = Server::start().await;
    let (uid, email, password, c) = s.user().await;
    let secret = s.verification_secret(&c, &email).await;
    let ceo = unique_email();
    s.change(&c, "email", &ceo, &password).await;
    s.call(
        Method::PUT,
        "/account/verifications/email",
        None,
        Some(json!({"userId": uid, "secret": secret})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    let me = s.get("/account", Some(&c)).await;
    assert_eq!(
        (me.json["email"].as_str(), &me.json["emailVerification"]),
        (Some(ceo.as_str()), &json!(false))
    );
}

#[tokio::test]
async fn recovery_links_die_with_an_email_or_password_change() {
    let s = Server::start().await;
    let (uid, email, password, c) = s.user().await;
    // A password change revokes the outstanding link.
    let secret = s.recovery_secret(&email).await;
    let r = s
        .call(
            Method::PATCH,
            "/account/password",
            Some(&c),
            Some(json!({"password": "changed-password-2", "oldPassword": password})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.complete_recovery(&uid, &secret, "new-password-1")
        .await
        .assert_error(401, "user_invalid_token");
    // So does an email change.
    let secret = s.recovery_secret(&email).await;
    s.change(&c, "email", &unique_email(), "changed-password-2")
        .await;
    s.complete_recovery(&uid, &secret, "new-password-1")
        .await
        .assert_error(401, "user_invalid_token");
}

#[tokio::test]
async fn a_phone_code_cannot_verify_a_changed_number() {
    let s = Server::start().await;
    let (uid, _, password, c) = s.user().await;
    let first = unique_phone();
    s.change(&c, "phone", &first, &password).await;
    let r = s
        .call(Method::POST, "/account/verifications/phone", Some(&c), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let code = six_digits(&last_sms(&first).await.unwrap()).unwrap();
    s.change(&c, "phone", &unique_phone(), &password).await;
    s.call(
        Method::PUT,
        "/account/verifications/phone",
        None,
        Some(json!({"userId": uid, "secret": code})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    assert_eq!(
        s.get("/account", Some(&c)).await.json["phoneVerification"],
        false
    );
}

#[tokio::test]
async fn the_owners_first_passwordless_login_undoes_a_pre_registration() {
    let s = Server::fixed().await;
    // The attacker signs in with a phone of their own (verified by its code), attaches the
    // victim's address with a password, and adds their own TOTP authenticator with MFA on.
    let phone = unique_phone();
    let t = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": phone}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    let uid = t.json["userId"].as_str().unwrap().to_string();
    let code = six_digits(&last_sms(&phone).await.unwrap()).unwrap();
    let attacker = redeem(&s, &uid, &code).await.session_cookie().unwrap();
    let (email, password) = (unique_email(), "attacker-pass-1".to_string());
    s.change(&attacker, "email", &email, &password).await;
    let totp = s
        .call(
            Method::POST,
            "/account/mfa/authenticators/totp",
            Some(&attacker),
            None,
        )
        .await;
    let key = totp.json["secret"].as_str().unwrap().to_string();
    let now = account_core::clock::Clock::now_ms(s.clock.as_ref().unwrap().as_ref());
    let r = s
        .call(
            Method::PUT,
            "/account/mfa/authenticators/totp",
            Some(&attacker),
            Some(json!({"otp": totp_code(&key, now)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.enable_mfa(&attacker).await;
    // Later the victim signs in with an email code: the first proof of the address.
    let victim = s.otp_login(&email).await.session_cookie().unwrap();
    s.get("/account", Some(&attacker))
        .await
        .assert_error(401, "general_unauthorized_scope");
    // The attacker's phone is detached (verified or not) and their authenticator gone: the
    // victim's session owes no second factor, and a phone code cannot take the account back.
    let me = s.get("/account", Some(&victim)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        (&me.json["phone"], &me.json["mfa"]),
        (&json!(""), &json!(false))
    );
    let factors = s.get("/account/mfa/factors", Some(&victim)).await;
    assert_eq!(factors.json["totp"], false, "{}", factors.body);
    let t = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": phone}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    assert_ne!(
        t.json["userId"], me.json["$id"],
        "the phone now makes a new account"
    );
    s.post(
        "/account/sessions/email",
        json!({"email": email, "password": password}),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    assert_eq!(me.json["emailVerification"], true);
    // The address is proven now: the next passwordless login revokes nothing.
    s.otp_login(&email).await;
    assert_eq!(s.get("/account", Some(&victim)).await.status, 200);
}

#[tokio::test]
async fn verifying_from_ones_own_session_keeps_session_and_password() {
    let s = Server::start().await;
    let (uid, email, password, c) = s.user().await;
    let secret = s.verification_secret(&c, &email).await;
    let done = s
        .call(
            Method::PUT,
            "/account/verifications/email",
            None,
            Some(json!({"userId": uid, "secret": secret})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let me = s.get("/account", Some(&c)).await;
    assert_eq!(
        (me.status, &me.json["emailVerification"]),
        (200, &json!(true))
    );
    s.login(&email, &password).await;
    // A verified address: a passwordless login is not a proof and revokes nothing.
    s.otp_login(&email).await;
    assert_eq!(s.get("/account", Some(&c)).await.status, 200);
    s.login(&email, &password).await;
}

#[tokio::test]
async fn password_change_and_recovery_revoke_sessions_in_their_transaction() {
    let s = Server::start().await;
    let (uid, email, password, c1) = s.user().await;
    let (c2, _) = s.login(&email, &password).await;
    s.recorder.take_ops();
    let r = s
        .call(
            Method::PATCH,
            "/account/password",
            Some(&c1),
            Some(json!({"password": "another-password-3", "oldPassword": password})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = s.recorder.take_ops();
    assert!(
        ops.contains(&"TransactWriteItems".to_string())
            && !ops.contains(&"BatchWriteItem".to_string()),
        "one transaction, no separate deletion: {ops:?}"
    );
    assert_eq!(s.get("/account", Some(&c1)).await.status, 200);
    s.get("/account", Some(&c2))
        .await
        .assert_error(401, "general_unauthorized_scope");

    let secret = s.recovery_secret(&email).await;
    s.recorder.take_ops();
    let r = s
        .complete_recovery(&uid, &secret, "recovered-password-4")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = s.recorder.take_ops();
    assert!(
        !ops.contains(&"BatchWriteItem".to_string()),
        "sessions go in the recovery transaction: {ops:?}"
    );
    s.get("/account", Some(&c1))
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    // A fixed clock: the whole burst falls inside the first lockout's back-off.
    let s = Arc::new(Server::fixed().await);
    let (_, email, password) = s.sign_up().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, email) = (s.clone(), email.clone());
            tokio::spawn(async move {
                s.post(
                    "/account/sessions/email",
                    json!({"email": email, "password": "wrong-password"}),
                )
                .await
                .status
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    // Only the threshold's worth of guesses reached the password check.
    let threshold = i64::from(s.app.config.lockout.threshold);
    assert_eq!(
        s.number(&format!("EMAIL#{email}"), "EMAIL", "failures")
            .await,
        Some(threshold)
    );
    s.post(
        "/account/sessions/email",
        json!({"email": email, "password": password}),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
}

#[tokio::test]
async fn unknown_emails_make_the_same_calls_as_known_ones() {
    let s = Server::start().await;
    let (_, email, _) = s.sign_up().await;
    let mut seen = vec![];
    for e in [email, unique_email()] {
        s.recorder.take_ops();
        s.post(
            "/account/sessions/email",
            json!({"email": e, "password": "wrong-password"}),
        )
        .await
        .assert_error(401, "user_invalid_credentials");
        let mut ops = s.recorder.take_ops();
        ops.sort();
        seen.push(ops);
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn recovery_of_an_unverified_email_is_an_ownership_proof() {
    let s = Server::start().await;
    // The attacker pre-registers the victim's address and attaches a phone of their own.
    let (uid, email, password, attacker) = s.user().await;
    let phone = unique_phone();
    s.change(&attacker, "phone", &phone, &password).await;
    // The victim recovers the account through their inbox.
    let secret = s.recovery_secret(&email).await;
    let r = s
        .complete_recovery(&uid, &secret, "victims-own-pass-5")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The attacker's session and phone are gone: a phone code no longer reaches this account.
    s.get("/account", Some(&attacker))
        .await
        .assert_error(401, "general_unauthorized_scope");
    let (victim, _) = s.login(&email, "victims-own-pass-5").await;
    let me = s.get("/account", Some(&victim)).await;
    assert_eq!(
        (&me.json["phone"], &me.json["emailVerification"]),
        (&json!(""), &json!(true))
    );
    let t = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": phone}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    assert_ne!(t.json["userId"].as_str(), Some(uid.as_str()));
}
