//! Outbound HTTP for OAuth2 providers, as a port: the domain sends a request and judges the
//! answer; the adapter (`account_adapters::https`) owns the connection, TLS, the deadline, the
//! body cap and the refusal to follow redirects. Domain tests run with [`Offline`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Provider answers (tokens, user info, keys, discovery) are small; anything larger is refused.
pub const MAX_BODY: usize = 256 * 1024;

/// Provider endpoints get this long per request (connect, TLS, answer).
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an outbound request failed. Its text is for the log only: provider bodies are never
/// shown to clients.
#[derive(Debug)]
pub struct OutboundError(pub String);

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutboundError {}

pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, OutboundError>> + Send + 'a>>;

/// One HTTP exchange: the response whatever its status (the caller judges it), never a
/// followed redirect.
pub trait Fetch: Send + Sync {
    fn send(&self, req: http::Request<Vec<u8>>) -> FetchFuture<'_>;
}

/// No network: every request fails. What an `App` has until the wiring gives it a client.
pub struct Offline;

impl Fetch for Offline {
    fn send(&self, _req: http::Request<Vec<u8>>) -> FetchFuture<'_> {
        Box::pin(async { Err(OutboundError("no outbound HTTP client configured".into())) })
    }
}
