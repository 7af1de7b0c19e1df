//! The storage conformance suite (`account_core::store::conformance`) against DynamoDB, as AWS's
//! DynamoDB Local implements it: the same checks `cargo test -p account-core` runs against the in-memory twin.

use account_adapters::dynamo::DynamoStore;
use account_core::store::{conformance, Storage};

fn millis() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// A store on a table of its own (the user counter is per table).
async fn fresh_store(name: &str) -> DynamoStore {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: run the tests through scripts/test, which starts the emulator"
    );
    let sdk = account_adapters::aws::load().await;
    let timeouts = account_core::config::Timeouts {
        attempt: std::time::Duration::from_secs(20),
        operation: std::time::Duration::from_secs(30),
    };
    let table = format!("conformance-{name}-{}-{}", std::process::id(), millis());
    let store = DynamoStore::with_timeouts(&sdk, &table, timeouts);
    store.prepare().await.unwrap();
    store
}

#[tokio::test]
async fn dynamo_store_conforms() {
    let store = fresh_store("all").await;
    conformance::run(&store, "cf", millis()).await;
}

#[tokio::test]
async fn dynamo_store_user_limit() {
    let store = fresh_store("limit").await.with_user_limit(3);
    conformance::user_limit(&store, "ul", millis()).await;
}

/// A profile change delivered late (an attempt that stalled, was retried, and reached DynamoDB
/// after the user's next change) is refused: the very bytes the store sent, delivered again
/// after a later change, change nothing. Here the late one would have switched MFA off again.
#[tokio::test]
async fn a_late_profile_write_cannot_undo_a_later_change() {
    use account_adapters::dynamo::Recorder;
    use account_core::item::UserItem;
    use account_core::store::Accounts;
    let recorder = Recorder::default();
    let sdk = account_adapters::aws::load().await;
    let timeouts = account_core::config::Timeouts {
        attempt: std::time::Duration::from_secs(20),
        operation: std::time::Duration::from_secs(30),
    };
    let table = format!("late-{}-{}", std::process::id(), millis());
    let store = DynamoStore::recorded(&sdk, &table, timeouts, &recorder);
    store.prepare().await.unwrap();
    let t = millis();
    let u = UserItem::new(&format!("late{t}"), t);
    store.create_user(&u, None, None, None).await.unwrap();
    let step = |from: &UserItem, mfa: bool, at: i64| {
        let mut n = from.clone();
        n.mfa = mfa;
        n.updated = at;
        n
    };
    let on = store
        .update_user(&u, &step(&u, true, t + 1))
        .await
        .unwrap()
        .unwrap();
    recorder.take_sent();
    let off = store
        .update_user(&on, &step(&on, false, t + 2))
        .await
        .unwrap()
        .unwrap();
    let late = recorder
        .take_sent()
        .into_iter()
        .find(|s| s.operation == "UpdateItem")
        .expect("the UpdateItem that switched MFA off");
    store
        .update_user(&off, &step(&off, true, t + 3))
        .await
        .unwrap()
        .unwrap();

    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap();
    let mut req = reqwest::Client::new().post(endpoint).body(late.body);
    for (k, v) in &late.headers {
        if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
            req = req.header(k, v);
        }
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "the late write was applied: {body}");
    assert!(body.contains("ConditionalCheckFailed"), "{body}");
    let (stored, _) = store.get_user_and_sessions(&u.id, &[]).await.unwrap();
    let stored = stored.unwrap();
    assert!(stored.mfa, "MFA was switched off by a late write");
    assert_eq!(stored.updated, t + 3);
}
