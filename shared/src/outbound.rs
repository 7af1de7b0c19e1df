//! Outbound HTTPS for OAuth2 providers: hyper + rustls on aws-lc-rs (the AWS SDK's stack, so no
//! second TLS library), the system's root certificates, a deadline per request, a cap on the
//! body size, and no redirect following (hyper follows none): a provider endpoint that answers
//! 3xx is a failure, never a hop to another host.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Provider answers (tokens, user info, keys, discovery) are small; anything larger is refused.
pub const MAX_BODY: usize = 256 * 1024;

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
