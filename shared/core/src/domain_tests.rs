//! The domain on the in-memory store with a fixed clock: sign-up, logins, one-time codes, links
//! and MFA challenges, including their races and expiry edges. No emulator and no HTTP
//! (`cargo test -p account-core`); the same flows run over HTTP against moto in `tests/`.

use crate::error::{ErrorType, Result};
use crate::item::UserItem;
use crate::mfa::{self, Factor};
use crate::store::{Accounts, Sessions};
use crate::testkit::World;
use crate::token::{self, EmailLogin, Kind};
use crate::{account, session};

const PASSWORD: &str = "correct horse battery";

fn kind<T>(r: &Result<T>) -> Option<ErrorType> {
    r.as_ref().err().map(|e| e.kind)
}

/// Nothing half-written: every invariant of the table holds (`store::invariants`).
fn consistent(w: &World) {
    let items = w.store.items();
    assert!(
        items.iter().any(|i| i["SK"] == "PROFILE"),
        "items carry their keys"
    );
    let broken = crate::store::invariants::check(&items, false);
    assert!(broken.is_empty(), "{broken:#?}");
}

async fn sign_up(w: &World, email: &str) -> UserItem {
    account::sign_up(
        &w.cx(),
        account::SignUp {
            user_id: "unique()",
            email,
            password: PASSWORD,
            name: "",
        },
    )
    .await
    .expect("sign-up")
}

async fn email_otp(w: &World, email: &str) -> token::Issued {
    token::create_email_login(
        &w.cx(),
        EmailLogin {
            kind: Kind::EmailOtp,
            requested_uid: "unique()",
            email,
            url: None,
            phrase: false,
            locale: "en",
        },
    )
    .await
    .expect("email token")
}

#[tokio::test]
async fn parallel_sign_ups_with_one_email_make_one_user() {
    let w = World::new();
    let cx = w.cx();
    let tries = (0..20).map(|i| {
        let id = format!("racer{i}");
        let cx = &cx;
        async move {
            account::sign_up(
                cx,
                account::SignUp {
                    user_id: &id,
                    email: "race@example.com",
                    password: PASSWORD,
                    name: "",
                },
            )
            .await
        }
    });
    let results = futures_util::future::join_all(tries).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1);
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| kind(r) == Some(ErrorType::UserAlreadyExists)));
    // The profile and its email claim, nothing of the losers.
    assert_eq!(w.store.len(), 2);
    consistent(&w);
}

#[tokio::test]
async fn password_login_counts_failures_and_locks() {
    let w = World::new();
    sign_up(&w, "lock@example.com").await;
    let cx = w.cx();
    let ok = session::create_email_password(&cx, "lock@example.com", PASSWORD).await;
    assert!(ok.is_ok());
    let threshold = w.app.config.lockout.threshold;
    for _ in 0..threshold {
        let r = session::create_email_password(&cx, "lock@example.com", "wrong password").await;
        assert_eq!(kind(&r), Some(ErrorType::UserInvalidCredentials));
    }
    // Locked: even the right password is refused until the lockout passes.
    let r = session::create_email_password(&cx, "lock@example.com", PASSWORD).await;
    assert_eq!(kind(&r), Some(ErrorType::UserInvalidCredentials));
    w.clock.advance_secs(w.app.config.lockout.max_secs + 1);
    let r = session::create_email_password(&w.cx(), "lock@example.com", PASSWORD).await;
    assert!(r.is_ok(), "{:?}", r.err());
    // An unknown email fails the same way and leaves nothing behind.
    let before = w.store.len();
    let r = session::create_email_password(&w.cx(), "ghost@example.com", PASSWORD).await;
    assert_eq!(kind(&r), Some(ErrorType::UserInvalidCredentials));
    assert_eq!(w.store.len(), before);
    consistent(&w);
}

#[tokio::test]
async fn a_code_is_guessed_at_most_five_times_an_hour() {
    let w = World::new();
    let issued = email_otp(&w, "otp@example.com").await;
    let uid = issued.token.uid.clone();
    let code = w.sent.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // Twenty wrong guesses in parallel: each is refused, and the hour's budget is spent.
    let cx = w.cx();
    let guesses = (0..20).map(|_| token::create_session(&cx, &uid, wrong));
    for r in futures_util::future::join_all(guesses).await {
        assert!(r.is_err());
    }
    // Exactly the budget was admitted (the twin yields at every store call, so the twenty
    // really raced): "at most five" fails at six.
    let now = crate::clock::Clock::now_ms(w.clock.as_ref()) / 1000;
    let guard = w
        .store
        .item(
            &crate::item::user_pk(&uid),
            &format!("TOKENGUARD#login-code#{}", now - now % 3600),
        )
        .expect("the hour's guard");
    assert_eq!(
        guard["attempts"],
        serde_json::json!(token::CODE_ATTEMPTS_PER_HOUR)
    );
    // The right code no longer works this hour…
    let r = token::create_session(&cx, &uid, &code).await;
    assert!(r.is_err(), "budget spent");
    // …and a new code (a new token) does not refill the budget.
    email_otp(&w, "otp@example.com").await;
    let fresh = w.sent.last_code();
    assert!(token::create_session(&w.cx(), &uid, &fresh).await.is_err());
    // The next hour, a fresh code works once.
    w.clock.advance_secs(3600);
    email_otp(&w, "otp@example.com").await;
    let next = w.sent.last_code();
    let s = token::create_session(&w.cx(), &uid, &next).await;
    assert!(s.is_ok(), "{:?}", s.err());
    assert!(
        token::create_session(&w.cx(), &uid, &next).await.is_err(),
        "single use"
    );
    consistent(&w);
}

#[tokio::test]
async fn parallel_redemptions_of_one_code_make_one_session() {
    let w = World::new();
    let issued = email_otp(&w, "once@example.com").await;
    let uid = issued.token.uid.clone();
    let code = w.sent.last_code();
    let cx = w.cx();
    let tries = (0..5).map(|_| token::create_session(&cx, &uid, &code));
    let ok = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
    assert_eq!(ok, 1);
    assert_eq!(w.store.session_index(&uid).await.unwrap().len(), 1);
    consistent(&w);
}

#[tokio::test]
async fn an_expired_link_is_refused_while_still_stored() {
    let w = World::new();
    let url = url::Url::parse("https://localhost/done").unwrap();
    let issued = token::create_email_login(
        &w.cx(),
        EmailLogin {
            kind: Kind::MagicUrl,
            requested_uid: "unique()",
            email: "late@example.com",
            url: Some(&url),
            phrase: false,
            locale: "en",
        },
    )
    .await
    .unwrap();
    let link = w.sent.last_email();
    let secret = link
        .split(['?', '&', ' ', '\n'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret in the link")
        .to_owned();
    w.clock.advance_secs(Kind::MagicUrl.lifetime_secs());
    // DynamoDB's TTL has not run (nor has the twin's): the item is there, and still refused.
    let before = w.store.len();
    let r = token::create_session(&w.cx(), &issued.token.uid, &secret).await;
    assert_eq!(kind(&r), Some(ErrorType::UserInvalidToken));
    assert_eq!(w.store.len(), before);
    assert!(
        w.store.run_ttl().unwrap() >= 1,
        "the sweeper removes it later"
    );
}

#[tokio::test]
async fn an_email_change_revokes_the_code_sent_to_the_old_address() {
    let w = World::new();
    let user = sign_up(&w, "old@example.com").await;
    email_otp(&w, "old@example.com").await;
    let code = w.sent.last_code();
    account::update_email(&w.cx(), &user, "new@example.com", PASSWORD)
        .await
        .unwrap();
    let r = token::create_session(&w.cx(), &user.id, &code).await;
    assert_eq!(kind(&r), Some(ErrorType::UserInvalidToken));
    assert!(w
        .store
        .get_email("old@example.com")
        .await
        .unwrap()
        .is_none());
    consistent(&w);
}

#[tokio::test]
async fn a_challenge_burns_after_three_wrong_codes() {
    let w = World::new();
    let user = sign_up(&w, "mfa@example.com").await;
    // Email challenges go to verified addresses only.
    let mut verified = user.clone();
    verified.email_verification = true;
    w.store.update_user(&user, &verified).await.unwrap();
    let new = session::create_email_password(&w.cx(), "mfa@example.com", PASSWORD)
        .await
        .unwrap();
    let (user, _) = w.store.get_user_with_all_sessions(&user.id).await.unwrap();
    let user = user.unwrap();
    let c = mfa::create_challenge(&w.cx(), &user, Factor::Email)
        .await
        .unwrap();
    let code = w.sent.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        let r = mfa::complete_challenge(&w.cx(), &user, &new.item, &c.id, wrong).await;
        assert_eq!(kind(&r), Some(ErrorType::UserInvalidToken));
    }
    let r = mfa::complete_challenge(&w.cx(), &user, &new.item, &c.id, &code).await;
    assert_eq!(kind(&r), Some(ErrorType::UserInvalidToken), "burnt");
    // A new challenge with its right code adds the factor to the session.
    let c = mfa::create_challenge(&w.cx(), &user, Factor::Email)
        .await
        .unwrap();
    let code = w.sent.last_code();
    let s = mfa::complete_challenge(&w.cx(), &user, &new.item, &c.id, &code)
        .await
        .unwrap();
    assert!(s.factors.iter().any(|f| f == "email"), "{:?}", s.factors);
    consistent(&w);
}

#[tokio::test]
async fn a_key_rotation_keeps_authenticators_codes_tokens_and_jwts() {
    use crate::keyring::Keyring;
    const OLD: &str = "k1:old-secret-old-secret-old-secret-old!";
    const NEW: &str = "k2:new-secret-new-secret-new-secret-new!";
    let ring = |s: &str| Keyring::parse(s).expect("ring");
    let mut w = World::with(|c| c.keys = ring(OLD));
    let user = sign_up(&w, "rotate@example.com").await;
    // A verified address, so the code login below is not an ownership proof (which would clear
    // the authenticator and the recovery codes).
    let mut verified = user.clone();
    verified.email_verification = true;
    w.store.update_user(&user, &verified).await.unwrap();
    let user = verified;
    let new = session::create_email_password(&w.cx(), "rotate@example.com", PASSWORD)
        .await
        .unwrap();
    let reload = |w: &World| {
        let store = w.store.clone();
        let id = user.id.clone();
        async move {
            store
                .get_user_with_all_sessions(&id)
                .await
                .unwrap()
                .0
                .unwrap()
        }
    };
    // Sealed, hashed and signed under the old key.
    let (totp_secret, _) = mfa::create_authenticator(&w.cx(), &user).await.unwrap();
    let totp_now = |w: &World| {
        totp_rs::Builder::new()
            .with_secret(totp_rs::Secret::try_from_base32(&totp_secret).unwrap())
            .with_skew(0)
            .build()
            .unwrap()
            .generate(u64::try_from(w.now() / 1000).unwrap())
            .to_string()
    };
    let codes = mfa::generate_recovery_codes(&w.cx(), &reload(&w).await, false)
        .await
        .unwrap();
    let issued = email_otp(&w, "rotate@example.com").await;
    let code = w.sent.last_code();
    let jwt = crate::jwt::issue(&w.app.config.keys, &user.id, &new.item.id, 900, w.now()).unwrap();

    std::sync::Arc::make_mut(&mut w.app.config).keys = ring(&format!("{NEW},{OLD}"));
    let totp = totp_now(&w);
    mfa::verify_authenticator(&w.cx(), &reload(&w).await, &new.item, &totp)
        .await
        .expect("the authenticator outlives the rotation");
    assert_eq!(
        mfa::recovery_codes(&w.cx(), &reload(&w).await).unwrap(),
        codes
    );
    assert!(crate::jwt::verify(&w.app.config.keys, &jwt, w.now()).is_ok());
    token::create_session(&w.cx(), &issued.token.uid, &code)
        .await
        .expect("an outstanding code outlives the rotation");
    // New values are made under the new key.
    let fresh =
        crate::jwt::issue(&w.app.config.keys, &user.id, &new.item.id, 900, w.now()).unwrap();
    let header = jsonwebtoken::decode_header(&fresh).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k2"));

    // Using a TOTP code or a recovery code re-seals what it opened under the new key.
    let profile = reload(&w).await;
    let sealed = &profile.totp.as_ref().unwrap().secret_sealed;
    assert!(sealed.starts_with("k2."), "TOTP key re-sealed: {sealed}");
    let c = mfa::create_challenge(&w.cx(), &profile, Factor::RecoveryCode)
        .await
        .unwrap();
    mfa::complete_challenge(&w.cx(), &profile, &new.item, &c.id, &codes[0])
        .await
        .expect("a recovery code made under the old key");
    assert!(reload(&w)
        .await
        .recovery_codes
        .is_some_and(|c| c.starts_with("k2.")));

    // Retiring the old key ends what it made and nobody used: the JWT. The authenticator and
    // the remaining recovery codes were re-sealed, so they survive.
    std::sync::Arc::make_mut(&mut w.app.config).keys = ring(NEW);
    assert!(crate::jwt::verify(&w.app.config.keys, &jwt, w.now()).is_err());
    assert!(crate::jwt::verify(&w.app.config.keys, &fresh, w.now()).is_ok());
    assert_eq!(
        mfa::recovery_codes(&w.cx(), &reload(&w).await).unwrap(),
        codes[1..]
    );
    w.clock.advance_secs(30);
    let profile = reload(&w).await;
    let c = mfa::create_challenge(&w.cx(), &profile, Factor::Totp)
        .await
        .unwrap();
    let totp = totp_now(&w);
    mfa::complete_challenge(&w.cx(), &profile, &new.item, &c.id, &totp)
        .await
        .expect("the authenticator outlives the old key's retirement");
    consistent(&w);
}

/// A verification request that read the profile just before an email change (here: handed
/// the profile as it was) is decided again on the stored profile: the link goes to the new
/// address, not to the old one, and not as a server error.
#[tokio::test]
async fn a_verification_racing_an_email_change_goes_to_the_new_address() {
    let w = World::new();
    let before = sign_up(&w, "before@example.com").await;
    account::update_email(&w.cx(), &before, "after@example.com", PASSWORD)
        .await
        .unwrap();
    let url = url::Url::parse("http://localhost/verify").unwrap();
    let issued = token::create_email_verification(&w.cx(), &before, &url)
        .await
        .unwrap();
    assert_eq!(issued.token.target, "after@example.com");
    assert!(w.sent.last_email().contains(&issued.secret));
    consistent(&w);
}

/// A recovery request whose link would predate a password change committed meanwhile (here:
/// a change stamped after the request's clock, as another function's clock may be a little
/// ahead) is re-read and stamped after the change, so the link is stored, and works, instead
/// of failing. A change stamped further ahead than a second is not followed (the link's
/// lifetime would stretch by the skew): that request answers the contended 500.
#[tokio::test]
async fn a_recovery_racing_a_password_change_is_stamped_after_it() {
    let w = World::new();
    let user = sign_up(&w, "racer@example.com").await;
    let url = url::Url::parse("http://localhost/recover").unwrap();
    let change = |user: &UserItem, at: i64| {
        let mut changed = user.clone();
        changed.password_update = Some(at);
        changed.updated = at;
        changed
    };
    let changed_at = w.now() + 500;
    let changed = change(&user, changed_at);
    w.store.update_user(&user, &changed).await.unwrap().unwrap();
    let issued = token::create_recovery(&w.cx(), "racer@example.com", &url)
        .await
        .unwrap();
    assert!(
        issued.token.created >= changed_at,
        "{}",
        issued.token.created
    );
    consistent(&w);

    let far = change(&changed, w.now() + 5_000);
    w.store.update_user(&changed, &far).await.unwrap().unwrap();
    let r = token::create_recovery(&w.cx(), "racer@example.com", &url).await;
    assert_eq!(kind(&r), Some(ErrorType::ServerError));
    consistent(&w);
}

/// An account carrying a hash from elsewhere (here Appwrite's MD5 test user, "appwrite"), as an
/// import writes it: profile and email-claim copy.
async fn imported(w: &World, email: &str, hash: &str) -> UserItem {
    let mut user = sign_up(w, email).await;
    let mut after = user.clone();
    after.password = Some(hash.to_owned());
    let claims = crate::store::Claims {
        email_password: Some((email.to_owned(), Some(hash.to_owned()))),
        ..Default::default()
    };
    w.store
        .update_user_atomically(&user, &after, &claims, &[], &[])
        .await
        .unwrap();
    user.password = after.password;
    user
}

async fn stored_hashes(w: &World, uid: &str, email: &str) -> (String, String) {
    let (user, _) = w.store.get_user_and_sessions(uid, &[]).await.unwrap();
    let claim = w.store.get_email(email).await.unwrap().unwrap();
    (
        user.unwrap().password.unwrap(),
        claim.password.unwrap_or_default(),
    )
}

const MD5_APPWRITE: &str = "$md5$144fa7eaa4904e8ee120651997f70dcc";

#[tokio::test]
async fn an_imported_hash_becomes_argon2id_at_the_first_login() {
    let w = World::new();
    let user = imported(&w, "md5@example.com", MD5_APPWRITE).await;
    let r = session::create_email_password(&w.cx(), "md5@example.com", "wrong").await;
    assert_eq!(kind(&r), Some(ErrorType::UserInvalidCredentials));
    assert_eq!(
        stored_hashes(&w, &user.id, "md5@example.com").await,
        (MD5_APPWRITE.to_owned(), MD5_APPWRITE.to_owned()),
        "a failed login upgrades nothing"
    );
    session::create_email_password(&w.cx(), "md5@example.com", "appwrite")
        .await
        .expect("the imported password signs in");
    let (profile, claim) = stored_hashes(&w, &user.id, "md5@example.com").await;
    assert!(crate::crypto::is_current(&profile), "{profile}");
    assert_eq!(profile, claim, "the login reads the claim's copy");
    session::create_email_password(&w.cx(), "md5@example.com", "appwrite")
        .await
        .expect("and again, on the new hash");
    assert_eq!(
        stored_hashes(&w, &user.id, "md5@example.com").await.0,
        profile,
        "a current hash is left alone"
    );
    consistent(&w);
}

#[tokio::test]
async fn an_upgrade_never_undoes_a_password_change() {
    let w = World::new();
    let user = imported(&w, "race@example.com", MD5_APPWRITE).await;
    // The password changed between the check and the upgrade: nothing is written.
    let changed = crate::crypto::hash_password("new password 1", w.app.entropy.as_ref()).unwrap();
    let mut after = user.clone();
    after.password = Some(changed.clone());
    let claims = crate::store::Claims {
        email_password: Some(("race@example.com".into(), Some(changed.clone()))),
        ..Default::default()
    };
    w.store
        .update_user_atomically(&user, &after, &claims, &[], &[])
        .await
        .unwrap();
    assert!(!account::upgrade_hash(&w.app, &user.id, "appwrite", MD5_APPWRITE).await);
    assert_eq!(
        stored_hashes(&w, &user.id, "race@example.com").await,
        (changed.clone(), changed)
    );
    // A current hash is never rewritten.
    let current = stored_hashes(&w, &user.id, "race@example.com").await.0;
    assert!(!account::upgrade_hash(&w.app, &user.id, "new password 1", &current).await);
}

#[tokio::test]
async fn an_email_change_confirmed_with_an_imported_password_upgrades_it() {
    let w = World::new();
    let user = imported(&w, "from@example.com", MD5_APPWRITE).await;
    let changed = account::update_email(&w.cx(), &user, "to@example.com", "appwrite")
        .await
        .expect("the imported password confirms the change");
    let (profile, claim) = stored_hashes(&w, &changed.id, "to@example.com").await;
    assert!(crate::crypto::is_current(&profile), "{profile}");
    assert_eq!(profile, claim);
    consistent(&w);
}
