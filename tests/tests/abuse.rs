//! Abuse budgets: rate limits nobody can spend on someone else's behalf, and bounds on the mail
//! and SMS anyone can make the project send.
//!
//! - Redemption budgets (recovery, email verification, password login) are counted per client
//!   address: a stranger's wrong guesses from one address use up that address, never the owner's
//!   own attempt from another.
//! - Message budgets (`Config::message_budget`) bound what is sent per client address and hour
//!   (an IPv6 client counts per /64), per recipient and day, and per project and hour, each
//!   channel on its own; past a budget the answer is 429 `general_rate_limit_exceeded` and
//!   nothing is sent.
//!
//! Every server here trusts `X-Forwarded-For`, so each request names its own client address.

use account_core::clock::Clock;
use account_core::config::MessageBudget;
use integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A server that enforces rate limits and trusts `X-Forwarded-For`, with the message budgets
/// `budget` makes of the defaults, on a fixed clock a minute into an hour.
async fn limited(budget: impl FnOnce(&mut MessageBudget)) -> Server {
    let mut o = Options {
        fixed_clock: true,
        ..Options::default()
    };
    o.config.rate_limits_enabled = true;
    o.config.trusted_ip_header = Some("x-forwarded-for".into());
    budget(&mut o.config.message_budget);
    let s = Server::with(o).await;
    align(&s, HOUR, 60);
    s
}

/// Move a fixed-clock server to `offset_secs` into the next window of `period_secs`, so the
/// test's requests never straddle two windows. Forward, never back: an item written under a
/// clock set in the past carries an `expires_at` in the real past, and DynamoDB (DynamoDB Local
/// too) may delete it by TTL at any moment.
fn align(s: &Server, period_secs: i64, offset_secs: i64) {
    let clock = s.clock.as_ref().unwrap();
    let now = clock.now_ms();
    let period = period_secs * 1000;
    clock.set(now - now.rem_euclid(period) + period + offset_secs * 1000);
}

/// A request from client address `ip`, with session `cookie` and JSON `body` if given.
async fn from(
    s: &Server,
    ip: &str,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut r = s.req(method, path).header("X-Forwarded-For", ip);
    if let Some(c) = cookie {
        r = r.header("Cookie", format!("a_session_{PROJECT}={}", url_encode(c)));
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    Reply::read(r.send().await.unwrap()).await
}

/// `POST /account/tokens/magic-url` for `email` (a new or existing user), from `ip`.
async fn magic_link(s: &Server, ip: &str, email: &str) -> Reply {
    from(
        s,
        ip,
        Method::POST,
        "/account/tokens/magic-url",
        None,
        Some(json!({"userId": "unique()", "email": email, "url": "http://localhost/magic"})),
    )
    .await
}

/// `POST /account/verifications/email` for the user behind `cookie`, from `ip`.
async fn verification_mail(s: &Server, ip: &str, cookie: &str) -> Reply {
    from(
        s,
        ip,
        Method::POST,
        "/account/verifications/email",
        Some(cookie),
        Some(json!({"url": "http://localhost/verify"})),
    )
    .await
}

/// How many emails in the emulator's outbox went to any of `to`.
async fn emails_to(to: &[String]) -> usize {
    sent()
        .await
        .emails
        .iter()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|list| {
                    list.iter().any(|a| {
                        a.as_str()
                            .is_some_and(|a| to.iter().any(|t| a.contains(t.as_str())))
                    })
                })
        })
        .count()
}

/// How many texts in the emulator's outbox went to any of `phones`.
async fn texts_to(phones: &[String]) -> usize {
    sent()
        .await
        .sms
        .iter()
        .filter(|m| phones.iter().any(|p| m["phone_number"] == p.as_str()))
        .count()
}

/// `accepted` 201s followed by `refused` 429s.
fn admitted_then_refused(accepted: usize, refused: usize) -> Vec<u16> {
    [vec![201; accepted], vec![429; refused]].concat()
}

/// The status of `r`, after checking that a refusal is the rate-limit error.
#[track_caller]
fn status(r: &Reply) -> u16 {
    if r.status == 429 {
        r.assert_error(429, "general_rate_limit_exceeded");
    }
    r.status
}

/// A secret of the length of a real link's, which matches nothing.
fn bogus_secret() -> String {
    "0f".repeat(32)
}

/// A stranger at 198.51.100.7 sends ten wrong secrets for `uid` to a redemption route (`extra`
/// joins the body): each is a 401, and the eleventh from that address is a 429.
async fn spend_redemptions(s: &Server, path: &str, uid: &str, extra: Value) {
    let guess = || {
        let mut body = json!({"userId": uid, "secret": bogus_secret()});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        from(s, "198.51.100.7", Method::PUT, path, None, Some(body))
    };
    for _ in 0..10 {
        guess().await.assert_error(401, "user_invalid_token");
    }
    guess()
        .await
        .assert_error(429, "general_rate_limit_exceeded");
}

/// Ten wrong recovery secrets for the victim from one address exhaust that address only: the
/// owner, from their own address, still completes a real recovery, within the same limit of 10.
#[tokio::test]
async fn strangers_recovery_guesses_leave_the_owner_their_budget() {
    let s = limited(|_| {}).await;
    let (uid, email, _) = s.sign_up().await;
    let owner = "203.0.113.20";
    let extra = json!({"password": "stolen-pass-1"});
    spend_redemptions(&s, "/account/recovery", &uid, extra).await;

    let asked = from(
        &s,
        owner,
        Method::POST,
        "/account/recovery",
        None,
        Some(json!({"email": email, "url": "http://localhost/recover"})),
    )
    .await;
    assert_eq!(asked.status, 201, "{}", asked.body);
    let secret = link_param(&last_email(&email).await.unwrap().1, "secret").unwrap();
    let done = from(
        &s,
        owner,
        Method::PUT,
        "/account/recovery",
        None,
        Some(json!({"userId": uid, "secret": secret, "password": "owners-new-pass-1"})),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.header("x-ratelimit-limit"), Some("10"));
    s.login(&email, "owners-new-pass-1").await;
}

/// Ten wrong verification secrets for the victim from one address exhaust that address only:
/// the owner's real link, opened from another address, still verifies the email.
#[tokio::test]
async fn strangers_verification_guesses_leave_the_owner_their_budget() {
    let s = limited(|_| {}).await;
    let (uid, email, _, cookie) = s.user().await;
    let owner = "203.0.113.20";
    spend_redemptions(&s, "/account/verifications/email", &uid, json!({})).await;

    let asked = verification_mail(&s, owner, &cookie).await;
    assert_eq!(asked.status, 201, "{}", asked.body);
    let secret = link_param(&last_email(&email).await.unwrap().1, "secret").unwrap();
    let done = from(
        &s,
        owner,
        Method::PUT,
        "/account/verifications/email",
        None,
        Some(json!({"userId": uid, "secret": secret})),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.header("x-ratelimit-limit"), Some("10"));
    assert_eq!(
        s.get("/account", Some(&cookie)).await.json["emailVerification"],
        true
    );
}

/// Ten wrong passwords for the victim's email from one address exhaust that address only: once
/// the account's lockout back-off has passed, the owner logs in from another address.
#[tokio::test]
async fn strangers_wrong_passwords_leave_the_owner_their_login() {
    let s = limited(|_| {}).await;
    let (_, email, password) = s.sign_up().await;
    let (stranger, owner) = ("198.51.100.7", "203.0.113.20");
    let login = |ip: &'static str, pw: &str| {
        let body = json!({"email": email, "password": pw});
        from(
            &s,
            ip,
            Method::POST,
            "/account/sessions/email",
            None,
            Some(body),
        )
    };
    for _ in 0..10 {
        login(stranger, "wrong-password")
            .await
            .assert_error(401, "user_invalid_credentials");
    }
    login(stranger, "wrong-password")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    // Past the longest back-off ten failures can earn (2^(10 - threshold) s), inside the hour.
    let backoff = s
        .app
        .config
        .lockout
        .locked_until(10, 0)
        .map_or(0, |ms| ms / 1000);
    assert!(backoff < HOUR - 120, "back-off {backoff} s");
    s.clock.as_ref().unwrap().advance_secs(backoff + 8);
    let r = login(owner, &password).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// 200 verification mails asked for from one address, through 20 fresh anonymous users with 10
/// each (within the route's per-user limit): the address's hourly email budget admits 60 and
/// refuses the rest, and exactly 60 mails go out.
#[tokio::test]
async fn one_address_cannot_pump_verification_mails() {
    let s = limited(|b| b.email_hour = 10_000).await;
    let per_ip = s.app.config.message_budget.ip_hour as usize;
    assert_eq!(per_ip, 60, "the default per-address budget");
    let pump = "192.0.2.77";
    let mut cookies = vec![];
    let mut addresses = vec![];
    for i in 0..20 {
        // Anonymous sessions are limited per address: each from one of its own.
        let ip = format!("10.9.{}.{}", i / 200, i % 200 + 1);
        let anon = from(
            &s,
            &ip,
            Method::POST,
            "/account/sessions/anonymous",
            None,
            None,
        )
        .await;
        assert_eq!(anon.status, 201, "{}", anon.body);
        let cookie = anon.session_cookie().unwrap();
        let email = unique_email();
        let set = from(
            &s,
            &ip,
            Method::PATCH,
            "/account/email",
            Some(&cookie),
            Some(json!({"email": email, "password": "password1234"})),
        )
        .await;
        assert_eq!(set.status, 200, "{}", set.body);
        cookies.push(cookie);
        addresses.push(email);
    }
    let mut statuses = vec![];
    for cookie in &cookies {
        for _ in 0..10 {
            statuses.push(status(&verification_mail(&s, pump, cookie).await));
        }
    }
    assert_eq!(statuses, admitted_then_refused(per_ip, 200 - per_ip));
    assert_eq!(emails_to(&addresses).await, per_ip);
}

/// The same for texts: MFA phone challenges for 8 users with verified phones, 10 each (within
/// the route's per-user limit), all from one address: 60 are sent, the other 20 refused.
#[tokio::test]
async fn one_address_cannot_pump_challenge_texts() {
    let s = limited(|b| {
        b.email_hour = 10_000;
        b.sms_hour = 10_000;
    })
    .await;
    let per_ip = s.app.config.message_budget.ip_hour as usize;
    assert_eq!(per_ip, 60, "the default per-address budget");
    let pump = "192.0.2.78";
    let mut cookies = vec![];
    let mut phones = vec![];
    for i in 0..8 {
        // A phone-code login verifies the phone; phone tokens are limited per address, so each
        // user signs in from an address of its own.
        let ip = format!("10.8.0.{}", i + 1);
        let phone = unique_phone();
        let t = from(
            &s,
            &ip,
            Method::POST,
            "/account/tokens/phone",
            None,
            Some(json!({"userId": "unique()", "phone": phone})),
        )
        .await;
        assert_eq!(t.status, 201, "{}", t.body);
        let code = six_digits(&last_sms(&phone).await.unwrap()).unwrap();
        let r = from(
            &s,
            &ip,
            Method::POST,
            "/account/sessions/token",
            None,
            Some(json!({"userId": t.json["userId"], "secret": code})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        cookies.push(r.session_cookie().unwrap());
        phones.push(phone);
    }
    let before = texts_to(&phones).await;
    let mut statuses = vec![];
    for cookie in &cookies {
        for _ in 0..10 {
            let r = from(
                &s,
                pump,
                Method::POST,
                "/account/mfa/challenges",
                Some(cookie),
                Some(json!({"factor": "phone"})),
            )
            .await;
            statuses.push(status(&r));
        }
    }
    assert_eq!(statuses, admitted_then_refused(per_ip, 80 - per_ip));
    assert_eq!(texts_to(&phones).await - before, per_ip);
}

/// One recipient gets at most 20 mails a day, however many addresses ask: 25 verification mails,
/// each from another address, in batches of 10 an hour apart (the route's per-user limit),
/// admit 20.
#[tokio::test]
async fn one_recipient_gets_a_bounded_number_of_mails_a_day() {
    let s = limited(|b| {
        b.ip_hour = 10_000;
        b.email_hour = 10_000;
    })
    .await;
    let per_day = s.app.config.message_budget.recipient_day as usize;
    assert_eq!(per_day, 20, "the default per-recipient budget");
    // Early in a day, so the three hours below stay inside it.
    align(&s, DAY, 60);
    let (_, email, _, cookie) = s.user().await;
    let mut statuses = vec![];
    for (batch, n) in [10, 10, 5].into_iter().enumerate() {
        if batch > 0 {
            s.clock.as_ref().unwrap().advance_secs(HOUR + 1);
        }
        for i in 0..n {
            let ip = format!("198.18.{batch}.{}", i + 1);
            statuses.push(status(&verification_mail(&s, &ip, &cookie).await));
        }
    }
    assert_eq!(statuses, admitted_then_refused(per_day, 25 - per_day));
    assert_eq!(emails_to(&[email]).await, per_day);
}

/// The project's hourly email budget bounds mail to everyone together: with 5 an hour, recovery
/// links for 6 users from 6 addresses admit 5.
#[tokio::test]
async fn the_project_sends_a_bounded_number_of_mails_an_hour() {
    let s = limited(|b| {
        b.ip_hour = 10_000;
        b.recipient_day = 10_000;
        b.email_hour = 5;
        b.sms_hour = 10_000;
    })
    .await;
    let mut addresses = vec![];
    for _ in 0..6 {
        addresses.push(s.sign_up().await.1);
    }
    let mut statuses = vec![];
    for (i, email) in addresses.iter().enumerate() {
        let r = from(
            &s,
            &format!("198.18.7.{}", i + 1),
            Method::POST,
            "/account/recovery",
            None,
            Some(json!({"email": email, "url": "http://localhost/recover"})),
        )
        .await;
        statuses.push(status(&r));
    }
    assert_eq!(statuses, admitted_then_refused(5, 1));
    assert_eq!(emails_to(&addresses).await, 5);
}

/// An IPv6 client counts per /64: with 3 mails an hour per address, three addresses of one /64
/// use the budget up and a fourth is refused, while another /64 has its own.
#[tokio::test]
async fn ipv6_clients_share_a_budget_per_64() {
    let s = limited(|b| {
        b.ip_hour = 3;
        b.recipient_day = 10_000;
        b.email_hour = 10_000;
        b.sms_hour = 10_000;
    })
    .await;
    let mut cookies = vec![];
    let mut addresses = vec![];
    for _ in 0..4 {
        let (_, email, _, cookie) = s.user().await;
        cookies.push(cookie);
        addresses.push(email);
    }
    let same_64 = [
        "2001:db8:1:2::a",
        "2001:db8:1:2::b",
        "2001:db8:1:2:ffff::1",
        "2001:db8:1:2:abcd:ef01:2345:6789",
    ];
    let mut statuses = vec![];
    for (ip, cookie) in same_64.iter().zip(&cookies) {
        statuses.push(status(&verification_mail(&s, ip, cookie).await));
    }
    assert_eq!(statuses, admitted_then_refused(3, 1));
    let other_64 = verification_mail(&s, "2001:db8:1:3::1", &cookies[3]).await;
    assert_eq!(other_64.status, 201, "{}", other_64.body);
    assert_eq!(emails_to(&addresses).await, 4);
}

/// Threat 7 (client address): behind a trusted proxy, exactly the entry the proxy appended is the
/// client; an `ip:port` or `unknown` there never lets the client's forged earlier entry through.
#[tokio::test]
async fn a_forged_forwarded_entry_never_becomes_the_client_address() {
    let s = Server::with_config(|c| c.trusted_ip_header = Some("x-forwarded-for".into())).await;
    for (header, want) in [
        ("198.51.100.1, 192.0.2.7", "192.0.2.7"),
        ("198.51.100.1, 192.0.2.7:4711", "127.0.0.1"),
        ("198.51.100.1, unknown", "127.0.0.1"),
    ] {
        let r = from(
            &s,
            header,
            Method::POST,
            "/account/sessions/anonymous",
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json["ip"], want, "{header}");
    }
}

/// Threat 6 (the mail's text): a name is the one text a stranger chooses in our mail. One that
/// carries a link or an advertisement is not printed, in the body or in the `To:` display name.
#[tokio::test]
async fn a_name_cannot_carry_a_link_into_our_mail() {
    let s = Server::start().await;
    let email = unique_email();
    let spam = "Cheap pills at evil.example";
    let r = s
        .post(
            "/account",
            json!({"userId": "unique()", "email": email, "password": "password1234", "name": spam}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (cookie, _) = s.login(&email, "password1234").await;
    let r = s
        .call(
            Method::POST,
            "/account/verifications/email",
            Some(&cookie),
            Some(json!({"url": "http://localhost/verify"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let all = sent().await;
    let mail = all
        .emails
        .iter()
        .rev()
        .find(|m| {
            m["destinations"]["ToAddresses"]
                .to_string()
                .contains(&email)
        })
        .expect("the verification mail");
    assert!(!mail.to_string().contains("evil.example"), "{mail}");
}

/// Threat 6 (SMS countries): with `SMS_COUNTRIES`, a number of another country gets a clear 400
/// before anything is written or sent; a number of an allowed country is texted.
#[tokio::test]
async fn sms_go_only_to_the_countries_the_project_serves() {
    use account_core::store::Accounts;
    let s = Server::with_config(|c| c.sms_countries = vec!["44".into()]).await;
    let us = unique_phone();
    let before = texts_to(std::slice::from_ref(&us)).await;
    let r = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": us}),
        )
        .await;
    r.assert_error(400, "general_argument_invalid");
    assert!(s.dynamo.get_phone(&us).await.unwrap().is_none(), "no user");
    assert_eq!(texts_to(std::slice::from_ref(&us)).await, before, "no SMS");
    let uk = format!("+447700{}", &us[us.len() - 6..]);
    let r = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": uk}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(last_sms(&uk).await.is_some());
}

/// A refusal by a budget is decided before the token is written: the user's last link stays
/// live (a stranger who spends an address's budget does not also cancel its pending link).
#[tokio::test]
async fn a_refused_message_leaves_the_last_link_live() {
    let s = limited(|b| {
        b.recipient_day = 1;
        b.ip_hour = 10_000;
    })
    .await;
    let email = unique_email();
    let ask = |ip: &'static str| magic_link(&s, ip, &email);
    let first = ask("192.0.2.10").await;
    assert_eq!(first.status, 201, "{}", first.body);
    let (_, body) = last_email(&email).await.expect("the magic link");
    let secret = link_param(&body, "secret").expect("secret");
    ask("192.0.2.11")
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    let r = from(
        &s,
        "192.0.2.10",
        Method::POST,
        "/account/sessions/token",
        None,
        Some(json!({"userId": first.json["userId"], "secret": secret})),
    )
    .await;
    assert_eq!(r.status, 201, "the first link still works: {}", r.body);
}

/// The three budgets count together or not at all: requests an address's own budget refuses do
/// not spend the project's, so one address cannot stop the project's mail.
#[tokio::test]
async fn one_address_cannot_spend_the_projects_budget() {
    let s = limited(|b| {
        b.ip_hour = 3;
        b.email_hour = 5;
    })
    .await;
    let magic = |ip: &'static str| {
        let s = &s;
        async move { magic_link(s, ip, &unique_email()).await.status }
    };
    let mut one = vec![];
    for _ in 0..10 {
        one.push(magic("192.0.2.30").await);
    }
    assert_eq!(one, [[201; 3].as_slice(), &[429; 7]].concat());
    // Two of the project's five remain for everybody else.
    let others = vec![
        magic("192.0.2.31").await,
        magic("192.0.2.32").await,
        magic("192.0.2.33").await,
    ];
    assert_eq!(others, vec![201, 201, 429]);
}

/// A server acting for its users with an API key has no client address of its own: the
/// per-address budget does not apply to it (the recipient and project budgets do).
#[tokio::test]
async fn api_key_requests_skip_the_per_address_budget() {
    use account_core::clock::{OsEntropy, SystemClock};
    let s = limited(|b| b.ip_hour = 2).await;
    let scopes = vec!["sessions.write".to_owned()];
    let now = SystemClock.now_ms();
    let (item, key) = account_core::keys::generate("ssr", &scopes, None, now, &OsEntropy).unwrap();
    s.app.store.put_api_key(&item).await.unwrap();
    for _ in 0..4 {
        let r = s
            .req(Method::POST, "/account/tokens/magic-url")
            .header("X-Forwarded-For", "192.0.2.40")
            .header("X-Appwrite-Key", &key)
            .json(&json!({"userId": "unique()", "email": unique_email(), "url": "http://localhost/magic"}));
        let r = Reply::read(r.send().await.unwrap()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

/// A stranger who spends an address's daily budget (asking for links to it) does not keep its
/// signed-in owner from an MFA code to that verified address: the owner's own codes skip the
/// recipient's budget (the per-address and project budgets still apply).
#[tokio::test]
async fn a_spent_recipient_budget_does_not_block_the_owners_mfa_code() {
    let s = limited(|b| {
        b.recipient_day = 2;
        b.ip_hour = 10_000;
    })
    .await;
    let (uid, email, _, cookie) = s.user().await;
    s.verify_email(&cookie, &uid, &email).await;
    let link = || magic_link(&s, "198.51.100.50", &email);
    assert_eq!(link().await.status, 201);
    link()
        .await
        .assert_error(429, "general_rate_limit_exceeded");
    let before = emails_to(std::slice::from_ref(&email)).await;
    let r = from(
        &s,
        "203.0.113.51",
        Method::POST,
        "/account/mfa/challenges",
        Some(&cookie),
        Some(json!({"factor": "email"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(emails_to(std::slice::from_ref(&email)).await, before + 1);
}
