//! Test harness: an in-process local server (the same `devserver` code `scripts/dev` runs) on a
//! free port, talking to the emulators (DynamoDB Local at `AWS_ENDPOINT_URL_DYNAMODB`, moto at
//! `AWS_ENDPOINT_URL` for SES, SNS and SSM) through the real AWS SDK, and a
//! small HTTP client that speaks to it the way the Appwrite SDKs do.

use account_adapters::dynamo::{DynamoStore, Recorder};
use account_core::clock::{FixedClock, OsEntropy, SystemClock};
use account_core::config::Config;
use account_core::App;
use base64::Engine;
use reqwest::{Method, Response};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub mod browser;
pub mod fake_apple;
pub mod fake_github;
pub mod fake_provider;
pub mod loopback;
pub mod lost_answer;
pub mod oidc;
pub mod passkey;

pub const PROJECT: &str = "itest";
pub const CHROME_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36";

/// A running server and the app behind it (for its call counter and clock).
pub struct Server {
    pub base: String,
    pub app: Arc<App>,
    pub clock: Option<Arc<FixedClock>>,
    /// The server's store, for tests that read the table directly.
    pub dynamo: DynamoStore,
    /// Which DynamoDB operations the server issued (the round-trip tests).
    pub recorder: Recorder,
    http: reqwest::Client,
}

pub struct Options {
    pub config: Config,
    /// Use a settable clock starting at the real time.
    pub fixed_clock: bool,
    /// Verify the sender with the emulator (off to test undeliverable mail).
    pub verify_sender: bool,
    /// Set `PUBLIC_URL` to the server's own origin (the OAuth2 callback URL is built from it).
    pub public_origin: bool,
    /// Listen here (`127.0.0.1:<port>`) instead of on a free port of the server's choosing.
    pub listen: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        let config = Config {
            project_id: PROJECT.into(),
            project_name: "Integration".into(),
            table_name: std::env::var("TABLE_NAME").unwrap_or_else(|_| "itest-account".into()),
            rate_limits_enabled: false,
            mail_from: Some("Integration <noreply@example.com>".into()),
            // Read once at start: no background refresh adds a call to a counted request.
            template_cache_secs: 3600,
            mock_numbers: vec![("+15555550123".into(), "123456".into())],
            // The emulator is serialised and shares two cores with the tests: the local
            // allowance of scripts/dev, not production's (store::Timeouts).
            dynamodb_timeouts: account_core::config::Timeouts {
                attempt: std::time::Duration::from_millis(20_000),
                operation: std::time::Duration::from_millis(30_000),
            },
            messaging_timeouts: account_core::config::Timeouts {
                attempt: std::time::Duration::from_millis(20_000),
                operation: std::time::Duration::from_millis(30_000),
            },
            ..Config::default()
        };
        Self {
            config,
            fixed_clock: false,
            verify_sender: true,
            public_origin: false,
            listen: None,
        }
    }
}

fn require_emulator() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: run the tests through scripts/test, which starts the emulator"
    );
}

impl Server {
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    /// A server on a settable clock starting at the real time.
    pub async fn fixed() -> Self {
        Self::with(Options {
            fixed_clock: true,
            ..Options::default()
        })
        .await
    }

    pub async fn with_config(f: impl FnOnce(&mut Config)) -> Self {
        let mut o = Options::default();
        f(&mut o.config);
        Self::with(o).await
    }

    pub async fn with(mut o: Options) -> Self {
        require_emulator();
        // Rate-limit counters are per table: a server that enforces limits gets a table of its own,
        // so tests never share a window.
        if o.config.rate_limits_enabled {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            o.config.table_name = format!("{}-rl{}-{}", o.config.table_name, std::process::id(), n);
        }
        account_edge::init_logging();
        // A port chosen before the app exists, so the app can know its own origin.
        let listen = match (o.public_origin, o.listen.take()) {
            (true, listen) => {
                let addr = listen.unwrap_or_else(free_address);
                o.config.public_url = Some(format!("http://{addr}"));
                addr
            }
            (false, listen) => listen.unwrap_or_else(|| "127.0.0.1:0".to_owned()),
        };
        let sdk = aws_config_load().await;
        let recorder = Recorder::default();
        let store = DynamoStore::recorded(
            &sdk,
            &o.config.table_name,
            o.config.dynamodb_timeouts,
            &recorder,
        );
        let dynamo = store.clone();
        let outbox = account_adapters::wiring::outbox_from(&sdk, &o.config);
        let (clock, fixed): (Arc<dyn account_core::clock::Clock>, _) = if o.fixed_clock {
            let now = account_core::clock::Clock::now_ms(&SystemClock);
            let c = Arc::new(FixedClock::new(now));
            (c.clone(), Some(c))
        } else {
            (Arc::new(SystemClock), None)
        };
        let verify = o.verify_sender;
        let mut config = o.config;
        let from = config.mail_from.clone();
        if !verify {
            config.mail_from = None;
        }
        let app = App::new(config, store, clock, Arc::new(OsEntropy))
            .with_outbox(outbox)
            .with_fetch(account_adapters::https::providers());
        account_adapters::wiring::prepare_local(&app)
            .await
            .expect("prepare table and sender");
        let mut app = app;
        if !verify {
            Arc::make_mut(&mut app.config).mail_from = from;
        }
        let app = Arc::new(app);
        let addr = devserver::spawn(app.clone(), &listen).await.expect("bind");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base: format!("http://{addr}/v1"),
            app,
            clock: fixed,
            dynamo,
            recorder,
            http,
        }
    }

    /// DynamoDB operations issued so far by this server.
    pub fn ddb_calls(&self) -> u64 {
        self.recorder.calls()
    }

    /// A request with the project header and the Chrome UA Appwrite's e2e suite uses.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .header("X-Appwrite-Project", PROJECT)
            .header("User-Agent", CHROME_UA)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        session: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut r = self.req(method, path);
        if let Some(s) = session {
            r = r.header("Cookie", format!("a_session_{PROJECT}={}", url_encode(s)));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        Reply::read(r.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, session: Option<&str>) -> Reply {
        self.call(Method::GET, path, session, None).await
    }

    /// Sign up a fresh user; returns (userId, email, password).
    pub async fn sign_up(&self) -> (String, String, String) {
        let email = unique_email();
        let password = "password1234".to_string();
        let r = self
            .call(Method::POST, "/account", None, Some(serde_json::json!({"userId": "unique()", "email": email, "password": password, "name": "Test User"})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (
            r.json["$id"].as_str().unwrap_or_default().to_string(),
            email,
            password,
        )
    }

    /// Log in; returns the session credential (the cookie value) and the session JSON.
    pub async fn login(&self, email: &str, password: &str) -> (String, Value) {
        let r = self
            .call(
                Method::POST,
                "/account/sessions/email",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (r.session_cookie().expect("session cookie"), r.json)
    }

    /// Email-OTP login: request a code, read it from the emulator's outbox, exchange it.
    /// Returns the 201 session reply.
    pub async fn otp_login(&self, email: &str) -> Reply {
        let t = self
            .call(
                Method::POST,
                "/account/tokens/email",
                None,
                Some(serde_json::json!({"userId": "unique()", "email": email})),
            )
            .await;
        assert_eq!(t.status, 201, "{}", t.body);
        let code = six_digits(&last_email(email).await.expect("otp email").1).expect("code");
        let r = self
            .call(
                Method::POST,
                "/account/sessions/token",
                None,
                Some(serde_json::json!({"userId": t.json["userId"], "secret": code})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r
    }

    /// Whether no user holds `email` (its claim item is absent).
    pub async fn dynamo_email_unclaimed(&self, email: &str) -> bool {
        use account_core::store::Accounts;
        self.dynamo
            .get_email(email)
            .await
            .expect("GetItem")
            .is_none()
    }

    /// One attribute of one item of the table, read directly (strongly consistent).
    async fn attribute(
        &self,
        pk: &str,
        sk: &str,
        attr: &str,
    ) -> Option<aws_sdk_dynamodb::types::AttributeValue> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .dynamo
            .client()
            .get_item()
            .table_name(self.dynamo.table())
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        out.item()?.get(attr).cloned()
    }

    /// A numeric attribute of one item of the table.
    pub async fn number(&self, pk: &str, sk: &str, attr: &str) -> Option<i64> {
        self.attribute(pk, sk, attr)
            .await?
            .as_n()
            .ok()?
            .parse()
            .ok()
    }

    /// A string attribute of one item of the table.
    pub async fn text(&self, pk: &str, sk: &str, attr: &str) -> Option<String> {
        self.attribute(pk, sk, attr).await?.as_s().ok().cloned()
    }

    /// Request an email-verification link with session `cookie`; returns its secret.
    pub async fn verification_secret(&self, cookie: &str, email: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/account/verifications/email",
                Some(cookie),
                Some(serde_json::json!({"url": "http://localhost/verify"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        link_param(&last_email(email).await.expect("email").1, "secret").expect("secret")
    }

    /// Verify the email of the user behind `cookie` through the emailed link.
    pub async fn verify_email(&self, cookie: &str, uid: &str, email: &str) {
        let secret = self.verification_secret(cookie, email).await;
        let r = self
            .call(
                Method::PUT,
                "/account/verification",
                Some(cookie),
                Some(serde_json::json!({"userId": uid, "secret": secret})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Request an email code for `email` (creating the user if new); returns (userId, code).
    pub async fn email_code(&self, email: &str) -> (String, String) {
        let t = self
            .post(
                "/account/tokens/email",
                serde_json::json!({"userId": "unique()", "email": email}),
            )
            .await;
        assert_eq!(t.status, 201, "{}", t.body);
        let code = six_digits(&last_email(email).await.expect("email").1).expect("code");
        (
            t.json["userId"].as_str().unwrap_or_default().to_string(),
            code,
        )
    }

    /// `PATCH /account/mfa` on; asserts 200.
    pub async fn enable_mfa(&self, cookie: &str) -> Reply {
        let r = self
            .call(
                Method::PATCH,
                "/account/mfa",
                Some(cookie),
                Some(serde_json::json!({"mfa": true})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r
    }

    /// Request a password-recovery link for `email`; returns its secret.
    pub async fn recovery_secret(&self, email: &str) -> String {
        let r = self
            .post(
                "/account/recovery",
                serde_json::json!({"email": email, "url": "http://localhost/r"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        link_param(&last_email(email).await.expect("email").1, "secret").expect("secret")
    }

    /// `PUT /account/recovery` with a new password.
    pub async fn complete_recovery(&self, uid: &str, secret: &str, password: &str) -> Reply {
        self.call(
            Method::PUT,
            "/account/recovery",
            None,
            Some(serde_json::json!({"userId": uid, "secret": secret, "password": password})),
        )
        .await
    }

    /// `PATCH /account/email|phone` (`field` is `email` or `phone`), confirmed with `password`;
    /// asserts 200.
    pub async fn change(&self, cookie: &str, field: &str, value: &str, password: &str) -> Reply {
        let r = self
            .call(
                Method::PATCH,
                &format!("/account/{field}"),
                Some(cookie),
                Some(serde_json::json!({field: value, "password": password})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r
    }

    /// POST JSON without a session.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// The end of an OAuth2 token-mode sign-in: the `userId` and `secret` the success URL
    /// `landed` received, exchanged with `POST /account/sessions/token`.
    pub async fn redeem_landing(&self, landed: &str) -> Reply {
        let u = url::Url::parse(landed).unwrap();
        let get = |n: &str| {
            u.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
        };
        self.post(
            "/account/sessions/token",
            serde_json::json!({"userId": get("userId"), "secret": get("secret")}),
        )
        .await
    }

    /// Sign up and log in.
    pub async fn user(&self) -> (String, String, String, String) {
        let (id, email, password) = self.sign_up().await;
        let (cookie, _) = self.login(&email, &password).await;
        (id, email, password, cookie)
    }
}

/// A loopback address with a port free right now.
pub fn free_address() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    probe.local_addr().expect("addr").to_string()
}

async fn aws_config_load() -> account_adapters::aws::SdkConfig {
    account_adapters::aws::load().await
}

/// A local server over a store the test built itself (through a fault proxy, at a black hole),
/// for project [`PROJECT`] on the system clock; its API base URL.
pub async fn serve_store(store: DynamoStore, rate_limits_enabled: bool) -> String {
    let config = Config {
        project_id: PROJECT.into(),
        rate_limits_enabled,
        ..Config::default()
    };
    let app = Arc::new(App::new(
        config,
        store,
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
    ));
    let addr = devserver::spawn(app, "127.0.0.1:0").await.expect("bind");
    format!("http://{addr}/v1")
}

/// Messages the emulator has accepted (`/moto-api/outbox.json`, see `scripts/moto_server.py`).
pub struct Sent {
    pub emails: Vec<Value>,
    pub sms: Vec<Value>,
}

pub async fn sent() -> Sent {
    let base = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let data: Value = reqwest::get(format!("{base}/moto-api/outbox.json"))
        .await
        .expect("moto")
        .json()
        .await
        .expect("json");
    Sent {
        emails: data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        sms: data["sns"]["SMS"].as_array().cloned().unwrap_or_default(),
    }
}

/// The last email to `to` (moto keeps only the HTML part; entities are decoded here).
pub async fn last_email(to: &str) -> Option<(String, String)> {
    sent().await.emails.iter().rev().find_map(|m| {
        let to_list = m["destinations"]["ToAddresses"].as_array()?;
        to_list
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.contains(to)))
            .then(|| {
                let body = m["body"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("&amp;", "&")
                    .replace("&quot;", "\"");
                (m["subject"].as_str().unwrap_or_default().to_string(), body)
            })
    })
}

/// The last SMS to `phone`.
pub async fn last_sms(phone: &str) -> Option<String> {
    sent()
        .await
        .sms
        .iter()
        .rev()
        .find(|m| m["phone_number"] == phone)
        .and_then(|m| m["message"].as_str().map(str::to_owned))
}

/// The first run of six digits in `text`.
pub fn six_digits(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5)).find_map(|i| {
        let w = &b[i..i + 6];
        let bounded = (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 6).is_none_or(|c| !c.is_ascii_digit());
        (bounded && w.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(w).into_owned())
    })
}

/// Value of query parameter `name` in the first URL in `text` containing it.
pub fn link_param(text: &str, name: &str) -> Option<String> {
    let start = text.find("http")?;
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '<' || c == '"')
        .map_or(text.len(), |e| start + e);
    let url = reqwest::Url::parse(&text[start..end]).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A unique phone number in the US 415 area.
pub fn unique_phone() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("+1415{:07}", (t as u64).wrapping_add(n * 7919) % 10_000_000)
}

pub fn url_encode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

pub fn url_decode(s: &str) -> String {
    s.replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// An email no other test (or earlier run against the same table) uses.
pub fn unique_email() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("user{t}x{n}@example.com")
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub json: Value,
}

impl Reply {
    pub async fn read(r: Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The decoded value of `a_session_<project>` from `Set-Cookie`.
    pub fn session_cookie(&self) -> Option<String> {
        let prefix = format!("a_session_{PROJECT}=");
        self.set_cookies().iter().find_map(|c| {
            c.strip_prefix(&prefix)
                .map(|rest| url_decode(rest.split(';').next().unwrap_or("")))
        })
    }

    /// Assert an Appwrite error envelope of `status` and `type`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.json["type"], kind, "body: {}", self.body);
        assert_eq!(self.json["code"], status);
        assert!(
            self.json["message"].is_string() && self.json["version"].is_string(),
            "{}",
            self.body
        );
    }
}

/// The TOTP code of a Base32 key at `now_ms` (RFC 6238, 30 s steps, no skew).
pub fn totp_code(secret_b32: &str, now_ms: i64) -> String {
    let key = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(key)
        .with_skew(0)
        .build()
        .unwrap();
    totp.generate((now_ms / 1000) as u64).to_string()
}

/// Decode a credential to `(userId, secret)`.
pub fn decode_credential(c: &str) -> (String, String) {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(c)
        .expect("base64");
    let v: Value = serde_json::from_slice(&raw).expect("json");
    (
        v["id"].as_str().unwrap_or_default().into(),
        v["secret"].as_str().unwrap_or_default().into(),
    )
}
