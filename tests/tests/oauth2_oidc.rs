//! OpenID Connect end to end against a real OpenID Provider: the certified `oidc-provider`
//! package (`tests/oidc/server.mjs`), which `scripts/test` starts and names in `OIDC_ISSUER`.
//! Each test registers its own client (dynamic registration) with its server's callback URL,
//! picks the account of the next login, and signs in through discovery, PKCE, the nonce, the
//! ID token checked against the provider's JWKS, and UserInfo.

use integration_tests::browser::Browser;
use integration_tests::oidc::*;
use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn cookie_and_token_modes_against_a_real_openid_provider() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let (sub, email) = (sub(), unique_email());
    next_login(&sub, &email, true).await;
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start(&s, "sessions"), &issuer()).await;
    assert_eq!(landed, "http://localhost/ok");
    let cookie = b.session(PROJECT).expect("session cookie");
    let me = s.get("/account", Some(&cookie)).await;
    assert_eq!(me.status, 200, "{}", me.json);
    assert_eq!(
        (
            me.json["email"].as_str(),
            me.json["emailVerification"].as_bool()
        ),
        (Some(email.as_str()), Some(true))
    );
    assert_eq!(me.json["name"], "Ada OIDC");
    let ids = s.get("/account/identities", Some(&cookie)).await;
    assert_eq!(ids.json["identities"][0]["provider"], "oidc");
    assert_eq!(ids.json["identities"][0]["providerUid"], sub);

    // Token mode for the same provider account: the same user, a session via the secret.
    next_login(&sub, &email, true).await;
    let mut b2 = Browser::new(&s.base);
    let landed = b2.follow(&start(&s, "tokens"), &issuer()).await;
    let u = url::Url::parse(&landed).unwrap();
    let get = |n: &str| {
        u.query_pairs()
            .find(|(k, _)| k == n)
            .unwrap()
            .1
            .into_owned()
    };
    assert_eq!(get("userId"), me.json["$id"].as_str().unwrap());
    let r = s
        .post(
            "/account/sessions/token",
            json!({"userId": get("userId"), "secret": get("secret")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["provider"], "oidc");
}

#[tokio::test]
async fn an_unverified_oidc_email_does_not_reach_an_existing_account() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let (_, email, _, cookie) = s.user().await;
    let (uid, _) = decode_credential(&cookie);
    next_login(&sub(), &email, false).await;
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start(&s, "sessions"), &issuer()).await;
    // An account of its own, without the address.
    assert_eq!(landed, "http://localhost/ok");
    let other = s.get("/account", b.session(PROJECT).as_deref()).await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_ne!(other.json["$id"], uid.as_str());
    assert_eq!(other.json["email"], "");
    assert_eq!(
        s.get("/account/identities", Some(&cookie)).await.json["total"],
        0
    );
}

#[tokio::test]
async fn a_client_the_provider_does_not_know_fails_cleanly() {
    // A registered client with the wrong secret: the provider lets the user sign in and sends
    // the code to our callback, then refuses our code exchange. The browser lands on the failure
    // URL with Appwrite's error and nothing of the provider's answer; no session, no user.
    let _turn = PROVIDER.lock().await;
    let s = server_with(&[("OAUTH2_OIDC_CLIENT_SECRET", "not-the-secret")], |_| {}).await;
    let email = unique_email();
    next_login(&sub(), &email, true).await;
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start(&s, "sessions"), &issuer()).await;
    assert!(
        landed.starts_with("http://localhost/fail?error="),
        "{landed}"
    );
    assert!(landed.contains("user_oauth2_provider_failure"), "{landed}");
    assert!(
        !landed.contains("invalid_client"),
        "the provider's answer leaked: {landed}"
    );
    assert!(b.session(PROJECT).is_none(), "no session");
    assert!(s.dynamo_email_unclaimed(&email).await, "no user");
    // Control: the same flow with the client's real secret signs in.
    let s = server().await;
    next_login(&sub(), &email, true).await;
    let landed = Browser::new(&s.base)
        .follow(&start(&s, "sessions"), &issuer())
        .await;
    assert_eq!(landed, "http://localhost/ok");
}

/// The next token response carries a broken ID token.
async fn tamper(what: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/test/tamper", issuer()))
        .json(&json!({ "what": what }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn an_id_token_with_a_bad_signature_audience_or_nonce_is_refused() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    for what in ["signature", "aud", "nonce"] {
        let email = unique_email();
        next_login(&sub(), &email, true).await;
        tamper(what).await;
        let mut b = Browser::new(&s.base);
        let landed = b.follow(&start(&s, "sessions"), &issuer()).await;
        assert!(
            landed.starts_with("http://localhost/fail?error="),
            "{what}: {landed}"
        );
        assert!(
            landed.contains("user_oauth2_provider_failure"),
            "{what}: {landed}"
        );
        assert!(b.session(PROJECT).is_none(), "{what}: no session");
        assert!(s.dynamo_email_unclaimed(&email).await, "{what}: no user");
    }
    // The same flow, untampered, signs in: the refusals were the token's doing.
    next_login(&sub(), &unique_email(), true).await;
    let landed = Browser::new(&s.base)
        .follow(&start(&s, "sessions"), &issuer())
        .await;
    assert_eq!(landed, "http://localhost/ok");
}

/// Every OpenID Connect entry of the provider table (all but Apple, which has its own
/// provider double) signs in through the real OpenID Provider, its issuer moved there: cookie
/// mode makes the user with the provider's key on the identity, token mode finds the same user.
#[tokio::test]
async fn every_openid_connect_key_signs_in_in_both_modes() {
    use account_core::providers::{Protocol, Secret, PROVIDERS};
    let _turn = PROVIDER.lock().await;
    let keys: Vec<&str> = PROVIDERS
        .iter()
        .filter(|p| matches!(p.protocol, Protocol::Oidc { .. }) && p.secret == Secret::Configured)
        .map(|p| p.key)
        .collect();
    assert!(keys.len() >= 20, "{keys:?}");
    for key in keys {
        let s = server_for(key, &[], |_| {}).await;
        let (sub, email) = (sub(), unique_email());
        next_login(&sub, &email, true).await;
        let mut b = Browser::new(&s.base);
        let landed = b.follow(&start_for(&s, key, "sessions"), &issuer()).await;
        assert_eq!(landed, "http://localhost/ok", "{key}");
        let cookie = b.session(PROJECT).expect("session cookie");
        let me = s.get("/account", Some(&cookie)).await;
        assert_eq!(me.json["email"], email.as_str(), "{key}");
        let ids = s.get("/account/identities", Some(&cookie)).await;
        assert_eq!(ids.json["identities"][0]["provider"], key);
        assert_eq!(ids.json["identities"][0]["providerUid"], sub.as_str());

        next_login(&sub, &email, true).await;
        let landed = Browser::new(&s.base)
            .follow(&start_for(&s, key, "tokens"), &issuer())
            .await;
        let r = s.redeem_landing(&landed).await;
        assert_eq!(r.status, 201, "{key}: {} {landed}", r.json);
        assert_eq!(r.json["userId"], me.json["$id"], "{key}");
        assert_eq!(r.json["provider"], key);
    }
}
