//! Email through SES (the `account_core::outbox::Mailer` port).

use account_core::error::{Error, Result};
use account_core::outbox::{send_failed, Email, Mailer, SendFuture};
use aws_sdk_ses::types::{Body, Content, Destination, Message};

/// SES v1 `SendEmail` with a text and an HTML part.
pub struct SesMailer {
    pub client: aws_sdk_ses::Client,
    /// `Name <address>` or `address`.
    pub from: String,
}

fn content(s: &str) -> Result<Content> {
    Content::builder()
        .data(s)
        .charset("UTF-8")
        .build()
        .map_err(Error::internal)
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, email: &'a Email) -> SendFuture<'a> {
        Box::pin(async move {
            let to = if email.to_name.is_empty() {
                email.to.clone()
            } else {
                format!(
                    "\"{}\" <{}>",
                    email.to_name.replace(['"', '\\', '\r', '\n'], ""),
                    email.to
                )
            };
            let message = Message::builder()
                .subject(content(&email.subject)?)
                .body(
                    Body::builder()
                        .text(content(&email.text)?)
                        .html(content(&email.html)?)
                        .build(),
                )
                .build();
            self.client
                .send_email()
                .source(&self.from)
                .destination(Destination::builder().to_addresses(to).build())
                .message(message)
                .send()
                .await
                .map_err(|e| send_failed("email", aws_sdk_ses::error::DisplayErrorContext(e)))?;
            Ok(())
        })
    }
}
