//! Shared crate of the Appwrite-compatible Account API: models, errors, crypto, storage, the
//! request pipeline and the domain logic every Lambda function calls.

pub mod account;
pub mod address;
pub mod api;
pub mod app;
pub mod apple;
pub mod audit;
pub mod budget;
pub mod clock;
pub mod config;
pub mod context;
pub mod credential;
pub mod crypto;
pub mod dates;
pub mod device;
pub mod error;
pub mod geo;
pub mod http;
pub mod ids;
pub mod item;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod lambda;
pub mod messages;
pub mod mfa;
pub mod model;
pub mod oauth2;
pub mod outbound;
pub mod outbox;
pub mod pages;
pub mod params;
pub mod password;
pub mod providers;
pub mod ratelimit;
pub mod routes;
pub mod seal;
pub mod session;
pub mod store;
pub mod templates;
pub mod token;
pub mod validate;

#[cfg(test)]
mod domain_tests;
#[cfg(test)]
mod testkit;

pub use api::{Call, Handler, HandlerFuture, Reply};
pub use app::App;
pub use error::{Error, ErrorType, Result};

/// Plain-text logs to stderr (CloudWatch in Lambda), level from `RUST_LOG`-style `LOG_LEVEL`.
pub fn init_logging() {
    let level = match std::env::var("LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "debug" => tracing::Level::DEBUG,
        "warn" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let fmt = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(std::io::stderr);
    // Lambda's `LoggingConfig.LogFormat: JSON` (template.yaml): one JSON object a line, with
    // the runtime's invocation span (its `requestId`) and our fields (`route`, `status`, `type`).
    // No request bodies, headers or secrets are ever fields.
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        let _ = fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init();
    } else {
        let _ = fmt.try_init();
    }
}

/// AWS SDK configuration, for binaries and tests that build their own clients.
pub mod aws {
    pub use aws_config::SdkConfig;

    /// What a function needs and nothing more: region, credentials and `AWS_ENDPOINT_URL` (and
    /// `AWS_ENDPOINT_URL_<SERVICE>`, as the standard chain reads them) from the environment,
    /// where Lambda puts the region and the role's credentials. The standard chain ([`load`]:
    /// profiles, SSO, web identity, IMDS, container credentials) stays with the operator CLI
    /// and the tests; leaving it out keeps the STS client and the profile parser out of every
    /// function binary (README "Binary size").
    pub fn from_environment() -> SdkConfig {
        use aws_config::environment::EnvironmentVariableCredentialsProvider;
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .map(aws_config::Region::new);
        let mut b = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(region)
            .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ));
        if let Some(url) = var("AWS_ENDPOINT_URL") {
            b = b.endpoint_url(url);
        }
        b.service_config(ServiceEndpoints).build()
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`, …), which the SDK prefers to
    /// `AWS_ENDPOINT_URL` for that service: locally DynamoDB is DynamoDB Local and the rest moto.
    #[derive(Debug)]
    struct ServiceEndpoints;

    impl aws_types::service_config::LoadServiceConfig for ServiceEndpoints {
        fn load_config(
            &self,
            key: aws_types::service_config::ServiceConfigKey<'_>,
        ) -> Option<String> {
            if key.env() != "AWS_ENDPOINT_URL" {
                return None;
            }
            let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
            std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
                .ok()
                .filter(|v| !v.trim().is_empty())
        }
    }

    /// The standard chain (`AWS_ENDPOINT_URL`, region and credentials from the environment).
    pub async fn load() -> SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await
    }

    /// The standard chain, but every service at `endpoint` (fault and stall tests).
    pub async fn load_with_endpoint(endpoint: &str) -> SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .load()
            .await
    }
}
