//! The edge of the Account API: the route table, the request pipeline (its stages, params and
//! validation), the Appwrite models and their rendering, the pages, and the Lambda adapter.
//! It calls the domain of `account_core` and never the AWS SDK: each function's `main` gets
//! its `App` from `account_adapters::wiring` (docs/architecture.md).

pub mod api;
pub mod http;
pub mod lambda;
pub mod model;
pub mod pages;
pub mod params;
pub mod ratelimit;
pub mod routes;
pub mod validate;

pub use api::{Call, Handler, HandlerFuture, Reply};

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
