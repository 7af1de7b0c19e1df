//! Test fixtures for the domain and pipeline tests: an `App` on the in-memory store, a fixed
//! clock, a mailer and a texter that keep what they were given, and a domain context. No
//! emulator, no server, no HTTP.
// Test fixtures only (`twin` feature, never a function's build): a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::new_without_default)]

use crate::app::App;
use crate::clock::{FixedClock, Millis, SeqEntropy};
use crate::config::Config;
use crate::context::{Admission, Client, Ctx, Gate};
use crate::outbox::{Email, Mailer, Outbox, SendFuture, Sms, Texter};
use crate::store::MemoryStore;
use std::sync::{Arc, Mutex};

pub const NOW: Millis = 1_800_000_000_000;

/// Every message handed to the outbox, newest last.
#[derive(Clone, Default)]
pub struct Sent {
    pub emails: Arc<Mutex<Vec<Email>>>,
    pub sms: Arc<Mutex<Vec<Sms>>>,
}

impl Mailer for Sent {
    fn send<'a>(&'a self, email: &'a Email) -> SendFuture<'a> {
        self.emails.lock().unwrap().push(email.clone());
        Box::pin(async { Ok(()) })
    }
}

impl Texter for Sent {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendFuture<'a> {
        self.sms.lock().unwrap().push(sms.clone());
        Box::pin(async { Ok(()) })
    }
}

impl Sent {
    /// The last email's text.
    pub fn last_email(&self) -> String {
        self.emails
            .lock()
            .unwrap()
            .last()
            .expect("an email")
            .text
            .clone()
    }

    /// The six-digit code of the last email.
    pub fn last_code(&self) -> String {
        let text = self.last_email();
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a six-digit code")
            .to_owned()
    }
}

pub struct World {
    pub app: App,
    pub clock: Arc<FixedClock>,
    /// The app's store (clones share the table), for inspection.
    pub store: MemoryStore,
    pub sent: Sent,
    pub client: Client,
    open: Admission<'static>,
}

impl World {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// A world whose configuration `f` adjusts (rate limits are off unless it turns them on).
    pub fn with(f: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            project_id: "test".into(),
            rate_limits_enabled: false,
            ..Config::default()
        };
        f(&mut config);
        let clock = Arc::new(FixedClock::new(NOW));
        let store = MemoryStore::new(clock.clone());
        let sent = Sent::default();
        let outbox = Outbox {
            mail: Some(Arc::new(sent.clone())),
            sms: Some(Arc::new(sent.clone())),
            log_messages: false,
        };
        let app = App::new(
            config,
            store.clone(),
            clock.clone(),
            Arc::new(SeqEntropy::default()),
        )
        .with_outbox(outbox);
        Self {
            app,
            clock,
            store,
            sent,
            client: Client {
                ip: "203.0.113.7".into(),
                user_agent: "test".into(),
                device: Default::default(),
                server: false,
            },
            open: Gate::open(),
        }
    }

    pub fn now(&self) -> Millis {
        crate::clock::Clock::now_ms(self.clock.as_ref())
    }

    /// A domain context at the clock's current time, with an open rate-limit gate.
    pub fn cx(&self) -> Ctx<'_, 'static> {
        Ctx {
            app: &self.app,
            client: &self.client,
            now: self.now(),
            locale: "en",
            gate: Gate::new(&self.open),
        }
    }
}
