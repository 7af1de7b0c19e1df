//! OAuth2 end to end against a GitHub-shaped provider (`fake_github`): a "browser" follows the
//! redirects with its own cookie jar, as a real one would, through start → provider →
//! callback → redirect → success. Cookie mode, token mode, identities, and every refusal:
//! another browser, a tampered state, a replayed code, a provider error, an unverified email
//! colliding with an account, an expired token-mode secret, another user's identity.

use integration_tests::browser::Browser;
use integration_tests::fake_github::{Account, FakeGithub};
use integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

fn start_url(s: &Server, mode: &str) -> String {
    format!(
        "{}/account/{mode}/oauth2/github?project={PROJECT}&success=http%3A%2F%2Flocalhost%2Fok&failure=http%3A%2F%2Flocalhost%2Ffail",
        s.base
    )
}

fn account(id: u64, email: &str, verified: bool) -> Account {
    Account {
        id,
        login: format!("octo{id}"),
        name: format!("Octo {id}"),
        emails: vec![
            (email.to_owned(), true, verified),
            (format!("other{id}@example.com"), false, true),
        ],
    }
}

fn unique_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_000_000
}

/// The `error` JSON a failure URL received.
fn failure_error(url: &str) -> Value {
    let u = url::Url::parse(url).unwrap();
    assert!(url.starts_with("http://localhost/fail"), "{url}");
    let e = u
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    serde_json::from_str(&e).unwrap()
}

async fn server(gh: &FakeGithub, fixed: bool) -> Server {
    let mut o = Options {
        public_origin: true,
        fixed_clock: fixed,
        ..Options::default()
    };
    gh.configure(&mut o.config);
    Server::with(o).await
}

#[tokio::test]
async fn cookie_mode_creates_a_verified_user_with_an_identity() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    let id = unique_id();
    let email = unique_email();
    gh.next(account(id, &email, true));
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start_url(&s, "sessions"), &gh.base).await;
    assert_eq!(landed, "http://localhost/ok");
    // The provider saw PKCE (S256), our callback URL and a sealed state.
    let asked = gh.last_authorize();
    assert_eq!(
        asked.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(
        asked.get("redirect_uri"),
        Some(&format!(
            "{}/account/sessions/oauth2/callback/github/{PROJECT}",
            s.base
        ))
    );
    assert!(!asked["state"].contains("localhost"), "the state is sealed");
    assert!(
        !b.cookies().contains_key(&format!("a_oauth2_{PROJECT}")),
        "binding cleared"
    );

    let cookie = b.session(PROJECT).unwrap();
    let me = s.get("/account", Some(&cookie)).await;
    assert_eq!(me.status, 200, "{}", me.json);
    assert_eq!(me.json["email"], email);
    assert_eq!(me.json["emailVerification"], true);
    assert_eq!(me.json["name"], format!("Octo {id}"));
    assert_eq!(me.json["passwordUpdate"], "");
    let current = s.get("/account/sessions/current", Some(&cookie)).await;
    assert_eq!(current.json["provider"], "github");
    assert_eq!(current.json["providerUid"], id.to_string());
    assert!(current.json["providerAccessToken"]
        .as_str()
        .unwrap()
        .starts_with("gho_"));
    let list = s.get("/account/identities", Some(&cookie)).await;
    assert_eq!(list.json["total"], 1, "{}", list.json);
    let identity = &list.json["identities"][0];
    assert_eq!(identity["provider"], "github");
    assert_eq!(identity["providerUid"], id.to_string());
    assert_eq!(identity["providerEmail"], email);
    assert!(identity["providerAccessToken"]
        .as_str()
        .unwrap()
        .starts_with("gho_"));

    // Signing in again finds the same user through the identity, not a new one.
    gh.next(account(id, &email, true));
    let mut again = Browser::new(&s.base);
    again.follow(&start_url(&s, "sessions"), &gh.base).await;
    let cookie2 = again.session(PROJECT).unwrap();
    let me2 = s.get("/account", Some(&cookie2)).await;
    assert_eq!(me2.json["$id"], me.json["$id"]);
    let list = s.get("/account/identities", Some(&cookie2)).await;
    assert_eq!(list.json["total"], 1);

    // Queries: allowed attributes filter; a token attribute is refused.
    let q = |query: &str| format!("/account/identities?queries[]={}", url_encode(query));
    let hit = s
        .get(
            &q(r#"{"method":"equal","attribute":"provider","values":["github"]}"#),
            Some(&cookie),
        )
        .await;
    assert_eq!(hit.json["total"], 1);
    let miss = s
        .get(
            &q(r#"{"method":"equal","attribute":"provider","values":["google"]}"#),
            Some(&cookie),
        )
        .await;
    assert_eq!(miss.json["total"], 0);
    s.get(
        &q(r#"{"method":"equal","attribute":"providerAccessToken","values":["x"]}"#),
        Some(&cookie),
    )
    .await
    .assert_error(400, "general_query_invalid");
    let no_total = s
        .get("/account/identities?total=false", Some(&cookie))
        .await;
    assert_eq!(
        (
            no_total.json["total"].clone(),
            no_total.json["identities"].as_array().unwrap().len()
        ),
        (json!(0), 1)
    );
}

#[tokio::test]
async fn token_mode_hands_a_sixty_second_secret_to_the_success_url() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, true).await;
    let email = unique_email();
    let id = unique_id();
    gh.next(account(id, &email, true));
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start_url(&s, "tokens"), &gh.base).await;
    assert!(landed.starts_with("http://localhost/ok?"), "{landed}");
    assert!(
        b.session(PROJECT).is_none(),
        "token mode sets no session cookie"
    );
    let u = url::Url::parse(&landed).unwrap();
    let param = |n: &str| {
        u.query_pairs()
            .find(|(k, _)| k == n)
            .unwrap()
            .1
            .into_owned()
    };
    let (uid, secret) = (param("userId"), param("secret"));
    let r = s
        .post(
            "/account/sessions/token",
            json!({"userId": uid, "secret": secret}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["provider"], "github");
    assert_eq!(r.json["providerUid"], id.to_string());
    // Single use.
    s.post(
        "/account/sessions/token",
        json!({"userId": uid, "secret": secret}),
    )
    .await
    .assert_error(401, "user_invalid_token");

    // A second secret, presented after its 60 seconds, is refused.
    gh.next(account(id, &email, true));
    let mut b2 = Browser::new(&s.base);
    let landed = b2.follow(&start_url(&s, "tokens"), &gh.base).await;
    let u = url::Url::parse(&landed).unwrap();
    let secret2 = u
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .into_owned();
    s.clock.as_ref().unwrap().advance_secs(61);
    s.post(
        "/account/sessions/token",
        json!({"userId": uid, "secret": secret2}),
    )
    .await
    .assert_error(401, "user_invalid_token");
    // Another user's ID with the secret: refused.
    s.post(
        "/account/sessions/token",
        json!({"userId": "someoneelse", "secret": secret2}),
    )
    .await
    .assert_error(401, "user_invalid_token");
}

#[tokio::test]
async fn a_code_from_another_browser_or_a_tampered_state_is_refused() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    let email = unique_email();
    gh.next(account(unique_id(), &email, true));
    // The victim's browser starts; the attacker's browser delivers the code (login CSRF).
    let mut victim = Browser::new(&s.base);
    let (_, to_provider, _) = victim.step(&start_url(&s, "sessions")).await;
    let (_, callback, _) = victim.step(&to_provider.unwrap()).await;
    let callback = callback.unwrap();
    let mut attacker = Browser::new(&s.base);
    let landed = attacker.follow(&callback, &gh.base).await;
    let e = failure_error(&landed);
    assert_eq!(e["type"], "general_bad_request", "{e}");
    assert!(attacker.session(PROJECT).is_none());

    // A state changed in flight: refused outright, no redirect to any URL it names.
    let mut u = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                let mut b = v.into_owned().into_bytes();
                b[10] = if b[10] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(&pairs);
    let (_, redirect, _) = victim.step(u.as_str()).await;
    let (status, location, body) = victim.step(&redirect.unwrap()).await;
    assert_eq!((status, location), (400, None), "{body}");
    assert!(body.contains("general_bad_request"), "{body}");

    // The untouched callback, in the right browser, still works once…
    let landed = victim.follow(&callback, &gh.base).await;
    assert_eq!(landed, "http://localhost/ok");
    // …and not twice: the binding cookie is gone after use.
    let replay = victim.follow(&callback, &gh.base).await;
    assert_eq!(failure_error(&replay)["type"], "general_bad_request");
}

#[tokio::test]
async fn a_replayed_code_fails_at_the_provider() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    gh.next(account(unique_id(), &unique_email(), true));
    let mut b = Browser::new(&s.base);
    let (_, to_provider, _) = b.step(&start_url(&s, "sessions")).await;
    let binding = b.cookies().clone();
    let (_, callback, _) = b.step(&to_provider.unwrap()).await;
    let callback = callback.unwrap();
    assert_eq!(b.follow(&callback, &gh.base).await, "http://localhost/ok");
    // The same browser state (cookie restored by hand), the same code: the provider refuses it.
    let mut again = Browser::new(&s.base);
    *again.cookies() = binding;
    let landed = again.follow(&callback, &gh.base).await;
    let e = failure_error(&landed);
    assert_eq!(e["type"], "user_oauth2_provider_failure", "{e}");
    assert_eq!(e["code"], 424);
}

#[tokio::test]
async fn a_provider_error_goes_to_the_failure_url_without_its_description() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    gh.deny_next();
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start_url(&s, "sessions"), &gh.base).await;
    let e = failure_error(&landed);
    assert_eq!(e["type"], "user_oauth2_provider_error");
    assert!(e["message"].as_str().unwrap().contains("access_denied"));
    assert!(
        !landed.contains("script"),
        "provider text is never echoed: {landed}"
    );
}

/// Without `success` and `failure`, the flow ends on our own pages (`account_edge::pages`), which
/// answer without a project header, with a page that runs only its own script.
#[tokio::test]
async fn without_urls_the_flow_ends_on_our_pages() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    let start = format!(
        "{}/account/sessions/oauth2/github?project={PROJECT}",
        s.base
    );
    let origin = s.base.trim_end_matches("/v1").to_owned();
    gh.deny_next();
    let landed = Browser::new(&s.base)
        .follow_until(&start, "/auth/oauth2/")
        .await;
    assert!(
        landed.starts_with(&format!(
            "{origin}/auth/oauth2/failure?project={PROJECT}&error="
        )),
        "{landed}"
    );
    gh.next(account(unique_id(), &unique_email(), true));
    let mut b = Browser::new(&s.base);
    let landed = b.follow_until(&start, "/auth/oauth2/").await;
    assert_eq!(
        landed,
        format!("{origin}/auth/oauth2/success?project={PROJECT}")
    );
    assert!(b.session(PROJECT).is_some());
    for url in [
        &landed,
        &format!("{origin}/auth/magic-url?userId=u&secret=s"),
    ] {
        let r = reqwest::get(url.as_str()).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.text().await.unwrap().contains("<script>"));
    }
}

#[tokio::test]
async fn an_unverified_provider_email_never_reaches_an_existing_account() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    let (uid, email, _password, cookie) = s.user().await;
    // An unverified provider email is no address: the provider account gets an account of its
    // own, without the email.
    gh.next(account(unique_id(), &email, false));
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start_url(&s, "sessions"), &gh.base).await;
    assert_eq!(landed, "http://localhost/ok");
    let other = s.get("/account", b.session(PROJECT).as_deref()).await;
    assert_ne!(other.json["$id"], uid.as_str());
    assert_eq!(other.json["email"], "");
    // A verified provider email does not capture an account whose own email is unverified
    // (someone may have registered the address without owning it).
    gh.next(account(unique_id(), &email, true));
    let landed = Browser::new(&s.base)
        .follow(&start_url(&s, "sessions"), &gh.base)
        .await;
    assert_eq!(failure_error(&landed)["type"], "user_already_exists");
    let list = s.get("/account/identities", Some(&cookie)).await;
    assert_eq!(list.json["total"], 0);

    // Once the owner verified it, a verified provider email links to the same account.
    s.verify_email(&cookie, &uid, &email).await;
    gh.next(account(unique_id(), &email, true));
    let mut b = Browser::new(&s.base);
    assert_eq!(
        b.follow(&start_url(&s, "sessions"), &gh.base).await,
        "http://localhost/ok"
    );
    let linked = b.session(PROJECT).unwrap();
    assert_eq!(s.get("/account", Some(&linked)).await.json["$id"], uid);
}

#[tokio::test]
async fn identities_are_deleted_by_their_owner_only() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    gh.next(account(unique_id(), &unique_email(), true));
    let mut b = Browser::new(&s.base);
    b.follow(&start_url(&s, "sessions"), &gh.base).await;
    let owner = b.session(PROJECT).unwrap();
    let list = s.get("/account/identities", Some(&owner)).await;
    let id = list.json["identities"][0]["$id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, _, _, other) = s.user().await;
    s.call(
        Method::DELETE,
        &format!("/account/identities/{id}"),
        Some(&other),
        None,
    )
    .await
    .assert_error(404, "user_identity_not_found");
    assert_eq!(
        s.get("/account/identities", Some(&owner)).await.json["total"],
        1
    );

    let r = s
        .call(
            Method::DELETE,
            &format!("/account/identities/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert_eq!(
        s.get("/account/identities", Some(&owner)).await.json["total"],
        0
    );
    let logs = s.get("/account/logs", Some(&owner)).await;
    assert_eq!(
        logs.json["logs"][0]["event"], "identity.delete",
        "{}",
        logs.json
    );
    s.call(
        Method::DELETE,
        &format!("/account/identities/{id}"),
        Some(&owner),
        None,
    )
    .await
    .assert_error(404, "user_identity_not_found");
}

#[tokio::test]
async fn extending_an_oauth2_session_refreshes_its_provider_tokens() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    gh.next(account(unique_id(), &unique_email(), true));
    let mut b = Browser::new(&s.base);
    b.follow(&start_url(&s, "sessions"), &gh.base).await;
    let cookie = b.session(PROJECT).unwrap();
    let before = s.get("/account/sessions/current", Some(&cookie)).await;
    let old = before.json["providerAccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(before.json["providerRefreshToken"]
        .as_str()
        .unwrap()
        .starts_with("ghr_"));
    assert_ne!(before.json["providerAccessTokenExpiry"], "");
    let after = s
        .call(
            Method::PATCH,
            "/account/sessions/current",
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(after.status, 200, "{}", after.json);
    let new = after.json["providerAccessToken"].as_str().unwrap();
    assert!(new.starts_with("gho_") && new != old, "{old} -> {new}");
    assert_ne!(
        after.json["providerRefreshToken"],
        before.json["providerRefreshToken"]
    );
    // The refreshed token is the one stored: reading the session again shows it.
    let again = s.get("/account/sessions/current", Some(&cookie)).await;
    assert_eq!(again.json["providerAccessToken"], new);
    // A password session is only extended.
    let (_, _, _, plain) = s.user().await;
    let r = s
        .call(
            Method::PATCH,
            "/account/sessions/current",
            Some(&plain),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json["providerAccessToken"].clone()),
        (200, json!(""))
    );
}

#[tokio::test]
async fn a_linked_identity_email_is_reserved_for_its_user() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    let (x, _, _, cookie) = s.user().await;
    // Rule (a): X, signed in, links a GitHub account whose email is not X's own.
    let linked = unique_email();
    gh.next(account(unique_id(), &linked, true));
    let mut b = Browser::new(&s.base);
    b.cookies()
        .insert(format!("a_session_{PROJECT}"), url_encode(&cookie));
    assert_eq!(
        b.follow(&start_url(&s, "sessions"), &gh.base).await,
        "http://localhost/ok"
    );
    let fresh = b.session(PROJECT).unwrap();
    assert_ne!(fresh, cookie, "the linking session is replaced");
    s.get("/account", Some(&cookie))
        .await
        .assert_error(401, "general_unauthorized_scope");
    let ids = s.get("/account/identities", Some(&fresh)).await;
    assert_eq!(ids.json["identities"][0]["providerEmail"], linked);
    assert_eq!(s.get("/account", Some(&fresh)).await.json["$id"], x);

    // Nobody else gets that address: sign-up, new-user tokens, email change.
    s.post(
        "/account",
        json!({"userId": "unique()", "email": linked, "password": "long enough pw 1"}),
    )
    .await
    .assert_error(400, "general_bad_request");
    s.post(
        "/account/tokens/magic-url",
        json!({"userId": "unique()", "email": linked}),
    )
    .await
    .assert_error(409, "user_email_already_exists");
    s.post(
        "/account/tokens/email",
        json!({"userId": "unique()", "email": linked}),
    )
    .await
    .assert_error(400, "general_bad_request");
    let (_, _, password, other) = s.user().await;
    s.call(
        Method::PATCH,
        "/account/email",
        Some(&other),
        Some(json!({"email": linked, "password": password})),
    )
    .await
    .assert_error(400, "general_bad_request");

    // Rule (d): another provider account with that (verified) email signs in to X.
    gh.next(account(unique_id(), &linked, true));
    let mut c = Browser::new(&s.base);
    assert_eq!(
        c.follow(&start_url(&s, "sessions"), &gh.base).await,
        "http://localhost/ok"
    );
    let via_d = c.session(PROJECT).unwrap();
    assert_eq!(s.get("/account", Some(&via_d)).await.json["$id"], x);
    assert_eq!(
        s.get("/account/identities", Some(&via_d)).await.json["total"],
        2
    );
}

#[tokio::test]
async fn twenty_parallel_sign_ins_of_one_provider_account_make_one_user() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    gh.next(account(unique_id(), &unique_email(), true));
    let flows = (0..20).map(|_| {
        let (s, gh) = (&s, &gh);
        async move {
            let mut b = Browser::new(&s.base);
            let landed = b.follow(&start_url(s, "sessions"), &gh.base).await;
            (landed, b.session(PROJECT))
        }
    });
    let mut users = std::collections::BTreeSet::new();
    let mut live = None;
    for (landed, session) in futures_util::future::join_all(flows).await {
        assert_eq!(landed, "http://localhost/ok");
        let cookie = session.expect("a session");
        let me = s.get("/account", Some(&cookie)).await;
        // The session limit (10) evicts the oldest of the twenty sessions: those are guests now.
        if me.status == 200 {
            users.insert(me.json["$id"].to_string());
            live = Some(cookie);
        } else {
            me.assert_error(401, "general_unauthorized_scope");
        }
    }
    assert_eq!(users.len(), 1, "one user: {users:?}");
    let ids = s.get("/account/identities", Some(&live.unwrap())).await;
    assert_eq!(ids.json["total"], 1, "one identity: {}", ids.json);
}

#[tokio::test]
async fn a_look_alike_provider_email_is_no_email() {
    let gh = FakeGithub::start().await;
    let s = server(&gh, false).await;
    let (uid, email, _, cookie) = s.user().await;
    // Verify the account, so only the look-alike form could stop a link.
    s.verify_email(&cookie, &uid, &email).await;
    let upper = email.to_uppercase();
    for look_alike in [
        format!("{email}."),
        format!("{email} "),
        email.replace('a', "\u{0430}"),
    ] {
        gh.next(account(unique_id(), &look_alike, true));
        let landed = Browser::new(&s.base)
            .follow(&start_url(&s, "sessions"), &gh.base)
            .await;
        // No address: no link to the account, and no new user under a look-alike key.
        assert_eq!(
            failure_error(&landed)["type"],
            "user_unauthorized",
            "{look_alike:?}"
        );
    }
    // Case is not a look-alike: the same address, verified, links to the account.
    gh.next(account(unique_id(), &upper, true));
    let mut b = Browser::new(&s.base);
    assert_eq!(
        b.follow(&start_url(&s, "sessions"), &gh.base).await,
        "http://localhost/ok"
    );
    let linked = b.session(PROJECT).unwrap();
    assert_eq!(s.get("/account", Some(&linked)).await.json["$id"], uid);
}

/// Threat 7 (identity key): re-pointing a provider at another issuer (another GitHub Enterprise,
/// here another GitHub-shaped server on the same table) does not map that issuer's subjects onto
/// the first issuer's users, even for the same numeric account ID.
#[tokio::test]
async fn the_same_subject_at_another_issuer_is_another_account() {
    let (first, second) = (FakeGithub::start().await, FakeGithub::start().await);
    let (s1, s2) = (server(&first, false).await, server(&second, false).await);
    let id = unique_id();
    // Unverified addresses: only the identity key can join the two sign-ins.
    first.next(account(id, &unique_email(), false));
    let mut b = Browser::new(&s1.base);
    assert_eq!(
        b.follow(&start_url(&s1, "sessions"), &first.base).await,
        "http://localhost/ok"
    );
    let owner = s1.get("/account", b.session(PROJECT).as_deref()).await;
    second.next(account(id, &unique_email(), false));
    let mut b = Browser::new(&s2.base);
    assert_eq!(
        b.follow(&start_url(&s2, "sessions"), &second.base).await,
        "http://localhost/ok"
    );
    let other = s2.get("/account", b.session(PROJECT).as_deref()).await;
    assert_eq!((owner.status, other.status), (200, 200));
    assert_ne!(
        owner.json["$id"], other.json["$id"],
        "mapped across issuers"
    );
}
