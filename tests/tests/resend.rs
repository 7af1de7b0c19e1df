//! Every kind of write is safe to resend (README "Timeouts"): the proxy forwards the write, it
//! lands, and the answer is lost (a 500); the SDK resends. Each test asserts the answer the
//! caller gets and that the change was applied once. Against DynamoDB Local, which honours
//! transaction request tokens as DynamoDB does.

use account_adapters::dynamo::DynamoStore;
use account_core::config::Timeouts;
use account_core::item::{self, ChallengeItem, EmailItem, UserItem};
use account_core::store::{conformance, Accounts, Security, Sessions, Storage, Tokens};
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::lost_answer::LostAnswers;
use integration_tests::{Reply, PROJECT};
use std::collections::HashMap;

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// A store on a fresh table whose every DynamoDB call goes through `proxy`.
async fn store(proxy: &LostAnswers, name: &str) -> DynamoStore {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: run the tests through scripts/test, which starts the emulators"
    );
    let table = format!(
        "{}-resend-{name}-{}",
        std::env::var("TABLE_NAME").unwrap_or_else(|_| "test".into()),
        now()
    );
    let sdk = account_adapters::aws::load_with_endpoint(&proxy.url).await;
    let timeouts = Timeouts {
        attempt: std::time::Duration::from_secs(20),
        operation: std::time::Duration::from_secs(30),
    };
    let store = DynamoStore::with_timeouts(&sdk, &table, timeouts).with_user_limit(100);
    store.prepare().await.unwrap();
    store
}

/// The stored item at `pk`/`sk`, read past the proxy's losses (GetItem is never armed).
async fn stored(
    store: &DynamoStore,
    pk: &str,
    sk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(pk.into()))
        .key("SK", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

fn number(item: &HashMap<String, AttributeValue>, attr: &str) -> i64 {
    item.get(attr)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number {attr} in {item:?}"))
}

/// A user with an email claim and a session, created without losses.
async fn user(store: &DynamoStore, uid: &str, t: i64) -> (UserItem, String) {
    let address = format!("{uid}@example.com");
    let mut u = UserItem::new(uid, t);
    u.email = Some(address.clone());
    let claim = EmailItem::new(&address, uid, None);
    let session = conformance::session(uid, "s1", t, t + 3_600_000);
    store
        .create_user(&u, Some(&claim), None, Some(&session))
        .await
        .unwrap();
    (u, address)
}

#[tokio::test]
async fn a_transaction_whose_answer_was_lost_is_applied_once_and_reported_done() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "tx").await;
    let t = now();
    proxy.lose_next("TransactWriteItems");
    let (_, address) = user(&store, "u-tx", t).await;
    assert_eq!(proxy.lost(), ["TransactWriteItems"]);
    assert_eq!(proxy.forwarded("TransactWriteItems"), 2, "resent once");
    // Applied once: one user counted, the claim and the session the user's.
    let counter = stored(&store, item::USER_COUNTER_PK, item::USER_COUNTER_SK)
        .await
        .expect("the user counter");
    assert_eq!(number(&counter, "n"), 1, "the user was counted twice");
    assert_eq!(
        store.get_email(&address).await.unwrap().unwrap().uid,
        "u-tx"
    );
    assert!(
        stored(&store, &item::user_pk("u-tx"), &item::session_sk("s1"))
            .await
            .is_some()
    );
    // A second write of the same user is a new request, refused by its conditions.
    let again = EmailItem::new(&address, "u-tx", None);
    let second = store
        .create_user(&UserItem::new("u-tx", t), Some(&again), None, None)
        .await;
    assert!(
        second.is_err(),
        "a new transaction must not pass for the old one"
    );
}

#[tokio::test]
async fn a_conditional_put_whose_answer_was_lost_is_reported_done() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "put").await;
    let t = now();
    let challenge = ChallengeItem {
        pk: item::user_pk("u-put"),
        sk: item::challenge_sk("c1"),
        id: "c1".into(),
        uid: "u-put".into(),
        factor: "totp".into(),
        code_hash: String::new(),
        attempts: 0,
        created: t,
        expire: t + 900_000,
        expires_at: (t + 900_000) / 1000,
    };
    proxy.lose_next("PutItem");
    store
        .put_challenge(&challenge)
        .await
        .expect("the resend succeeds");
    assert_eq!(proxy.lost(), ["PutItem"]);
    assert_eq!(proxy.forwarded("PutItem"), 2);
    let it = stored(&store, &challenge.pk, &challenge.sk).await.unwrap();
    assert_eq!(number(&it, "attempts"), 0);

    // The guarded attempt counter of that challenge, with room for exactly one attempt: the
    // resend of the attempt that landed must be admitted, and counted once.
    proxy.lose_next("UpdateItem");
    let attempt = store
        .attempt_challenge("u-put", "c1", 1, t)
        .await
        .unwrap()
        .expect("our own landed attempt, not a spent challenge");
    assert_eq!(attempt.attempts, 1);
    assert_eq!(proxy.forwarded("UpdateItem"), 2);
    let it = stored(&store, &challenge.pk, &challenge.sk).await.unwrap();
    assert_eq!(number(&it, "attempts"), 1);
    // A new attempt is refused: the budget of one is spent.
    assert!(store
        .attempt_challenge("u-put", "c1", 1, t)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_guarded_update_whose_answer_was_lost_returns_the_write_applied_once() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "update").await;
    let t = now();
    let (old, _) = user(&store, "u-up", t).await;
    let mut new = old.clone();
    new.name = "Renamed".into();
    new.updated = t + 1;
    proxy.lose_next("UpdateItem");
    let after = store
        .update_user(&old, &new)
        .await
        .unwrap()
        .expect("the profile");
    assert_eq!(after.name, "Renamed");
    // The stamp names the write: recognised, not applied a second time under a new stamp.
    assert_eq!(after.updated, t + 1, "the update was applied twice");
    assert_eq!(proxy.forwarded("UpdateItem"), 2);
    let it = stored(&store, &item::user_pk("u-up"), item::PROFILE_SK)
        .await
        .unwrap();
    assert_eq!(number(&it, "updated"), t + 1);
}

#[tokio::test]
async fn counters_whose_answers_were_lost_count_once_and_admit_their_request() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "counter").await;
    let t = now();
    let exp = t / 1000 + 60;

    // A rate-limit counter with room for one hit.
    proxy.lose_next("UpdateItem");
    assert_eq!(
        store.hit_counter("RL#resend", 1, exp).await.unwrap(),
        Some(1)
    );
    let it = stored(&store, "RL#resend", "RL").await.unwrap();
    assert_eq!(number(&it, "n"), 1, "counted twice");
    assert_eq!(store.hit_counter("RL#resend", 1, exp).await.unwrap(), None);

    // A short-code guard with room for one attempt.
    proxy.lose_next("UpdateItem");
    assert!(store
        .reserve_attempt("u-c", "TOKENGUARD#x", 1, exp)
        .await
        .unwrap());
    let it = stored(&store, &item::user_pk("u-c"), "TOKENGUARD#x")
        .await
        .unwrap();
    assert_eq!(number(&it, "attempts"), 1);

    // The login-failure counter on an email claim, one failure from the lockout.
    let (_, address) = user(&store, "u-c", t).await;
    proxy.lose_next("UpdateItem");
    assert!(store
        .reserve_login_attempt(&address, 1, 0, t)
        .await
        .unwrap());
    let it = stored(&store, &item::email_pk(&address), item::EMAIL_SK)
        .await
        .unwrap();
    assert_eq!(number(&it, "failures"), 1);
    // Two hits on the rate limit (the first resent), two guard and two login writes.
    assert_eq!(
        proxy.forwarded("UpdateItem"),
        7,
        "each counted write resent once"
    );

    // The message budgets: one transaction over several counters.
    proxy.lose_next("TransactWriteItems");
    let budgets = [
        ("RL#budget-a".to_owned(), 1, exp),
        ("RL#budget-b".to_owned(), 1, exp),
    ];
    assert_eq!(
        store.hit_counters(&budgets).await.unwrap(),
        None,
        "admitted"
    );
    for (c, _, _) in &budgets {
        assert_eq!(number(&stored(&store, c, "RL").await.unwrap(), "n"), 1);
    }
}

#[tokio::test]
async fn a_session_delete_whose_answer_was_lost_reports_the_session_deleted() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "delete").await;
    let (_, _) = user(&store, "u-d", now()).await;
    proxy.lose_next("DeleteItem");
    assert!(
        store.delete_session("u-d", "s1").await.unwrap(),
        "reported as never there"
    );
    assert_eq!(proxy.forwarded("DeleteItem"), 2);
    assert!(
        stored(&store, &item::user_pk("u-d"), &item::session_sk("s1"))
            .await
            .is_none()
    );
}

/// A parameter error does not depend on the table: with the rate-limit counter failing on every
/// resend, a login without a password and a sign-up with a malformed address still get their
/// 400, while a well-formed login, which needs the counter, gets the 503.
#[tokio::test]
async fn a_parameter_error_survives_a_failing_rate_limit_counter() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "params").await;
    let base = integration_tests::serve_store(store, true).await;
    // The counters are conditional UpdateItems; nothing else here updates.
    proxy.break_all("UpdateItem");
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        let req = http
            .post(format!("{base}{path}"))
            .header("X-Appwrite-Project", PROJECT)
            .json(&body);
        async move { Reply::read(req.send().await.unwrap()).await }
    };
    let login = |password: &str| {
        post(
            "/account/sessions/email",
            serde_json::json!({"email": "a@example.com", "password": password}),
        )
    };
    login("")
        .await
        .assert_error(400, "general_argument_invalid");
    post(
        "/account",
        serde_json::json!({"userId": "unique()", "email": "not-an-address", "password": "password1234"}),
    )
    .await
    .assert_error(400, "general_argument_invalid");
    login("password1234")
        .await
        .assert_error(503, "general_server_error");
}

/// A single-item write that meets a transaction in flight on its item is refused with
/// `TransactionConflictException` (nothing written), which the SDK's retries do not resend: the
/// store sends it again. A counter counts once; a session delete reports what it found.
#[tokio::test]
async fn a_write_meeting_a_transaction_in_flight_is_sent_again() {
    let proxy = LostAnswers::start().await;
    let store = store(&proxy, "conflict").await;
    let t = now();
    proxy.conflict_next("UpdateItem");
    assert_eq!(
        store
            .hit_counter("RL#conflict", 5, t / 1000 + 60)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        number(&stored(&store, "RL#conflict", "RL").await.unwrap(), "n"),
        1
    );
    let (_, _) = user(&store, "u-cf", t).await;
    proxy.conflict_next("DeleteItem");
    assert!(store.delete_session("u-cf", "s1").await.unwrap());
    // Refused, then found nothing: a session that was not there is still "not found".
    proxy.conflict_next("DeleteItem");
    assert!(!store.delete_session("u-cf", "s1").await.unwrap());
}
