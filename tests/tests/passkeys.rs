//! Passkeys (WebAuthn) end to end, over HTTP against DynamoDB Local: a software authenticator
//! (1Password's `passkey-authenticator`, a CTAP2 authenticator with resident keys, counters
//! and user verification) behind its WebAuthn client (`passkey-client`, which writes
//! `clientDataJSON` with the origin and checks the RP ID as a browser does). Every attack of
//! issue 23 is refused with its envelope; the hardening story holds for passkeys.

use base64::Engine;
use integration_tests::passkey::{Key, ORIGIN};
use integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn passkey_config(c: &mut account_core::config::Config) {
    c.passkeys = account_core::config::PasskeyConfig {
        rp_id: "localhost".into(),
        origins: vec![ORIGIN.into()],
        any_local_port: false,
    };
}

async fn server() -> Server {
    Server::with_config(passkey_config).await
}

async fn fixed_server() -> Server {
    let mut o = Options {
        fixed_clock: true,
        ..Options::default()
    };
    passkey_config(&mut o.config);
    Server::with(o).await
}

/// A signed-up, signed-in user: (userId, email, password, session cookie).
async fn signed_in(s: &Server) -> (String, String, String, String) {
    let (uid, email, password) = s.sign_up().await;
    let (cookie, _) = s.login(&email, &password).await;
    (uid, email, password, cookie)
}

async fn begin_registration(s: &Server, cookie: &str) -> Reply {
    s.call(
        Method::POST,
        "/account/passkeys/registration",
        Some(cookie),
        Some(json!({})),
    )
    .await
}

async fn finish_registration(
    s: &Server,
    cookie: &str,
    challenge: &Value,
    credential: Value,
) -> Reply {
    s.call(
        Method::PUT,
        "/account/passkeys/registration",
        Some(cookie),
        Some(json!({"challengeId": challenge, "credential": credential})),
    )
    .await
}

/// Register `key` for the session's user: the `passkey` reply.
async fn register(s: &Server, cookie: &str, key: &mut Key) -> Reply {
    let c = begin_registration(s, cookie).await;
    assert_eq!(c.status, 201, "{}", c.body);
    let cred = key.create(&c.json["options"], ORIGIN).await.unwrap();
    finish_registration(s, cookie, &c.json["$id"], cred).await
}

async fn begin_sign_in(s: &Server) -> Reply {
    let c = s
        .call(
            Method::POST,
            "/account/tokens/passkey",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    c
}

async fn answer_sign_in(s: &Server, challenge: &Value, credential: &Value) -> Reply {
    s.call(
        Method::PUT,
        "/account/tokens/passkey",
        None,
        Some(json!({"challengeId": challenge, "credential": credential})),
    )
    .await
}

/// Sign in with `key`: the `token` reply.
async fn sign_in(s: &Server, key: &mut Key) -> Reply {
    let c = begin_sign_in(s).await;
    let a = key.get(&c.json["options"], ORIGIN).await.unwrap();
    answer_sign_in(s, &c.json["$id"], &a).await
}

/// The token's session (`POST /account/sessions/token`).
async fn session_of(s: &Server, token: &Reply) -> Reply {
    s.call(
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": token.json["userId"], "secret": token.json["secret"]})),
    )
    .await
}

async fn list(s: &Server, cookie: &str) -> Value {
    let r = s.get("/account/passkeys", Some(cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json
}

async fn log_events(s: &Server, cookie: &str) -> Vec<String> {
    let r = s.get("/account/logs", Some(cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn register_list_rename_sign_in_and_delete() {
    let s = server().await;
    let (uid, _, _, cookie) = signed_in(&s).await;
    let c = begin_registration(&s, &cookie).await;
    assert_eq!(c.status, 201, "{}", c.body);
    let pk = &c.json["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    // Sign-in names no user: the credential must be discoverable.
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert!(c.json["expire"].is_string() && c.json["$createdAt"].is_string());
    // The user handle is opaque: no user ID in it.
    let handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
    assert_eq!(handle.len(), 16);
    assert!(!String::from_utf8_lossy(&handle).contains(&uid));

    let mut key = Key::hardware();
    let cred = key.create(&c.json["options"], ORIGIN).await.unwrap();
    let r = s
        .call(
            Method::PUT,
            "/account/passkeys/registration",
            Some(&cookie),
            Some(json!({"challengeId": c.json["$id"], "credential": cred, "name": "Laptop"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json["$id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["name"], "Laptop");
    assert_eq!(r.json["aaguid"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(r.json["lastUsedAt"], "");
    for field in ["backupEligible", "backupState"] {
        assert!(r.json[field].is_boolean(), "{field}: {}", r.body);
    }

    // Listed; the same registration answer cannot be used again.
    let l = list(&s, &cookie).await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["passkeys"][0]["$id"], id.as_str());
    finish_registration(&s, &cookie, &c.json["$id"], cred)
        .await
        .assert_error(401, "user_invalid_token");

    // Renamed.
    let path = format!("/account/passkeys/{id}");
    let r = s
        .call(
            Method::PATCH,
            &path,
            Some(&cookie),
            Some(json!({"name": "  Phone "})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["name"], "Phone");
    s.call(
        Method::PATCH,
        &path,
        Some(&cookie),
        Some(json!({"name": ""})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    s.call(
        Method::PATCH,
        "/account/passkeys/nope",
        Some(&cookie),
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(404, "user_authenticator_not_found");

    // Signed in: a 60-second token, then a session with provider `passkey`, and the browser's
    // cookie works.
    let t = sign_in(&s, &mut key).await;
    assert_eq!(t.status, 201, "{}", t.body);
    assert_eq!(t.json["userId"], uid.as_str());
    assert_eq!(t.json["secret"].as_str().unwrap().len(), 64);
    let session = session_of(&s, &t).await;
    assert_eq!(session.status, 201, "{}", session.body);
    assert_eq!(session.json["provider"], "passkey");
    assert_eq!(session.json["providerUid"], id.as_str());
    assert_eq!(session.json["factors"], json!(["passkey"]));
    let cookie2 = session.session_cookie().unwrap();
    let me = s.get("/account", Some(&cookie2)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json["$id"], uid.as_str());
    // The token is single-use.
    session_of(&s, &t)
        .await
        .assert_error(401, "user_invalid_token");
    let l = list(&s, &cookie).await;
    assert!(l["passkeys"][0]["lastUsedAt"].as_str().unwrap().len() > 10);

    // A token it answered with, unredeemed.
    let pending = sign_in(&s, &mut key).await;
    assert_eq!(pending.status, 201, "{}", pending.body);
    // Deleted (the account keeps its password): it can no longer sign in, its token is void,
    // and the session it opened is revoked.
    let d = s.call(Method::DELETE, &path, Some(&cookie), None).await;
    assert_eq!(d.status, 204, "{}", d.body);
    assert_eq!(list(&s, &cookie).await["total"], 0);
    session_of(&s, &pending)
        .await
        .assert_error(401, "user_invalid_token");
    s.get("/account", Some(&cookie2))
        .await
        .assert_error(401, "general_unauthorized_scope");
    assert_eq!(s.get("/account", Some(&cookie)).await.status, 200);
    sign_in(&s, &mut key)
        .await
        .assert_error(401, "user_invalid_credentials");
    s.call(Method::DELETE, &path, Some(&cookie), None)
        .await
        .assert_error(404, "user_authenticator_not_found");

    let events = log_events(&s, &cookie).await;
    for e in [
        "passkey.create",
        "passkey.update",
        "passkey.signin",
        "passkey.delete",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} not in {events:?}");
    }
}

#[tokio::test]
async fn replayed_answers_and_challenges_and_stale_ceremonies_are_refused() {
    let s = fixed_server().await;
    let clock = s.clock.clone().unwrap();
    let (_, _, _, cookie) = signed_in(&s).await;
    let mut key = Key::synced();
    assert_eq!(register(&s, &cookie, &mut key).await.status, 201);

    // A replayed assertion: the same answer twice.
    let c = begin_sign_in(&s).await;
    let a = key.get(&c.json["options"], ORIGIN).await.unwrap();
    assert_eq!(answer_sign_in(&s, &c.json["$id"], &a).await.status, 201);
    answer_sign_in(&s, &c.json["$id"], &a)
        .await
        .assert_error(401, "user_invalid_token");
    // A replayed challenge: a fresh answer to a used one.
    let fresh = key.get(&c.json["options"], ORIGIN).await.unwrap();
    answer_sign_in(&s, &c.json["$id"], &fresh)
        .await
        .assert_error(401, "user_invalid_token");
    // An answer to another challenge.
    let c2 = begin_sign_in(&s).await;
    let c3 = begin_sign_in(&s).await;
    let for_c3 = key.get(&c3.json["options"], ORIGIN).await.unwrap();
    answer_sign_in(&s, &c2.json["$id"], &for_c3)
        .await
        .assert_error(401, "user_invalid_credentials");
    // ... and that failure burnt c2: its own answer is refused too.
    let for_c2 = key.get(&c2.json["options"], ORIGIN).await.unwrap();
    answer_sign_in(&s, &c2.json["$id"], &for_c2)
        .await
        .assert_error(401, "user_invalid_token");

    // An expired challenge (5 minutes, checked in code).
    let c = begin_sign_in(&s).await;
    let a = key.get(&c.json["options"], ORIGIN).await.unwrap();
    clock.advance_secs(301);
    answer_sign_in(&s, &c.json["$id"], &a)
        .await
        .assert_error(401, "user_invalid_token");

    // A registration ceremony expires too (the session is signed in again: recent).
    let (_, _, _, cookie) = signed_in(&s).await;
    let c = begin_registration(&s, &cookie).await;
    let mut other = Key::synced();
    let cred = other.create(&c.json["options"], ORIGIN).await.unwrap();
    clock.advance_secs(301);
    finish_registration(&s, &cookie, &c.json["$id"], cred)
        .await
        .assert_error(401, "user_invalid_token");
    // A token is redeemable for 60 seconds only.
    let t = sign_in(&s, &mut key).await;
    assert_eq!(t.status, 201, "{}", t.body);
    clock.advance_secs(61);
    session_of(&s, &t)
        .await
        .assert_error(401, "user_invalid_token");
}

#[tokio::test]
async fn a_registration_is_bound_to_the_user_and_the_session_that_asked() {
    let s = server().await;
    let (_, email, password, alice) = signed_in(&s).await;
    let (_, _, _, mallory) = signed_in(&s).await;
    let c = begin_registration(&s, &alice).await;
    let mut key = Key::synced();
    let cred = key.create(&c.json["options"], ORIGIN).await.unwrap();
    // Another user presents Alice's ceremony.
    finish_registration(&s, &mallory, &c.json["$id"], cred.clone())
        .await
        .assert_error(401, "user_invalid_token");
    // Alice's other session presents it.
    let (alice2, _) = s.login(&email, &password).await;
    finish_registration(&s, &alice2, &c.json["$id"], cred.clone())
        .await
        .assert_error(401, "user_invalid_token");
    // A newer ceremony replaces it (one in flight per user).
    let newer = begin_registration(&s, &alice).await;
    assert_ne!(newer.json["$id"], c.json["$id"]);
    finish_registration(&s, &alice, &c.json["$id"], cred)
        .await
        .assert_error(401, "user_invalid_token");
    assert_eq!(list(&s, &alice).await["total"], 0);
    // A body that is no credential at all.
    s.call(
        Method::PUT,
        "/account/passkeys/registration",
        Some(&alice),
        Some(json!({"challengeId": newer.json["$id"], "credential": {"id": 1}})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    // Guests cannot register.
    s.call(
        Method::POST,
        "/account/passkeys/registration",
        None,
        Some(json!({})),
    )
    .await
    .assert_error(401, "general_unauthorized_scope");
}

#[tokio::test]
async fn a_cloned_authenticator_is_refused_and_logged_and_synced_passkeys_work() {
    let s = server().await;
    let (_, _, _, cookie) = signed_in(&s).await;
    let mut key = Key::hardware();
    assert_eq!(register(&s, &cookie, &mut key).await.status, 201);
    let mut clone = key.clone();
    // The original signs in twice (counter 1, 2), then the clone answers with counter 1.
    for _ in 0..2 {
        assert_eq!(sign_in(&s, &mut key).await.status, 201);
    }
    let r = sign_in(&s, &mut clone).await;
    r.assert_error(401, "user_invalid_credentials");
    assert!(
        r.json["message"].as_str().unwrap().contains("cloned"),
        "{}",
        r.body
    );
    assert!(log_events(&s, &cookie)
        .await
        .iter()
        .any(|e| e == "passkey.clone"));
    // The original still works: its counter moved on.
    assert_eq!(sign_in(&s, &mut key).await.status, 201);

    // A synced passkey reports 0 every time: that is no clone.
    let (_, _, _, cookie) = signed_in(&s).await;
    let mut synced = Key::synced();
    assert_eq!(register(&s, &cookie, &mut synced).await.status, 201);
    for _ in 0..3 {
        assert_eq!(sign_in(&s, &mut synced).await.status, 201);
    }
}

#[tokio::test]
async fn a_credential_id_belongs_to_one_passkey_of_one_user() {
    let s = server().await;
    let (_, _, _, alice) = signed_in(&s).await;
    let (_, _, _, mallory) = signed_in(&s).await;
    let c = begin_registration(&s, &alice).await;
    let mut key = Key::synced();
    let cred = key.create(&c.json["options"], ORIGIN).await.unwrap();
    assert_eq!(
        finish_registration(&s, &alice, &c.json["$id"], cred.clone())
            .await
            .status,
        201
    );
    // Mallory replays Alice's attestation (format `none` signs nothing of the client data)
    // under a client data of her own ceremony: the credential ID is taken.
    let m = begin_registration(&s, &mallory).await;
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": m.json["options"]["publicKey"]["challenge"],
        "origin": ORIGIN,
        "crossOrigin": false,
    });
    let mut forged = cred.clone();
    forged["response"]["clientDataJSON"] = json!(B64.encode(client_data.to_string()));
    finish_registration(&s, &mallory, &m.json["$id"], forged)
        .await
        .assert_error(409, "user_already_exists");
    assert_eq!(list(&s, &mallory).await["total"], 0);
    // Alice's passkey still signs her in.
    assert_eq!(sign_in(&s, &mut key).await.status, 201);
}

#[tokio::test]
async fn user_verification_is_required_in_both_ceremonies() {
    let s = server().await;
    let (_, _, _, cookie) = signed_in(&s).await;
    // Registration without user verification (the client asked for none).
    let c = begin_registration(&s, &cookie).await;
    let mut opts = c.json["options"].clone();
    opts["publicKey"]["authenticatorSelection"]["userVerification"] = json!("discouraged");
    let mut unverified = Key {
        verified: false,
        ..Key::synced()
    };
    let cred = unverified.create(&opts, ORIGIN).await.unwrap();
    let r = finish_registration(&s, &cookie, &c.json["$id"], cred).await;
    r.assert_error(401, "user_invalid_credentials");
    assert!(
        r.json["message"].as_str().unwrap().contains("verification"),
        "{}",
        r.body
    );
    assert_eq!(list(&s, &cookie).await["total"], 0);

    // Sign-in without user verification.
    let mut key = Key::synced();
    assert_eq!(register(&s, &cookie, &mut key).await.status, 201);
    let c = begin_sign_in(&s).await;
    let mut opts = c.json["options"].clone();
    opts["publicKey"]["userVerification"] = json!("discouraged");
    key.verified = false;
    let a = key.get(&opts, ORIGIN).await.unwrap();
    answer_sign_in(&s, &c.json["$id"], &a)
        .await
        .assert_error(401, "user_invalid_credentials");
}

#[tokio::test]
async fn a_foreign_origin_is_refused() {
    let s = server().await;
    let (_, _, _, cookie) = signed_in(&s).await;
    let c = begin_registration(&s, &cookie).await;
    let mut key = Key::synced();
    let cred = key
        .create(&c.json["options"], "http://localhost:6666")
        .await
        .unwrap();
    let r = finish_registration(&s, &cookie, &c.json["$id"], cred).await;
    r.assert_error(401, "user_invalid_credentials");
    assert!(
        r.json["message"].as_str().unwrap().contains("origin"),
        "{}",
        r.body
    );

    let mut key = Key::synced();
    assert_eq!(register(&s, &cookie, &mut key).await.status, 201);
    let c = begin_sign_in(&s).await;
    let a = key
        .get(&c.json["options"], "http://localhost:6666")
        .await
        .unwrap();
    answer_sign_in(&s, &c.json["$id"], &a)
        .await
        .assert_error(401, "user_invalid_credentials");
}

#[tokio::test]
async fn twenty_parallel_redemptions_of_one_challenge_give_exactly_one_token() {
    let s = server().await;
    let (_, _, _, cookie) = signed_in(&s).await;
    let mut key = Key::synced();
    assert_eq!(register(&s, &cookie, &mut key).await.status, 201);
    let c = begin_sign_in(&s).await;
    // Twenty answers, each valid on its own, to the one challenge.
    let mut answers = vec![];
    for _ in 0..20 {
        answers.push(key.get(&c.json["options"], ORIGIN).await.unwrap());
    }
    let replies = futures_util::future::join_all(
        answers
            .iter()
            .map(|a| answer_sign_in(&s, &c.json["$id"], a)),
    )
    .await;
    let ok = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for r in replies.iter().filter(|r| r.status != 201) {
        r.assert_error(401, "user_invalid_token");
    }
}

#[tokio::test]
async fn a_pre_registrants_passkey_is_gone_after_the_owners_ownership_proof() {
    let s = server().await;
    // Mallory registers Alice's address (unverified), signs in and adds a passkey.
    let (_, email, _, mallory) = signed_in(&s).await;
    let mut key = Key::synced();
    assert_eq!(register(&s, &mallory, &mut key).await.status, 201);
    // Alice proves the address with an email code: an ownership proof.
    let alice = s.otp_login(&email).await;
    let alice = alice.session_cookie().unwrap();
    assert_eq!(list(&s, &alice).await["total"], 0);
    // Mallory's passkey signs nobody in, and her session is gone.
    sign_in(&s, &mut key)
        .await
        .assert_error(401, "user_invalid_credentials");
    assert_eq!(s.get("/account", Some(&mallory)).await.status, 401);
}

#[tokio::test]
async fn the_last_way_in_cannot_be_deleted() {
    let s = server().await;
    let anon = s
        .call(Method::POST, "/account/sessions/anonymous", None, None)
        .await;
    assert_eq!(anon.status, 201, "{}", anon.body);
    let cookie = anon.session_cookie().unwrap();
    let mut first = Key::synced();
    let p1 = register(&s, &cookie, &mut first).await;
    assert_eq!(p1.status, 201, "{}", p1.body);
    let path = |p: &Reply| format!("/account/passkeys/{}", p.json["$id"].as_str().unwrap());
    let r = s
        .call(Method::DELETE, &path(&p1), Some(&cookie), None)
        .await;
    r.assert_error(400, "general_bad_request");
    assert!(
        r.json["message"].as_str().unwrap().contains("last way"),
        "{}",
        r.body
    );
    // With a second passkey, one of the two may go; then the other is the last.
    let mut second = Key::synced();
    let p2 = register(&s, &cookie, &mut second).await;
    assert_eq!(p2.status, 201, "{}", p2.body);
    assert_eq!(
        s.call(Method::DELETE, &path(&p1), Some(&cookie), None)
            .await
            .status,
        204
    );
    s.call(Method::DELETE, &path(&p2), Some(&cookie), None)
        .await
        .assert_error(400, "general_bad_request");
    // The remaining passkey signs the anonymous account in.
    let t = sign_in(&s, &mut second).await;
    assert_eq!(session_of(&s, &t).await.status, 201);
}

#[tokio::test]
async fn a_passkey_sign_in_satisfies_mfa_and_a_password_alone_does_not() {
    let s = server().await;
    let (uid, email, password, cookie) = signed_in(&s).await;
    let mut key = Key::synced();
    assert_eq!(register(&s, &cookie, &mut key).await.status, 201);
    s.verify_email(&cookie, &uid, &email).await;
    s.enable_mfa(&cookie).await;
    let (pw, _) = s.login(&email, &password).await;
    s.get("/account", Some(&pw))
        .await
        .assert_error(401, "user_more_factors_required");
    let t = sign_in(&s, &mut key).await;
    let session = session_of(&s, &t).await;
    assert_eq!(session.status, 201, "{}", session.body);
    let pk = session.session_cookie().unwrap();
    assert_eq!(s.get("/account", Some(&pk)).await.status, 200);
}

#[tokio::test]
async fn changes_need_a_recent_sign_in_and_a_user_has_at_most_twenty() {
    let s = fixed_server().await;
    let clock = s.clock.clone().unwrap();
    let (_, _, _, cookie) = signed_in(&s).await;
    let mut key = Key::synced();
    let p = register(&s, &cookie, &mut key).await;
    assert_eq!(p.status, 201, "{}", p.body);
    clock.advance_secs(15 * 60 + 1);
    begin_registration(&s, &cookie)
        .await
        .assert_error(401, "user_challenge_required");
    let path = format!("/account/passkeys/{}", p.json["$id"].as_str().unwrap());
    s.call(Method::DELETE, &path, Some(&cookie), None)
        .await
        .assert_error(401, "user_challenge_required");
    // Listing and renaming need no recent sign-in.
    assert_eq!(list(&s, &cookie).await["total"], 1);

    let (_, _, _, cookie) = signed_in(&s).await;
    for _ in 0..20 {
        let mut k = Key::synced();
        assert_eq!(register(&s, &cookie, &mut k).await.status, 201);
    }
    begin_registration(&s, &cookie)
        .await
        .assert_error(400, "general_argument_invalid");
}

#[tokio::test]
async fn a_jwt_cannot_add_or_remove_passkeys_and_the_method_can_be_turned_off() {
    let s = server().await;
    let (_, _, _, cookie) = signed_in(&s).await;
    let mut key = Key::synced();
    let p = register(&s, &cookie, &mut key).await;
    assert_eq!(p.status, 201, "{}", p.body);
    let jwt = s
        .call(
            Method::POST,
            "/account/jwts",
            Some(&cookie),
            Some(json!({})),
        )
        .await;
    assert_eq!(jwt.status, 201, "{}", jwt.body);
    let with_jwt = |method: Method, path: &str| {
        s.req(method, path)
            .header("X-Appwrite-JWT", jwt.json["jwt"].as_str().unwrap())
            .json(&json!({"name": "Renamed"}))
            .send()
    };
    let r = Reply::read(
        with_jwt(Method::POST, "/account/passkeys/registration")
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "user_challenge_required");
    let path = format!("/account/passkeys/{}", p.json["$id"].as_str().unwrap());
    let r = Reply::read(with_jwt(Method::DELETE, &path).await.unwrap()).await;
    r.assert_error(401, "user_challenge_required");
    // Reading and renaming are fine with a JWT.
    let r = Reply::read(with_jwt(Method::GET, "/account/passkeys").await.unwrap()).await;
    assert_eq!(r.json["total"], 1, "{}", r.body);
    let r = Reply::read(with_jwt(Method::PATCH, &path).await.unwrap()).await;
    assert_eq!(r.json["name"], "Renamed", "{}", r.body);

    // AUTH_METHODS_DISABLED=passkey: no sign-in ceremony, no registration.
    let off = Server::with_config(|c| {
        passkey_config(c);
        c.auth_methods_disabled = vec![account_core::config::AuthMethod::Passkey];
    })
    .await;
    off.call(
        Method::POST,
        "/account/tokens/passkey",
        None,
        Some(json!({})),
    )
    .await
    .assert_error(501, "user_auth_method_unsupported");
    let (_, _, _, cookie) = signed_in(&off).await;
    begin_registration(&off, &cookie)
        .await
        .assert_error(501, "user_auth_method_unsupported");
}

#[tokio::test]
async fn an_answer_naming_another_user_or_an_unknown_passkey_is_refused_alike() {
    let s = server().await;
    let (_, _, _, alice) = signed_in(&s).await;
    let mut key = Key::synced();
    assert_eq!(register(&s, &alice, &mut key).await.status, 201);
    // The user handle is not signed: an answer that names someone else is refused.
    let c = begin_sign_in(&s).await;
    let mut a = key.get(&c.json["options"], ORIGIN).await.unwrap();
    a["response"]["userHandle"] = json!(B64.encode([7u8; 16]));
    let wrong = answer_sign_in(&s, &c.json["$id"], &a).await;
    wrong.assert_error(401, "user_invalid_credentials");
    // An unknown credential gets the same answer.
    let c = begin_sign_in(&s).await;
    let mut stranger = Key::synced();
    let (_, _, _, bob) = signed_in(&s).await;
    assert_eq!(register(&s, &bob, &mut stranger).await.status, 201);
    let mut a = stranger.get(&c.json["options"], ORIGIN).await.unwrap();
    a["rawId"] = json!(B64.encode([9u8; 32]));
    a["id"] = a["rawId"].clone();
    let unknown = answer_sign_in(&s, &c.json["$id"], &a).await;
    unknown.assert_error(401, "user_invalid_credentials");
    assert_eq!(wrong.json["message"], unknown.json["message"]);
}

#[tokio::test]
async fn the_official_sdks_routes_and_models() {
    // Appwrite's SDKs (Python 27: `create_passkey`, `update_passkey_verification`,
    // `get_passkey`, `create_passkey_token`, `update_passkey_token`) name the passkey, not the
    // ceremony, and read `publicKey` and `accessedAt`.
    let s = server().await;
    let (_, _, _, cookie) = signed_in(&s).await;
    let c = s
        .call(
            Method::POST,
            "/account/passkeys",
            Some(&cookie),
            Some(json!({"passkeyId": "laptop-1", "name": "Laptop"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    assert_eq!(c.json["passkeyId"], "laptop-1");
    assert_eq!(c.json["publicKey"], c.json["options"]["publicKey"]);
    let mut key = Key::synced();
    let cred = key
        .create(&json!({"publicKey": c.json["publicKey"]}), ORIGIN)
        .await
        .unwrap();
    // Another passkey ID does not name this ceremony.
    s.call(
        Method::PUT,
        "/account/passkeys/other/verification",
        Some(&cookie),
        Some(json!({"credential": cred})),
    )
    .await
    .assert_error(401, "user_invalid_token");
    let p = s
        .call(
            Method::PUT,
            "/account/passkeys/laptop-1/verification",
            Some(&cookie),
            Some(json!({"credential": cred})),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    assert_eq!(
        (&p.json["$id"], &p.json["name"]),
        (&json!("laptop-1"), &json!("Laptop"))
    );
    assert_eq!(p.json["accessedAt"], p.json["$createdAt"]);
    let g = s.get("/account/passkeys/laptop-1", Some(&cookie)).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.json["$id"], "laptop-1");
    s.get("/account/passkeys/nope", Some(&cookie))
        .await
        .assert_error(404, "user_authenticator_not_found");
    // The same custom ID again: taken.
    let again = s
        .call(
            Method::POST,
            "/account/passkeys",
            Some(&cookie),
            Some(json!({"passkeyId": "laptop-1"})),
        )
        .await;
    let mut other = Key::synced();
    let cred = other
        .create(&json!({"publicKey": again.json["publicKey"]}), ORIGIN)
        .await
        .unwrap();
    s.call(
        Method::PUT,
        "/account/passkeys/laptop-1/verification",
        Some(&cookie),
        Some(json!({"credential": cred})),
    )
    .await
    .assert_error(409, "user_already_exists");
    s.call(
        Method::POST,
        "/account/passkeys",
        Some(&cookie),
        Some(json!({"passkeyId": "-bad"})),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    // Sign-in reads `publicKey` at the top level too; the token is the SDK's `TokenSecret`.
    let c = begin_sign_in(&s).await;
    assert_eq!(c.json["passkeyId"], "");
    let a = key
        .get(&json!({"publicKey": c.json["publicKey"]}), ORIGIN)
        .await
        .unwrap();
    let t = answer_sign_in(&s, &c.json["$id"], &a).await;
    assert_eq!(t.status, 201, "{}", t.body);
    for field in ["$id", "$createdAt", "userId", "secret", "expire", "phrase"] {
        assert!(t.json[field].is_string(), "{field}: {}", t.body);
    }
    let after = s.get("/account/passkeys/laptop-1", Some(&cookie)).await;
    assert_ne!(after.json["accessedAt"], after.json["$createdAt"]);
}
