//! The storage conformance suite: one set of checks, run against `MemoryStore` by
//! `cargo test -p account-core` and against `DynamoStore` (over moto) by
//! `tests/tests/conformance.rs`. Each check states a behaviour the domain relies on: conditions,
//! transactions that fail as a whole, budgets that hold under parallel calls.
//!
//! Every check uses IDs under its own `run` prefix, so the suite can share a table with other
//! tests; [`user_limit`] needs a store of its own (the project's user counter is global).

// Test code: a panic, with the check's message, is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{
    Claims, Conflict, Expect, IdentityWrite, OAuthSignIn, Redemption, Storage, WriteError,
};
use crate::clock::Millis;
use crate::item::{
    self, ChallengeItem, EmailItem, IdentityItem, LogItem, PhoneItem, SessionItem, TokenItem,
    UserItem,
};
use crate::keys::{self, KeyItem};

/// Run every check (except [`user_limit`]) with IDs under `run`, at time `now`.
pub async fn run<S: Storage + ?Sized>(store: &S, run: &str, now: Millis) {
    let ctx = Ctx { run, now };
    create_user_claims_and_conflicts(store, &ctx).await;
    sessions_require_an_active_user(store, &ctx).await;
    login_attempts_are_reserved(store, &ctx).await;
    profile_updates(store, &ctx).await;
    atomic_updates_fail_as_a_whole(store, &ctx).await;
    sessions_index_extend_delete(store, &ctx).await;
    challenge_consumed_with_profile_and_session(store, &ctx).await;
    tokens_issue_replace_redeem(store, &ctx).await;
    budgets_hold_in_parallel(store, &ctx).await;
    challenges_burn(store, &ctx).await;
    withdraw_new_user(store, &ctx).await;
    counters(store, &ctx).await;
    api_keys(store, &ctx).await;
    templates(store, &ctx).await;
    imports(store, &ctx).await;
    logs_newest_first(store, &ctx).await;
    identities(store, &ctx).await;
    identity_emails(store, &ctx).await;
    proof_deletes_identities(store, &ctx).await;
    identity_issuers(store, &ctx).await;
    passkeys(store, &ctx).await;
}

struct Ctx<'a> {
    run: &'a str,
    now: Millis,
}

impl Ctx<'_> {
    fn id(&self, name: &str) -> String {
        format!("{}{name}", self.run)
    }
    fn email(&self, name: &str) -> String {
        format!("{}{name}@example.com", self.run.to_lowercase())
    }
}

fn conflict(r: Result<(), WriteError>) -> Option<Conflict> {
    match r {
        Ok(()) => None,
        Err(WriteError::Conflict(c)) => Some(c),
        Err(WriteError::Other(e)) => panic!("unexpected store error: {e:?}"),
    }
}

/// A password session of `uid`, for tests of the store.
pub fn session(uid: &str, sid: &str, created: Millis, expire: Millis) -> SessionItem {
    SessionItem {
        pk: item::user_pk(uid),
        sk: item::session_sk(sid),
        id: sid.into(),
        uid: uid.into(),
        created,
        updated: created,
        expire,
        expires_at: expire / 1000,
        secret_hash: format!("hash-{sid}"),
        provider: "email".into(),
        provider_uid: String::new(),
        provider_access_token: String::new(),
        provider_refresh_token: String::new(),
        provider_access_token_expiry: None,
        ip: "127.0.0.1".into(),
        device: Default::default(),
        country_code: "--".into(),
        country_name: "Unknown".into(),
        factors: vec!["password".into()],
        mfa_updated_at: None,
    }
}

fn token(uid: &str, kind: &str, hash: &str, target: &str, now: Millis, ttl: Millis) -> TokenItem {
    TokenItem {
        pk: item::user_pk(uid),
        sk: item::token_sk(kind),
        id: format!("t-{hash}"),
        uid: uid.into(),
        kind: kind.into(),
        secret_hash: hash.into(),
        target: target.into(),
        created: now,
        expire: now + ttl,
        expires_at: (now + ttl) / 1000,
        phrase: String::new(),
    }
}

fn challenge(uid: &str, id: &str, now: Millis, ttl: Millis) -> ChallengeItem {
    ChallengeItem {
        pk: item::user_pk(uid),
        sk: item::challenge_sk(id),
        id: id.into(),
        uid: uid.into(),
        factor: "email".into(),
        code_hash: "h".into(),
        attempts: 0,
        created: now,
        expire: now + ttl,
        expires_at: (now + ttl) / 1000,
    }
}

/// A user with an email claim (carrying `password`), created through the store.
async fn new_user<S: Storage + ?Sized>(
    store: &S,
    ctx: &Ctx<'_>,
    name: &str,
    password: Option<&str>,
) -> UserItem {
    let mut u = UserItem::new(&ctx.id(name), ctx.now);
    let email = ctx.email(name);
    u.email = Some(email.clone());
    u.password = password.map(str::to_owned);
    let claim = EmailItem::new(&email, &u.id, u.password.clone());
    assert_eq!(
        conflict(store.create_user(&u, Some(&claim), None, None).await),
        None,
        "create {name}"
    );
    u
}

async fn create_user_claims_and_conflicts<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "c1", Some("phc")).await;
    let email = u.email.clone().unwrap();
    let (got, sessions) = store.get_user_and_sessions(&u.id, &["nope"]).await.unwrap();
    assert_eq!(got.as_ref(), Some(&u), "profile round-trips");
    assert!(sessions.is_empty());
    let claim = store.get_email(&email).await.unwrap().unwrap();
    assert_eq!(
        (claim.uid.as_str(), claim.password.as_deref()),
        (u.id.as_str(), Some("phc"))
    );

    // The same ID again: refused as `User`, and the other email is not claimed.
    let mut again = UserItem::new(&u.id, ctx.now);
    let other = ctx.email("c1-other");
    again.email = Some(other.clone());
    let r = store
        .create_user(
            &again,
            Some(&EmailItem::new(&other, &u.id, None)),
            None,
            None,
        )
        .await;
    assert_eq!(conflict(r), Some(Conflict::User));
    assert!(
        store.get_email(&other).await.unwrap().is_none(),
        "all or nothing"
    );

    // Another user with the taken email: refused as `Email`, and no profile is written.
    let v = UserItem::new(&ctx.id("c2"), ctx.now);
    let phone = format!("+1555{:07}", ctx.now % 10_000_000);
    let r = store
        .create_user(
            &v,
            Some(&EmailItem::new(&email, &v.id, None)),
            Some(&PhoneItem::new(&phone, &v.id)),
            None,
        )
        .await;
    assert_eq!(conflict(r), Some(Conflict::Email));
    assert!(store
        .get_user_and_sessions(&v.id, &[])
        .await
        .unwrap()
        .0
        .is_none());
    assert!(
        store.get_phone(&phone).await.unwrap().is_none(),
        "all or nothing"
    );

    // With a first session, read back by ID (duplicates in the request are harmless).
    let w = UserItem::new(&ctx.id("c3"), ctx.now);
    let s = session(&w.id, "s1", ctx.now, ctx.now + 60_000);
    assert_eq!(
        conflict(
            store
                .create_user(&w, None, Some(&PhoneItem::new(&phone, &w.id)), Some(&s))
                .await
        ),
        None
    );
    let (got, sessions) = store
        .get_user_and_sessions(&w.id, &["s1", "s1", "missing"])
        .await
        .unwrap();
    assert!(got.is_some());
    assert_eq!(sessions, vec![s]);
    assert_eq!(store.get_phone(&phone).await.unwrap().unwrap().uid, w.id);
}

async fn sessions_require_an_active_user<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "a1", Some("phc-1")).await;
    let email = u.email.clone().unwrap();
    let t = ctx.now + 5;
    let s = session(&u.id, "sa", t, t + 60_000);

    // A password that changed since it was verified: refused, nothing written.
    let r = store
        .create_session_for_active_user(&s, None, Some("phc-old"))
        .await;
    assert_eq!(conflict(r), Some(Conflict::ProfileCondition));
    assert!(store.session_index(&u.id).await.unwrap().is_empty());

    // The lockout counter is cleared by a successful login in the same transaction.
    assert!(store
        .reserve_login_attempt(&email, 10, 0, ctx.now)
        .await
        .unwrap());
    assert_eq!(store.get_email(&email).await.unwrap().unwrap().failures, 1);
    let r = store
        .create_session_for_active_user(&s, Some(&email), Some("phc-1"))
        .await;
    assert_eq!(conflict(r), None);
    let claim = store.get_email(&email).await.unwrap().unwrap();
    assert_eq!((claim.failures, claim.last_failure), (0, None));
    let (got, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    assert_eq!(got.unwrap().accessed, t, "a session write sets `accessed`");

    // The same session ID again is refused (`User`).
    let r = store.create_session_for_active_user(&s, None, None).await;
    assert_eq!(conflict(r), Some(Conflict::User));

    // A blocked user gets no session.
    let mut blocked = store
        .get_user_and_sessions(&u.id, &[])
        .await
        .unwrap()
        .0
        .unwrap();
    let before = blocked.clone();
    blocked.status = false;
    store.update_user(&before, &blocked).await.unwrap().unwrap();
    let s2 = session(&u.id, "sb", t, t + 60_000);
    let r = store.create_session_for_active_user(&s2, None, None).await;
    assert_eq!(conflict(r), Some(Conflict::ProfileCondition));

    // No profile at all: refused too.
    let s3 = session(&ctx.id("ghost"), "sc", t, t + 60_000);
    let r = store.create_session_for_active_user(&s3, None, None).await;
    assert_eq!(conflict(r), Some(Conflict::ProfileCondition));
    assert!(store
        .session_index(&ctx.id("ghost"))
        .await
        .unwrap()
        .is_empty());
}

async fn login_attempts_are_reserved<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "l1", Some("phc")).await;
    let email = u.email.clone().unwrap();
    let now = ctx.now;
    // Twenty guesses in parallel, threshold 5: exactly 5 are admitted.
    let tries = (0..20).map(|_| store.reserve_login_attempt(&email, 5, now - 60_000, now));
    let admitted = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(admitted, 5, "parallel login attempts beyond the threshold");
    let claim = store.get_email(&email).await.unwrap().unwrap();
    assert_eq!((claim.failures, claim.last_failure), (5, Some(now)));
    // Once the last failure is older than the cutoff, one more is admitted.
    assert!(store
        .reserve_login_attempt(&email, 5, now, now + 1)
        .await
        .unwrap());
    // An unknown email is refused and leaves no item behind.
    let ghost = ctx.email("l-ghost");
    assert!(!store
        .reserve_login_attempt(&ghost, 5, 0, now)
        .await
        .unwrap());
    assert!(store.get_email(&ghost).await.unwrap().is_none());
}

async fn profile_updates<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "p1", None).await;
    let mut n = u.clone();
    n.name = "Ada".into();
    n.prefs = r#"{"a":[1,{"b":null}]}"#.into();
    n.labels = vec!["x".into()];
    n.updated = u.updated + 10;
    let stored = store.update_user(&u, &n).await.unwrap().unwrap();
    assert_eq!(stored, n);

    // Only the differing attributes are written: a concurrent change to another attribute
    // stays. This one read the profile before the change above and is stamped before it: it
    // still lands, on top, stamped after the stored one.
    let mut other = u.clone();
    other.email_verification = true;
    other.updated = u.updated + 5;
    let stored = store.update_user(&u, &other).await.unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.email_verification),
        ("Ada", true)
    );
    assert_eq!(
        stored.updated,
        n.updated + 1,
        "stamped after the stored change"
    );
    let n = stored;

    // No difference: nothing written, the new value is returned.
    assert_eq!(store.update_user(&n, &n).await.unwrap(), Some(n.clone()));

    // A missing profile is not recreated.
    let ghost = UserItem::new(&ctx.id("p-ghost"), ctx.now);
    let mut g2 = ghost.clone();
    g2.name = "x".into();
    assert_eq!(store.update_user(&ghost, &g2).await.unwrap(), None);
    assert!(store
        .get_user_and_sessions(&ghost.id, &[])
        .await
        .unwrap()
        .0
        .is_none());
}

async fn atomic_updates_fail_as_a_whole<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "u1", Some("phc")).await;
    let old_email = u.email.clone().unwrap();
    let new_email = ctx.email("u1-new");
    let s = session(&u.id, "su", ctx.now, ctx.now + 60_000);
    assert_eq!(
        conflict(store.create_session_for_active_user(&s, None, None).await),
        None
    );
    let live = store
        .get_user_and_sessions(&u.id, &[])
        .await
        .unwrap()
        .0
        .unwrap();
    store
        .issue_token(
            &token(&u.id, "recovery", "r1", &old_email, ctx.now, 60_000),
            None,
        )
        .await
        .unwrap();

    let mut changed = live.clone();
    changed.email = Some(new_email.clone());
    let claims = Claims {
        put_email: Some(EmailItem::new(&new_email, &u.id, Some("phc".into()))),
        delete_email: Some(old_email.clone()),
        revoke_tokens: vec!["recovery"],
        ..Claims::default()
    };
    // A stale expectation (a session was created since `u` was read): nothing is written.
    let r = store
        .update_user_atomically(
            &live,
            &changed,
            &claims,
            &[Expect::Accessed(u.accessed - 1)],
            &["su".into()],
        )
        .await;
    assert_eq!(conflict(r), Some(Conflict::ProfileCondition));
    assert!(store.get_email(&new_email).await.unwrap().is_none());
    assert!(store.get_email(&old_email).await.unwrap().is_some());
    assert_eq!(store.session_index(&u.id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .get_redeemable(&u.id, &["recovery"])
            .await
            .unwrap()
            .tokens
            .len(),
        1
    );

    // The right expectation: the profile, both claims, the token and the session, together.
    let r = store
        .update_user_atomically(
            &live,
            &changed,
            &claims,
            &[
                Expect::Accessed(live.accessed),
                Expect::Email(old_email.clone()),
            ],
            &["su".into()],
        )
        .await;
    assert_eq!(conflict(r), None);
    let now_user = store
        .get_user_and_sessions(&u.id, &[])
        .await
        .unwrap()
        .0
        .unwrap();
    assert_eq!(now_user.email.as_deref(), Some(new_email.as_str()));
    assert!(store.get_email(&old_email).await.unwrap().is_none());
    assert_eq!(
        store.get_email(&new_email).await.unwrap().unwrap().uid,
        u.id
    );
    assert!(store.session_index(&u.id).await.unwrap().is_empty());
    assert!(store
        .get_redeemable(&u.id, &["recovery"])
        .await
        .unwrap()
        .tokens
        .is_empty());

    // Claiming an email another user holds: `Email`, and the profile is unchanged.
    let v = new_user(store, ctx, "u2", None).await;
    let mut steal = now_user.clone();
    steal.email = v.email.clone();
    let r = store
        .update_user_with_claims(
            &now_user,
            &steal,
            &Claims {
                put_email: Some(EmailItem::new(v.email.as_deref().unwrap(), &u.id, None)),
                ..Claims::default()
            },
        )
        .await;
    assert_eq!(conflict(r), Some(Conflict::Email));
    let still = store
        .get_user_and_sessions(&u.id, &[])
        .await
        .unwrap()
        .0
        .unwrap();
    assert_eq!(still.email.as_deref(), Some(new_email.as_str()));

    // Releasing a claim that belongs to someone else is refused.
    let r = store
        .update_user_with_claims(
            &still,
            &still,
            &Claims {
                delete_email: v.email.clone(),
                ..Claims::default()
            },
        )
        .await;
    assert_eq!(conflict(r), Some(Conflict::ProfileCondition));
    assert!(store
        .get_email(v.email.as_deref().unwrap())
        .await
        .unwrap()
        .is_some());

    // The password copy on the claim: set, with the lockout cleared; then removed.
    assert!(store
        .reserve_login_attempt(&new_email, 9, 0, ctx.now)
        .await
        .unwrap());
    let set = Claims {
        email_password: Some((new_email.clone(), Some("phc-2".into()))),
        ..Claims::default()
    };
    assert_eq!(
        conflict(store.update_user_with_claims(&still, &still, &set).await),
        None
    );
    let claim = store.get_email(&new_email).await.unwrap().unwrap();
    assert_eq!(
        (claim.password.as_deref(), claim.failures),
        (Some("phc-2"), 0)
    );
    let clear = Claims {
        email_password: Some((new_email.clone(), None)),
        ..Claims::default()
    };
    assert_eq!(
        conflict(store.update_user_with_claims(&still, &still, &clear).await),
        None
    );
    assert_eq!(
        store.get_email(&new_email).await.unwrap().unwrap().password,
        None
    );
    // …but only on the caller's own claim.
    let foreign = Claims {
        email_password: Some((v.email.clone().unwrap(), Some("x".into()))),
        ..Claims::default()
    };
    assert_eq!(
        conflict(
            store
                .update_user_with_claims(&still, &still, &foreign)
                .await
        ),
        Some(Conflict::ProfileCondition)
    );

    // TOTP step and recovery-code expectations.
    let mut with_codes = still.clone();
    with_codes.recovery_codes = Some("sealed-1".into());
    assert_eq!(
        conflict(
            store
                .update_user_atomically(
                    &still,
                    &with_codes,
                    &Claims::default(),
                    &[Expect::TotpStep(0)],
                    &[]
                )
                .await
        ),
        None,
        "step 0 accepts a profile without TOTP"
    );
    let mut used = with_codes.clone();
    used.recovery_codes = Some("sealed-2".into());
    let stale = [Expect::RecoveryCodes("sealed-0".into())];
    assert_eq!(
        conflict(
            store
                .update_user_atomically(&with_codes, &used, &Claims::default(), &stale, &[])
                .await
        ),
        Some(Conflict::ProfileCondition)
    );
    let fresh = [Expect::RecoveryCodes("sealed-1".into())];
    assert_eq!(
        conflict(
            store
                .update_user_atomically(&with_codes, &used, &Claims::default(), &fresh, &[])
                .await
        ),
        None
    );
    // With an expectation and no change, the condition is still checked.
    assert_eq!(
        conflict(
            store
                .update_user_atomically(&used, &used, &Claims::default(), &fresh, &[])
                .await
        ),
        Some(Conflict::ProfileCondition)
    );

    // A hash upgrade is written only over the hash it verified.
    let mut hashed = used.clone();
    hashed.password = Some("$md5$old".into());
    store.update_user(&used, &hashed).await.unwrap();
    let mut upgraded = hashed.clone();
    upgraded.password = Some("$argon2id$new".into());
    let stale = [Expect::Password("$md5$other".into())];
    assert_eq!(
        conflict(
            store
                .update_user_atomically(&hashed, &upgraded, &Claims::default(), &stale, &[])
                .await
        ),
        Some(Conflict::ProfileCondition)
    );
    let verified = [Expect::Password("$md5$old".into())];
    assert_eq!(
        conflict(
            store
                .update_user_atomically(&hashed, &upgraded, &Claims::default(), &verified, &[])
                .await
        ),
        None
    );
}

async fn templates<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let sk = format!("email.test#{}", ctx.run);
    let t = crate::item::TemplateItem {
        pk: crate::item::TEMPLATES_PK.into(),
        sk: sk.clone(),
        channel: "email".into(),
        kind: "test".into(),
        locale: "en".into(),
        subject: "s".into(),
        version: 1,
        updated: ctx.now,
        ..Default::default()
    };
    let mine = |all: Vec<crate::item::TemplateItem>| all.into_iter().find(|x| x.sk == sk);
    assert!(store.put_template(&t, 0).await.unwrap());
    // A resend of the same write succeeds; another writer that read "none" does not.
    assert!(store.put_template(&t, 0).await.unwrap());
    let mut other = t.clone();
    other.updated = ctx.now + 1;
    assert!(!store.put_template(&other, 0).await.unwrap());
    let mut v2 = other.clone();
    v2.version = 2;
    v2.subject = "s2".into();
    assert!(
        !store.put_template(&v2, 5).await.unwrap(),
        "a stale version"
    );
    assert!(store.put_template(&v2, 1).await.unwrap());
    assert_eq!(mine(store.list_templates().await.unwrap()), Some(v2));
    assert!(store.delete_template(&sk).await.unwrap());
    assert!(!store.delete_template(&sk).await.unwrap());
    assert_eq!(mine(store.list_templates().await.unwrap()), None);
}

async fn sessions_index_extend_delete<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "s1", None).await;
    let now = ctx.now;
    for (i, sid) in ["x3", "x1", "x2"].iter().enumerate() {
        let created = now + 10 - i64::try_from(i).unwrap();
        let s = session(&u.id, sid, created, now + 60_000);
        assert_eq!(
            conflict(store.create_session_for_active_user(&s, None, None).await),
            None
        );
    }
    let mut index = store.session_index(&u.id).await.unwrap();
    index.sort();
    assert_eq!(
        index,
        vec![
            ("x1".into(), now + 9),
            ("x2".into(), now + 8),
            ("x3".into(), now + 10)
        ]
    );
    let (_, all) = store.get_user_with_all_sessions(&u.id).await.unwrap();
    let order: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(order, ["x2", "x1", "x3"], "oldest first");

    let ext = store
        .extend_session(&u.id, "x1", now + 120_000, now + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ext.expire, ext.expires_at, ext.updated),
        (now + 120_000, (now + 120_000) / 1000, now + 1)
    );
    // An expired session (still in the table: TTL is late) is not extended.
    assert!(store
        .extend_session(&u.id, "x2", now + 500_000, now + 60_000)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .extend_session(&u.id, "nope", now + 500_000, now)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_user_and_sessions(&u.id, &["nope"])
        .await
        .unwrap()
        .1
        .is_empty());

    assert!(store.delete_session(&u.id, "x1").await.unwrap());
    assert!(
        !store.delete_session(&u.id, "x1").await.unwrap(),
        "already gone"
    );
    store
        .delete_sessions(&u.id, &["x2".into(), "x3".into(), "x9".into()])
        .await
        .unwrap();
    assert!(store.session_index(&u.id).await.unwrap().is_empty());
}

async fn challenge_consumed_with_profile_and_session<S: Storage + ?Sized>(
    store: &S,
    ctx: &Ctx<'_>,
) {
    let u = new_user(store, ctx, "m1", None).await;
    let now = ctx.now;
    let s = session(&u.id, "sm", now, now + 60_000);
    assert_eq!(
        conflict(store.create_session_for_active_user(&s, None, None).await),
        None
    );
    let user = store
        .get_user_and_sessions(&u.id, &[])
        .await
        .unwrap()
        .0
        .unwrap();
    let c = challenge(&u.id, "ch1", now, 1_000);
    store.put_challenge(&c).await.unwrap();
    let mut s2 = s.clone();
    s2.factors.push("email".into());
    s2.mfa_updated_at = Some(now);
    let mut u2 = user.clone();
    u2.email_verification = true;

    // An expired challenge: `Token`, and neither the profile nor the session changes.
    let r = store
        .update_user_and_session((&user, &u2), (&s, &s2), Some((&c, now + 1_000)), &[])
        .await;
    assert_eq!(conflict(r), Some(Conflict::Token));
    let (got, sessions) = store.get_user_and_sessions(&u.id, &["sm"]).await.unwrap();
    assert!(!got.unwrap().email_verification);
    assert_eq!(sessions[0].factors, vec!["password".to_string()]);

    let r = store
        .update_user_and_session((&user, &u2), (&s, &s2), Some((&c, now + 1)), &[])
        .await;
    assert_eq!(conflict(r), None);
    let (got, sessions) = store.get_user_and_sessions(&u.id, &["sm"]).await.unwrap();
    assert!(got.unwrap().email_verification);
    assert_eq!(sessions[0], s2);
    // Consumed: the second use fails.
    let r = store
        .update_user_and_session((&u2, &user), (&s2, &s), Some((&c, now + 1)), &[])
        .await;
    assert_eq!(conflict(r), Some(Conflict::Token));
    // A passed challenge takes no more codes, and its write, delivered again (late), cannot
    // bring it back.
    assert!(store
        .attempt_challenge(&u.id, "ch1", 3, now + 1)
        .await
        .unwrap()
        .is_none());
    assert!(store.put_challenge(&c).await.is_err());
    assert!(store
        .attempt_challenge(&u.id, "ch1", 3, now + 1)
        .await
        .unwrap()
        .is_none());
    // A failed expectation reads as a used one-time code (`Token`).
    let r = store
        .update_user_and_session((&u2, &u2), (&s2, &s2), None, &[Expect::TotpStep(7)])
        .await;
    assert_eq!(conflict(r), Some(Conflict::Token));
}

async fn tokens_issue_replace_redeem<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let u = new_user(store, ctx, "t1", None).await;
    let email = u.email.clone().unwrap();
    let now = ctx.now;
    let first = token(&u.id, "magic-url", "h1", &email, now, 60_000);
    let second = token(&u.id, "magic-url", "h2", &email, now, 60_000);
    store.issue_token(&first, None).await.unwrap();
    store.issue_token(&second, None).await.unwrap();

    // A token for an address the profile no longer has (an email change won the race, or the
    // write landed late), or for no profile at all, is refused and writes nothing.
    let stale = token(
        &u.id,
        "email-otp",
        "hs",
        &ctx.email("elsewhere"),
        now,
        60_000,
    );
    let nobody = token(&ctx.id("nobody"), "magic-url", "hn", &email, now, 60_000);
    let no_phone = token(&u.id, "phone", "hp", "+15555550100", now, 60_000);
    for t in [&stale, &nobody, &no_phone] {
        assert_eq!(
            conflict(store.issue_token(t, None).await),
            Some(Conflict::Target),
            "{} for {}",
            t.kind,
            t.target
        );
        let left = store
            .get_redeemable(&t.uid, &[t.kind.as_str()])
            .await
            .unwrap();
        assert!(left.tokens.is_empty(), "nothing written for {}", t.kind);
    }

    // A recovery link issued before the password last changed is refused; one issued at or
    // after the change is stored.
    let mut changed = u.clone();
    changed.password_update = Some(now + 10);
    store.update_user(&u, &changed).await.unwrap().unwrap();
    let before = token(&u.id, "recovery", "hr1", &email, now + 9, 60_000);
    assert_eq!(
        conflict(store.issue_token(&before, None).await),
        Some(Conflict::Target)
    );
    let after = token(&u.id, "recovery", "hr2", &email, now + 10, 60_000);
    assert_eq!(conflict(store.issue_token(&after, None).await), None);
    store.delete_token(&after).await.unwrap();
    let r = store
        .get_redeemable(&u.id, &["magic-url", "email-otp"])
        .await
        .unwrap();
    assert_eq!(r.user.as_ref().map(|u| u.id.as_str()), Some(u.id.as_str()));
    assert_eq!(
        r.tokens,
        vec![second.clone()],
        "a new token replaces the last"
    );

    // Withdrawing the first (its message failed) leaves the newer one alone.
    store.delete_token(&first).await.unwrap();
    assert_eq!(
        store
            .get_redeemable(&u.id, &["magic-url"])
            .await
            .unwrap()
            .tokens
            .len(),
        1
    );

    // The replaced secret, and an expired one, are refused as `Token`; nothing is written.
    let s = session(&u.id, "st", now, now + 60_000);
    let redeem = |t: TokenItem, at: Millis| {
        let s = s.clone();
        async move {
            store
                .redeem(
                    &t,
                    at,
                    Redemption {
                        session: Some(&s),
                        clear_guard: Some(item::guard_sk("otp", 0)),
                        ..Redemption::default()
                    },
                )
                .await
        }
    };
    assert_eq!(
        conflict(redeem(first.clone(), now).await),
        Some(Conflict::Token)
    );
    assert_eq!(
        conflict(redeem(second.clone(), now + 60_000).await),
        Some(Conflict::Token)
    );
    assert!(store.session_index(&u.id).await.unwrap().is_empty());

    // The live secret: token consumed, session created, guard cleared, all at once.
    assert!(store
        .reserve_attempt(&u.id, &item::guard_sk("otp", 0), 5, now / 1000 + 60)
        .await
        .unwrap());
    assert_eq!(conflict(redeem(second.clone(), now + 1).await), None);
    assert_eq!(store.session_index(&u.id).await.unwrap().len(), 1);
    assert!(store
        .get_redeemable(&u.id, &["magic-url"])
        .await
        .unwrap()
        .tokens
        .is_empty());
    for _ in 0..5 {
        assert!(
            store
                .reserve_attempt(&u.id, &item::guard_sk("otp", 0), 5, now / 1000 + 60)
                .await
                .unwrap(),
            "the guard was cleared"
        );
    }
    // Single use.
    assert_eq!(
        conflict(redeem(second, now + 1).await),
        Some(Conflict::Token)
    );

    // A redemption under an address expectation: the profile must still have it.
    let third = token(&u.id, "verify-email", "h3", &email, now, 60_000);
    store.issue_token(&third, None).await.unwrap();
    let mut verified = u.clone();
    verified.email_verification = true;
    let wrong = store
        .redeem(
            &third,
            now,
            Redemption {
                user_change: Some((&u, &verified)),
                expect: vec![Expect::Email(ctx.email("elsewhere"))],
                ..Redemption::default()
            },
        )
        .await;
    assert_eq!(conflict(wrong), Some(Conflict::ProfileCondition));
    assert_eq!(
        store
            .get_redeemable(&u.id, &["verify-email"])
            .await
            .unwrap()
            .tokens
            .len(),
        1,
        "token kept"
    );
    let right = store
        .redeem(
            &third,
            now,
            Redemption {
                user_change: Some((&u, &verified)),
                expect: vec![Expect::Email(email.clone())],
                delete_sessions: vec!["st".into()],
                ..Redemption::default()
            },
        )
        .await;
    assert_eq!(conflict(right), None);
    let r = store
        .get_redeemable(&u.id, &["verify-email"])
        .await
        .unwrap();
    assert!(r.user.unwrap().email_verification && r.tokens.is_empty());
    assert!(store.session_index(&u.id).await.unwrap().is_empty());

    // Issuing with a new user creates both, or neither when the email is taken.
    let n = UserItem::new(&ctx.id("t2"), now);
    let t = token(&n.id, "email-otp", "h4", &email, now, 60_000);
    let r = store
        .issue_token(
            &t,
            Some((&n, Some(&EmailItem::new(&email, &n.id, None)), None)),
        )
        .await;
    assert_eq!(conflict(r), Some(Conflict::Email));
    let r = store.get_redeemable(&n.id, &["email-otp"]).await.unwrap();
    assert!(r.user.is_none() && r.tokens.is_empty(), "all or nothing");
}

async fn budgets_hold_in_parallel<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let uid = ctx.id("b1");
    let guard = item::guard_sk("email-otp", ctx.now / 3_600_000);
    let tries = (0..20).map(|_| store.reserve_attempt(&uid, &guard, 5, ctx.now / 1000 + 3600));
    let admitted = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(admitted, 5, "parallel code attempts beyond the budget");
    let counter = ctx.id("RL#b1");
    let hits = (0..20).map(|_| store.hit_counter(&counter, 7, ctx.now / 1000 + 60));
    let counted: Vec<Option<u32>> = futures_util::future::join_all(hits)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let mut ns: Vec<u32> = counted.iter().flatten().copied().collect();
    ns.sort_unstable();
    assert_eq!(
        ns,
        (1..=7).collect::<Vec<_>>(),
        "each admitted hit sees its own count"
    );
}

async fn challenges_burn<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let uid = ctx.id("ch");
    let now = ctx.now;
    let c = challenge(&uid, "c1", now, 60_000);
    store.put_challenge(&c).await.unwrap();
    // The same challenge again (a retry whose first attempt landed): stored once, no error.
    store.put_challenge(&c).await.unwrap();
    for n in 1..=3 {
        let got = store
            .attempt_challenge(&uid, "c1", 3, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.attempts, n);
    }
    assert!(
        store
            .attempt_challenge(&uid, "c1", 3, now)
            .await
            .unwrap()
            .is_none(),
        "burnt"
    );
    let d = challenge(&uid, "c2", now, 1_000);
    store.put_challenge(&d).await.unwrap();
    assert!(
        store
            .attempt_challenge(&uid, "c2", 3, now + 1_000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .attempt_challenge(&uid, "c9", 3, now)
            .await
            .unwrap()
            .is_none(),
        "missing"
    );
    store.delete_challenge(&d).await.unwrap();
    assert!(
        store
            .attempt_challenge(&uid, "c2", 3, now)
            .await
            .unwrap()
            .is_none(),
        "deleted"
    );
}

async fn withdraw_new_user<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let mut n = UserItem::new(&ctx.id("w1"), ctx.now);
    let email = ctx.email("w1");
    n.email = Some(email.clone());
    let t = token(&n.id, "magic-url", "hw", &email, ctx.now, 60_000);
    let r = store
        .issue_token(
            &t,
            Some((&n, Some(&EmailItem::new(&email, &n.id, None)), None)),
        )
        .await;
    assert_eq!(conflict(r), None);
    assert!(store.get_email(&email).await.unwrap().is_some());
    store.withdraw_new_user(&n, &t).await.unwrap();
    let r = store.get_redeemable(&n.id, &["magic-url"]).await.unwrap();
    assert!(r.user.is_none() && r.tokens.is_empty());
    assert!(store.get_email(&email).await.unwrap().is_none());
}

async fn counters<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let c = ctx.id("RL#c");
    let exp = ctx.now / 1000 + 60;
    assert_eq!(store.hit_counter(&c, 2, exp).await.unwrap(), Some(1));
    assert_eq!(store.hit_counter(&c, 2, exp).await.unwrap(), Some(2));
    assert_eq!(
        store.hit_counter(&c, 2, exp).await.unwrap(),
        None,
        "limit reached"
    );
    store
        .delete_counters(std::slice::from_ref(&c))
        .await
        .unwrap();
    assert_eq!(
        store.hit_counter(&c, 2, exp).await.unwrap(),
        Some(1),
        "reset"
    );
    store.delete_counters(&[]).await.unwrap();
}

async fn api_keys<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let id = format!("{:0>20}", ctx.id("k").to_lowercase());
    let k = KeyItem {
        pk: keys::key_pk(&id),
        sk: keys::KEY_SK.into(),
        id: id.clone(),
        name: "ci".into(),
        scopes: vec!["sessions.write".into()],
        secret_hash: "h".into(),
        created: ctx.now,
        expire: None,
    };
    store.put_api_key(&k).await.unwrap();
    assert_eq!(store.get_api_key(&id).await.unwrap(), Some(k.clone()));
    assert!(store.list_api_keys().await.unwrap().contains(&k));
    assert!(store.delete_api_key(&id).await.unwrap());
    assert!(!store.delete_api_key(&id).await.unwrap());
    assert_eq!(store.get_api_key(&id).await.unwrap(), None);
}

async fn logs_newest_first<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let uid = ctx.id("g1");
    let logs: Vec<LogItem> = (0..7)
        .map(|i| LogItem {
            pk: item::log_pk(&uid),
            sk: format!("{:015}#{i}", ctx.now + i),
            event: format!("e{i}"),
            user_id: uid.clone(),
            user_email: String::new(),
            user_name: String::new(),
            ip: "127.0.0.1".into(),
            time: ctx.now + i,
            device: Default::default(),
            expires_at: ctx.now / 1000 + 3600,
        })
        .collect();
    store.put_logs(&logs).await.unwrap();
    let (page, total) = store.list_logs(&uid, 3, 2, true, 5000).await.unwrap();
    let events: Vec<&str> = page.iter().map(|l| l.event.as_str()).collect();
    assert_eq!((events, total), (vec!["e4", "e3", "e2"], 7));
    let (_, capped) = store.list_logs(&uid, 1, 0, true, 4).await.unwrap();
    assert_eq!(capped, 4, "counting stops at the cap");
    let (_, none) = store.list_logs(&uid, 1, 0, false, 4).await.unwrap();
    assert_eq!(none, 0);
}

/// An identity write for an existing user, with nothing else (no session, token or new user).
fn link<'a>(uid: &'a str, identity: IdentityWrite<'a>, now: Millis) -> OAuthSignIn<'a> {
    OAuthSignIn {
        new_user: None,
        existing: Some(uid),
        identity,
        session: None,
        token: None,
        delete_session: None,
        now,
    }
}

/// The issuer the test identities are keyed with.
const ISSUER: &str = "https://github.example/login/oauth/access_token";

fn identity(uid: &str, id: &str, provider_uid: &str, now: Millis) -> IdentityItem {
    IdentityItem {
        pk: item::user_pk(uid),
        sk: item::identity_sk(id),
        id: id.into(),
        uid: uid.into(),
        provider: "github".into(),
        provider_uid: provider_uid.into(),
        issuer: ISSUER.into(),
        provider_email: "gh@example.com".into(),
        provider_email_verified: true,
        access_token_sealed: "sealed".into(),
        refresh_token_sealed: String::new(),
        access_token_expiry: Some(now + 3_600_000),
        created: now,
        updated: now,
    }
}

async fn identities<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let now = ctx.now;
    // Rule (e): a new user, its email claim, the identity and its claim, and the session.
    let mut u = UserItem::new(&ctx.id("o1"), now);
    let email = ctx.email("o1");
    u.email = Some(email.clone());
    let claim = EmailItem::new(&email, &u.id, None);
    let pid = ctx.id("gh-1");
    let first = identity(&u.id, &ctx.id("i1"), &pid, now);
    let s = session(&u.id, "so", now, now + 60_000);
    let w = OAuthSignIn {
        new_user: Some((&u, Some(&claim))),
        existing: None,
        identity: IdentityWrite::New(&first),
        session: Some(&s),
        token: None,
        delete_session: None,
        now,
    };
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    let c = store
        .get_identity_claim("github", ISSUER, &pid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.uid.as_str(), c.identity_id.as_str()),
        (u.id.as_str(), first.id.as_str())
    );
    assert_eq!(
        store.list_identities(&u.id).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(store.session_index(&u.id).await.unwrap().len(), 1);

    // The same provider account again, for another new user: `Identity`, and no user written.
    let v = UserItem::new(&ctx.id("o2"), now);
    let dup = identity(&v.id, &ctx.id("i2"), &pid, now);
    let w = OAuthSignIn {
        new_user: Some((&v, None)),
        existing: None,
        identity: IdentityWrite::New(&dup),
        session: None,
        token: None,
        delete_session: None,
        now,
    };
    assert_eq!(
        conflict(store.oauth2_sign_in(w).await),
        Some(Conflict::Identity)
    );
    assert!(store
        .get_user_and_sessions(&v.id, &[])
        .await
        .unwrap()
        .0
        .is_none());

    // A known link: fresh tokens, a token-mode secret, the profile's `accessed` set.
    let mut fresher = first.clone();
    fresher.access_token_sealed = "sealed-2".into();
    fresher.updated = now + 5;
    let t = token(&u.id, "oauth2", "ho", &email, now, 60_000);
    let w = OAuthSignIn {
        new_user: None,
        existing: Some(&u.id),
        identity: IdentityWrite::Update(&first, &fresher),
        session: None,
        token: Some(&t),
        delete_session: Some("so"),
        now: now + 5,
    };
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    assert_eq!(
        store.list_identities(&u.id).await.unwrap(),
        vec![fresher.clone()]
    );
    assert_eq!(
        store
            .get_redeemable(&u.id, &["oauth2"])
            .await
            .unwrap()
            .tokens,
        vec![t]
    );
    let (profile, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    assert_eq!(profile.unwrap().accessed, now + 5);
    assert!(
        store.session_index(&u.id).await.unwrap().is_empty(),
        "rule (a) deletes it"
    );

    // A blocked user signs in to nothing.
    let blocked = store
        .get_user_and_sessions(&u.id, &[])
        .await
        .unwrap()
        .0
        .unwrap();
    let mut b = blocked.clone();
    b.status = false;
    store.update_user(&blocked, &b).await.unwrap();
    let s2 = session(&u.id, "sb", now, now + 60_000);
    let w = OAuthSignIn {
        new_user: None,
        existing: Some(&u.id),
        identity: IdentityWrite::Update(&fresher, &fresher),
        session: Some(&s2),
        token: None,
        delete_session: None,
        now,
    };
    assert_eq!(
        conflict(store.oauth2_sign_in(w).await),
        Some(Conflict::ProfileCondition)
    );
    assert!(store.session_index(&u.id).await.unwrap().is_empty());

    // Deleting frees the provider account; a second delete finds nothing.
    assert!(store.delete_identity(&fresher).await.unwrap());
    assert!(!store.delete_identity(&fresher).await.unwrap());
    assert!(store
        .get_identity_claim("github", ISSUER, &pid)
        .await
        .unwrap()
        .is_none());
    assert!(store.list_identities(&u.id).await.unwrap().is_empty());
}

async fn identity_emails<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let now = ctx.now;
    // X links a provider account whose email (G) is not X's own (rule (a)).
    let x = new_user(store, ctx, "ie-x", None).await;
    let g = ctx.email("ie-g");
    let mut linked = identity(&x.id, &ctx.id("ie-i1"), &ctx.id("ie-p1"), now);
    linked.provider_email = g.clone();
    let w = link(&x.id, IdentityWrite::New(&linked), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    assert_eq!(
        store.identity_email_owner(&g).await.unwrap(),
        Some(x.id.clone())
    );

    // Nobody else may sign up, get a new-user token, or change their email to G…
    let mut b = UserItem::new(&ctx.id("ie-b"), now);
    b.email = Some(g.clone());
    let r = store
        .create_user(&b, Some(&EmailItem::new(&g, &b.id, None)), None, None)
        .await;
    assert_eq!(conflict(r), Some(Conflict::IdentityEmail));
    assert!(store
        .get_user_and_sessions(&b.id, &[])
        .await
        .unwrap()
        .0
        .is_none());
    let t = token(&b.id, "email-otp", "hie", &g, now, 60_000);
    let r = store
        .issue_token(&t, Some((&b, Some(&EmailItem::new(&g, &b.id, None)), None)))
        .await;
    assert_eq!(conflict(r), Some(Conflict::IdentityEmail));
    let y = new_user(store, ctx, "ie-y", None).await;
    let mut y2 = y.clone();
    y2.email = Some(g.clone());
    let take = |uid: &str| Claims {
        put_email: Some(EmailItem::new(&g, uid, None)),
        ..Claims::default()
    };
    let r = store.update_user_with_claims(&y, &y2, &take(&y.id)).await;
    assert_eq!(conflict(r), Some(Conflict::IdentityEmail));
    // …another user's provider account with that email cannot link it either…
    let mut other = identity(&y.id, &ctx.id("ie-i2"), &ctx.id("ie-p2"), now);
    other.provider_email = g.clone();
    let w = link(&y.id, IdentityWrite::New(&other), now);
    assert_eq!(
        conflict(store.oauth2_sign_in(w).await),
        Some(Conflict::IdentityEmail)
    );
    assert!(
        store.list_identities(&y.id).await.unwrap().is_empty(),
        "nothing linked"
    );

    // …but X may make G its own email.
    let mut x2 = x.clone();
    x2.email = Some(g.clone());
    let r = store.update_user_with_claims(&x, &x2, &take(&x.id)).await;
    assert_eq!(conflict(r), None);

    // The provider changes the account's email: the claim follows it.
    let h = ctx.email("ie-h");
    let mut moved = linked.clone();
    moved.provider_email = h.clone();
    let w = link(&x.id, IdentityWrite::Update(&linked, &moved), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    assert_eq!(store.identity_email_owner(&g).await.unwrap(), None);
    assert_eq!(
        store.identity_email_owner(&h).await.unwrap(),
        Some(x.id.clone())
    );
    // Deleting the identity frees the address.
    assert!(store.delete_identity(&moved).await.unwrap());
    assert_eq!(store.identity_email_owner(&h).await.unwrap(), None);

    // An unverified provider address is not reserved, new or updated…
    let k = ctx.email("ie-k");
    let mut loose = identity(&x.id, &ctx.id("ie-i3"), &ctx.id("ie-p3"), now);
    loose.provider_email = k.clone();
    loose.provider_email_verified = false;
    let w = link(&x.id, IdentityWrite::New(&loose), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    assert_eq!(store.identity_email_owner(&k).await.unwrap(), None);
    // …until the provider verifies it; losing the flag releases it again.
    let mut firm = loose.clone();
    firm.provider_email_verified = true;
    let w = link(&x.id, IdentityWrite::Update(&loose, &firm), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    assert_eq!(
        store.identity_email_owner(&k).await.unwrap(),
        Some(x.id.clone())
    );
    let w = link(&x.id, IdentityWrite::Update(&firm, &loose), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    assert_eq!(store.identity_email_owner(&k).await.unwrap(), None);

    // Another user's email claim is checked in the same transaction: X cannot reserve Y's
    // address, by a new link or by an update.
    let y_email = y.email.clone().unwrap();
    let mut grab = identity(&x.id, &ctx.id("ie-i4"), &ctx.id("ie-p4"), now);
    grab.provider_email = y_email.clone();
    let w = link(&x.id, IdentityWrite::New(&grab), now);
    assert_eq!(
        conflict(store.oauth2_sign_in(w).await),
        Some(Conflict::Email)
    );
    let mut onto = firm.clone();
    onto.provider_email = y_email.clone();
    let w = link(&x.id, IdentityWrite::Update(&loose, &onto), now);
    assert_eq!(
        conflict(store.oauth2_sign_in(w).await),
        Some(Conflict::Email)
    );
    assert_eq!(store.identity_email_owner(&y_email).await.unwrap(), None);
}

/// Claims are keyed by issuer: another issuer's subject of the same ID is another account; a
/// claim of before issuers were keyed is still found, and moves to the issuer's key when the
/// identity is next written.
async fn identity_issuers<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let now = ctx.now;
    let u = new_user(store, ctx, "iss-u", None).await;
    let pid = ctx.id("iss-p");
    let mut legacy = identity(&u.id, &ctx.id("iss-i"), &pid, now);
    legacy.issuer = String::new();
    let w = link(&u.id, IdentityWrite::New(&legacy), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    let found = store
        .get_identity_claim("github", ISSUER, &pid)
        .await
        .unwrap();
    assert_eq!(
        found.map(|c| c.pk),
        Some(item::identity_claim_pk("github", "", &pid))
    );
    let mut keyed = legacy.clone();
    keyed.issuer = ISSUER.into();
    let w = link(&u.id, IdentityWrite::Update(&legacy, &keyed), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    let found = store
        .get_identity_claim("github", ISSUER, &pid)
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.pk), Some(keyed.claim_pk()));
    // The legacy key is gone: a provider re-pointed at another issuer finds nothing.
    let elsewhere = store
        .get_identity_claim("github", "https://other.example/token", &pid)
        .await
        .unwrap();
    assert!(elsewhere.is_none(), "{elsewhere:?}");
    assert!(store.delete_identity(&keyed).await.unwrap());
    assert!(store
        .get_identity_claim("github", ISSUER, &pid)
        .await
        .unwrap()
        .is_none());
}

/// An ownership proof deletes the user's identities with the redemption: the link, its claim and
/// its reserved address, in the same transaction.
async fn proof_deletes_identities<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let now = ctx.now;
    let u = new_user(store, ctx, "pi-u", Some("phc")).await;
    let g = ctx.email("pi-g");
    let mut linked = identity(&u.id, &ctx.id("pi-i1"), &ctx.id("pi-p1"), now);
    linked.provider_email = g.clone();
    let w = link(&u.id, IdentityWrite::New(&linked), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    // A second provider account with the same verified address (one release for both), and
    // more identities than one transaction holds.
    let mut twin = identity(&u.id, &ctx.id("pi-i2"), &ctx.id("pi-p2"), now);
    twin.provider_email = g.clone();
    let w = link(&u.id, IdentityWrite::New(&twin), now);
    assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    for n in 0..crate::store::MAX_IDENTITIES_IN_TRANSACTION + 2 {
        let mut more = identity(
            &u.id,
            &ctx.id(&format!("pi-m{n}")),
            &ctx.id(&format!("pi-q{n}")),
            now,
        );
        more.provider_email = ctx.email(&format!("pi-m{n}"));
        let w = link(&u.id, IdentityWrite::New(&more), now);
        assert_eq!(conflict(store.oauth2_sign_in(w).await), None);
    }
    let email = u.email.clone().unwrap();
    let t = token(&u.id, "magic-url", "hpi", &email, now, 60_000);
    store.issue_token(&t, None).await.unwrap();
    let mut proven = u.clone();
    proven.email_verification = true;
    proven.password = None;
    let r = store
        .redeem(
            &t,
            now,
            Redemption {
                user_change: Some((&u, &proven)),
                delete_identities: store.list_identities(&u.id).await.unwrap(),
                ..Redemption::default()
            },
        )
        .await;
    assert_eq!(conflict(r), None);
    assert!(store.list_identities(&u.id).await.unwrap().is_empty());
    assert!(store
        .get_identity_claim("github", ISSUER, &linked.provider_uid)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.identity_email_owner(&g).await.unwrap(), None);
    // A link whose session the proof deleted meanwhile is refused, and writes nothing.
    let late = identity(&u.id, &ctx.id("pi-late"), &ctx.id("pi-pl"), now);
    let mut w = link(&u.id, IdentityWrite::New(&late), now);
    w.delete_session = Some("gone");
    assert_eq!(
        conflict(store.oauth2_sign_in(w).await),
        Some(Conflict::Session)
    );
    assert!(store.list_identities(&u.id).await.unwrap().is_empty());
}

fn passkey_items(
    uid: &str,
    id: &str,
    credential_id: &[u8],
    now: Millis,
) -> (item::PasskeyItem, item::PasskeyClaimItem) {
    use base64::Engine;
    (
        item::PasskeyItem {
            pk: item::user_pk(uid),
            sk: item::passkey_sk(id),
            id: id.into(),
            uid: uid.into(),
            name: "Key".into(),
            credential_id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id),
            aaguid: String::new(),
            backup_eligible: false,
            backup_state: false,
            created: now,
            updated: now,
            last_used: None,
        },
        item::PasskeyClaimItem {
            pk: item::passkey_claim_pk(credential_id),
            sk: item::PASSKEY_CLAIM_SK.into(),
            uid: uid.into(),
            passkey_id: id.into(),
            credential: format!("cred-{id}-0"),
        },
    )
}

fn ceremony(
    pk: String,
    sk: &str,
    id: &str,
    uid: &str,
    sid: &str,
    now: Millis,
) -> item::PasskeyChallengeItem {
    item::PasskeyChallengeItem {
        pk,
        sk: sk.into(),
        id: id.into(),
        uid: uid.into(),
        sid: sid.into(),
        email_verification: false,
        phone_verification: false,
        passkey_id: String::new(),
        name: String::new(),
        state: "{}".into(),
        created: now,
        expire: now + 300_000,
        expires_at: (now + 300_000) / 1000,
    }
}

/// Passkeys: a registration consumes its ceremony once, needs its session, and claims its
/// credential ID for one user; a sign-in consumes its ceremony once and moves the credential
/// only from the state it verified against; deletion keeps the other ways in; an ownership proof
/// deletes passkeys with their claims.
async fn passkeys<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let now = ctx.now;
    let u = new_user(store, ctx, "pk-u", None).await;
    let v = new_user(store, ctx, "pk-v", None).await;
    let sid = ctx.id("pk-s");
    store
        .create_session_for_active_user(&session(&u.id, &sid, now, now + 60_000), None, None)
        .await
        .unwrap();
    let cred = format!("{}pk-cred-1", ctx.run).into_bytes();
    // Registration: one ceremony in flight per user (a new one replaces it).
    let reg = |id: &str| {
        ceremony(
            item::user_pk(&u.id),
            item::PASSKEY_REGISTRATION_SK,
            id,
            &u.id,
            &sid,
            now,
        )
    };
    store.put_passkey_challenge(&reg("r1")).await.unwrap();
    store.put_passkey_challenge(&reg("r2")).await.unwrap();
    assert_eq!(
        store
            .get_passkey_registration(&u.id)
            .await
            .unwrap()
            .map(|c| c.id),
        Some("r2".into())
    );
    let (p1, c1) = passkey_items(&u.id, &ctx.id("pk-p1"), &cred, now);
    assert_eq!(
        conflict(store.add_passkey(&reg("r1"), &p1, &c1, 20, now).await),
        Some(Conflict::Token),
        "a replaced ceremony"
    );
    // After a verified flag changed (an ownership proof since the ceremony began), or expired:
    // refused, nothing written.
    let mut proven_since = reg("r2");
    proven_since.email_verification = true;
    assert_eq!(
        conflict(store.add_passkey(&proven_since, &p1, &c1, 20, now).await),
        Some(Conflict::ProfileCondition)
    );
    assert_eq!(
        conflict(
            store
                .add_passkey(&reg("r2"), &p1, &c1, 20, now + 300_000)
                .await
        ),
        Some(Conflict::Token)
    );
    assert!(store.list_passkeys(&u.id).await.unwrap().is_empty());
    assert_eq!(
        conflict(store.add_passkey(&reg("r2"), &p1, &c1, 20, now).await),
        None
    );
    let (profile, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    assert_eq!(
        profile.as_ref().map(|p| (p.passkeys, p.accessed)),
        Some((1, now))
    );
    assert_eq!(
        conflict(store.add_passkey(&reg("r2"), &p1, &c1, 20, now).await),
        Some(Conflict::Token),
        "a consumed ceremony"
    );
    assert_eq!(store.list_passkeys(&u.id).await.unwrap(), vec![p1.clone()]);
    // Another user claims the same credential ID: refused, nothing written, the ceremony stays.
    let vs = ctx.id("pk-vs");
    store
        .create_session_for_active_user(&session(&v.id, &vs, now, now + 60_000), None, None)
        .await
        .unwrap();
    let vreg = ceremony(
        item::user_pk(&v.id),
        item::PASSKEY_REGISTRATION_SK,
        "r3",
        &v.id,
        &vs,
        now,
    );
    store.put_passkey_challenge(&vreg).await.unwrap();
    let (pv, cv) = passkey_items(&v.id, &ctx.id("pk-pv"), &cred, now);
    assert_eq!(
        conflict(store.add_passkey(&vreg, &pv, &cv, 20, now).await),
        Some(Conflict::Passkey)
    );
    assert!(store.list_passkeys(&v.id).await.unwrap().is_empty());
    assert!(store
        .get_passkey_registration(&v.id)
        .await
        .unwrap()
        .is_some());
    // A registration whose session is gone (an ownership proof deleted it) writes nothing.
    store.delete_session(&v.id, &vs).await.unwrap();
    let other = format!("{}pk-cred-2", ctx.run).into_bytes();
    let (pv, cv) = passkey_items(&v.id, &ctx.id("pk-pv"), &other, now);
    assert_eq!(
        conflict(store.add_passkey(&vreg, &pv, &cv, 20, now).await),
        Some(Conflict::Session)
    );
    assert!(store.list_passkeys(&v.id).await.unwrap().is_empty());

    // Sign-in: the ceremony and the claim in one read; the write consumes the ceremony once and
    // moves the credential only from the state verified against.
    let login = ceremony(
        item::passkey_login_pk(&ctx.id("pk-l1")),
        item::PASSKEY_LOGIN_SK,
        &ctx.id("pk-l1"),
        "",
        "",
        now,
    );
    store.put_passkey_challenge(&login).await.unwrap();
    store.put_passkey_challenge(&login).await.unwrap();
    let (c, claim) = store.get_passkey_sign_in(&login.id, &cred).await.unwrap();
    assert_eq!((c, claim.clone()), (Some(login.clone()), Some(c1.clone())));
    let moved = item::PasskeyClaimItem {
        credential: format!("cred-{}-1", p1.id),
        ..c1.clone()
    };
    let used = super::PasskeyUse {
        uid: u.id.clone(),
        id: p1.id.clone(),
        backup_eligible: true,
        backup_state: true,
        now: now + 5,
    };
    let t = token(&u.id, "passkey", "hpk", &p1.id, now, 60_000);
    let stale = store
        .passkey_sign_in(&login, &moved, "cred-other", &used, &t)
        .await;
    assert_eq!(
        conflict(stale),
        Some(Conflict::Token),
        "the credential moved meanwhile"
    );
    assert_eq!(
        conflict(
            store
                .passkey_sign_in(&login, &moved, &c1.credential, &used, &t)
                .await
        ),
        None
    );
    assert_eq!(
        conflict(
            store
                .passkey_sign_in(&login, &moved, &moved.credential, &used, &t)
                .await
        ),
        Some(Conflict::Token),
        "a consumed sign-in ceremony"
    );
    let (gone, claim) = store.get_passkey_sign_in(&login.id, &cred).await.unwrap();
    assert!(gone.is_none());
    assert_eq!(claim.unwrap().credential, moved.credential);
    let listed = store.list_passkeys(&u.id).await.unwrap();
    assert_eq!(listed[0].last_used, Some(now + 5));
    assert!(listed[0].backup_eligible && listed[0].backup_state);
    let r = store.get_redeemable(&u.id, &["passkey"]).await.unwrap();
    assert_eq!(r.tokens.len(), 1);
    // A burnt ceremony is gone; burning another one's ID leaves that one.
    let l2 = ceremony(
        item::passkey_login_pk(&ctx.id("pk-l2")),
        item::PASSKEY_LOGIN_SK,
        &ctx.id("pk-l2"),
        "",
        "",
        now,
    );
    store.put_passkey_challenge(&l2).await.unwrap();
    let mut impostor = l2.clone();
    impostor.id = "other".into();
    store.burn_passkey_challenge(&impostor).await.unwrap();
    assert!(store
        .get_passkey_sign_in(&l2.id, b"x")
        .await
        .unwrap()
        .0
        .is_some());
    store.burn_passkey_challenge(&l2).await.unwrap();
    assert!(store
        .get_passkey_sign_in(&l2.id, b"x")
        .await
        .unwrap()
        .0
        .is_none());

    // Rename.
    let renamed = store
        .rename_passkey(&u.id, &p1.id, "Phone", now + 9)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.updated), ("Phone", now + 9));
    assert!(store
        .rename_passkey(&u.id, "nope", "x", now)
        .await
        .unwrap()
        .is_none());

    // Deletion that must keep another passkey: refused once that one is gone.
    let cred2 = format!("{}pk-cred-3", ctx.run).into_bytes();
    let (p2, c2) = passkey_items(&u.id, &ctx.id("pk-p2"), &cred2, now);
    store.put_passkey_challenge(&reg("r4")).await.unwrap();
    // At the limit (the profile counts its passkeys): refused.
    assert_eq!(
        conflict(store.add_passkey(&reg("r4"), &p2, &c2, 1, now).await),
        Some(Conflict::ProfileCondition)
    );
    assert_eq!(
        conflict(store.add_passkey(&reg("r4"), &p2, &c2, 20, now).await),
        None
    );
    // Deleting one revokes the passkey token and the sessions named, and counts it off.
    let opened = ctx.id("pk-opened");
    store
        .create_session_for_active_user(&session(&u.id, &opened, now, now + 60_000), None, None)
        .await
        .unwrap();
    let pt = token(&u.id, "passkey", "hpk2", &p2.id, now, 60_000);
    store.issue_token(&pt, None).await.unwrap();
    assert_eq!(
        conflict(
            store
                .delete_passkey(&p2, &[], std::slice::from_ref(&opened))
                .await
        ),
        None
    );
    assert!(store
        .get_redeemable(&u.id, &["passkey"])
        .await
        .unwrap()
        .tokens
        .is_empty());
    assert!(!store
        .session_index(&u.id)
        .await
        .unwrap()
        .iter()
        .any(|(s, _)| *s == opened));
    let (profile, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    assert_eq!(profile.map(|p| p.passkeys), Some(1));
    assert_eq!(
        conflict(
            store
                .delete_passkey(&p1, &[(p2.pk.clone(), p2.sk.clone())], &[])
                .await
        ),
        Some(Conflict::ProfileCondition)
    );
    assert_eq!(
        conflict(store.delete_passkey(&p2, &[], &[]).await),
        Some(Conflict::Token),
        "gone already"
    );
    assert!(store
        .get_passkey_sign_in("none", &cred2)
        .await
        .unwrap()
        .1
        .is_none());

    // An ownership proof deletes the passkeys with their claims.
    let email = u.email.clone().unwrap();
    let t = token(&u.id, "magic-url", "hpkp", &email, now, 60_000);
    store.issue_token(&t, None).await.unwrap();
    let mut proven = u.clone();
    proven.email_verification = true;
    let listed = store.list_passkeys(&u.id).await.unwrap();
    // A proof that counted fewer passkeys than the profile now holds (one was registered since
    // its reads) writes nothing.
    let stale = Redemption {
        user_change: Some((&u, &proven)),
        expect: vec![Expect::Passkeys(0)],
        delete_passkeys: listed.clone(),
        ..Redemption::default()
    };
    assert_eq!(
        conflict(store.redeem(&t, now, stale).await),
        Some(Conflict::ProfileCondition)
    );
    assert_eq!(store.list_passkeys(&u.id).await.unwrap().len(), 1);
    let mut proven = proven.clone();
    proven.passkeys = 0;
    let (held, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    let held = held.unwrap();
    let r = store
        .redeem(
            &t,
            now,
            Redemption {
                user_change: Some((&held, &proven)),
                expect: vec![Expect::Passkeys(held.passkeys)],
                delete_passkeys: listed,
                ..Redemption::default()
            },
        )
        .await;
    assert_eq!(conflict(r), None);
    assert!(store.list_passkeys(&u.id).await.unwrap().is_empty());
    let (cleared, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    assert_eq!(cleared.map(|p| p.passkeys), Some(0));
    assert!(store
        .get_passkey_sign_in("none", &cred)
        .await
        .unwrap()
        .1
        .is_none());
}

/// The project's user limit holds under parallel sign-ups, and a withdrawn user frees its
/// place. `store` must have a user limit of 3 and a table of its own.
pub async fn user_limit<S: Storage + ?Sized>(store: &S, run: &str, now: Millis) {
    let ctx = Ctx { run, now };
    let users: Vec<UserItem> = (0..10)
        .map(|i| UserItem::new(&ctx.id(&format!("n{i}")), now))
        .collect();
    let results = futures_util::future::join_all(
        users.iter().map(|u| store.create_user(u, None, None, None)),
    )
    .await;
    let created: Vec<&UserItem> = users
        .iter()
        .zip(results)
        .filter_map(|(u, r)| match conflict(r) {
            None => Some(u),
            Some(c) => {
                assert_eq!(c, Conflict::UserLimit);
                None
            }
        })
        .collect();
    assert_eq!(created.len(), 3, "the limit holds under parallel creation");
    let t = token(&created[0].id, "oauth2", "hl", "github", now, 60_000);
    store.issue_token(&t, None).await.unwrap();
    store.withdraw_new_user(created[0], &t).await.unwrap();
    let late = UserItem::new(&ctx.id("late"), now);
    assert_eq!(
        conflict(store.create_user(&late, None, None, None).await),
        None
    );
    let later = UserItem::new(&ctx.id("later"), now);
    assert_eq!(
        conflict(store.create_user(&later, None, None, None).await),
        Some(Conflict::UserLimit)
    );
}

/// `admin users import`: a user with both claims and two identities in one transaction, refused
/// as a whole when any key is taken.
async fn imports<S: Storage + ?Sized>(store: &S, ctx: &Ctx<'_>) {
    let imported = |name: &str, email: &str, phone: &str| {
        let mut u = UserItem::new(&ctx.id(name), ctx.now);
        u.email = Some(email.to_owned());
        u.phone = Some(phone.to_owned());
        u.password = Some("$md5$144fa7eaa4904e8ee120651997f70dcc".into());
        let e = EmailItem::new(email, &u.id, u.password.clone());
        let p = PhoneItem::new(phone, &u.id);
        (u, e, p)
    };
    let unverified = |uid: &str, id: &str, sub: &str| IdentityItem {
        provider_email_verified: false,
        ..identity(uid, &ctx.id(id), &ctx.id(sub), ctx.now)
    };
    let digits = ctx
        .run
        .bytes()
        .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 100_000_000;
    let phone = format!("+1998{digits:0>8}");
    let (u, e, p) = imported("imp", &ctx.email("imp"), &phone);
    let ids = [
        unverified(&u.id, "i1", "sub1"),
        unverified(&u.id, "i2", "sub2"),
    ];
    assert_eq!(
        conflict(store.import_user(&u, Some(&e), Some(&p), &ids).await),
        None
    );
    let claim = store
        .get_identity_claim("github", ISSUER, &ctx.id("sub2"))
        .await
        .unwrap()
        .expect("the identity's claim");
    assert_eq!(claim.uid, u.id);
    assert_eq!(store.get_phone(&phone).await.unwrap().unwrap().uid, u.id);
    assert_eq!(store.list_identities(&u.id).await.unwrap().len(), 2);
    // A rerun finds the user; another user with the same address, number or provider account
    // is refused, and leaves nothing behind.
    assert_eq!(
        conflict(store.import_user(&u, Some(&e), Some(&p), &ids).await),
        Some(Conflict::User)
    );
    let (v, e2, p2) = imported("imp2", &ctx.email("imp"), &format!("{phone}9"));
    assert_eq!(
        conflict(store.import_user(&v, Some(&e2), Some(&p2), &[]).await),
        Some(Conflict::Email)
    );
    let (v, e2, p2) = imported("imp2", &ctx.email("imp2"), &phone);
    assert_eq!(
        conflict(store.import_user(&v, Some(&e2), Some(&p2), &[]).await),
        Some(Conflict::Phone)
    );
    let taken = [unverified(&v.id, "i3", "sub1")];
    let (v, e2, p2) = imported("imp2", &ctx.email("imp2"), &format!("{phone}8"));
    assert_eq!(
        conflict(store.import_user(&v, Some(&e2), Some(&p2), &taken).await),
        Some(Conflict::Identity)
    );
    assert_eq!(store.get_email(&ctx.email("imp2")).await.unwrap(), None);
    assert_eq!(
        store.get_user_and_sessions(&v.id, &[]).await.unwrap().0,
        None
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::{MemoryStore, Tokens};
    use std::sync::Arc;

    const NOW: Millis = 1_780_000_000_000;

    #[tokio::test]
    async fn memory_store_conforms() {
        let store = MemoryStore::new(Arc::new(FixedClock::new(NOW)));
        run(&store, "cf", NOW).await;
    }

    #[tokio::test]
    async fn memory_store_user_limit() {
        let store = MemoryStore::new(Arc::new(FixedClock::new(NOW))).with_user_limit(3);
        user_limit(&store, "ul", NOW).await;
    }

    #[tokio::test]
    async fn ttl_sweeps_by_the_injected_clock() {
        let clock = Arc::new(FixedClock::new(NOW));
        let store = MemoryStore::new(clock.clone());
        let c = challenge("u", "c", NOW, 60_000);
        store.put_challenge(&c).await.unwrap();
        assert_eq!(store.run_ttl().unwrap(), 0);
        clock.advance_secs(61);
        // Expired but still stored, as in DynamoDB until the sweeper passes.
        assert_eq!(store.len(), 1);
        assert_eq!(store.run_ttl().unwrap(), 1);
        assert!(store.is_empty());
    }
}
