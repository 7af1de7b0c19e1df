//! Operator templates: a project's own text for a message type and locale (Appwrite's
//! "custom templates"), kept in the table, edited with `admin templates`, and read by the
//! functions through [`TemplateCache`]. A message without one uses the built-in text
//! (`templates.rs`); a template that cannot be used at send time falls back to it too, with a
//! log line, and never fails the send.

use crate::clock::Millis;
use crate::error::{Error, ErrorType, Result};
use crate::store::Storage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::item::{TemplateItem, TEMPLATES_PK};

/// Longest subject, sender name, plain-text body and HTML body a template may have: a subject
/// line a mail client shows whole, and bodies far inside DynamoDB's 400 KB item.
pub const MAX_SUBJECT: usize = 256;
pub const MAX_SENDER_NAME: usize = 64;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_HTML: usize = 100_000;
/// SMS bodies are billed per segment: at most this many.
pub const MAX_SMS_SEGMENTS: usize = 3;

/// The channel and type of a message: the built-in catalog's key prefix for email
/// (`emailOtp`, …), `sms.<type>` for texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub channel: Channel,
    /// Our name (the catalog prefix for email).
    pub name: &'static str,
    /// Appwrite's name for the same template (`PATCH /projects/{id}/templates/...`).
    pub appwrite: &'static str,
    /// The placeholders the code fills.
    pub placeholders: &'static [&'static str],
    /// The one the message exists to deliver (the code or the link), if any.
    pub required: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

const fn email(
    name: &'static str,
    appwrite: &'static str,
    placeholders: &'static [&'static str],
    required: Option<&'static str>,
) -> Kind {
    Kind {
        channel: Channel::Email,
        name,
        appwrite,
        placeholders,
        required,
    }
}

const fn sms(name: &'static str) -> Kind {
    Kind {
        channel: Channel::Sms,
        name,
        appwrite: name,
        placeholders: &["otp", "project"],
        required: Some("otp"),
    }
}

/// Every message that can have a template.
pub const KINDS: &[Kind] = &[
    email(
        "emailOtp",
        "otpSession",
        &["project", "name", "otp", "phrase"],
        Some("otp"),
    ),
    email(
        "magicSession",
        "magicSession",
        &["project", "name", "link", "phrase"],
        Some("link"),
    ),
    email(
        "recovery",
        "recovery",
        &["project", "name", "link"],
        Some("link"),
    ),
    email(
        "verification",
        "verification",
        &["project", "name", "link"],
        Some("link"),
    ),
    email(
        "mfaChallenge",
        "mfaChallenge",
        &["project", "name", "otp"],
        Some("otp"),
    ),
    email(
        "sessionAlert",
        "sessionAlert",
        &["project", "name", "ip", "country", "client", "time"],
        None,
    ),
    sms("login"),
    sms("verification"),
    sms("mfaChallenge"),
];

pub const EMAIL_MFA: Kind = KINDS[4];
pub const EMAIL_SESSION_ALERT: Kind = KINDS[5];
pub const SMS_LOGIN: Kind = KINDS[6];
pub const SMS_VERIFICATION: Kind = KINDS[7];
pub const SMS_MFA: Kind = KINDS[8];

/// The kind named `name` (ours or Appwrite's) on `channel`.
pub fn kind(channel: Channel, name: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.channel == channel && (k.name == name || k.appwrite == name))
}

pub fn template_sk(kind: &Kind, locale: &str) -> String {
    format!("{}.{}#{locale}", kind.channel.as_str(), kind.name)
}

/// The `{name}` placeholders of a text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(name);
        }
        rest = &after[close + 1..];
    }
    out
}

fn invalid(message: String) -> Error {
    Error::with_message(ErrorType::ArgumentInvalid, message)
}

fn check_text(kind: &Kind, field: &str, text: &str, required: bool) -> Result<()> {
    for p in placeholders(text) {
        if !kind.placeholders.contains(&p) {
            return Err(invalid(format!(
                "{field}: unknown placeholder {{{p}}}; {} {} templates may use {}",
                kind.channel.as_str(),
                kind.name,
                kind.placeholders
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if let (true, Some(r)) = (required, kind.required) {
        if !placeholders(text).contains(&r) {
            return Err(invalid(format!(
                "{field}: the placeholder {{{r}}} is required (it carries what the message is sent for)"
            )));
        }
    }
    Ok(())
}

fn check_len(field: &str, text: &str, max: usize) -> Result<()> {
    match text.chars().count() > max {
        true => Err(invalid(format!("{field}: longer than {max} characters"))),
        false => Ok(()),
    }
}

/// Check a template before it is stored: known placeholders only, the required one present in
/// every body, sizes, and addresses that are addresses.
pub fn validate(kind: &Kind, t: &TemplateItem) -> Result<()> {
    if crate::templates::shipped(&t.locale) != Some(t.locale.as_str()) {
        return Err(invalid(format!(
            "locale {}: not a built-in locale ({})",
            t.locale,
            crate::templates::LOCALES
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    match kind.channel {
        Channel::Sms => {
            if t.message.trim().is_empty() {
                return Err(invalid("message: an SMS template needs a message".into()));
            }
            check_text(kind, "message", &t.message, true)?;
            let sample = fill(&t.message, &sample_vars(kind), false);
            let (_, segments) = crate::templates::sms_segments(&sample);
            if segments > MAX_SMS_SEGMENTS {
                return Err(invalid(format!(
                    "message: {segments} SMS segments with a 6-digit code and a 20-character project name; at most {MAX_SMS_SEGMENTS}"
                )));
            }
        }
        Channel::Email => {
            if t.subject.trim().is_empty() || t.text.trim().is_empty() {
                return Err(invalid(
                    "an email template needs a subject and a plain-text body".into(),
                ));
            }
            check_len("subject", &t.subject, MAX_SUBJECT)?;
            check_len("text", &t.text, MAX_TEXT)?;
            check_len("html", &t.html, MAX_HTML)?;
            check_len("senderName", &t.sender_name, MAX_SENDER_NAME)?;
            check_text(kind, "subject", &t.subject, false)?;
            check_text(kind, "text", &t.text, true)?;
            if !t.html.is_empty() {
                check_text(kind, "html", &t.html, true)?;
            }
            if t.subject.contains(['\r', '\n']) {
                return Err(invalid("subject: one line".into()));
            }
            if t.sender_name
                .chars()
                .any(|c| c.is_control() || "\"<>\\".contains(c))
            {
                return Err(invalid(
                    "senderName: no quotes, angle brackets, backslashes or control characters"
                        .into(),
                ));
            }
            for (field, v) in [("senderEmail", &t.sender_email), ("replyTo", &t.reply_to)] {
                if !v.is_empty() && crate::address::email(v).is_none() {
                    return Err(invalid(format!("{field}: not an email address")));
                }
            }
        }
    }
    Ok(())
}

/// Values a preview or a size check fills in.
pub fn sample_vars(kind: &Kind) -> Vec<(&'static str, &'static str)> {
    kind.placeholders
        .iter()
        .map(|p| {
            let v = match *p {
                "otp" => "123456",
                "project" => "Example Project Name",
                "name" => "Ada Lovelace",
                "link" => "https://app.example.com/auth?userId=abc&secret=def",
                "phrase" => "Brave Purple Otter",
                "ip" => "203.0.113.7",
                "country" => "Germany",
                "client" => "Firefox 131",
                "time" => "2026-12-07T10:00:00.000+00:00",
                _ => "",
            };
            (*p, v)
        })
        .collect()
}

/// `{name}` placeholders filled; in HTML the values are escaped (a user's name is text, never
/// markup).
pub fn fill(template: &str, vars: &[(&str, &str)], html: bool) -> String {
    match html {
        true => crate::templates::substitute(template, vars, crate::templates::escape_html),
        false => crate::templates::substitute(template, vars, str::to_owned),
    }
}

/// The templates of the table, as the functions see them: loaded at Init, then refreshed when
/// older than `TEMPLATE_CACHE_SECONDS` in the background (the send that notices uses the copy it
/// has: no send waits for the table). With a TTL of 0 every send reads the table first (local
/// development and tests).
pub struct TemplateCache {
    ttl_ms: Millis,
    state: Mutex<Option<(Millis, Arc<Vec<TemplateItem>>)>>,
    refreshing: AtomicBool,
}

impl TemplateCache {
    pub fn new(ttl_secs: u64) -> Self {
        Self {
            ttl_ms: (ttl_secs as Millis).saturating_mul(1000),
            state: Mutex::new(None),
            refreshing: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<(Millis, Arc<Vec<TemplateItem>>)> {
        self.state.lock().ok().and_then(|s| s.clone())
    }

    fn store(&self, at: Millis, items: Vec<TemplateItem>) {
        if let Ok(mut s) = self.state.lock() {
            *s = Some((at, Arc::new(items)));
        }
    }

    /// Read the table's templates now (Init, and whenever the cache has none).
    pub async fn load(&self, store: &dyn Storage, now: Millis) -> Option<Arc<Vec<TemplateItem>>> {
        match store.list_templates().await {
            Ok(items) => {
                self.store(now, items);
                self.current().map(|(_, items)| items)
            }
            Err(e) => {
                tracing::warn!(error = %e.message, source = ?e.source, "templates unreadable; built-in texts used");
                None
            }
        }
    }

    /// The template for `kind` in `locale`, if the operator set one.
    pub async fn find(
        self: &Arc<Self>,
        store: &Arc<dyn Storage>,
        now: Millis,
        kind: &Kind,
        locale: &str,
    ) -> Option<TemplateItem> {
        let items = match self.current() {
            Some((at, items)) if self.ttl_ms > 0 => {
                if now - at >= self.ttl_ms && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let (cache, store) = (self.clone(), store.clone());
                    tokio::spawn(async move {
                        cache.load(store.as_ref(), now).await;
                        cache.refreshing.store(false, Ordering::Release);
                    });
                }
                items
            }
            // Nothing read yet, or a TTL of 0: read now.
            _ => self.load(store.as_ref(), now).await?,
        };
        let sk = template_sk(kind, locale);
        items.iter().find(|t| t.sk == sk).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn otp(text: &str) -> TemplateItem {
        TemplateItem {
            locale: "de".into(),
            subject: "Code für {project}".into(),
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn templates_are_checked_before_they_are_stored() {
        let k = kind(Channel::Email, "otpSession").unwrap();
        assert_eq!(k.name, "emailOtp");
        assert!(validate(k, &otp("Ihr Code: {otp}")).is_ok());
        let e = validate(k, &otp("Ihr Code: {otp} {link}")).unwrap_err();
        assert!(
            e.message.contains("unknown placeholder {link}"),
            "{}",
            e.message
        );
        let e = validate(k, &otp("Ihr Code kommt bald")).unwrap_err();
        assert!(e.message.contains("{otp} is required"), "{}", e.message);
        let mut t = otp("{otp}");
        t.locale = "xx".into();
        assert!(validate(k, &t)
            .unwrap_err()
            .message
            .contains("not a built-in locale"));
        let mut t = otp("{otp}");
        t.sender_email = "not an address".into();
        assert!(validate(k, &t).unwrap_err().message.contains("senderEmail"));
        let mut t = otp("{otp}");
        t.sender_name = "Evil\" <x@y.z>".into();
        assert!(validate(k, &t).is_err());
        let s = kind(Channel::Sms, "login").unwrap();
        let long = TemplateItem {
            locale: "en".into(),
            message: format!("{{otp}} {}", "ç".repeat(300)),
            ..Default::default()
        };
        assert!(validate(s, &long).unwrap_err().message.contains("segments"));
    }

    #[test]
    fn html_values_are_escaped() {
        let out = fill("<p>{name}</p>", &[("name", "<b>x</b>")], true);
        assert_eq!(out, "<p>&lt;b&gt;x&lt;/b&gt;</p>");
        assert_eq!(fill("{name}", &[("name", "<b>")], false), "<b>");
        // One pass: a value that looks like a placeholder stays text.
        let vars = [("name", "{link}"), ("link", "https://x")];
        assert_eq!(
            fill("{name}: {link} {other}", &vars, false),
            "{link}: https://x {other}"
        );
    }

    #[tokio::test]
    async fn the_cache_serves_its_copy_and_refreshes_it_in_the_background() {
        use crate::clock::FixedClock;
        let store: Arc<dyn Storage> =
            Arc::new(crate::store::MemoryStore::new(Arc::new(FixedClock::new(0))));
        let k = kind(Channel::Sms, "login").unwrap();
        let mut t = TemplateItem {
            pk: TEMPLATES_PK.into(),
            sk: template_sk(k, "en"),
            locale: "en".into(),
            message: "{otp} one".into(),
            version: 1,
            ..Default::default()
        };
        store.put_template(&t, 0).await.unwrap();
        let cache = Arc::new(TemplateCache::new(60));
        let message = |c: Arc<TemplateCache>, now| {
            let store = store.clone();
            async move { c.find(&store, now, k, "en").await.map(|t| t.message) }
        };
        assert_eq!(
            message(cache.clone(), 0).await.as_deref(),
            Some("{otp} one")
        );
        t.message = "{otp} two".into();
        t.version = 2;
        store.put_template(&t, 1).await.unwrap();
        // Within the TTL: the copy. Past it: the copy once more, while it is read again.
        assert_eq!(
            message(cache.clone(), 30_000).await.as_deref(),
            Some("{otp} one")
        );
        assert_eq!(
            message(cache.clone(), 61_000).await.as_deref(),
            Some("{otp} one")
        );
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            message(cache.clone(), 62_000).await.as_deref(),
            Some("{otp} two")
        );
        // A TTL of 0 reads before every send.
        let fresh = Arc::new(TemplateCache::new(0));
        assert_eq!(
            message(fresh.clone(), 0).await.as_deref(),
            Some("{otp} two")
        );
        store.delete_template(&t.sk).await.unwrap();
        assert_eq!(message(fresh, 0).await, None);
    }
}
