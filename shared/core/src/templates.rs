//! Message texts by locale. Each language is a JSON file in `shared/core/locales/` (`<code>.json`)
//! embedded at build time: adding a language is adding a file and a line to `LOCALES`.
//! Missing keys fall back to English.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

const LOCALES: &[(&str, &str)] = &[("en", include_str!("../locales/en.json"))];

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

/// The best available locale for an `X-Appwrite-Locale` value (`pt-BR` → `pt-br`, `pt`, `en`).
pub fn resolve(requested: Option<&str>) -> &'static str {
    let cat = catalog();
    if let Some(req) = requested.map(|r| r.trim().to_ascii_lowercase().replace('_', "-")) {
        for candidate in [req.as_str(), req.split('-').next().unwrap_or("")] {
            if let Some((code, _)) = cat.get_key_value(candidate) {
                return code;
            }
        }
    }
    "en"
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
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML part: the same text, escaped, with the link (if any) as an anchor.
pub fn html(text: &str, link: Option<&str>) -> String {
    let mut body = String::from("<!doctype html><html><body style=\"font-family:sans-serif\">");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_english_and_falls_back() {
        assert_eq!(
            render("en", "emailOtp.subject", &[("project", "Demo")]),
            "OTP for Demo Login"
        );
        assert_eq!(resolve(Some("pt-BR")), "en");
        assert_eq!(resolve(Some("EN")), "en");
        assert_eq!(resolve(None), "en");
        let body = render(
            "xx",
            "emailOtp.body",
            &[("otp", "123456"), ("project", "Demo"), ("name", "Ann")],
        );
        assert!(body.contains("Use OTP 123456 to sign in to Demo. Expires in 15 minutes."));
    }

    #[test]
    fn every_locale_parses() {
        assert_eq!(catalog().len(), LOCALES.len());
    }

    #[test]
    fn html_escapes_and_links() {
        let h = html("Hi <b>\n\nhttp://x/?a=1&b=2", Some("http://x/?a=1&b=2"));
        assert!(h.contains("Hi &lt;b&gt;"));
        assert!(h.contains("<a href=\"http://x/?a=1&amp;b=2\">"));
    }
}
