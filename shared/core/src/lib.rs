//! The core of the Appwrite-compatible Account API: the foundation (errors, clock, crypto, IDs,
//! items, configuration, provider data), the ports as traits (storage, outbox, outbound HTTP,
//! GeoIP) and the domain (accounts, sessions, tokens, MFA, OAuth2, budgets, the audit log).
//! No AWS SDK and no HTTP server types: `account_adapters` implements the ports over AWS,
//! `account_edge` serves them over HTTP (docs/architecture.md).

pub mod account;
pub mod address;
pub mod app;
pub mod apple;
pub mod audit;
pub mod budget;
pub mod clock;
pub mod config;
pub mod context;
pub mod credential;
pub mod crypto;
pub mod custom_templates;
pub mod dates;
pub mod device;
pub mod error;
pub mod geo;
pub mod hashes;
pub mod ids;
pub mod item;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod messages;
pub mod mfa;
pub mod oauth2;
pub mod outbound;
pub mod outbox;
pub mod passkey;
pub mod password;
pub mod providers;
pub mod seal;
pub mod session;
pub mod store;
pub mod templates;
pub mod token;

#[cfg(test)]
mod domain_tests;
/// Fixtures for the domain and pipeline tests (the `twin` feature: `account_edge`'s tests).
#[cfg(any(test, feature = "twin"))]
pub mod testkit;

pub use app::App;
pub use error::{Error, ErrorType, Result};
