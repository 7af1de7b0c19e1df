//! Everything a request needs, built once per process (Lambda Init or local server start).
//! The production wiring (configuration with its SSM secrets, DynamoDB, SES, SNS, outbound
//! HTTPS) is `account_adapters::wiring`; tests build one over the in-memory twin.

use crate::clock::{Clock, Entropy};
use crate::config::Config;
use crate::custom_templates::{Kind, TemplateCache, TemplateItem};
use crate::outbound::{Fetch, Offline};
use crate::outbox::Outbox;
use crate::store::Storage;
use std::sync::Arc;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    /// Every storage capability: `DynamoStore` in production, `MemoryStore` in domain tests.
    pub store: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub outbox: Outbox,
    /// HTTP to OAuth2 providers ([`Offline`] until the wiring gives a client).
    pub fetch: Arc<dyn Fetch>,
    /// The operator's message templates, as this process last read them.
    pub templates: Arc<TemplateCache>,
}

impl App {
    pub fn new<S: Storage + 'static>(
        config: Config,
        store: S,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Self {
            templates: Arc::new(TemplateCache::new(config.template_cache_secs)),
            store: Arc::new(store.with_user_limit(config.user_limit)),
            config: Arc::new(config),
            clock,
            entropy,
            outbox: Outbox::default(),
            fetch: Arc::new(Offline),
        }
    }

    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = outbox;
        self
    }

    pub fn with_fetch(mut self, fetch: Arc<dyn Fetch>) -> Self {
        self.fetch = fetch;
        self
    }
}

impl App {
    /// The operator's template for `kind` in `locale`, if one is set (see [`TemplateCache`]).
    pub async fn template(&self, kind: &Kind, locale: &str) -> Option<TemplateItem> {
        self.templates
            .find(&self.store, self.clock.now_ms(), kind, locale)
            .await
    }
}
