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

/// Twenty requests made by `request`, with `change` launched among them (after the eighth).
/// Asserts that every request answered 201; returns the change's reply.
async fn twenty_201s_around<R, RF, C, CF>(request: R, change: C) -> Reply
where
    R: Fn() -> RF,
    RF: std::future::Future<Output = Reply> + Send + 'static,
    C: FnOnce() -> CF,
    CF: std::future::Future<Output = Reply> + Send + 'static,
{
    let mut change = Some(change);
    let (mut tasks, mut changed) = (vec![], None);
    for i in 0..20 {
        if let Some(c) = change.take_if(|_| i == 8) {
            changed = Some(tokio::spawn(c()));
        }
        tasks.push(tokio::spawn(request()));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    }
    changed.unwrap().await.unwrap()
}

/// `PATCH /account/email` to `new` for `cookie`'s user, as a task to launch among others.
fn email_change(
    s: &std::sync::Arc<Server>,
    cookie: &str,
    new: &str,
    password: &str,
) -> impl std::future::Future<Output = Reply> + Send + 'static {
    let (s, cookie, new, password) = (
        s.clone(),
        cookie.to_owned(),
        new.to_owned(),
        password.to_owned(),
    );
    async move { s.change(&cookie, "email", &new, &password).await }
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
    twenty_201s_around(
        || {
            let (s, old) = (s.clone(), old.clone());
            async move {
                s.post(
                    "/account/tokens/email",
                    json!({"userId": "unique()", "email": old}),
                )
                .await
            }
        },
        || email_change(&s, &cookie, &new, &password),
    )
    .await;
    assert_eq!(s.get("/account", Some(&cookie)).await.json["email"], new);
    let target = s
        .text(&format!("USER#{uid}"), "TOKEN#email-otp", "target")
        .await;
    assert!(
        target.is_none() || target.as_deref() == Some(new.as_str()),
        "a code for {old} survived the move to {new}: {target:?}"
    );
}

/// Twenty first codes for an address nobody has, `field` (`email`/`phone`) at `POST {route}`:
/// one creates the user, the others find it and replace its code. All succeed; one user holds
/// the address. Returns that user's ID.
async fn twenty_parallel_first_codes(
    route: &'static str,
    field: &'static str,
    value: &str,
) -> String {
    let s = std::sync::Arc::new(Server::start().await);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, value) = (s.clone(), value.to_owned());
            tokio::spawn(async move {
                s.post(route, json!({"userId": "unique()", field: value}))
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
    assert_eq!(users.len(), 1, "one user for {value}: {users:?}");
    let uid = users.pop_first().unwrap();
    assert_eq!(
        s.text(&format!("USER#{uid}"), "PROFILE", field)
            .await
            .as_deref(),
        Some(value)
    );
    uid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_codes_for_a_new_address_make_one_user() {
    twenty_parallel_first_codes("/account/tokens/email", "email", &unique_email()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_codes_for_a_new_number_make_one_user() {
    twenty_parallel_first_codes("/account/tokens/phone", "phone", &unique_phone()).await;
}

/// Twenty recovery requests while the user changes the password: a link is either issued before
/// the change (which deletes it) or after it; none issued before the change survives it, and
/// the one left (if any) redeems. A request that races the change itself is re-read and its
/// link stamped after the change: every request succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_links_requested_during_a_password_change_do_not_outlive_it() {
    let s = std::sync::Arc::new(Server::start().await);
    let (uid, email, password, cookie) = s.user().await;
    let r = twenty_201s_around(
        || {
            let (s, email) = (s.clone(), email.clone());
            async move {
                s.post(
                    "/account/recovery",
                    json!({"email": email, "url": "http://localhost/r"}),
                )
                .await
            }
        },
        || {
            let (s, cookie, password) = (s.clone(), cookie.clone(), password.clone());
            async move {
                s.call(
                    Method::PATCH,
                    "/account/password",
                    Some(&cookie),
                    Some(json!({"password": "changed-password-2", "oldPassword": password})),
                )
                .await
            }
        },
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pk = format!("USER#{uid}");
    let changed = s.number(&pk, "PROFILE", "passwordUpdate").await.unwrap();
    if let Some(created) = s.number(&pk, "TOKEN#recovery", "created").await {
        assert!(
            created >= changed,
            "a recovery link issued at {created} outlived the password change at {changed}"
        );
    }
    // Whatever the race left, a link asked for now works once, with the new password's account.
    let secret = s.recovery_secret(&email).await;
    let r = s.complete_recovery(&uid, &secret, "new-password-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.login(&email, "new-password-1").await;
}

/// Twenty verification requests while the user changes the email: each link goes to the
/// address the profile has when it is stored (a request that raced the change is re-read), so
/// every request succeeds and no link for the old address is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verifications_requested_during_an_email_change_go_to_the_new_address() {
    let s = std::sync::Arc::new(Server::start().await);
    let (uid, old, password, cookie) = s.user().await;
    let new = unique_email();
    twenty_201s_around(
        || {
            let (s, cookie) = (s.clone(), cookie.clone());
            async move {
                s.call(
                    Method::POST,
                    "/account/verifications/email",
                    Some(&cookie),
                    Some(json!({"url": "http://localhost/v"})),
                )
                .await
            }
        },
        || email_change(&s, &cookie, &new, &password),
    )
    .await;
    let target = s
        .text(&format!("USER#{uid}"), "TOKEN#verify-email", "target")
        .await;
    assert!(
        target.is_none() || target.as_deref() == Some(new.as_str()),
        "a link for {old} survived the move to {new}: {target:?}"
    );
}
