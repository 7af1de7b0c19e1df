//! Every message the API sends, composed in one place from the per-locale templates
//! (`templates.rs`, `shared/core/locales/*.json`). The domain decides *when* to send and *to whom*;
//! this module decides *what* the email or SMS says, and `outbox` delivers it.

use crate::custom_templates::{self, Channel, Kind, TemplateItem};
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

pub fn email(project: &str, locale: &str, m: Letter<'_>, custom: Option<&TemplateItem>) -> Email {
    let name = printable_name(m.name);
    let greeting = greeting(locale, &name);
    let mut all: Vec<(&str, &str)> = vec![("project", project), ("name", &greeting)];
    all.extend_from_slice(m.vars);
    if let Some(t) = custom {
        all.push(("phrase", m.phrase));
        return custom_email(t, locale, m.to, &name, &all, m.link, m.phrase);
    }
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
        html: templates::html(&text, m.link, locale),
        text,
        ..Email::default()
    }
}

/// An email from the operator's template: its subject, its plain text (with the security
/// phrase line after it when it does not place `{phrase}` itself), its HTML (values escaped) or
/// the plain text as HTML, and its sender.
fn custom_email(
    t: &TemplateItem,
    locale: &str,
    to: &str,
    name: &str,
    vars: &[(&str, &str)],
    link: Option<&str>,
    phrase: &str,
) -> Email {
    let mut text = custom_templates::fill(&t.text, vars, false);
    let placed = custom_templates::placeholders(&t.text).contains(&"phrase");
    if !phrase.is_empty() && !placed {
        text.push_str("\n\n");
        text.push_str(&templates::render(
            locale,
            "phrase.line",
            &[("phrase", phrase)],
        ));
    }
    let html = match t.html.is_empty() {
        true => templates::html(&text, link, locale),
        false => {
            let mut html = custom_templates::fill(&t.html, vars, true);
            // The phrase is what tells this mail from a phishing copy: the HTML part, which
            // most people read, shows it too when the template does not place it.
            let placed = custom_templates::placeholders(&t.html).contains(&"phrase");
            if !phrase.is_empty() && !placed {
                let line = templates::render(locale, "phrase.line", &[("phrase", phrase)]);
                let para = format!("<p>{}</p>", templates::escape_html(&line));
                match html.rfind("</body>") {
                    Some(at) => html.insert_str(at, &para),
                    None => html.push_str(&para),
                }
            }
            html
        }
    };
    Email {
        to: to.to_owned(),
        to_name: name.to_owned(),
        subject: custom_templates::fill(&t.subject, vars, false).replace(['\r', '\n'], " "),
        html,
        text,
        sender_name: t.sender_name.clone(),
        sender_email: t.sender_email.clone(),
        reply_to: t.reply_to.clone(),
    }
}

/// A one-time code by SMS (phone login, phone verification, MFA).
pub fn code_sms(
    project: &str,
    locale: &str,
    to: &str,
    code: &str,
    custom: Option<&TemplateItem>,
) -> Sms {
    let vars = [("otp", code), ("project", project)];
    Sms {
        to: to.to_owned(),
        body: match custom {
            Some(t) => custom_templates::fill(&t.message, &vars, false),
            None => templates::render(locale, "sms.otp", &vars),
        },
    }
}

/// An MFA challenge code by email.
pub fn challenge_email(
    project: &str,
    locale: &str,
    to: &str,
    name: &str,
    code: &str,
    custom: Option<&TemplateItem>,
) -> Email {
    let name = printable_name(name);
    let greeting = greeting(locale, &name);
    let vars = [
        ("project", project),
        ("otp", code),
        ("name", greeting.as_str()),
    ];
    if let Some(t) = custom {
        return custom_email(t, locale, to, &name, &vars, None, "");
    }
    let text = templates::render(locale, "mfaChallenge.body", &vars);
    Email {
        to: to.to_owned(),
        to_name: name.clone(),
        subject: templates::render(locale, "mfaChallenge.subject", &[("project", project)]),
        html: templates::html(&text, None, locale),
        text,
        ..Email::default()
    }
}

/// Whom a message greets: the printable name, else the locale's word for "there".
fn greeting(locale: &str, name: &str) -> String {
    match name.is_empty() {
        true => templates::render(locale, "greeting.fallback", &[]),
        false => name.to_owned(),
    }
}

/// `SESSION_ALERTS`: a new session was created for the account (in the language of the request
/// that created it).
pub fn session_alert(
    project: &str,
    locale: &str,
    to: &str,
    name: &str,
    session: &SessionItem,
    custom: Option<&TemplateItem>,
) -> Email {
    let name = printable_name(name);
    let greeting = greeting(locale, &name);
    let (_, country) = crate::geo::of_session(&session.country_code, &session.ip);
    let vars = [
        ("project", project),
        ("name", &greeting),
        ("ip", session.ip.as_str()),
        ("country", country),
        ("client", session.device.client_name.as_str()),
        ("time", &crate::dates::format(session.created)),
    ];
    if let Some(t) = custom {
        return custom_email(t, locale, to, &name, &vars, None, "");
    }
    let text = templates::render(locale, "sessionAlert.body", &vars);
    Email {
        to: to.to_owned(),
        to_name: name.clone(),
        subject: templates::render(locale, "sessionAlert.subject", &vars),
        html: templates::html(&text, None, locale),
        text,
        ..Email::default()
    }
}

/// A message of `kind` as it would be sent in `locale`, with sample values (`admin templates
/// preview`): the operator's template if given, else the built-in text. Subject (empty for an
/// SMS), text, HTML (empty for an SMS).
pub fn preview(
    kind: &Kind,
    locale: &str,
    custom: Option<&TemplateItem>,
) -> (String, String, String) {
    let vars = custom_templates::sample_vars(kind);
    let value = |p: &str| vars.iter().find(|(k, _)| *k == p).map(|(_, v)| *v);
    if kind.channel == Channel::Sms {
        let sms = code_sms(
            value("project").unwrap_or_default(),
            locale,
            "",
            value("otp").unwrap_or_default(),
            custom,
        );
        return (String::new(), sms.body, String::new());
    }
    let link = value("link");
    if let Some(t) = custom {
        let e = custom_email(t, locale, "", "", &vars, link, "");
        return (e.subject, e.text, e.html);
    }
    let text = templates::render(locale, &format!("{}.body", kind.name), &vars);
    let subject = templates::render(locale, &format!("{}.subject", kind.name), &vars);
    let html = templates::html(&text, link, locale);
    (subject, text, html)
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
            None,
        );
        assert!(
            !m.text.contains("evil") && !m.html.contains("evil"),
            "{}",
            m.text
        );
        assert_eq!(m.to_name, "");
    }

    #[test]
    fn a_custom_html_without_the_phrase_still_shows_it() {
        let t = TemplateItem {
            subject: "Sign in".into(),
            text: "{link}".into(),
            html: "<html><body><a href=\"{link}\">Sign in</a></body></html>".into(),
            ..Default::default()
        };
        let m = email(
            "P",
            "en",
            Letter {
                template: "magicSession",
                to: "a@example.com",
                name: "",
                vars: &[("link", "https://app.example.com/m?a=1&b='2'")],
                link: Some("https://app.example.com/m?a=1&b='2'"),
                phrase: "Brave Purple Otter",
            },
            Some(&t),
        );
        assert!(m.text.contains("Brave Purple Otter"), "{}", m.text);
        let (_, tail) = m.html.split_once("</a>").unwrap();
        assert!(
            tail.starts_with("<p>The security phrase for this email is Brave Purple Otter.")
                && tail.ends_with("</p></body></html>"),
            "{}",
            m.html
        );
        assert!(
            m.html
                .contains("href=\"https://app.example.com/m?a=1&amp;b=&#39;2&#39;\""),
            "{}",
            m.html
        );
    }

    /// The segment report (`cargo test -p account-core segment_report -- --nocapture`): every
    /// built-in code SMS, with a 20-character project name, is one segment in every locale.
    #[test]
    fn segment_report() {
        let project = "Example Project Name";
        assert_eq!(project.len(), 20);
        let mut report = Vec::new();
        for (code, _) in templates::LOCALES {
            let sms = code_sms(project, code, "+15550100", "123456", None);
            let (encoding, segments) = templates::sms_segments(&sms.body);
            report.push(format!(
                "{code:6} {encoding:?} {segments} segment(s), {} chars: {}",
                sms.body.chars().count(),
                sms.body
            ));
            assert!(sms.body.starts_with("123456 "), "{code}: {}", sms.body);
            assert_eq!(segments, 1, "{code}: {}", sms.body);
        }
        println!("{}", report.join("\n"));
    }
}
