//! Writes that resend themselves safely: request tokens, the SDK's retries off, and which
//! failures leave a write's outcome unknown.

use super::*;

/// A fresh name for one logical write: a transaction's `ClientRequestToken` (at most 36
/// characters) or a single-item write's [`NONCE`]. Drawn here, as the SDK draws its own
/// idempotency tokens: it identifies a request and protects nothing, so it is not the injected
/// entropy secrets come from.
pub(super) fn write_token() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(internal)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The SDK's retries off, for a write that resends itself ([`DynamoStore::delete_session`]).
pub(super) fn no_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
}

pub(super) type SdkError<E> =
    aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>;

/// Whether an error leaves the write's outcome unknown or was refused before it ran, so that a
/// resend is the way on: [`unwritten`] refusals, 500s, timeouts, dropped connections.
pub(super) fn transient<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match e {
        aws_sdk_dynamodb::error::SdkError::ServiceError(s) => {
            s.raw().status().is_server_error() || unwritten(e)
        }
        _ => network_failure(e),
    }
}

/// Refusals after which DynamoDB certainly wrote nothing: throttling, and a single-item write
/// meeting a transaction in flight on its item (`TransactionConflictException`, which the SDK's
/// own retries do not resend).
pub(super) fn unwritten<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.as_service_error()
        .and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code)
        .is_some_and(|c| {
            matches!(
                c,
                "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "TransactionConflictException"
            )
        })
}

/// Send a single-item write, and again (up to [`RACE_RETRIES`] times) while it meets a
/// transaction in flight on its item: nothing was written, and the write is the same request
/// (its nonce or stamp included), so the resend is safe. The SDK's retries cover the rest.
pub(super) async fn past_transactions<T, E, Fut>(
    mut send: impl FnMut() -> Fut,
) -> std::result::Result<T, SdkError<E>>
where
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E>>>,
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(e) if attempt < RACE_RETRIES && unwritten(&e) => {
                attempt += 1;
                race_pause(attempt).await;
            }
            res => return res,
        }
    }
}

pub(super) async fn race_pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(15 * u64::from(attempt))).await;
}
