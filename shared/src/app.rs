//! Everything a request needs, built once per process (Lambda Init or local server start).

use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::config::Config;
use crate::error::Result;
use crate::store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Self {
            config: Arc::new(config),
            store,
            clock,
            entropy,
        }
    }

    /// Production wiring: configuration and AWS clients from the environment.
    pub async fn from_env() -> Result<Self> {
        let config = Config::from_env()?;
        let store = Store::from_env(&config.table_name).await;
        Ok(Self::new(
            config,
            store,
            Arc::new(SystemClock),
            Arc::new(OsEntropy),
        ))
    }
}
