//! Message texts by locale. Each language is a JSON file in `shared/core/locales/` (`<code>.json`)
//! embedded at build time: adding a language is adding a file and a line to `LOCALES`. A key a
//! locale lacks falls back to English; `tests::every_locale_has_every_message` keeps that from
//! happening to a shipped locale.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The built-in locales: English first (every fallback ends there), then by code.
pub const LOCALES: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en.json")),
    ("ar", include_str!("../locales/ar.json")),
    ("de", include_str!("../locales/de.json")),
    ("es", include_str!("../locales/es.json")),
    ("fa", include_str!("../locales/fa.json")),
    ("fr", include_str!("../locales/fr.json")),
    ("he", include_str!("../locales/he.json")),
    ("hi", include_str!("../locales/hi.json")),
    ("id", include_str!("../locales/id.json")),
    ("it", include_str!("../locales/it.json")),
    ("ja", include_str!("../locales/ja.json")),
    ("ko", include_str!("../locales/ko.json")),
    ("nl", include_str!("../locales/nl.json")),
    ("pl", include_str!("../locales/pl.json")),
    ("pt", include_str!("../locales/pt.json")),
    ("ru", include_str!("../locales/ru.json")),
    ("th", include_str!("../locales/th.json")),
    ("tr", include_str!("../locales/tr.json")),
    ("uk", include_str!("../locales/uk.json")),
    ("vi", include_str!("../locales/vi.json")),
    ("zh", include_str!("../locales/zh.json")),
    ("zh-tw", include_str!("../locales/zh-tw.json")),
];

/// The shipped locales' codes, in `LOCALES` order. Resolving a request's locale needs only
/// these: a function that never renders a message (`account`, `passkeys`) then links none of
/// the texts (92 KB).
pub const CODES: &[&str] = &[
    "en", "ar", "de", "es", "fa", "fr", "he", "hi", "id", "it", "ja", "ko", "nl", "pl", "pt", "ru",
    "th", "tr", "uk", "vi", "zh", "zh-tw",
];

fn catalog() -> &'static HashMap<&'static str, Map<String, Value>> {
    static CATALOG: OnceLock<HashMap<&'static str, Map<String, Value>>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        LOCALES
            .iter()
            .filter_map(|(code, json)| match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(m)) => Some((*code, m)),
                _ => None,
            })
            .collect()
    })
}

/// The shipped locale for one requested tag, region then language (`pt-BR` → `pt-br`, `pt`);
/// `None` when neither is shipped. Tags are case-insensitive and `_` counts as `-`.
pub fn shipped(requested: &str) -> Option<&'static str> {
    let req = requested.trim().to_ascii_lowercase().replace('_', "-");
    let language = req.split('-').next().unwrap_or("");
    let found = [req.as_str(), language]
        .into_iter()
        .find_map(|candidate| CODES.iter().find(|code| **code == candidate).copied());
    found
}

/// The locale a message is written in: the request's tag if shipped (region, then language),
/// else the project's default (`DEFAULT_LOCALE`, the same way), else English.
pub fn resolve(requested: Option<&str>, default: &str) -> &'static str {
    requested
        .and_then(shipped)
        .or_else(|| shipped(default))
        .unwrap_or("en")
}

/// Text of `key` in `locale` with `{name}` placeholders filled from `vars`.
pub fn render(locale: &str, key: &str, vars: &[(&str, &str)]) -> String {
    let cat = catalog();
    let template = cat
        .get(locale)
        .and_then(|m| m.get(key))
        .or_else(|| cat.get("en").and_then(|m| m.get(key)))
        .and_then(Value::as_str)
        .unwrap_or(key);
    substitute(template, vars, |v| v.to_owned())
}

/// `{name}` placeholders filled in one pass: a value is never read again, so a name such as
/// `{link}` stays text. Unknown placeholders stay as they are; `encode` prepares each value
/// (escaping it for HTML, …).
pub fn substitute(
    template: &str,
    vars: &[(&str, &str)],
    encode: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            vars.iter()
                .find(|(k, _)| *k == &after[..close])
                .map(|v| (close, v.1))
        });
        match value {
            Some((close, v)) => {
                out.push_str(&encode(v));
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether the locale is written right to left (`settings.direction`).
pub fn rtl(locale: &str) -> bool {
    render(locale, "settings.direction", &[]) == "rtl"
}

pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The HTML part: the same text, escaped, with the link (if any) as an anchor, in the locale's
/// language and direction (`dir="rtl"` for Arabic, Hebrew and Persian).
pub fn html(text: &str, link: Option<&str>, locale: &str) -> String {
    let dir = if rtl(locale) { "rtl" } else { "ltr" };
    let mut body = format!(
        "<!doctype html><html lang=\"{}\" dir=\"{dir}\"><body style=\"font-family:sans-serif\">",
        escape_html(locale)
    );
    for para in text.split("\n\n") {
        let escaped = escape_html(para).replace('\n', "<br>");
        match link {
            Some(l) if para.trim() == l => {
                let l = escape_html(l);
                body.push_str(&format!("<p><a href=\"{l}\">{l}</a></p>"));
            }
            _ => body.push_str(&format!("<p>{escaped}</p>")),
        }
    }
    body.push_str("</body></html>");
    body
}

/// How an SMS is encoded: GSM-7 when every character is in the GSM 03.38 alphabet (its
/// extension table costs two septets a character), else UCS-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡\
    ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// The segments a text is billed as: one of 160 septets (GSM-7) or 70 UTF-16 units (UCS-2),
/// else parts of 153 or 67 (each part carries a concatenation header).
pub fn sms_segments(text: &str) -> (SmsEncoding, usize) {
    let mut septets = 0;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            let units = text.encode_utf16().count();
            return (SmsEncoding::Ucs2, parts(units, 70, 67));
        }
    }
    (SmsEncoding::Gsm7, parts(septets, 160, 153))
}

fn parts(units: usize, single: usize, part: usize) -> usize {
    match units {
        0 => 1,
        n if n <= single => 1,
        n => n.div_ceil(part),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_codes_are_the_shipped_locales() {
        let shipped: Vec<&str> = super::LOCALES.iter().map(|(c, _)| *c).collect();
        assert_eq!(super::CODES, shipped.as_slice());
        // Every shipped text parses: a code without its catalog would render keys.
        assert_eq!(super::catalog().len(), super::CODES.len());
    }

    use super::*;
    use std::collections::BTreeSet;

    /// The placeholders the code fills, per message (`messages.rs`): a template may use these
    /// and no others. Subjects get what their body gets.
    const FILLED: &[(&str, &[&str])] = &[
        ("emailOtp", &["project", "name", "otp"]),
        ("magicSession", &["project", "name", "link"]),
        ("recovery", &["project", "name", "link"]),
        ("verification", &["project", "name", "link"]),
        ("mfaChallenge", &["project", "name", "otp"]),
        (
            "sessionAlert",
            &["project", "name", "ip", "country", "client", "time"],
        ),
        ("phrase", &["phrase"]),
        ("sms", &["otp", "project"]),
        ("greeting", &[]),
        ("settings", &[]),
    ];

    /// What a message cannot do without: the code or the link it exists to deliver.
    const REQUIRED: &[(&str, &str)] = &[
        ("emailOtp.body", "otp"),
        ("magicSession.body", "link"),
        ("recovery.body", "link"),
        ("verification.body", "link"),
        ("mfaChallenge.body", "otp"),
        ("phrase.line", "phrase"),
        ("sms.otp", "otp"),
    ];

    fn placeholders(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    out.insert(after[..close].to_owned());
                    rest = &after[close + 1..];
                }
                None => break,
            }
        }
        out
    }

    #[test]
    fn every_locale_has_every_message() {
        let cat = catalog();
        assert_eq!(cat.len(), LOCALES.len(), "a locale file does not parse");
        let en = &cat["en"];
        for (code, _) in LOCALES {
            let m = &cat[code];
            let keys: BTreeSet<_> = m.keys().collect();
            let want: BTreeSet<_> = en.keys().collect();
            assert_eq!(keys, want, "{code}: keys differ from en.json");
            for (key, value) in m {
                let text = value
                    .as_str()
                    .unwrap_or_else(|| panic!("{code} {key}: not text"));
                let used = placeholders(text);
                let group = key.split('.').next().unwrap_or_default();
                let filled = FILLED
                    .iter()
                    .find(|(g, _)| *g == group)
                    .unwrap_or_else(|| panic!("{key}: no entry in FILLED"))
                    .1;
                for p in &used {
                    assert!(
                        filled.contains(&p.as_str()),
                        "{code} {key}: unknown {{{p}}}"
                    );
                }
                let english = placeholders(en[key].as_str().unwrap_or_default());
                assert_eq!(used, english, "{code} {key}: placeholders differ from en");
                if used.contains("link") {
                    assert!(
                        text.split("\n\n").any(|para| para == "{link}"),
                        "{code} {key}: the link is not a paragraph of its own"
                    );
                }
            }
            for (key, p) in REQUIRED {
                assert!(
                    m[*key]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&format!("{{{p}}}")),
                    "{code} {key}: misses {{{p}}}"
                );
            }
            let dir = m["settings.direction"].as_str().unwrap_or_default();
            assert!(dir == "ltr" || dir == "rtl", "{code}: direction {dir}");
        }
    }

    #[test]
    fn the_right_to_left_locales_say_so() {
        let rtl: Vec<_> = LOCALES
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| super::rtl(c))
            .collect();
        assert_eq!(rtl, ["ar", "fa", "he"]);
        let h = html("مرحبا", None, "ar");
        assert!(
            h.starts_with("<!doctype html><html lang=\"ar\" dir=\"rtl\">"),
            "{h}"
        );
        assert!(html("Hi", None, "en").contains("dir=\"ltr\""));
    }

    #[test]
    fn renders_english_and_falls_back() {
        assert_eq!(
            render("en", "emailOtp.subject", &[("project", "Demo")]),
            "OTP for Demo Login"
        );
        let body = render(
            "xx",
            "emailOtp.body",
            &[("otp", "123456"), ("project", "Demo"), ("name", "Ann")],
        );
        assert!(body.contains("Use OTP 123456 to sign in to Demo. Expires in 15 minutes."));
    }

    #[test]
    fn a_locale_falls_back_region_then_language_then_the_default() {
        assert_eq!(resolve(Some("pt-BR"), "en"), "pt");
        assert_eq!(resolve(Some("de-AT"), "en"), "de");
        assert_eq!(resolve(Some("DE_at"), "en"), "de");
        assert_eq!(resolve(Some("zh-TW"), "en"), "zh-tw");
        assert_eq!(resolve(Some("zh-CN"), "en"), "zh");
        assert_eq!(resolve(Some("EN"), "de"), "en");
        assert_eq!(resolve(Some("xx-YY"), "fr"), "fr");
        assert_eq!(resolve(Some("tlh"), "fr-CA"), "fr");
        assert_eq!(resolve(None, "ja"), "ja");
        assert_eq!(resolve(Some(""), "xx"), "en");
        assert_eq!(shipped("x"), None);
    }

    #[test]
    fn html_escapes_and_links() {
        let h = html(
            "Hi <b>\n\nhttp://x/?a=1&b=2",
            Some("http://x/?a=1&b=2"),
            "en",
        );
        assert!(h.contains("Hi &lt;b&gt;"));
        assert!(h.contains("<a href=\"http://x/?a=1&amp;b=2\">"));
    }

    #[test]
    fn segments_count_as_carriers_bill_them() {
        assert_eq!(sms_segments(&"a".repeat(160)), (SmsEncoding::Gsm7, 1));
        assert_eq!(sms_segments(&"a".repeat(161)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_segments(&"€".repeat(80)), (SmsEncoding::Gsm7, 1));
        assert_eq!(sms_segments(&"€".repeat(81)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_segments("Grüße, Ærø"), (SmsEncoding::Gsm7, 1));
        assert_eq!(sms_segments(&"ç".repeat(70)), (SmsEncoding::Ucs2, 1));
        assert_eq!(sms_segments(&"ç".repeat(71)), (SmsEncoding::Ucs2, 2));
        assert_eq!(sms_segments(&"日".repeat(134)), (SmsEncoding::Ucs2, 2));
        // An emoji is two UTF-16 units.
        assert_eq!(sms_segments(&"😀".repeat(36)), (SmsEncoding::Ucs2, 2));
    }
}
