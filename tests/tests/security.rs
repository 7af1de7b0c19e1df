//! Security controls: JWTs, API keys and the SSR flow, rate limits, password policy, lockout.

use account_core::clock::{Clock, OsEntropy, SystemClock};
use base64::Engine;
use integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn jwt_for(s: &Server, cookie: &str, body: Value) -> Reply {
    s.call(Method::POST, "/account/jwts", Some(cookie), Some(body))
        .await
}

async fn with_jwt(s: &Server, method: Method, path: &str, jwt: &str) -> Reply {
    Reply::read(
        s.req(method, path)
            .header("X-Appwrite-JWT", jwt)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn jwt_payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_happy_path_and_rules() {
    let s = Server::with(Options {
        fixed_clock: true,
        ..Options::default()
    })
    .await;
    let (uid, _, _, c) = s.user().await;
    let r = jwt_for(&s, &c, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let jwt = r.json["jwt"].as_str().unwrap().to_string();
    let p = jwt_payload(&jwt);
    assert_eq!(p["userId"], uid.as_str());
    assert!(p["sessionId"].is_string() && p["exp"].is_i64());
    // Alias path and duration.
    let short = s
        .call(
            Method::POST,
            "/account/jwt",
            Some(&c),
            Some(json!({"duration": 5})),
        )
        .await;
    assert_eq!(short.status, 201);
    let short = short.json["jwt"].as_str().unwrap().to_string();
    assert_eq!(
        jwt_payload(&short)["exp"].as_i64().unwrap() - p["exp"].as_i64().unwrap(),
        5 - 900
    );
    jwt_for(&s, &c, json!({"duration": 3601}))
        .await
        .assert_error(400, "general_argument_invalid");

    let me = with_jwt(&s, Method::GET, "/account", &jwt).await;
    assert_eq!(me.json["$id"], uid.as_str());
    // A JWT request has no current session.
    with_jwt(&s, Method::GET, "/account/sessions/current", &jwt)
        .await
        .assert_error(404, "user_session_not_found");
    let list = with_jwt(&s, Method::GET, "/account/sessions", &jwt).await;
    let sessions = list.json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{}", list.body);
    assert!(sessions.iter().all(|x| x["current"] == false));
    // A JWT cannot mint a JWT; a session and a JWT together are refused.
    with_jwt(&s, Method::POST, "/account/jwts", &jwt)
        .await
        .assert_error(403, "user_jwt_creation_denied");
    let both = Reply::read(
        s.req(Method::GET, "/account")
            .header("Cookie", format!("a_session_{PROJECT}={}", url_encode(&c)))
            .header("X-Appwrite-JWT", &jwt)
            .send()
            .await
            .unwrap(),
    )
    .await;
    both.assert_error(403, "user_jwt_and_cookie_set");

    // Expiry uses the server clock with no leeway.
    s.clock.as_ref().unwrap().advance_secs(5);
    let expired = with_jwt(&s, Method::GET, "/account", &short).await;
    expired.assert_error(401, "user_jwt_invalid");
    assert!(expired.json["message"]
        .as_str()
        .unwrap()
        .starts_with("Failed to verify JWT. "));
    assert_eq!(
        with_jwt(&s, Method::GET, "/account", &jwt).await.status,
        200
    );

    // Deleting the session invalidates its JWTs.
    assert_eq!(
        s.call(Method::DELETE, "/account/sessions/current", Some(&c), None)
            .await
            .status,
        204
    );
    with_jwt(&s, Method::GET, "/account", &jwt)
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn jwt_forgeries_are_rejected() {
    let s = Server::start().await;
    let (_, _, _, c) = s.user().await;
    let jwt = jwt_for(&s, &c, json!({})).await.json["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    let parts: Vec<&str> = jwt.split('.').collect();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut payload = jwt_payload(&jwt);
    payload["userId"] = json!("someone-else");
    let none_header = b64(&json!({"typ": "JWT", "alg": "none"}));
    for forged in [
        format!("{}.{}.{}", parts[0], b64(&payload), parts[2]),
        format!("{none_header}.{}.", parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        jwt[..jwt.len() - 3].to_string(),
        "garbage".to_string(),
    ] {
        with_jwt(&s, Method::GET, "/account", &forged)
            .await
            .assert_error(401, "user_jwt_invalid");
    }
}

async fn key_with(s: &Server, scopes: &[&str], expire: Option<i64>) -> String {
    let now = SystemClock.now_ms();
    let scopes: Vec<String> = scopes.iter().map(|x| x.to_string()).collect();
    let (item, key) =
        account_core::keys::generate("test", &scopes, expire, now, &OsEntropy).unwrap();
    s.app.store.put_api_key(&item).await.unwrap();
    key
}

async fn as_key(s: &Server, key: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut r = s.req(method, path).header("X-Appwrite-Key", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    Reply::read(r.send().await.unwrap()).await
}

#[tokio::test]
async fn ssr_flow_with_an_api_key() {
    let s = Server::with_config(|c| c.rate_limits_enabled = true).await;
    let (uid, email, password) = s.sign_up().await;
    let key = key_with(&s, &["sessions.write"], None).await;
    let r = as_key(
        &s,
        &key,
        Method::POST,
        "/account/sessions/email",
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_eq!(
        decode_credential(&secret).0,
        uid,
        "the secret is the session credential"
    );
    assert!(
        r.header("x-ratelimit-limit").is_some(),
        "keys still get the headers"
    );
    let me = Reply::read(
        s.req(Method::GET, "/account")
            .header("X-Appwrite-Session", &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.json["$id"], uid.as_str());

    // A key alone is not a user.
    let alone = as_key(&s, &key, Method::GET, "/account", None).await;
    alone.assert_error(401, "general_unauthorized_scope");
    assert!(alone.json["message"]
        .as_str()
        .unwrap()
        .contains("applications"));
    // Bad, expired and under-scoped keys.
    let mut bad = key.clone();
    bad.pop();
    bad.push(if key.ends_with('0') { '1' } else { '0' });
    as_key(&s, &bad, Method::POST, "/account/sessions/anonymous", None)
        .await
        .assert_error(401, "user_unauthorized");
    as_key(
        &s,
        "not-a-key",
        Method::POST,
        "/account/sessions/anonymous",
        None,
    )
    .await
    .assert_error(401, "user_unauthorized");
    let expired = key_with(&s, &["sessions.write"], Some(SystemClock.now_ms() - 1000)).await;
    as_key(
        &s,
        &expired,
        Method::POST,
        "/account/sessions/anonymous",
        None,
    )
    .await
    .assert_error(401, "project_key_expired");
    let weak = key_with(&s, &["users.read"], None).await;
    as_key(&s, &weak, Method::POST, "/account/sessions/anonymous", None)
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn forwarded_user_agent_only_for_keys() {
    let s = Server::start().await;
    let (_, email, password) = s.sign_up().await;
    let key = key_with(&s, &["sessions.write"], None).await;
    let android = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 Mobile Safari/537.36";
    let body = json!({"email": email, "password": password});
    let with_key = Reply::read(
        s.req(Method::POST, "/account/sessions/email")
            .header("X-Appwrite-Key", &key)
            .header("X-Forwarded-User-Agent", android)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            with_key.json["clientCode"].as_str(),
            with_key.json["clientName"].as_str()
        ),
        (Some("CM"), Some("Chrome Mobile"))
    );
    let without = Reply::read(
        s.req(Method::POST, "/account/sessions/email")
            .header("X-Forwarded-User-Agent", android)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            without.json["clientCode"].as_str(),
            without.json["clientName"].as_str()
        ),
        (Some("CH"), Some("Chrome"))
    );
}

#[tokio::test]
async fn keys_see_token_secrets() {
    let s = Server::start().await;
    let key = key_with(&s, &["sessions.write"], None).await;
    let email = unique_email();
    let r = as_key(
        &s,
        &key,
        Method::POST,
        "/account/tokens/magic-url",
        Some(json!({"userId": "unique()", "email": email, "url": "http://localhost/m"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (_, body) = last_email(&email).await.unwrap();
    assert_eq!(
        r.json["secret"].as_str().unwrap(),
        link_param(&body, "secret").unwrap()
    );
    let phone = unique_phone();
    let p = as_key(
        &s,
        &key,
        Method::POST,
        "/account/tokens/phone",
        Some(json!({"userId": "unique()", "phone": phone})),
    )
    .await;
    let (id, code) = decode_credential(p.json["secret"].as_str().unwrap());
    assert_eq!(id, p.json["userId"].as_str().unwrap());
    assert_eq!(code, six_digits(&last_sms(&phone).await.unwrap()).unwrap());
}

/// A server that trusts `x-test-ip`, so each test can be its own client IP, with a fixed clock,
/// so a test's requests never straddle two rate-limit windows.
async fn limited() -> Server {
    let mut o = Options {
        fixed_clock: true,
        ..Options::default()
    };
    o.config.rate_limits_enabled = true;
    o.config.trusted_ip_header = Some("x-test-ip".into());
    o.config.lockout.threshold = 0;
    Server::with(o).await
}

fn test_ip() -> String {
    let n = unique_email();
    let digits: u64 = n
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!(
        "10.{}.{}.{}",
        digits % 250,
        (digits / 250) % 250,
        (digits / 62_500) % 250 + 1
    )
}

#[tokio::test]
async fn login_limit_is_per_email_and_address_and_resets_on_success() {
    let s = limited().await;
    let (_, email, password) = s.sign_up().await;
    let login = |pw: &str, ip: &str| {
        let body = json!({"email": email, "password": pw});
        let ip = ip.to_string();
        let req = s
            .req(Method::POST, "/account/sessions/email")
            .header("x-test-ip", ip)
            .json(&body);
        async move { Reply::read(req.send().await.unwrap()).await }
    };
    let stranger = test_ip();
    for i in 0..9 {
        let r = login("wrong-password", &stranger).await;
        r.assert_error(401, "user_invalid_credentials");
        assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((9 - i).to_string().as_str())
        );
        assert!(
            r.header("x-ratelimit-reset")
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
    // A success resets the counter.
    assert_eq!(login(&password, &stranger).await.status, 201);
    for _ in 0..10 {
        login("wrong-password", &stranger)
            .await
            .assert_error(401, "user_invalid_credentials");
    }
    // The 11th attempt from that address is refused, even with the right password…
    let r = login(&password, &stranger).await;
    r.assert_error(429, "general_rate_limit_exceeded");
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    // …but the stranger's attempts were not the owner's: from another address the owner signs in.
    let owner = login(&password, &test_ip()).await;
    assert_eq!(owner.status, 201, "{}", owner.body);
    assert_eq!(owner.header("x-ratelimit-limit"), Some("10"));
}

#[tokio::test]
async fn sign_up_limit_per_ip_ignores_spoofed_forwarded_for() {
    // No trusted header: X-Forwarded-For must not reset an IP limit.
    let s = Server::with_config(|c| c.rate_limits_enabled = true).await;
    let mut statuses = vec![];
    for i in 0..11 {
        let body =
            json!({"userId": "unique()", "email": unique_email(), "password": "password1234"});
        let r = s
            .req(Method::POST, "/account")
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .header("Host", "signup-limit.test")
            .json(&body);
        statuses.push(Reply::read(r.send().await.unwrap()).await.status);
    }
    assert_eq!(&statuses[..10], &[201; 10]);
    assert_eq!(statuses[10], 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_requests_admit_exactly_ten() {
    let s = std::sync::Arc::new(limited().await);
    let email = unique_email();
    let ip = test_ip();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            let body = json!({"email": email, "password": "wrong-password"});
            let ip = ip.clone();
            tokio::spawn(async move {
                let r = s
                    .req(Method::POST, "/account/sessions/email")
                    .header("x-test-ip", ip)
                    .json(&body);
                Reply::read(r.send().await.unwrap()).await.status
            })
        })
        .collect();
    let mut counts = std::collections::HashMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&401), Some(&10), "{counts:?}");
    assert_eq!(counts.get(&429), Some(&40), "{counts:?}");
}

#[tokio::test]
async fn jwt_limit_headers() {
    let s = limited().await;
    let (_, _, _, c) = s.user().await;
    let r = jwt_for(&s, &c, json!({})).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("120"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("119"));
}

#[tokio::test]
async fn password_policy_errors() {
    let s = Server::with_config(|c| {
        c.password_policy = account_core::password::Policy {
            min_length: 12,
            uppercase: true,
            lowercase: true,
            number: true,
            symbols: true,
            dictionary: true,
            history: 3,
            personal_data: true,
        };
    })
    .await;
    let signup = |pw: &str, name: &str| {
        let body =
            json!({"userId": "unique()", "email": unique_email(), "password": pw, "name": name});
        s.call(Method::POST, "/account", None, Some(body))
    };
    let weak = signup("password123!", "Ann").await;
    weak.assert_error(400, "general_argument_invalid");
    assert!(
        weak.json["message"]
            .as_str()
            .unwrap()
            .contains("between 12 and 256"),
        "{}",
        weak.body
    );
    signup("Annabelle-Pass1!", "Annabelle")
        .await
        .assert_error(400, "password_personal_data");
    let ok = signup("Password123!", "Ann").await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let email = ok.json["email"].as_str().unwrap().to_string();
    let (c, _) = s.login(&email, "Password123!").await;
    let change = |new: &str, old: &str| {
        s.call(
            Method::PATCH,
            "/account/password",
            Some(&c),
            Some(json!({"password": new, "oldPassword": old})),
        )
    };
    change("Password123!", "Password123!")
        .await
        .assert_error(400, "password_recently_used");
    assert_eq!(change("Second-Pass-22", "Password123!").await.status, 200);
    assert_eq!(change("Third-Pass-333", "Second-Pass-22").await.status, 200);
    change("Password123!", "Third-Pass-333")
        .await
        .assert_error(400, "password_recently_used");
    assert_eq!(change("Fourth-Pass-44", "Third-Pass-333").await.status, 200);
    // The first password has left the 3-deep history.
    assert_eq!(change("Password123!", "Fourth-Pass-44").await.status, 200);
}

#[tokio::test]
async fn dictionary_policy() {
    let s = Server::with_config(|c| c.password_policy.dictionary = true).await;
    let body = json!({"userId": "unique()", "email": unique_email(), "password": "password1"});
    let r = s.call(Method::POST, "/account", None, Some(body)).await;
    r.assert_error(400, "general_argument_invalid");
    assert!(r.json["message"]
        .as_str()
        .unwrap()
        .contains("commonly used password"));
}

#[tokio::test]
async fn lockout_is_indistinguishable_and_clears() {
    let s = Server::with(Options {
        fixed_clock: true,
        ..Options::default()
    })
    .await;
    let (_, email, password) = s.sign_up().await;
    let login = |pw: &str| {
        s.call(
            Method::POST,
            "/account/sessions/email",
            None,
            Some(json!({"email": email, "password": pw})),
        )
    };
    let wrong = login("wrong-password").await;
    for _ in 0..4 {
        login("wrong-password").await;
    }
    // Five failures: locked for 1 s. The right password gets the very same answer.
    let locked = login(&password).await;
    assert_eq!(
        (locked.status, &locked.json["type"], &locked.json["message"]),
        (wrong.status, &wrong.json["type"], &wrong.json["message"])
    );
    s.clock.as_ref().unwrap().advance_secs(2);
    assert_eq!(
        login(&password).await.status,
        201,
        "unlocked after the back-off, counter cleared"
    );
    // Cleared: one more failure does not lock.
    login("wrong-password").await;
    assert_eq!(login(&password).await.status, 201);
}

#[tokio::test]
async fn security_logs_newest_first_with_paging() {
    let s = Server::start().await;
    let (uid, _, _, c) = s.user().await;
    assert_eq!(
        s.call(
            Method::PATCH,
            "/account/name",
            Some(&c),
            Some(json!({"name": "Logged"}))
        )
        .await
        .status,
        200
    );
    let r = s.get("/account/logs", Some(&c)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["total"], 3);
    let logs = r.json["logs"].as_array().unwrap().clone();
    let events: Vec<&str> = logs.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, vec!["user.update", "session.create", "user.create"]);
    let l = &logs[1];
    assert_eq!(l["userId"], uid.as_str());
    assert_eq!(
        (l["osName"].as_str(), l["clientName"].as_str()),
        (Some("Windows"), Some("Chrome"))
    );
    assert_eq!(
        (l["countryCode"].as_str(), l["countryName"].as_str()),
        (Some("--"), Some("Unknown"))
    );
    assert_eq!(l["ip"], "127.0.0.1");
    assert!(l["time"].as_str().unwrap().ends_with("+00:00"));

    let q = |qs: &str| {
        let path = format!("/account/logs?{qs}");
        let (s, c) = (&s, c.clone());
        async move { s.get(&path, Some(&c)).await }
    };
    let one = q(&format!(
        "queries[0]={}",
        url_encode_query(r#"{"method":"limit","values":[1]}"#)
    ))
    .await;
    assert_eq!(one.json["logs"].as_array().unwrap().len(), 1);
    assert_eq!(one.json["logs"][0], logs[0]);
    let skip = q(&format!(
        "queries[0]={}",
        url_encode_query(r#"{"method":"offset","values":[1]}"#)
    ))
    .await;
    assert_eq!(skip.json["logs"][0], logs[1]);
    let no_total = q("total=false").await;
    assert_eq!(no_total.json["total"], 0);
    assert_eq!(no_total.json["logs"].as_array().unwrap().len(), 3);
    q(&format!(
        "queries[0]={}",
        url_encode_query(r#"{"method":"equal","attribute":"event","values":["x"]}"#)
    ))
    .await
    .assert_error(400, "general_argument_invalid");
    s.get("/account/logs", None)
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn failed_actions_leave_no_log() {
    let s = Server::start().await;
    let (_, taken, _, _) = s.user().await;
    let (_, _, password, c) = s.user().await;
    let updates = || async {
        let logs = s.get("/account/logs", Some(&c)).await;
        assert_eq!(logs.status, 200, "{}", logs.body);
        let all = logs.json["logs"].as_array().unwrap().clone();
        all.iter().filter(|l| l["event"] == "user.update").count()
    };
    // A conflicting email change (the right password, an address another user holds) fails,
    // and so does one with a wrong password: no user.update entry for either.
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&c),
        Some(json!({"email": taken, "password": password})),
    )
    .await
    .assert_error(409, "user_target_already_exists");
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&c),
        Some(json!({"email": unique_email(), "password": "wrongpassword"})),
    )
    .await
    .assert_error(401, "user_invalid_credentials");
    assert_eq!(updates().await, 0);
    // Control: a change that succeeds is logged, once.
    let r = s
        .call(
            Method::PATCH,
            "/account/name",
            Some(&c),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(updates().await, 1);
}

fn url_encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn jwt_limit_point_is_per_user() {
    let s = limited().await;
    let (_, _, _, c) = s.user().await;
    for i in 0..120 {
        let r = jwt_for(&s, &c, json!({})).await;
        assert_eq!(r.status, 201, "request {i}: {}", r.body);
    }
    let r = jwt_for(&s, &c, json!({})).await;
    r.assert_error(429, "general_rate_limit_exceeded");
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    // Another user has their own window.
    let (_, _, _, other) = s.user().await;
    assert_eq!(jwt_for(&s, &other, json!({})).await.status, 201);
}

#[tokio::test]
async fn disabled_auth_methods_answer_501() {
    let s = Server::with_config(|c| {
        use account_core::config::AuthMethod;
        c.auth_methods_disabled = vec![
            AuthMethod::Anonymous,
            AuthMethod::EmailPassword,
            AuthMethod::Jwt,
            AuthMethod::MagicUrl,
        ];
    })
    .await;
    let r = s
        .call(Method::POST, "/account/sessions/anonymous", None, None)
        .await;
    r.assert_error(501, "user_auth_method_unsupported");
    assert_eq!(
        r.json["message"],
        "Anonymous authentication is disabled for this project"
    );
    let body = json!({"userId": "unique()", "email": unique_email(), "password": "password1234"});
    let r = s.call(Method::POST, "/account", None, Some(body)).await;
    r.assert_error(501, "user_auth_method_unsupported");
    assert_eq!(
        r.json["message"],
        "Email / Password authentication is disabled for this project"
    );
    s.call(
        Method::POST,
        "/account/tokens/magic-url",
        None,
        Some(json!({"userId": "unique()", "email": unique_email()})),
    )
    .await
    .assert_error(501, "user_auth_method_unsupported");
    // Email OTP is still on (a session from a code), and JWTs are off for that session.
    let session = s.otp_login(&unique_email()).await;
    let cookie = session.session_cookie().expect("a session cookie");
    let r = s
        .call(
            Method::POST,
            "/account/jwts",
            Some(&cookie),
            Some(json!({})),
        )
        .await;
    r.assert_error(501, "user_auth_method_unsupported");
    assert_eq!(
        r.json["message"],
        "JWT authentication is disabled for this project"
    );
    // Servers are exempt.
    let key = key_with(&s, &["sessions.write"], None).await;
    assert_eq!(
        as_key(&s, &key, Method::POST, "/account/sessions/anonymous", None)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn log_offsets_are_capped() {
    let s = Server::start().await;
    let (_, _, _, c) = s.user().await;
    let q = |n: usize| {
        format!(
            "/account/logs?queries[]={}",
            url_encode_query(&format!(r#"{{"method":"offset","values":[{n}]}}"#))
        )
    };
    assert_eq!(s.get(&q(5000), Some(&c)).await.status, 200);
    s.get(&q(5001), Some(&c))
        .await
        .assert_error(400, "general_argument_invalid");
}

/// A password login from `ip`.
async fn login_from(s: &Server, email: &str, password: &str, ip: &str) -> Reply {
    let req = s
        .req(Method::POST, "/account/sessions/email")
        .header("x-test-ip", ip)
        .json(&json!({"email": email, "password": password}));
    Reply::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn look_alike_emails_share_one_login_limit() {
    let s = limited().await;
    let email = unique_email();
    let (local, domain) = email.split_once('@').unwrap();
    let variants = [
        email.clone(),
        email.to_uppercase(),
        format!("{}@{}", local.to_uppercase(), domain),
    ];
    // One address (the key is the email and the client address).
    let ip = test_ip();
    for (i, v) in variants.iter().enumerate() {
        let r = login_from(&s, v, "wrong-password", &ip).await;
        r.assert_error(401, "user_invalid_credentials");
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((9 - i).to_string().as_str()),
            "{v}"
        );
    }
}

#[tokio::test]
async fn password_spraying_from_one_address_is_bounded() {
    let s = limited().await;
    let ip = test_ip();
    for _ in 0..account_edge::routes::LOGIN_PER_IP {
        login_from(&s, &unique_email(), "password1234", &ip)
            .await
            .assert_error(401, "user_invalid_credentials");
    }
    let r = login_from(&s, &unique_email(), "password1234", &ip).await;
    r.assert_error(429, "general_rate_limit_exceeded");
    // A success of the attacker's own does not refill the address's budget.
    let (_, email, password) = s.sign_up().await;
    login_from(&s, &email, &password, &ip)
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // Other addresses are not affected.
    assert_eq!(
        login_from(&s, &email, &password, &test_ip()).await.status,
        201
    );
}

#[tokio::test]
async fn code_guesses_from_many_addresses_share_one_user_budget() {
    let s = limited().await;
    let (uid, code) = s.email_code(&unique_email()).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // Each guess from another address: Appwrite's ip+userId key never fills.
    let guess = |secret: &str| {
        let r = s
            .req(Method::POST, "/account/sessions/token")
            .header("x-test-ip", test_ip())
            .json(&json!({"userId": uid, "secret": secret}));
        async move { Reply::read(r.send().await.unwrap()).await }
    };
    for _ in 0..account_core::token::CODE_ATTEMPTS_PER_HOUR {
        let r = guess(wrong).await;
        r.assert_error(401, "user_invalid_token");
        assert_eq!(r.header("x-ratelimit-remaining"), Some("9"));
    }
    guess(&code).await.assert_error(401, "user_invalid_token");
}

#[tokio::test]
async fn profile_writes_are_limited_per_user() {
    let s = limited().await;
    let (_, _, _, c) = s.user().await;
    for i in 0..account_edge::routes::PROFILE_WRITES_PER_USER {
        let r = s
            .call(
                Method::PATCH,
                "/account/name",
                Some(&c),
                Some(json!({"name": format!("n{i}")})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    s.call(
        Method::PATCH,
        "/account/name",
        Some(&c),
        Some(json!({"name": "one too many"})),
    )
    .await
    .assert_error(429, "general_rate_limit_exceeded");
}
