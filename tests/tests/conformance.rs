//! The storage conformance suite (`shared::store::conformance`) against DynamoDB, as moto
//! implements it: the same checks `cargo test -p shared` runs against the in-memory twin.

use shared::store::{conformance, DynamoStore, Storage};

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
    let sdk = shared::aws::load().await;
    let timeouts = shared::config::Timeouts {
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
