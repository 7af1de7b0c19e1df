//! The adapters of the Account API: the ports of `account_core` over AWS (the DynamoDB store,
//! SES email, SNS SMS, the SSM secrets read at Init) and outbound HTTPS to OAuth2 providers,
//! and the wiring that puts them into an `App`. The only crate that links the AWS SDK.

pub mod aws;
pub mod dynamo;
pub mod https;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "sns")]
pub mod sns;
pub mod wiring;
