//! Uniqueness under concurrency: conditional writes in one transaction, not read-then-write.

use integration_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_sign_ups_with_one_email() {
    let s = std::sync::Arc::new(Server::start().await);
    let email = unique_email();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            let email = if i % 2 == 0 {
                email.clone()
            } else {
                email.to_uppercase()
            };
            tokio::spawn(async move {
                s.call(
                    Method::POST,
                    "/account",
                    None,
                    Some(json!({"userId": "unique()", "email": email, "password": "password1234"})),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => created += 1,
            409 => {
                r.assert_error(409, "user_already_exists");
                conflicts += 1
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((created, conflicts), (1, 19));
    // Exactly one user holds the email: it can log in, and only one account answers.
    let (c, _) = s.login(&email, "password1234").await;
    assert_eq!(s.get("/account", Some(&c)).await.json["email"], email);
}
