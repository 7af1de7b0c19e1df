//! Every message the API sends, composed in one place from the per-locale templates
//! (`templates.rs`, `shared/core/locales/*.json`). The domain decides *when* to send and *to whom*;
//! this module decides *what* the email or SMS says, and `outbox` delivers it.

use crate::item::SessionItem;
use crate::outbox::{Email, Sms};
use crate::templates;

/// A templated email: `<template>.subject` and `<template>.body`, with `{project}` and `{name}`
/// always available besides `vars`.
pub struct Letter<'a> {
    pub template: &'a str,
    pub to: &'a str,
    /// The recipient's name (greeting and `To:` display name), may be empty.
    pub name: &'a str,
    pub vars: &'a [(&'a str, &'a str)],
    /// The button of the HTML part, if the message carries a link.
    pub link: Option<&'a str>,
    /// The anti-phishing phrase shown at sign-in, if one was asked for.
    pub phrase: &'a str,
}

/// Longest recipient name a message prints.
pub const NAME_CHARS: usize = 40;

/// The user's name as a message may print it: control characters dropped, at most
/// [`NAME_CHARS`] characters, and nothing at all if it looks like an address or a link (`://`,
/// `@`, `www`, or a dot followed by a letter: `evil.example`). A name is the one text a stranger
/// chooses in our mail: it must not carry their advertisement or their link. (The HTML part
/// escapes whatever remains.)
pub fn printable_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(NAME_CHARS)
        .collect();
    let lower = clean.to_lowercase();
    let dotted = lower
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'.' && w[1].is_ascii_alphanumeric());
    if lower.contains("://") || lower.contains('@') || lower.contains("www") || dotted {
        return String::new();
    }
    clean.trim().to_owned()
}

pub fn email(project: &str, locale: &str, m: Letter<'_>) -> Email {
    let name = printable_name(m.name);
    let greeting = if name.is_empty() {
        templates::render(locale, "greeting.fallback", &[])
    } else {
        name.clone()
    };
    let mut all: Vec<(&str, &str)> = vec![("project", project), ("name", &greeting)];
    all.extend_from_slice(m.vars);
    let mut text = templates::render(locale, &format!("{}.body", m.template), &all);
    if !m.phrase.is_empty() {
        text.push_str("\n\n");
        text.push_str(&templates::render(
            locale,
            "phrase.line",
            &[("phrase", m.phrase)],
        ));
    }
    Email {
        to: m.to.to_owned(),
        to_name: name,
        subject: templates::render(locale, &format!("{}.subject", m.template), &all),
        html: templates::html(&text, m.link),
        text,
    }
}

/// A one-time code by SMS (phone login, phone verification, MFA).
pub fn code_sms(project: &str, locale: &str, to: &str, code: &str) -> Sms {
    Sms {
        to: to.to_owned(),
        body: templates::render(locale, "sms.otp", &[("otp", code), ("project", project)]),
    }
}

/// An MFA challenge code by email.
pub fn challenge_email(project: &str, locale: &str, to: &str, name: &str, code: &str) -> Email {
    let name = printable_name(name);
    let text = templates::render(
        locale,
        "mfaChallenge.body",
        &[("project", project), ("otp", code), ("name", &name)],
    );
    Email {
        to: to.to_owned(),
        to_name: name.clone(),
        subject: templates::render(locale, "mfaChallenge.subject", &[("project", project)]),
        html: templates::html(&text, None),
        text,
    }
}

/// `SESSION_ALERTS`: a new session was created for the account.
pub fn session_alert(project: &str, to: &str, name: &str, session: &SessionItem) -> Email {
    let name = printable_name(name);
    let greeting = if name.is_empty() { "there" } else { &name };
    let (_, country) = crate::geo::of_session(&session.country_code, &session.ip);
    let vars = [
        ("project", project),
        ("name", greeting),
        ("ip", session.ip.as_str()),
        ("country", country),
        ("client", session.device.client_name.as_str()),
        ("time", &crate::dates::format(session.created)),
    ];
    let text = templates::render("en", "sessionAlert.body", &vars);
    Email {
        to: to.to_owned(),
        to_name: name.clone(),
        subject: templates::render("en", "sessionAlert.subject", &vars),
        html: templates::html(&text, None),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_capped_and_carry_no_links() {
        assert_eq!(printable_name("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(printable_name("J. Smith"), "J. Smith");
        assert_eq!(printable_name(&"a".repeat(128)).chars().count(), NAME_CHARS);
        assert_eq!(printable_name("Ada\r\nBcc: x"), "AdaBcc: x");
        for spam in [
            "Cheap pills at evil.example",
            "https://evil.example",
            "mail me: a@b.c",
            "WWW EVIL EXAMPLE",
        ] {
            assert_eq!(printable_name(spam), "", "{spam}");
        }
        let m = email(
            "P",
            "en",
            Letter {
                template: "verification",
                to: "a@example.com",
                name: "<b>Win</b> at evil.example",
                vars: &[("link", "https://app.example.com/v")],
                link: Some("https://app.example.com/v"),
                phrase: "",
            },
        );
        assert!(
            !m.text.contains("evil") && !m.html.contains("evil"),
            "{}",
            m.text
        );
        assert_eq!(m.to_name, "");
    }
}
