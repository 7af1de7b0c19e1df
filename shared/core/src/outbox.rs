//! Outgoing email (SES) and SMS (SNS) behind two small traits, so a function that sends nothing
//! carries no SES/SNS client (the adapters' `ses` and `sns` features), and tests and local mode can
//! see what was sent.

use crate::error::{Error, ErrorType, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    /// Display name of the recipient (the user's name), may be empty.
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// An operator template's sender name, sender address and reply-to address; empty: the
    /// deployment's `MAIL_FROM` (the address only if `MAIL_SENDERS` allows it).
    pub sender_name: String,
    pub sender_email: String,
    pub reply_to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    pub to: String,
    pub body: String,
}

pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, email: &'a Email) -> SendFuture<'a>;
}

pub trait Texter: Send + Sync {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendFuture<'a>;
}

/// The configured senders; `None` means the channel is disabled (503 on use).
#[derive(Clone, Default)]
pub struct Outbox {
    pub mail: Option<Arc<dyn Mailer>>,
    pub sms: Option<Arc<dyn Texter>>,
    /// Also write each message (recipient, subject, text) to the log: local development only,
    /// so a developer can finish a magic-URL or OTP flow by hand.
    pub log_messages: bool,
}

impl Outbox {
    pub async fn email(&self, email: &Email) -> Result<()> {
        let Some(m) = &self.mail else {
            return Err(Error::with_message(
                ErrorType::SmtpDisabled,
                ErrorType::SmtpDisabled.default_message(),
            ));
        };
        if self.log_messages {
            tracing::info!(to = %email.to, subject = %email.subject, text = %email.text, "outgoing email");
        }
        m.send(email).await
    }

    pub async fn text(&self, sms: &Sms) -> Result<()> {
        let Some(t) = &self.sms else {
            return Err(Error::new(ErrorType::PhoneDisabled));
        };
        if self.log_messages {
            tracing::info!(to = %sms.to, text = %sms.body, "outgoing sms");
        }
        t.send(sms).await
    }

    pub fn mail_enabled(&self) -> bool {
        self.mail.is_some()
    }

    pub fn sms_enabled(&self) -> bool {
        self.sms.is_some()
    }
}

/// A channel's delivery failure: 503 to the client, the cause in the log.
pub fn send_failed(channel: &str, e: impl std::fmt::Display) -> Error {
    Error {
        source: Some(format!("{channel} delivery failed: {e}")),
        ..Error::with_message(
            ErrorType::MessageDeliveryFailed,
            format!("The {channel} could not be sent. Please try again later."),
        )
    }
}
