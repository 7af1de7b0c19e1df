//! Outbound HTTPS for OAuth2 providers (the `account_core::outbound::Fetch` port): hyper +
//! rustls on aws-lc-rs (the AWS SDK's stack, so no second TLS library), the system's root
//! certificates, a deadline per request, a cap on the body size, and no redirect following
//! (hyper follows none): a provider endpoint that answers 3xx is a failure, never a hop to
//! another host.

use account_core::outbound::{Fetch, FetchFuture, OutboundError, MAX_BODY, PROVIDER_TIMEOUT};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every request (connect, TLS, headers and body) ends within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, OutboundError> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| OutboundError(format!("TLS roots: {e}")))?
            // Plain http only reaches what configuration allows (loopback providers in tests;
            // `config::oauth2` refuses other http endpoints).
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// Send one request; the response whatever its status (the caller judges it).
    pub async fn send(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| OutboundError(format!("request failed: {e}")))?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| OutboundError(format!("body: {e}")))?
                .to_bytes();
            Ok(http::Response::from_parts(parts, bytes.to_vec()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| OutboundError(format!("timed out after {:?}", self.timeout)))?
    }
}

/// The provider client, built on first use (reading the root certificates costs time, and
/// most functions never call a provider): a machine without roots fails the sign-in that needs
/// them, not every function's Init.
#[derive(Default)]
pub struct Providers {
    client: OnceLock<Result<HttpClient, String>>,
}

impl Fetch for Providers {
    fn send(&self, req: http::Request<Vec<u8>>) -> FetchFuture<'_> {
        Box::pin(async move {
            let client = self
                .client
                .get_or_init(|| HttpClient::new(PROVIDER_TIMEOUT).map_err(|e| e.to_string()))
                .as_ref()
                .map_err(|e| OutboundError(e.clone()))?;
            client.send(req).await
        })
    }
}

/// What every `App` that may reach a provider is given (`App::with_fetch`).
pub fn providers() -> Arc<dyn Fetch> {
    Arc::new(Providers::default())
}
