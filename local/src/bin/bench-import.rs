//! The import benchmark (README "Moving in"): `bench-import N memory|dynamodb` imports N generated
//! Appwrite users (MD5 hashes, an email each) through `admin::users::import`, the code
//! `admin users import` runs, into the in-memory twin or DynamoDB (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `TABLE_NAME`), and prints users per second and DynamoDB calls per user. A benchmark: it
//! asserts nothing. `scripts/bench-import` runs both.

// A benchmark binary: a failure ends the run with its message.
#![allow(clippy::expect_used)]

use account_adapters::dynamo::{DynamoStore, Recorder};
use account_core::clock::{Clock, SystemClock};
use account_core::store::{MemoryStore, Storage};
use admin::users::{self, OnConflict, Options, Source};
use std::sync::Arc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let store_kind = args.get(2).map(String::as_str).unwrap_or("memory");
    let concurrency = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(32);
    let run = std::process::id();
    let users: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "$id": format!("b{run}x{i}"),
                "$createdAt": "2024-01-02T03:04:05.678+00:00",
                "name": format!("User {i}"),
                "email": format!("user{i}.{run}@bench.example"),
                "emailVerification": true,
                "status": true,
                "labels": [],
                "prefs": {},
                "password": "144fa7eaa4904e8ee120651997f70dcc",
                "hash": "md5",
                "hashOptions": {"type": "md5"},
            })
        })
        .collect();
    let text = serde_json::Value::Array(users).to_string();
    let opts = Options {
        source: Source::Appwrite,
        csv: false,
        on_conflict: OnConflict::Skip,
        dry_run: false,
        issuers: Default::default(),
        concurrency,
        now: SystemClock.now_ms(),
    };
    let recorder = Recorder::default();
    let store: Box<dyn Storage> = match store_kind {
        "dynamodb" => {
            let table =
                std::env::var("TABLE_NAME").unwrap_or_else(|_| format!("bench-import-{run}"));
            let sdk = account_adapters::aws::load().await;
            let timeouts = account_core::config::Timeouts::from_env().unwrap_or_default();
            let s = DynamoStore::recorded(&sdk, &table, timeouts, &recorder);
            s.ensure_table().await.expect("table");
            Box::new(s)
        }
        _ => Box::new(MemoryStore::new(Arc::new(SystemClock))),
    };
    let calls_before = recorder.calls();
    let started = std::time::Instant::now();
    let mut sink = std::io::sink();
    let summary = users::import(store.as_ref(), &text, &opts, &mut sink, &mut |_, _| {})
        .await
        .expect("import");
    let secs = started.elapsed().as_secs_f64();
    // Operations, not retries (the recorder keeps only the recent names; it counts them all).
    let calls = recorder.calls() - calls_before;
    println!(
        "{store_kind}: {n} users, concurrency {concurrency}: {} created, {} failed in {secs:.1} s = {:.0} users/s",
        summary.created,
        summary.failed,
        n as f64 / secs
    );
    if store_kind == "dynamodb" {
        // Each user is one TransactWriteItems of its profile and email claim.
        println!(
            "DynamoDB calls: {calls} ({:.2} per user, each a TransactWriteItems of 2 items)",
            calls as f64 / n as f64
        );
    }
}
