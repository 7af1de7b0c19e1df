//! OAuth2 linking without takeovers (docs/security.md, "OAuth2 account resolution"), end to end
//! against the real OpenID Provider lane. Each test is an attack that ended with the attacker
//! holding a session in the victim's account before the linking policy, and asserts that it no
//! longer does.

use integration_tests::browser::Browser;
use integration_tests::oidc::*;
use integration_tests::*;
use serde_json::json;

/// The account a session cookie belongs to.
async fn whoami(s: &Server, cookie: &str) -> Option<String> {
    let me = s.get("/account", Some(cookie)).await;
    (me.status == 200).then(|| me.json["$id"].as_str().unwrap_or_default().to_owned())
}

/// A fresh browser signs in with the provider account in cookie mode; its session's user.
async fn provider_sign_in(s: &Server, sub: &str, email: &str, verified: bool) -> Option<String> {
    next_login(sub, email, verified).await;
    let mut b = Browser::new(&s.base);
    let landed = b.follow(&start(s, "sessions"), &issuer()).await;
    if landed != "http://localhost/ok" {
        return None;
    }
    let cookie = b.session(PROJECT)?;
    whoami(s, &cookie).await
}

/// Sign up with `email` and a password, and sign in: (userId, the login reply).
async fn sign_up_as(s: &Server, email: &str) -> (String, Reply) {
    let r = s
        .post(
            "/account",
            json!({"userId": "unique()", "email": email, "password": "password1234"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let login = s
        .post(
            "/account/sessions/email",
            json!({"email": email, "password": "password1234"}),
        )
        .await;
    assert_eq!(login.status, 201, "{}", login.body);
    (r.json["$id"].as_str().unwrap().to_owned(), login)
}

/// In a browser signed in with `login`, link the provider account (`sub`, `email`) in cookie
/// mode: the flow is started by that session in that browser. The browser, signed in again.
async fn link_from(s: &Server, login: &Reply, sub: &str, email: &str, verified: bool) -> Browser {
    next_login(sub, email, verified).await;
    let mut b = Browser::new(&s.base);
    b.keep_session(login, PROJECT);
    let landed = b.follow(&start(s, "sessions"), &issuer()).await;
    assert_eq!(
        landed, "http://localhost/ok",
        "linking from one's own session"
    );
    b
}

/// The owner can sign up with `email` (nothing reserves it).
async fn can_sign_up(s: &Server, email: &str) {
    let r = s
        .post(
            "/account",
            json!({"userId": "unique()", "email": email, "password": "password1234"}),
        )
        .await;
    assert_eq!(r.status, 201, "the address is reserved: {}", r.body);
}

/// Threat 1: the attacker stops its own token-mode sign-in at the callback and gets the
/// signed-in victim's browser to open it. Without the binding cookie the finish is signed out:
/// the attacker's provider account is not linked to the victim, and the victim keeps their
/// session.
#[tokio::test]
async fn a_callback_opened_in_the_victims_browser_links_nothing() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    let (victim_id, login) = sign_up_as(&s, &victim_email).await;
    let victim_cookie = login.session_cookie().unwrap();
    let (att_sub, att_email) = (sub(), unique_email());

    next_login(&att_sub, &att_email, true).await;
    let mut attacker = Browser::new(&s.base);
    let callback = attacker
        .follow_until(&start(&s, "tokens"), "/oauth2/callback/")
        .await;
    let mut victim_browser = Browser::new(&s.base);
    victim_browser.keep_session(&login, PROJECT);
    let _ = victim_browser.follow(&callback, &issuer()).await;

    let ids = s.get("/account/identities", Some(&victim_cookie)).await;
    assert_eq!(
        ids.status, 200,
        "the victim's session survives: {}",
        ids.body
    );
    assert_eq!(
        ids.json["total"], 0,
        "nothing linked to the victim: {}",
        ids.body
    );
    // The attacker's own token flow afterwards never names the victim.
    next_login(&att_sub, &att_email, true).await;
    let landed = Browser::new(&s.base)
        .follow(&start(&s, "tokens"), &issuer())
        .await;
    assert!(
        !landed.contains(&format!("userId={victim_id}")),
        "the attacker's provider account signs in to the victim: {landed}"
    );
}

/// Twenty copies of the stolen callback at once change nothing either.
#[tokio::test]
async fn twenty_stolen_callbacks_in_parallel_link_nothing() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    let (_, login) = sign_up_as(&s, &victim_email).await;
    let victim_cookie = login.session_cookie().unwrap();
    let mut callbacks = vec![];
    for _ in 0..20 {
        next_login(&sub(), &unique_email(), true).await;
        callbacks.push(
            Browser::new(&s.base)
                .follow_until(&start(&s, "tokens"), "/oauth2/callback/")
                .await,
        );
    }
    let opened = callbacks.iter().map(|cb| {
        let mut b = Browser::new(&s.base);
        b.keep_session(&login, PROJECT);
        let cb = cb.clone();
        async move { b.follow(&cb, &issuer()).await }
    });
    futures_util::future::join_all(opened).await;
    let ids = s.get("/account/identities", Some(&victim_cookie)).await;
    assert_eq!(ids.json["total"], 0, "{}", ids.body);
}

/// Threat 2: the attacker pre-registers the victim's address with a password and links their own
/// provider account while signed in. The victim's magic link proves the address: the proof
/// removes the identity with the sessions and the password, so the provider account no longer
/// reaches the victim's account.
#[tokio::test]
async fn the_ownership_proof_removes_a_linked_identity() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    let (account, login) = sign_up_as(&s, &victim_email).await;
    let (att_sub, att_email) = (sub(), unique_email());
    let mut attacker = link_from(&s, &login, &att_sub, &att_email, true).await;
    let attacker_cookie = attacker.session(PROJECT).unwrap();
    let ids = s.get("/account/identities", Some(&attacker_cookie)).await;
    assert_eq!(ids.json["total"], 1, "{}", ids.body);

    // The owner signs in with a code sent to the address: the ownership proof.
    let owner = s.otp_login(&victim_email).await;
    assert_eq!(owner.json["userId"], account.as_str());
    let owner_cookie = owner.session_cookie().unwrap();
    let ids = s.get("/account/identities", Some(&owner_cookie)).await;
    assert_eq!(
        ids.json["total"], 0,
        "the identity went with the proof: {}",
        ids.body
    );
    assert_eq!(
        whoami(&s, &attacker_cookie).await,
        None,
        "attacker's session gone"
    );
    let again = provider_sign_in(&s, &att_sub, &att_email, true).await;
    assert_ne!(
        again.as_deref(),
        Some(account.as_str()),
        "the provider account is out"
    );
    assert!(again.is_some(), "it signs in to an account of its own");
}

/// Threat 3: a provider account claiming the victim's address unverified creates an account. The
/// address is not the account's: the victim's first code login makes an account of their own,
/// and the attacker's session and identity never reach it.
#[tokio::test]
async fn an_unverified_provider_address_creates_an_account_without_it() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    let att_sub = sub();
    next_login(&att_sub, &victim_email, false).await;
    let mut attacker = Browser::new(&s.base);
    assert_eq!(
        attacker.follow(&start(&s, "sessions"), &issuer()).await,
        "http://localhost/ok"
    );
    let attacker_cookie = attacker.session(PROJECT).unwrap();
    let me = s.get("/account", Some(&attacker_cookie)).await;
    assert_eq!(
        me.json["email"], "",
        "an unverified address is not claimed: {}",
        me.body
    );
    let attacker_id = me.json["$id"].as_str().unwrap().to_owned();
    let ids = s.get("/account/identities", Some(&attacker_cookie)).await;
    assert_eq!(
        ids.json["identities"][0]["providerEmail"],
        victim_email.as_str()
    );

    let owner = s.otp_login(&victim_email).await;
    let owner_id = owner.json["userId"].as_str().unwrap().to_owned();
    assert_ne!(
        owner_id, attacker_id,
        "the owner's code login has an account of its own"
    );
    assert_eq!(
        whoami(&s, &attacker_cookie).await.as_deref(),
        Some(attacker_id.as_str())
    );
    let again = provider_sign_in(&s, &att_sub, &victim_email, false).await;
    assert_eq!(again.as_deref(), Some(attacker_id.as_str()));
}

/// Threat 4: an unverified provider address is not reserved: the owner can sign up with it, and
/// the owner's later verified sign-in (another provider account) is not linked to the account of
/// whoever claimed the address unverified.
#[tokio::test]
async fn an_unverified_provider_address_is_neither_reserved_nor_linked() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    // Claimed unverified while signed in to the attacker's own account.
    let (attacker_id, login) = sign_up_as(&s, &unique_email()).await;
    link_from(&s, &login, &sub(), &victim_email, false).await;
    // The owner signs in with their own, verified, provider account.
    let owner = provider_sign_in(&s, &sub(), &victim_email, true).await;
    assert!(owner.is_some());
    assert_ne!(
        owner.as_deref(),
        Some(attacker_id.as_str()),
        "linked to the attacker"
    );

    // Another address claimed unverified by a new provider account: the owner signs up with it.
    let free = unique_email();
    assert!(provider_sign_in(&s, &sub(), &free, false).await.is_some());
    can_sign_up(&s, &free).await;
}

/// Threat 4, second half: a provider that later reports another user's address for a linked
/// account does not reserve it for the attacker.
#[tokio::test]
async fn a_provider_address_that_moves_to_another_users_address_is_not_reserved() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    let (victim_id, _) = sign_up_as(&s, &victim_email).await;
    let (att_sub, att_email) = (sub(), unique_email());
    let attacker_id = provider_sign_in(&s, &att_sub, &att_email, true)
        .await
        .unwrap();
    assert_ne!(attacker_id, victim_id);
    // The provider now says the attacker's account has the victim's address, verified.
    let again = provider_sign_in(&s, &att_sub, &victim_email, true).await;
    assert_eq!(again.as_deref(), Some(attacker_id.as_str()));
    use account_core::store::Identities;
    let owner = s.dynamo.identity_email_owner(&victim_email).await.unwrap();
    assert_ne!(
        owner.as_deref(),
        Some(attacker_id.as_str()),
        "reserved for the attacker"
    );
}

/// Threat 7 (per-provider trust): a provider not trusted to verify addresses (the generic `oidc`
/// by default: a tenant administrator sets its users' addresses) never links by address, even
/// when it says the address is verified.
#[tokio::test]
async fn an_untrusted_provider_never_links_by_address() {
    let _turn = PROVIDER.lock().await;
    let s = server_with(&[("OAUTH2_OIDC_TRUSTED_EMAIL", "false")], |_| {}).await;
    let victim_email = unique_email();
    let (victim_id, login) = sign_up_as(&s, &victim_email).await;
    s.verify_email(&login.session_cookie().unwrap(), &victim_id, &victim_email)
        .await;
    let signed = provider_sign_in(&s, &sub(), &victim_email, true).await;
    assert_ne!(
        signed.as_deref(),
        Some(victim_id.as_str()),
        "linked by address"
    );
}

/// Threat 4 with data of before this policy: a reservation made when every provider address was
/// reserved (no verified mark) binds nobody. The owner signs up with the address, and the owner's
/// verified sign-in is not linked to the account that claimed it then.
#[tokio::test]
async fn a_reservation_from_before_the_policy_binds_nobody() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let (attacker_id, _) = sign_up_as(&s, &unique_email()).await;
    let victim_email = unique_email();
    // The old code's item: `ids` and `uid`, no `v`.
    let plant = |email: String| {
        s.dynamo
            .client()
            .put_item()
            .table_name(s.dynamo.table())
            .item("PK", A::S(format!("IDEMAIL#{email}")))
            .item("SK", A::S("IDENTITY".into()))
            .item("uid", A::S(attacker_id.clone()))
            .item("ids", A::Ss(vec!["old-identity".into()]))
            .send()
    };
    plant(victim_email.clone()).await.unwrap();
    let owner = provider_sign_in(&s, &sub(), &victim_email, true).await;
    assert!(owner.is_some());
    assert_ne!(
        owner.as_deref(),
        Some(attacker_id.as_str()),
        "captured by an old reservation"
    );
    let other = unique_email();
    plant(other.clone()).await.unwrap();
    can_sign_up(&s, &other).await;
}

/// Threat 2, in flight: the attacker holds an unredeemed token-mode secret of the linked provider
/// account when the owner proves the address. The proof revokes it with the identity.
#[tokio::test]
async fn the_ownership_proof_revokes_a_token_mode_secret_in_flight() {
    let _turn = PROVIDER.lock().await;
    let s = server().await;
    let victim_email = unique_email();
    let (account, login) = sign_up_as(&s, &victim_email).await;
    let (att_sub, att_email) = (sub(), unique_email());
    link_from(&s, &login, &att_sub, &att_email, true).await;
    // A token-mode sign-in with the linked account, its secret kept for later.
    next_login(&att_sub, &att_email, true).await;
    let landed = Browser::new(&s.base)
        .follow(&start(&s, "tokens"), &issuer())
        .await;
    let get = |n: &str| link_param(&landed, n).expect(n);
    assert_eq!(get("userId"), account);
    // The owner's code login proves the address.
    s.otp_login(&victim_email).await;
    let r = s
        .post(
            "/account/sessions/token",
            json!({"userId": get("userId"), "secret": get("secret")}),
        )
        .await;
    r.assert_error(401, "user_invalid_token");
}
