//! Session endpoints through HTTP, the real SDK and the emulator.

use integration_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn email_login_sets_cookies_and_session_model() {
    let s = Server::start().await;
    let (uid, email, password) = s.sign_up().await;
    let r = s
        .call(
            Method::POST,
            "/account/sessions/email",
            None,
            Some(json!({"email": email.to_uppercase(), "password": password})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let j = &r.json;
    assert_eq!(j["userId"], uid);
    assert_eq!(j["provider"], "email");
    assert_eq!(j["providerUid"], email);
    assert_eq!(j["current"], true);
    assert_eq!(j["secret"], "", "clients never see the secret");
    assert_eq!(j["factors"], json!(["password"]));
    assert_eq!(j["countryCode"], "--");
    assert_eq!(j["countryName"], "Unknown");
    assert_eq!(j["clientName"], "Chrome");
    assert_eq!(j["clientCode"], "CH");
    assert_eq!(j["osName"], "Windows");
    assert_eq!(j["ip"], "127.0.0.1");
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with(&format!("a_session_{PROJECT}_legacy=")));
    assert!(!cookies[0].to_lowercase().contains("samesite"));
    assert!(
        cookies[1].starts_with(&format!("a_session_{PROJECT}="))
            && cookies[1].contains("samesite=None")
    );
    assert!(cookies
        .iter()
        .all(|c| c.contains("httponly") && c.contains("path=/") && !c.contains("domain=")));
    let cred = r.session_cookie().unwrap();
    let (cid, secret) = decode_credential(&cred);
    assert_eq!(cid, uid);
    assert_eq!(secret.len(), 256);
    let fallback: serde_json::Value =
        serde_json::from_str(r.header("x-fallback-cookies").unwrap()).unwrap();
    assert_eq!(fallback[format!("a_session_{PROJECT}")], cred);

    // The credential works through the cookie, the legacy cookie, X-Appwrite-Session and X-Fallback-Cookies.
    assert_eq!(s.get("/account", Some(&cred)).await.json["$id"], uid);
    let legacy = Reply::read(
        s.req(Method::GET, "/account")
            .header(
                "Cookie",
                format!("a_session_{PROJECT}_legacy={}", url_encode(&cred)),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(legacy.status, 200);
    let hdr = Reply::read(
        s.req(Method::GET, "/account")
            .header("X-Appwrite-Session", &cred)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(hdr.json["$id"], uid);
    let fb = Reply::read(
        s.req(Method::GET, "/account")
            .header("X-Fallback-Cookies", fallback.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fb.json["$id"], uid);
}

#[tokio::test]
async fn login_failures() {
    let s = Server::start().await;
    let (_, email, password) = s.sign_up().await;
    let bad = |e: &str, p: &str| json!({"email": e, "password": p});
    let wrong = s
        .call(
            Method::POST,
            "/account/sessions/email",
            None,
            Some(bad(&email, "wrongpassword")),
        )
        .await;
    wrong.assert_error(401, "user_invalid_credentials");
    assert_eq!(
        wrong.json["message"],
        "Invalid credentials. Please check the email and password."
    );
    let unknown = s
        .call(
            Method::POST,
            "/account/sessions/email",
            None,
            Some(bad(&unique_email(), "wrongpassword")),
        )
        .await;
    unknown.assert_error(401, "user_invalid_credentials");
    assert_eq!(
        unknown.json["message"], wrong.json["message"],
        "no user enumeration"
    );
    s.call(
        Method::POST,
        "/account/sessions/email",
        None,
        Some(json!({"email": email})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    s.call(
        Method::POST,
        "/account/sessions/email",
        None,
        Some(bad("", &password)),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    // Alias path.
    assert_eq!(
        s.call(
            Method::POST,
            "/account/sessions",
            None,
            Some(bad(&email, &password))
        )
        .await
        .status,
        201
    );
    // Already logged in.
    let (c, _) = s.login(&email, &password).await;
    s.call(
        Method::POST,
        "/account/sessions/email",
        Some(&c),
        Some(bad(&email, &password)),
    )
    .await
    .assert_error(401, "user_session_already_exists");
    s.call(
        Method::POST,
        "/account/sessions/anonymous",
        Some(&c),
        Some(json!({})),
    )
    .await
    .assert_error(401, "user_session_already_exists");
}

#[tokio::test]
async fn anonymous_session() {
    let s = Server::start().await;
    let r = s
        .call(
            Method::POST,
            "/account/sessions/anonymous",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json["provider"], "anonymous");
    assert_eq!(r.json["factors"], json!(["anonymous"]));
    assert_eq!(r.json["secret"], "");
    let c = r.session_cookie().unwrap();
    let me = s.get("/account", Some(&c)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["email"], "");
    assert_eq!(me.json["name"], "");
    assert_eq!(me.json["passwordUpdate"], "");
    assert_eq!(me.json["emailCanonical"], serde_json::Value::Null);
    let cur = s.get("/account/sessions/current", Some(&c)).await;
    assert_eq!(cur.json["provider"], "anonymous");
    assert_eq!(cur.json["secret"], "");
}

#[tokio::test]
async fn list_get_update_delete() {
    let s = Server::start().await;
    let (_, email, password, c1) = s.user().await;
    let (c2, s2) = s.login(&email, &password).await;
    let sid2 = s2["$id"].as_str().unwrap().to_string();

    let list = s.get("/account/sessions", Some(&c1)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["total"], 2);
    let sessions = list.json["sessions"].as_array().unwrap();
    assert_eq!(sessions.iter().filter(|x| x["current"] == true).count(), 1);
    assert!(sessions.iter().all(|x| x["secret"] == ""));
    assert!(
        sessions[0]["$createdAt"].as_str() <= sessions[1]["$createdAt"].as_str(),
        "oldest first"
    );

    let cur = s.get("/account/sessions/current", Some(&c1)).await;
    assert_eq!(cur.json["current"], true);
    let by_id = s.get(&format!("/account/sessions/{sid2}"), Some(&c1)).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.json["$id"], sid2.as_str());
    assert_eq!(by_id.json["current"], false);
    s.get("/account/sessions/00000000000000000000", Some(&c1))
        .await
        .assert_error(404, "user_session_not_found");
    s.get("/account/sessions/bad$id", Some(&c1))
        .await
        .assert_error(400, "general_argument_invalid");

    let before = cur.json["expire"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let upd = s
        .call(
            Method::PATCH,
            "/account/sessions/current",
            Some(&c1),
            Some(json!({})),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(upd.json["$id"], cur.json["$id"]);
    assert!(upd.json["expire"].as_str().unwrap() > before.as_str());
    assert_eq!(
        s.get("/account/sessions/current", Some(&c1)).await.json["expire"],
        upd.json["expire"]
    );

    // Delete the other session by ID: it stops working, ours does not, no cookie is cleared.
    let del = s
        .call(
            Method::DELETE,
            &format!("/account/sessions/{sid2}"),
            Some(&c1),
            Some(json!({})),
        )
        .await;
    assert_eq!(del.status, 204);
    assert!(del.body.is_empty());
    assert!(
        del.header("content-type").unwrap().starts_with("text/html"),
        "204 carries a non-JSON Content-Type"
    );
    assert!(del.set_cookies().is_empty());
    s.get("/account", Some(&c2))
        .await
        .assert_error(401, "general_unauthorized_scope");
    assert_eq!(s.get("/account", Some(&c1)).await.status, 200);
    s.call(
        Method::DELETE,
        &format!("/account/sessions/{sid2}"),
        Some(&c1),
        None,
    )
    .await
    .assert_error(404, "user_session_not_found");

    // Delete current: cookies cleared, credential dead.
    let del = s
        .call(Method::DELETE, "/account/sessions/current", Some(&c1), None)
        .await;
    assert_eq!(del.status, 204);
    assert!(del
        .set_cookies()
        .iter()
        .any(|c| c.starts_with(&format!("a_session_{PROJECT}=deleted"))));
    s.get("/account", Some(&c1))
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn delete_all_sessions() {
    let s = Server::start().await;
    let (_, email, password, c1) = s.user().await;
    let (c2, _) = s.login(&email, &password).await;
    let r = s
        .call(
            Method::DELETE,
            "/account/sessions",
            Some(&c1),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.set_cookies().iter().any(|c| c.contains("=deleted")));
    s.get("/account", Some(&c1))
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.get("/account", Some(&c2))
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.call(Method::DELETE, "/account/sessions", None, None)
        .await
        .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn session_limit_evicts_oldest() {
    let s = Server::with_config(|c| c.max_sessions = 2).await;
    let (_, email, password) = s.sign_up().await;
    let (a, _) = s.login(&email, &password).await;
    let (b, _) = s.login(&email, &password).await;
    let (c, _) = s.login(&email, &password).await;
    s.get("/account", Some(&a))
        .await
        .assert_error(401, "general_unauthorized_scope");
    assert_eq!(s.get("/account", Some(&b)).await.status, 200);
    assert_eq!(s.get("/account", Some(&c)).await.status, 200);
    assert_eq!(s.get("/account/sessions", Some(&c)).await.json["total"], 2);
}

#[tokio::test]
async fn default_limit_is_ten() {
    let s = Server::start().await;
    let (_, email, password) = s.sign_up().await;
    let mut creds = vec![];
    for _ in 0..11 {
        creds.push(s.login(&email, &password).await.0);
    }
    s.get("/account", Some(&creds[0]))
        .await
        .assert_error(401, "general_unauthorized_scope");
    let list = s.get("/account/sessions", Some(&creds[10])).await;
    assert_eq!(list.json["total"], 10);
}

#[tokio::test]
async fn expired_sessions_are_absent_before_ttl_deletes_them() {
    let mut o = Options {
        fixed_clock: true,
        ..Options::default()
    };
    o.config.session_duration_secs = 60;
    let s = Server::with(o).await;
    let (_, email, password, c) = s.user().await;
    let (other, _) = s.login(&email, &password).await;
    assert_eq!(s.get("/account", Some(&c)).await.status, 200);
    s.clock.as_ref().unwrap().advance_secs(61);
    // moto never deletes expired items: the code must treat them as gone.
    s.get("/account", Some(&c))
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.get("/account/sessions", Some(&other))
        .await
        .assert_error(401, "general_unauthorized_scope");
    let (fresh, _) = s.login(&email, &password).await;
    let list = s.get("/account/sessions", Some(&fresh)).await;
    assert_eq!(
        list.json["total"], 1,
        "expired sessions are not listed: {}",
        list.body
    );
}

#[tokio::test]
async fn tampered_credentials_are_guests() {
    let s = Server::start().await;
    let (uid, _, _, c) = s.user().await;
    let (_, secret) = decode_credential(&c);
    let mut flipped = secret.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let forged = |id: &str, secret: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(json!({"id": id, "secret": secret}).to_string())
    };
    let flipped = String::from_utf8(flipped).unwrap();
    s.get("/account", Some(&forged(&uid, &flipped)))
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.get("/account", Some(&forged("someoneelse", &secret)))
        .await
        .assert_error(401, "general_unauthorized_scope");
    s.get("/account", Some(&forged(&uid, &secret[..255])))
        .await
        .assert_error(401, "general_unauthorized_scope");
    assert_eq!(
        s.get("/account", Some(&forged(&uid, &secret))).await.status,
        200
    );
}

#[tokio::test]
async fn session_alerts_for_new_sessions_only() {
    let s = Server::with_config(|c| c.session_alerts = true).await;
    let (_, email, password) = s.sign_up().await;
    let count = || async {
        sent()
            .await
            .emails
            .iter()
            .filter(|m| {
                m["subject"]
                    .as_str()
                    .is_some_and(|x| x.starts_with("Security alert"))
            })
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .to_string()
                    .contains(&email)
            })
            .count()
    };
    s.login(&email, &password).await;
    assert_eq!(count().await, 0, "the first session sends no alert");
    let (_, second) = s.login(&email, &password).await;
    assert_eq!(count().await, 1);
    let (_, body) = last_email(&email).await.unwrap();
    assert!(
        body.contains(second["ip"].as_str().unwrap())
            && body.contains("Unknown")
            && body.contains("Chrome"),
        "{body}"
    );
    // An email-OTP login proves the email: no alert.
    let r = s.otp_login(&email).await;
    assert_eq!(r.status, 201);
    assert_eq!(count().await, 1);
}

/// Sessions and security logs name the client's country from its address (the GeoIP database
/// `scripts/test` installs and names in `GEOIP_DB`), as Appwrite does; a private address is
/// unknown.
#[tokio::test]
async fn countries_come_from_the_client_address() {
    assert!(
        std::env::var("GEOIP_DB").is_ok(),
        "GEOIP_DB is not set: run the tests through scripts/test, which installs the database"
    );
    let s = Server::with_config(|c| c.trusted_ip_header = Some("x-forwarded-for".into())).await;
    let anonymous = |ip: &'static str| {
        s.req(Method::POST, "/account/sessions/anonymous")
            .header("X-Forwarded-For", ip)
            .send()
    };
    let r = Reply::read(anonymous("8.8.8.8").await.unwrap()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.json["countryCode"].as_str(),
            r.json["countryName"].as_str()
        ),
        (Some("us"), Some("United States"))
    );
    let cookie = r.session_cookie().unwrap();
    let logs = s
        .req(Method::GET, "/account/logs")
        .header(
            "Cookie",
            format!("a_session_{PROJECT}={}", url_encode(&cookie)),
        )
        .header("X-Forwarded-For", "8.8.8.8")
        .send()
        .await
        .unwrap();
    let logs = Reply::read(logs).await;
    let entry = &logs.json["logs"][0];
    assert_eq!(entry["ip"], "8.8.8.8", "{}", logs.json);
    assert_eq!(
        (entry["countryCode"].as_str(), entry["countryName"].as_str()),
        (Some("us"), Some("United States"))
    );
    let private = Reply::read(anonymous("10.1.2.3").await.unwrap()).await;
    assert_eq!(
        (
            private.json["countryCode"].as_str(),
            private.json["countryName"].as_str()
        ),
        (Some("--"), Some("Unknown"))
    );
}
