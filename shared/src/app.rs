//! Everything a request needs, built once per process (Lambda Init or local server start).

use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::config::Config;
use crate::error::Result;
use crate::outbox::Outbox;
use crate::store::{DynamoStore, Storage};
use std::sync::Arc;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    /// Every storage capability: `DynamoStore` in production, `MemoryStore` in domain tests.
    pub store: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub outbox: Outbox,
}

impl App {
    pub fn new<S: Storage + 'static>(
        config: Config,
        store: S,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Self {
            store: Arc::new(store.with_user_limit(config.user_limit)),
            config: Arc::new(config),
            clock,
            entropy,
            outbox: Outbox::default(),
        }
    }

    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = outbox;
        self
    }

    /// Production wiring: configuration and AWS clients from the environment.
    pub async fn from_env() -> Result<Self> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let store = DynamoStore::with_timeouts(&sdk, &config.table_name, config.dynamodb_timeouts);
        let outbox = outbox_from(&sdk, &config);
        Ok(
            Self::new(config, store, Arc::new(SystemClock), Arc::new(OsEntropy))
                .with_outbox(outbox),
        )
    }
}

impl App {
    /// Local development and tests: create the table, and verify the sender address (the
    /// emulator, like SES's sandbox, only sends from verified identities).
    pub async fn prepare_local(&self) -> Result<()> {
        self.store.prepare().await?;
        #[cfg(feature = "ses")]
        if let Some(from) = &self.config.mail_from {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            let address = from
                .rsplit('<')
                .next()
                .unwrap_or(from)
                .trim_end_matches('>')
                .trim()
                .to_owned();
            aws_sdk_ses::Client::new(&sdk)
                .verify_email_identity()
                .email_address(address)
                .send()
                .await
                .map_err(crate::Error::internal)?;
        }
        Ok(())
    }
}

/// SES and SNS answer in tens of milliseconds: 2 s per attempt, 4 s in all (retries included),
/// after which the token is withdrawn and the client gets a 503 (README "Timeouts").
#[cfg(any(feature = "ses", feature = "sns"))]
fn messaging_timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(std::time::Duration::from_secs(2))
        .operation_timeout(std::time::Duration::from_secs(4))
        .build()
}

/// Senders this build can have (crate features) and the configuration enables.
#[allow(unused_variables, unused_mut)]
pub fn outbox_from(sdk: &aws_config::SdkConfig, config: &Config) -> Outbox {
    let mut outbox = Outbox {
        log_messages: config.outbox_log,
        ..Outbox::default()
    };
    #[cfg(feature = "ses")]
    if let Some(from) = &config.mail_from {
        let conf = aws_sdk_ses::config::Builder::from(sdk)
            .timeout_config(messaging_timeouts())
            .build();
        outbox.mail = Some(Arc::new(crate::outbox::ses::SesMailer {
            client: aws_sdk_ses::Client::from_conf(conf),
            from: from.clone(),
        }));
    }
    #[cfg(feature = "sns")]
    if config.sms_enabled {
        let conf = aws_sdk_sns::config::Builder::from(sdk)
            .timeout_config(messaging_timeouts())
            .build();
        outbox.sms = Some(Arc::new(crate::outbox::sns::SnsTexter {
            client: aws_sdk_sns::Client::from_conf(conf),
        }));
    }
    outbox
}
