//! Email through SES (the `account_core::outbox::Mailer` port).

use account_core::error::{Error, Result};
use account_core::outbox::{send_failed, Email, Mailer, SendFuture};
use aws_sdk_ses::types::{Body, Content, Destination, Message};

/// SES v1 `SendEmail` with a text and an HTML part.
pub struct SesMailer {
    pub client: aws_sdk_ses::Client,
    /// `Name <address>` or `address`.
    pub from: String,
    /// Addresses an operator template may send from besides `from`'s (`MAIL_SENDERS`, lower
    /// case): the IAM condition on `ses:FromAddress` allows exactly these.
    pub senders: Vec<String>,
}

impl SesMailer {
    /// The `Source` of a message: the template's sender (name, and address if allowed), else
    /// `MAIL_FROM`.
    fn source(&self, email: &Email) -> String {
        let (default_name, default_address) = match self.from.rsplit_once('<') {
            Some((name, rest)) => (
                name.trim().trim_matches('"').trim().to_owned(),
                rest.trim_end_matches('>').trim().to_owned(),
            ),
            None => (String::new(), self.from.trim().to_owned()),
        };
        let wanted = email.sender_email.to_ascii_lowercase();
        let address = if wanted.is_empty() || wanted == default_address.to_ascii_lowercase() {
            default_address
        } else if self.senders.contains(&wanted) {
            email.sender_email.clone()
        } else {
            tracing::warn!(sender = %wanted, "template sender not in MAIL_SENDERS; MAIL_FROM used");
            default_address
        };
        let name = match email.sender_name.is_empty() {
            true => default_name,
            false => email.sender_name.clone(),
        };
        mailbox(&name, &address)
    }
}

/// `"Name" <address>`, or with a name that is not ASCII, the name in RFC 2047 encoded words
/// (SES refuses raw non-ASCII in an address header). Quotes, backslashes and line breaks are
/// dropped from a name, so it cannot add a header or another address.
pub fn mailbox(name: &str, address: &str) -> String {
    use base64::Engine;
    let name: String = name
        .chars()
        .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
        .collect();
    let name = name.trim();
    if name.is_empty() {
        return address.to_owned();
    }
    if name.is_ascii() {
        return format!("\"{name}\" <{address}>");
    }
    // At most 45 bytes (60 base64 characters) a word, so each stays within 75 characters, cut
    // between characters.
    let mut words = vec![];
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    let encoded: Vec<String> = words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w)
            )
        })
        .collect();
    format!("{} <{address}>", encoded.join(" "))
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
            let to = mailbox(&email.to_name, &email.to);
            let message = Message::builder()
                .subject(content(&email.subject)?)
                .body(
                    Body::builder()
                        .text(content(&email.text)?)
                        .html(content(&email.html)?)
                        .build(),
                )
                .build();
            let mut send = self.client.send_email().source(self.source(email));
            if !email.reply_to.is_empty() {
                send = send.reply_to_addresses(&email.reply_to);
            }
            send.destination(Destination::builder().to_addresses(to).build())
                .message(message)
                .send()
                .await
                .map_err(|e| send_failed("email", aws_sdk_ses::error::DisplayErrorContext(e)))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::mailbox;

    #[test]
    fn display_names_are_quoted_or_encoded() {
        assert_eq!(mailbox("", "a@example.com"), "a@example.com");
        assert_eq!(
            mailbox("Ada \"x\" <b@evil>", "a@example.com"),
            "\"Ada x <b@evil>\" <a@example.com>"
        );
        assert_eq!(
            mailbox("José", "a@example.com"),
            "=?UTF-8?B?Sm9zw6k=?= <a@example.com>"
        );
        let long = mailbox(&"日本".repeat(20), "a@example.com");
        assert!(
            long.split(' ').all(|w| w.len() <= 75 || w.starts_with('<')),
            "{long}"
        );
        assert_eq!(long.matches("=?UTF-8?B?").count(), 3, "{long}");
    }
}
