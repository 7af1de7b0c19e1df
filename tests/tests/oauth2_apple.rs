//! Sign in with Apple end to end against an Apple-shaped provider (`fake_apple`): discovery, the
//! form post, the ES256 client secret Apple checks, the ES256 ID token we check (signature
//! against the JWKS, issuer, audience, expiry, nonce), the name from the first post only, and
//! private-relay addresses taken as the verified addresses they are.

use integration_tests::browser::Browser;
use integration_tests::fake_apple::{FakeApple, Person, Tamper, SERVICES_ID};
use integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

fn start_url(s: &Server, mode: &str) -> String {
    format!(
        "{}/account/{mode}/oauth2/apple?project={PROJECT}&success=http%3A%2F%2Flocalhost%2Fok&failure=http%3A%2F%2Flocalhost%2Ffail",
        s.base
    )
}

fn person(relay: bool) -> Person {
    let n = unique_email();
    let local = n.split('@').next().unwrap().to_owned();
    Person {
        sub: format!("000123.{local}.0456"),
        email: if relay {
            format!("{local}@privaterelay.appleid.com")
        } else {
            n
        },
        first: "Ada".into(),
        last: "Lovelace".into(),
        private_relay: relay,
    }
}

async fn server(apple: &FakeApple) -> Server {
    let mut o = Options {
        public_origin: true,
        fixed_clock: false,
        ..Options::default()
    };
    apple.configure(&mut o.config, &[]);
    Server::with(o).await
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn cookie_mode_through_the_form_post_keeps_the_first_posted_name() {
    let apple = FakeApple::start().await;
    let s = server(&apple).await;
    let p = person(true);
    apple.next(p.clone(), Tamper::None);
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start_url(&s, "sessions"), &apple.base).await;
    assert_eq!(landed, "http://localhost/ok");

    // What Apple was asked: the form post, its scopes, a nonce, our callback; no PKCE (Apple
    // documents none).
    let asked = apple.last_authorize();
    assert_eq!(asked["response_mode"], "form_post");
    assert_eq!(asked["scope"], "openid name email");
    assert_eq!(asked["client_id"], SERVICES_ID);
    assert!(asked["nonce"].len() >= 32, "{asked:?}");
    assert!(!asked.contains_key("code_challenge"));
    assert_eq!(
        asked["redirect_uri"],
        format!(
            "{}/account/sessions/oauth2/callback/apple/{PROJECT}",
            s.base
        )
    );
    // The token request: the client secret in the body (Apple takes no HTTP Basic), and it was
    // a valid team JWT, or the fake would have refused it and no session would exist.
    let (form, basic) = apple.token_requests().pop().unwrap();
    assert!(!basic);
    assert_eq!(form["client_id"], SERVICES_ID);
    assert_eq!(form["client_secret"].split('.').count(), 3);

    let cookie = b.session(PROJECT).expect("a session");
    let me = s.get("/account", Some(&cookie)).await;
    assert_eq!(me.status, 200, "{}", me.json);
    // The private-relay address is the user's verified address for this app.
    assert_eq!(me.json["email"], p.email.as_str());
    assert_eq!(me.json["emailVerification"], true);
    assert_eq!(me.json["name"], "Ada Lovelace");
    let ids = s.get("/account/identities", Some(&cookie)).await;
    assert_eq!(ids.json["identities"][0]["provider"], "apple");
    assert_eq!(ids.json["identities"][0]["providerUid"], p.sub.as_str());
    assert_eq!(ids.json["identities"][0]["providerEmail"], p.email.as_str());

    // Apple posts the name only once; the next sign-in finds the same user, name kept.
    apple.next(p.clone(), Tamper::None);
    let mut again = Browser::new(&s.base);
    again.follow(&start_url(&s, "sessions"), &apple.base).await;
    let me2 = s
        .get("/account", Some(&again.session(PROJECT).unwrap()))
        .await;
    assert_eq!(me2.json["$id"], me.json["$id"]);
    assert_eq!(me2.json["name"], "Ada Lovelace");

    // Extending the session refreshes Apple's tokens with a fresh client secret.
    let before = apple.token_requests().len();
    let r = s
        .call(
            Method::PATCH,
            "/account/sessions/current",
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let requests = apple.token_requests();
    assert_eq!(requests.len(), before + 1);
    assert_eq!(requests[before].0["grant_type"], "refresh_token");
    assert!(r.json["providerAccessToken"]
        .as_str()
        .unwrap()
        .ends_with(".apple"));
}

#[tokio::test]
async fn token_mode_through_the_form_post() {
    let apple = FakeApple::start().await;
    let s = server(&apple).await;
    let p = person(false);
    apple.next(p.clone(), Tamper::None);
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start_url(&s, "tokens"), &apple.base).await;
    let r = s.redeem_landing(&landed).await;
    assert_eq!(r.status, 201, "{} {landed}", r.json);
    assert_eq!(r.json["provider"], "apple");
    assert_eq!(r.json["providerUid"], p.sub.as_str());
}

#[tokio::test]
async fn the_callback_relays_neither_the_id_token_nor_the_address() {
    let apple = FakeApple::start().await;
    let s = server(&apple).await;
    let p = person(true);
    apple.next(p.clone(), Tamper::None);
    let mut b = Browser::new(&s.base);
    let (_, authorize, _) = b.step(&start_url(&s, "sessions")).await;
    let (status, _, page) = b.step(&authorize.unwrap()).await;
    assert_eq!(status, 200);
    assert!(page.contains("id_token") && page.contains("privaterelay"));
    let (status, relay, _) = b.submit_form(&page).await;
    assert!((300..400).contains(&status), "{status}");
    let relay = relay.unwrap();
    assert!(
        relay.contains("/account/sessions/oauth2/apple/redirect?"),
        "{relay}"
    );
    assert!(
        !relay.contains("id_token") && !relay.contains("eyJ"),
        "{relay}"
    );
    assert!(!relay.contains("privaterelay"), "{relay}");
    let user: Value = serde_json::from_str(&query(&relay, "user").unwrap()).unwrap();
    assert_eq!(
        user,
        json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}})
    );
}

#[tokio::test]
async fn a_wrong_id_token_signs_nobody_in() {
    let apple = FakeApple::start().await;
    let s = server(&apple).await;
    for tamper in [
        Tamper::ForeignKey,
        Tamper::Audience,
        Tamper::Nonce,
        Tamper::Expired,
        Tamper::Issuer,
    ] {
        let p = person(false);
        apple.next(p.clone(), tamper);
        let mut b = Browser::new(&s.base);
        let landed = b.follow(&start_url(&s, "sessions"), &apple.base).await;
        assert!(
            landed.starts_with("http://localhost/fail"),
            "{tamper:?}: {landed}"
        );
        let e: Value = serde_json::from_str(&query(&landed, "error").unwrap()).unwrap();
        assert_eq!(e["type"], "user_oauth2_provider_failure", "{tamper:?}");
        assert!(b.session(PROJECT).is_none(), "{tamper:?}");
        // Nobody was made with the address.
        assert!(s.dynamo_email_unclaimed(&p.email).await, "{tamper:?}");
    }
}

#[tokio::test]
async fn a_team_key_that_cannot_sign_is_refused_at_configuration() {
    let apple = FakeApple::start().await;
    for secret in [
        "a-plain-secret".to_owned(),
        json!({"keyID": "K", "teamID": "T", "p8": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"})
            .to_string(),
        json!({"keyID": "", "teamID": "T", "p8": integration_tests::fake_apple::TEAM_P8}).to_string(),
    ] {
        let lookup = |k: &str| -> Option<String> {
            match k {
                "OAUTH2_PROVIDERS" => Some("apple".into()),
                "OAUTH2_APPLE_CLIENT_ID" => Some(SERVICES_ID.into()),
                "OAUTH2_APPLE_CLIENT_SECRET" => Some(secret.clone()),
                "OAUTH2_APPLE_ISSUER" => Some(apple.base.clone()),
                _ => None,
            }
        };
        let e = account_core::config::Config::from_lookup(lookup).unwrap_err();
        assert!(e.message.contains("OAUTH2_APPLE_CLIENT_SECRET"), "{}", e.message);
        assert!(!e.message.contains("AAAA") && !e.message.contains("plain"), "{}", e.message);
    }
}
