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

/// Twenty code requests for an address while its owner moves to another: each is issued before
/// the change (which deletes it), or looks the address up again and (once it is free) goes to a
/// new user, created once. Every request succeeds, and no code for the old address is left on
/// the account that moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_requested_during_an_email_change_leave_none_for_the_old_address() {
    let s = std::sync::Arc::new(Server::start().await);
    let (uid, old, password, cookie) = s.user().await;
    let new = unique_email();
    let mut tasks = vec![];
    let mut change = None;
    for i in 0..20 {
        if i == 8 {
            let (s, cookie, new, password) =
                (s.clone(), cookie.clone(), new.clone(), password.clone());
            change = Some(tokio::spawn(async move {
                s.change(&cookie, "email", &new, &password).await
            }));
        }
        let (s, old) = (s.clone(), old.clone());
        tasks.push(tokio::spawn(async move {
            s.post(
                "/account/tokens/email",
                json!({"userId": "unique()", "email": old}),
            )
            .await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => {}
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    change.unwrap().await.unwrap();
    assert_eq!(s.get("/account", Some(&cookie)).await.json["email"], new);
    let target = s
        .text(&format!("USER#{uid}"), "TOKEN#email-otp", "target")
        .await;
    assert!(
        target.is_none() || target.as_deref() == Some(new.as_str()),
        "a code for {old} survived the move to {new}: {target:?}"
    );
}

/// Twenty code requests for an address nobody has: one creates the user, the others find it and
/// replace its code. All succeed; one user holds the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_codes_for_a_new_address_make_one_user() {
    let s = std::sync::Arc::new(Server::start().await);
    let email = unique_email();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, email) = (s.clone(), email.clone());
            tokio::spawn(async move {
                s.post(
                    "/account/tokens/email",
                    json!({"userId": "unique()", "email": email}),
                )
                .await
            })
        })
        .collect();
    let mut users = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        users.insert(r.json["userId"].as_str().unwrap().to_owned());
    }
    assert_eq!(users.len(), 1, "one user for the address: {users:?}");
}
