//! `admin users import` and `export` (issue 22) against DynamoDB Local: a fixture per source
//! format, imported and then signed into over HTTP with the imported password (and through
//! GitHub for an imported identity); bad input reported row by row with nothing half-written;
//! an export imported into an empty table signs everyone in again.

use account_core::clock::Clock;
use account_core::store::{invariants, Accounts, Identities};
use admin::users::{self, OnConflict, Options, Source, Summary};
use integration_tests::browser::Browser;
use integration_tests::fake_github::{Account, FakeGithub};
use integration_tests::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/import/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A server on a table of its own (the fixtures' IDs and addresses are fixed).
async fn server_with(f: impl FnOnce(&mut integration_tests::Options)) -> Server {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut o = integration_tests::Options::default();
    o.config.table_name = format!("{}-imp{}-{n}", o.config.table_name, std::process::id());
    f(&mut o);
    Server::with(o).await
}

fn options(source: Source) -> Options {
    Options {
        source,
        csv: false,
        on_conflict: OnConflict::Skip,
        dry_run: false,
        issuers: Default::default(),
        concurrency: 8,
        now: account_core::clock::SystemClock.now_ms(),
    }
}

async fn run(s: &Server, text: &str, opts: &Options) -> (Summary, Vec<Value>) {
    let mut report = Vec::new();
    let summary = users::import(&s.dynamo, text, opts, &mut report, &mut |_, _| {})
        .await
        .unwrap();
    let rows = String::from_utf8(report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (summary, rows)
}

fn firebase() -> Source {
    Source::Firebase(users::firebase_config(&fixture("firebase-hash-config.txt")).unwrap())
}

async fn signs_in(s: &Server, email: &str) -> String {
    let r = s
        .post(
            "/account/sessions/email",
            json!({"email": email, "password": "appwrite"}),
        )
        .await;
    assert_eq!(r.status, 201, "{email}: {}", r.body);
    r.json["userId"].as_str().unwrap().to_owned()
}

async fn consistent(s: &Server) {
    let items = s.dynamo.scan_items().await.unwrap();
    let broken = invariants::check(&items, false);
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn every_source_format_imports_and_its_users_sign_in() {
    let s = server_with(|_| {}).await;
    let cases = [
        (
            Source::Appwrite,
            "appwrite.json",
            5,
            vec![
                ("md5@import.example", "aw-md5"),
                ("scrypt@import.example", "aw-scrypt"),
                ("sha@import.example", "aw-sha"),
                ("phpass@import.example", "aw-phpass"),
                ("argon2@import.example", "aw-argon2"),
            ],
        ),
        (
            firebase(),
            "firebase.json",
            2,
            vec![("fire@import.example", "fbUser1")],
        ),
        (
            Source::Supabase,
            "supabase.json",
            2,
            vec![(
                "supa@import.example",
                "5f1c8a3e-2b7d-4c4e-9f1a-0a1b2c3d4e5f",
            )],
        ),
        (
            Source::Auth0,
            "auth0.ndjson",
            2,
            vec![("zero@import.example", "")],
        ),
    ];
    for (source, file, count, logins) in cases {
        let (summary, rows) = run(&s, &fixture(file), &options(source.clone())).await;
        assert_eq!(summary.created, count, "{file}: {rows:#?}");
        assert_eq!(summary.failed, 0, "{file}: {rows:#?}");
        let text = serde_json::to_string(&rows).unwrap();
        assert!(
            !text.contains("$2a$") && !text.contains("144fa7ea"),
            "no hash in a report"
        );
        for (email, id) in logins {
            let uid = signs_in(&s, email).await;
            if !id.is_empty() {
                assert_eq!(uid, id, "{email}: the ID is kept");
            }
        }
        // A rerun skips every user and writes nothing.
        let (again, _) = run(&s, &fixture(file), &options(source)).await;
        assert_eq!((again.created, again.skipped), (0, count), "{file}: rerun");
    }
    // An ID that is not an Appwrite ID is mapped, and the report says to what.
    let (_, rows) = run(&s, &fixture("auth0.ndjson"), &options(Source::Auth0)).await;
    let zero = rows
        .iter()
        .find(|r| r["sourceId"] == "auth0|65a1b2c3d4e5f60718293a4b")
        .unwrap();
    assert_ne!(zero["user"], zero["sourceId"]);
    // What the sources said about the users.
    let uid = signs_in(&s, "md5@import.example").await;
    let (cookie, _) = s.login("md5@import.example", "appwrite").await;
    let me = s.get("/account", Some(&cookie)).await;
    assert_eq!(me.json["$id"], uid);
    assert_eq!(me.json["labels"], json!(["vip"]));
    assert_eq!(me.json["prefs"], json!({"theme": "dark"}));
    assert_eq!(me.json["phone"], "+14155550101");
    assert_eq!(me.json["emailVerification"], true);
    assert_eq!(me.json["registration"], "2024-01-02T03:04:05.678+00:00");
    // Supabase: a ban in the future blocks; a user without a hash has no password (a magic
    // link or an email code signs them in).
    let (banned, _) = s
        .dynamo
        .get_user_and_sessions("6a2d9b4f-3c8e-4d5f-8a2b-1b2c3d4e5f60", &[])
        .await
        .unwrap();
    let banned = banned.unwrap();
    assert!(!banned.status && banned.password.is_none());
    let (fire_phone, _) = s
        .dynamo
        .get_user_and_sessions("fbPhoneOnly", &[])
        .await
        .unwrap();
    let fire_phone = fire_phone.unwrap();
    assert_eq!(fire_phone.phone.as_deref(), Some("+14155550102"));
    assert!(fire_phone.phone_verification && fire_phone.email.is_none());
    consistent(&s).await;
}

#[tokio::test]
async fn an_imported_identity_signs_in_to_the_imported_account() {
    let gh = FakeGithub::start().await;
    let s = server_with(|o| {
        o.public_origin = true;
        gh.configure(&mut o.config);
    })
    .await;
    let mut opts = options(firebase());
    opts.issuers.insert(
        "github".into(),
        format!("{}/login/oauth/access_token", gh.base),
    );
    let (summary, rows) = run(&s, &fixture("firebase.json"), &opts).await;
    assert_eq!(summary.created, 2, "{rows:#?}");
    gh.next(Account {
        id: 424242,
        login: "fire".into(),
        name: "Fire Base".into(),
        emails: vec![("fire@import.example".into(), true, true)],
    });
    let mut b = Browser::new(&s.base);
    let start = format!(
        "{}/account/sessions/oauth2/github?project={PROJECT}&success=http%3A%2F%2Flocalhost%2Fok&failure=http%3A%2F%2Flocalhost%2Ffail",
        s.base
    );
    assert_eq!(b.follow(&start, &gh.base).await, "http://localhost/ok");
    let me = s.get("/account", b.session(PROJECT).as_deref()).await;
    assert_eq!(me.json["$id"], "fbUser1", "{}", me.json);
    consistent(&s).await;
}

#[tokio::test]
async fn bad_input_is_reported_row_by_row_and_leaves_nothing_half_written() {
    let s = server_with(|_| {}).await;
    s.sign_up().await;
    // Someone already has this address.
    let (_, taken, _) = s.sign_up().await;
    let user = |id: &str, email: &str, password: &str, hash: &str| json!({"$id": id, "email": email, "name": id, "password": password, "hash": hash, "hashOptions": {}});
    let file = json!([
        user(
            "ok-1",
            "ok1@import.example",
            "144fa7eaa4904e8ee120651997f70dcc",
            "md5"
        ),
        user("bad-alg", "alg@import.example", "00", "md4"),
        user(
            "dup",
            "ok1@import.example",
            "144fa7eaa4904e8ee120651997f70dcc",
            "md5"
        ),
        user("bad-hash", "hash@import.example", "zz", "md5"),
        user("taken", &taken, "144fa7eaa4904e8ee120651997f70dcc", "md5"),
        user(
            "bad-email",
            "not an email",
            "144fa7eaa4904e8ee120651997f70dcc",
            "md5"
        ),
    ])
    .to_string();
    let (summary, rows) = run(&s, &file, &options(Source::Appwrite)).await;
    assert_eq!((summary.created, summary.failed), (1, 5), "{rows:#?}");
    let reason = |record: u64| {
        rows.iter().find(|r| r["record"] == record).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason(2).contains("md4"), "{}", reason(2));
    assert!(
        reason(3).contains("same email as record 1"),
        "{}",
        reason(3)
    );
    assert!(reason(4).contains("malformed md5"), "{}", reason(4));
    assert!(
        reason(5).contains("another user has this email"),
        "{}",
        reason(5)
    );
    assert!(reason(6).contains("invalid email"), "{}", reason(6));
    let none = s.get("/account", None).await;
    assert_eq!(none.status, 401);
    consistent(&s).await;

    // A cut-off file: the records before the cut are read, the cut is a failed row.
    let cut = &fixture("appwrite.json")[..1500];
    let (summary, rows) = run(&s, cut, &options(Source::Appwrite)).await;
    assert_eq!((summary.created, summary.failed), (3, 1), "{rows:#?}");
    let failed = rows.iter().find(|r| r["outcome"] == "failed").unwrap();
    assert_eq!(failed["record"], 4);
    assert!(
        failed["reason"].as_str().unwrap().contains("cut off"),
        "{failed}"
    );
    // A dry run writes nothing.
    let mut dry = options(firebase());
    dry.dry_run = true;
    let (summary, _) = run(&s, &fixture("firebase.json"), &dry).await;
    assert_eq!((summary.valid, summary.created), (2, 0));
    assert!(s
        .dynamo
        .get_email("fire@import.example")
        .await
        .unwrap()
        .is_none());
    consistent(&s).await;
}

#[tokio::test]
async fn an_export_imports_into_an_empty_table_and_everyone_signs_in() {
    let from = server_with(|_| {}).await;
    let (summary, _) = run(&from, &fixture("appwrite.json"), &options(Source::Appwrite)).await;
    assert_eq!(summary.created, 5);
    // One user signs in first: exported as Argon2id; the others with their imported hashes.
    signs_in(&from, "md5@import.example").await;
    let exported = users::export(&from.dynamo.scan_items().await.unwrap());
    assert_eq!(exported["total"], 5);
    let text = exported.to_string();
    let to = server_with(|_| {}).await;
    let (summary, rows) = run(&to, &text, &options(Source::Appwrite)).await;
    assert_eq!(summary.created, 5, "{rows:#?}");
    for email in [
        "md5@import.example",
        "scrypt@import.example",
        "sha@import.example",
        "phpass@import.example",
        "argon2@import.example",
    ] {
        signs_in(&to, email).await;
    }
    consistent(&to).await;
}

#[tokio::test]
async fn a_rerun_with_on_conflict_update_updates_the_profile() {
    let s = server_with(|_| {}).await;
    let text = fixture("appwrite.json");
    run(&s, &text, &options(Source::Appwrite)).await;
    let renamed = text.replace("\"Md Five\"", "\"Md Renamed\"");
    let mut update = options(Source::Appwrite);
    update.on_conflict = OnConflict::Update;
    let (summary, rows) = run(&s, &renamed, &update).await;
    assert_eq!(summary.updated, 5, "{rows:#?}");
    let (cookie, _) = s.login("md5@import.example", "appwrite").await;
    let me = s.get("/account", Some(&cookie)).await;
    assert_eq!(me.json["name"], "Md Renamed");
    consistent(&s).await;
}

#[tokio::test]
async fn firebase_and_supabase_csv_exports_import_too() {
    let s = server_with(|_| {}).await;
    for (source, file, email, id) in [
        (
            firebase(),
            "firebase.csv",
            "firecsv@import.example",
            "fbCsv1",
        ),
        (
            Source::Supabase,
            "supabase.csv",
            "supacsv@import.example",
            "7b3e0c5f-4d9f-4e6a-9b3c-2c3d4e5f6071",
        ),
    ] {
        let mut opts = options(source);
        opts.csv = true;
        let (summary, rows) = run(&s, &fixture(file), &opts).await;
        assert_eq!(summary.failed, 0, "{file}: {rows:#?}");
        assert_eq!(signs_in(&s, email).await, id, "{file}");
        let (user, _) = s.dynamo.get_user_and_sessions(id, &[]).await.unwrap();
        assert!(user.unwrap().email_verification, "{file}");
        let identities = s.dynamo.list_identities(id).await.unwrap();
        assert_eq!(identities.len(), 1, "{file}");
        assert_eq!(identities[0].provider, "github");
    }
    let (phone_only, _) = s
        .dynamo
        .get_user_and_sessions("fbCsvPhone", &[])
        .await
        .unwrap();
    assert_eq!(phone_only.unwrap().phone.as_deref(), Some("+14155550104"));
    consistent(&s).await;
}

#[tokio::test]
async fn an_id_taken_before_the_import_is_neither_skipped_nor_updated() {
    let s = server_with(|_| {}).await;
    // Someone signs up with a user's source ID before the operator imports.
    let r = s
        .post(
            "/account",
            json!({"userId": "aw-md5", "email": "squatter@example.com", "password": "squatter-pass-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for on_conflict in [OnConflict::Skip, OnConflict::Update] {
        let mut opts = options(Source::Appwrite);
        opts.on_conflict = on_conflict;
        let (_, rows) = run(&s, &fixture("appwrite.json"), &opts).await;
        let row = rows.iter().find(|r| r["user"] == "aw-md5").unwrap();
        assert_eq!(row["outcome"], "failed", "{row}");
        assert!(
            row["reason"].as_str().unwrap().contains("did not create"),
            "{row}"
        );
    }
    let (cookie, _) = s.login("squatter@example.com", "squatter-pass-1").await;
    let me = s.get("/account", Some(&cookie)).await;
    assert_eq!(
        me.json["labels"],
        json!([]),
        "the squatter got nothing of the user's"
    );
    assert_eq!(me.json["prefs"], json!({}));
    consistent(&s).await;
}

#[tokio::test]
async fn an_update_rerun_never_replaces_a_hash_the_user_has_moved_on_from() {
    let s = server_with(|_| {}).await;
    run(&s, &fixture("appwrite.json"), &options(Source::Appwrite)).await;
    // The user signs in (the hash becomes Argon2id), then the operator reruns with update.
    signs_in(&s, "md5@import.example").await;
    let mut update = options(Source::Appwrite);
    update.on_conflict = OnConflict::Update;
    run(&s, &fixture("appwrite.json"), &update).await;
    let stored = s
        .text(
            &account_core::item::user_pk("aw-md5"),
            account_core::item::PROFILE_SK,
            "password",
        )
        .await
        .unwrap();
    assert!(account_core::crypto::is_current(&stored), "{stored}");
}

/// An address the source did not mark verified is an unverified address here: the first
/// passwordless login with it is an ownership proof, which removes the imported password (as a
/// pre-registrant's); a verified one keeps it.
#[tokio::test]
async fn an_unverified_imported_address_is_proven_by_its_first_passwordless_login() {
    let s = server_with(|_| {}).await;
    run(&s, &fixture("appwrite.json"), &options(Source::Appwrite)).await;
    s.otp_login("scrypt@import.example").await;
    let password = |id: &'static str| {
        let s = &s;
        async move {
            s.text(
                &account_core::item::user_pk(id),
                account_core::item::PROFILE_SK,
                "password",
            )
            .await
        }
    };
    assert_eq!(password("aw-scrypt").await, None, "the proof removed it");
    let r = s
        .post(
            "/account/sessions/email",
            json!({"email": "scrypt@import.example", "password": "appwrite"}),
        )
        .await;
    assert_eq!(r.status, 401);
    s.otp_login("md5@import.example").await;
    assert!(
        password("aw-md5").await.is_some(),
        "a verified address keeps it"
    );
    signs_in(&s, "md5@import.example").await;
    consistent(&s).await;
}
