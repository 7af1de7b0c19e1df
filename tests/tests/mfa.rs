//! MFA: TOTP authenticators, challenges, recovery codes, enforcement.

use integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn fixed() -> Server {
    Server::fixed().await
}

fn now(s: &Server) -> i64 {
    account_core::clock::Clock::now_ms(s.clock.as_ref().unwrap().as_ref())
}

async fn challenge(s: &Server, c: &str, factor: &str) -> String {
    let r = s
        .call(
            Method::POST,
            "/account/mfa/challenges",
            Some(c),
            Some(json!({"factor": factor})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json.get("code").is_none());
    r.json["$id"].as_str().unwrap().to_string()
}

async fn answer(s: &Server, c: &str, id: &str, otp: &str) -> Reply {
    s.call(
        Method::PUT,
        "/account/mfa/challenges",
        Some(c),
        Some(json!({"challengeId": id, "otp": otp})),
    )
    .await
}

/// Adds and verifies a TOTP authenticator; returns its Base32 key.
async fn add_totp(s: &Server, c: &str) -> String {
    let r = s
        .call(
            Method::POST,
            "/account/mfa/authenticators/totp",
            Some(c),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 103);
    assert!(r.json["uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Integration%3A"));
    assert!(r.json["uri"]
        .as_str()
        .unwrap()
        .contains(&format!("secret={secret}")));
    let ok = s
        .call(
            Method::PUT,
            "/account/mfa/authenticators/totp",
            Some(c),
            Some(json!({"otp": totp_code(&secret, now(s))})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    secret
}

#[tokio::test]
async fn totp_authenticator_lifecycle() {
    let s = fixed().await;
    let (_, _, _, c) = s.user().await;
    assert_eq!(
        s.get("/account/mfa/factors", Some(&c)).await.json["totp"],
        false
    );
    let r = s
        .call(
            Method::POST,
            "/account/mfa/authenticators/totp",
            Some(&c),
            None,
        )
        .await;
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_eq!(
        s.get("/account/mfa/factors", Some(&c)).await.json["totp"],
        false,
        "unverified"
    );
    s.call(
        Method::PUT,
        "/account/mfa/authenticators/totp",
        Some(&c),
        Some(json!({"otp": "000000"})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    s.call(
        Method::POST,
        "/account/mfa/authenticators/sms",
        Some(&c),
        None,
    )
    .await
    .assert_error(400, "general_argument_invalid");
    let ok = s
        .call(
            Method::PUT,
            "/account/mfa/authenticators/totp",
            Some(&c),
            Some(json!({"otp": totp_code(&secret, now(&s))})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        s.get("/account/mfa/factors", Some(&c)).await.json["totp"],
        true
    );
    s.call(
        Method::POST,
        "/account/mfa/authenticators/totp",
        Some(&c),
        None,
    )
    .await
    .assert_error(409, "user_authenticator_already_verified");
    s.call(
        Method::PUT,
        "/account/mfa/authenticators/totp",
        Some(&c),
        Some(json!({"otp": "123456"})),
    )
    .await
    .assert_error(409, "user_authenticator_already_verified");

    // A TOTP challenge: the code of the step already used is refused (replay), the next one passes.
    let id = challenge(&s, &c, "totp").await;
    answer(&s, &c, &id, &totp_code(&secret, now(&s)))
        .await
        .assert_error(401, "user_invalid_token");
    s.clock.as_ref().unwrap().advance_secs(30);
    let done = answer(&s, &c, &id, &totp_code(&secret, now(&s))).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.json["factors"]
        .as_array()
        .unwrap()
        .contains(&json!("totp")));
    assert!(!done.json["mfaUpdatedAt"].as_str().unwrap().is_empty());
    answer(&s, &c, &id, &totp_code(&secret, now(&s) + 30_000))
        .await
        .assert_error(401, "user_invalid_token");

    // Deleting needs a recent challenge (we have one), then it is gone.
    assert_eq!(
        s.call(
            Method::DELETE,
            "/account/mfa/authenticators/totp",
            Some(&c),
            None
        )
        .await
        .status,
        204
    );
    s.call(
        Method::DELETE,
        "/account/mfa/authenticators/totp",
        Some(&c),
        None,
    )
    .await
    .assert_error(404, "user_authenticator_not_found");
}

#[tokio::test]
async fn recovery_codes_and_recent_challenge() {
    let s = fixed().await;
    let (_, _, _, c) = s.user().await;
    s.get("/account/mfa/recovery-codes", Some(&c))
        .await
        .assert_error(401, "user_challenge_required");
    let r = s
        .call(Method::POST, "/account/mfa/recovery-codes", Some(&c), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let codes: Vec<String> = r.json["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 6);
    assert!(codes
        .iter()
        .all(|c| c.len() == 10 && c.bytes().all(|b| b.is_ascii_hexdigit())));
    s.call(Method::POST, "/account/mfa/recovery-codes", Some(&c), None)
        .await
        .assert_error(409, "user_recovery_codes_already_exists");
    s.call(Method::PATCH, "/account/mfa/recovery-codes", Some(&c), None)
        .await
        .assert_error(401, "user_challenge_required");
    // The SDK enum sends `recoverycode`; the session records `recoveryCode`.
    let id = challenge(&s, &c, "recoverycode").await;
    answer(&s, &c, &id, "0000000000")
        .await
        .assert_error(401, "user_invalid_token");
    let done = answer(&s, &c, &id, &codes[0]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.json["factors"]
        .as_array()
        .unwrap()
        .contains(&json!("recoveryCode")));
    // A used code is gone.
    let id2 = challenge(&s, &c, "recoveryCode").await;
    answer(&s, &c, &id2, &codes[0])
        .await
        .assert_error(401, "user_invalid_token");
    let listed = s.get("/account/mfa/recovery-codes", Some(&c)).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json["recoveryCodes"].as_array().unwrap().len(), 5);
    let fresh = s
        .call(Method::PATCH, "/account/mfa/recovery-codes", Some(&c), None)
        .await;
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.json["recoveryCodes"][0].as_str().unwrap(), codes[1]);
    // "Recent" is 30 minutes.
    s.clock.as_ref().unwrap().advance_secs(1801);
    s.get("/account/mfa/recovery-codes", Some(&c))
        .await
        .assert_error(401, "user_challenge_required");
    s.call(
        Method::POST,
        "/account/mfa/challenges",
        Some(&c),
        Some(json!({"factor": "custom"})),
    )
    .await
    .assert_error(501, "user_auth_method_unsupported");
}

#[tokio::test]
async fn enforcement_after_enabling_mfa() {
    let s = fixed().await;
    let (_, email, password, c) = s.user().await;
    let secret = add_totp(&s, &c).await;
    let r = s.enable_mfa(&c).await;
    assert_eq!(r.json["mfa"], true);
    // The enabling session keeps working (its verified factors were added to it).
    assert_eq!(s.get("/account", Some(&c)).await.status, 200);
    s.call(
        Method::PATCH,
        "/account/mfa",
        Some(&c),
        Some(json!({"mfa": "yes"})),
    )
    .await
    .assert_error(400, "general_argument_invalid");

    // A new password login owes its second factor.
    let (c2, sess) = s.login(&email, &password).await;
    assert_eq!(sess["factors"], json!(["password"]));
    s.get("/account", Some(&c2))
        .await
        .assert_error(401, "user_more_factors_required");
    assert_eq!(s.get("/account/mfa/factors", Some(&c2)).await.status, 200);
    s.clock.as_ref().unwrap().advance_secs(30);
    let id = challenge(&s, &c2, "totp").await;
    assert_eq!(
        answer(&s, &c2, &id, &totp_code(&secret, now(&s)))
            .await
            .status,
        200
    );
    assert_eq!(s.get("/account", Some(&c2)).await.status, 200);
    // Logging out is always allowed.
    let (c3, _) = s.login(&email, &password).await;
    assert_eq!(
        s.call(Method::DELETE, "/account/sessions/current", Some(&c3), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn email_challenge() {
    let s = fixed().await;
    let email = unique_email();
    let sess = s.otp_login(&email).await;
    let c = sess.session_cookie().unwrap();
    let id = challenge(&s, &c, "email").await;
    let (subject, body) = last_email(&email).await.unwrap();
    assert_eq!(subject, "Verification Code for Integration");
    let otp = six_digits(&body).unwrap();
    answer(&s, &c, &id, "999999")
        .await
        .assert_error(401, "user_invalid_token");
    let done = answer(&s, &c, &id, &otp).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.json["factors"]
        .as_array()
        .unwrap()
        .contains(&json!("email")));
    answer(&s, &c, &id, &otp)
        .await
        .assert_error(401, "user_invalid_token");
    // An unverified phone cannot be challenged.
    s.call(
        Method::POST,
        "/account/mfa/challenges",
        Some(&c),
        Some(json!({"factor": "phone"})),
    )
    .await
    .assert_error(400, "user_phone_not_found");
    let f: Value = s.get("/account/mfa/factors", Some(&c)).await.json;
    assert_eq!(
        f,
        json!({"totp": false, "phone": false, "email": true, "recoveryCode": false, "custom": false})
    );
}

/// Answers `id_count` fresh challenges of `factor` with `otp`, all at once; returns the statuses.
async fn answer_in_parallel(
    s: &std::sync::Arc<Server>,
    c: &str,
    factor: &str,
    otp: &str,
    id_count: usize,
) -> Vec<(u16, String)> {
    let mut ids = vec![];
    for _ in 0..id_count {
        ids.push(challenge(s, c, factor).await);
    }
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let (s, c, otp) = (s.clone(), c.to_string(), otp.to_string());
            tokio::spawn(async move {
                let r = answer(&s, &c, &id, &otp).await;
                (
                    r.status,
                    r.json["type"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

/// Exactly one answer passed, and every other one is the refusal of a used code (never a 500 or
/// anything else that would also "not pass").
fn one_passed_the_rest_refused(answers: &[(u16, String)]) {
    let passed = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(passed, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, t)| *s == 200 || (*s == 401 && t == "user_invalid_token")),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_totp_code_counts_once_in_parallel() {
    let s = std::sync::Arc::new(fixed().await);
    let (_, _, _, c) = s.user().await;
    let secret = add_totp(&s, &c).await;
    s.clock.as_ref().unwrap().advance_secs(30);
    let code = totp_code(&secret, now(&s));
    one_passed_the_rest_refused(&answer_in_parallel(&s, &c, "totp", &code, 8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_recovery_code_counts_once_in_parallel() {
    let s = std::sync::Arc::new(fixed().await);
    let (_, _, _, c) = s.user().await;
    let r = s
        .call(Method::POST, "/account/mfa/recovery-codes", Some(&c), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let code = r.json["recoveryCodes"][0].as_str().unwrap().to_string();
    one_passed_the_rest_refused(&answer_in_parallel(&s, &c, "recoveryCode", &code, 8).await);
}

#[tokio::test]
async fn a_challenge_burns_after_a_few_wrong_codes() {
    let s = fixed().await;
    let (_, _, _, c) = s.user().await;
    let secret = add_totp(&s, &c).await;
    s.clock.as_ref().unwrap().advance_secs(30);
    let id = challenge(&s, &c, "totp").await;
    let code = totp_code(&secret, now(&s));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..account_core::mfa::MAX_CHALLENGE_ATTEMPTS {
        answer(&s, &c, &id, wrong)
            .await
            .assert_error(401, "user_invalid_token");
    }
    answer(&s, &c, &id, &code)
        .await
        .assert_error(401, "user_invalid_token");
    // A new challenge takes the same code.
    let id2 = challenge(&s, &c, "totp").await;
    assert_eq!(answer(&s, &c, &id2, &code).await.status, 200);
}

#[tokio::test]
async fn challenge_answers_are_limited_per_user() {
    let s = Server::with(Options {
        fixed_clock: true,
        config: account_core::config::Config {
            rate_limits_enabled: true,
            ..Options::default().config
        },
        ..Options::default()
    })
    .await;
    let (_, _, _, c) = s.user().await;
    add_totp(&s, &c).await;
    let mut statuses = vec![];
    for _ in 0..7 {
        let id = challenge(&s, &c, "totp").await;
        for _ in 0..account_core::mfa::MAX_CHALLENGE_ATTEMPTS {
            statuses.push(answer(&s, &c, &id, "000000").await.status);
        }
    }
    let allowed = account_edge::routes::CHALLENGE_VERIFY_PER_USER as usize;
    assert!(
        statuses[..allowed].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    assert_eq!(statuses[allowed], 429, "{statuses:?}");
}

#[tokio::test]
async fn a_jwt_obeys_the_factors_of_its_session() {
    let s = fixed().await;
    let (_, email, password, c) = s.user().await;
    // A JWT minted from a password-only session while MFA was off...
    let (c2, _) = s.login(&email, &password).await;
    let jwt = s
        .call(Method::POST, "/account/jwts", Some(&c2), None)
        .await
        .json["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    add_totp(&s, &c).await;
    s.enable_mfa(&c).await;
    // ...owes the second factor once MFA is on, exactly as its session does.
    s.get("/account", Some(&c2))
        .await
        .assert_error(401, "user_more_factors_required");
    let r = s
        .req(Method::GET, "/account")
        .header("X-Appwrite-JWT", jwt)
        .send()
        .await
        .unwrap();
    Reply::read(r)
        .await
        .assert_error(401, "user_more_factors_required");
}
