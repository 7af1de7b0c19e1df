//! Parameter validators with Appwrite's descriptions (they appear verbatim in 400 messages).

use account_core::error::{Error, ErrorType, Result};
use serde_json::{Map, Value};

pub const EMAIL_DESCRIPTION: &str = "Value must be a valid email address";
pub const PASSWORD_DESCRIPTION: &str = "Password must be between 8 and 256 characters long.";
pub const PHONE_DESCRIPTION: &str =
    "Phone number must start with a '+' can have a maximum of fifteen digits.";
pub const PREFS_MAX_BYTES: usize = 65_535;
pub const PREFS_DESCRIPTION: &str =
    "Value must be a valid object and no longer than 65535 bytes when encoded as JSON";

pub fn text_description(max: usize) -> String {
    format!("Value must be a valid string and at least 1 chars and no longer than {max} chars")
}

/// Email shape: a local part and a dotted domain of LDH labels, at most 254 bytes; lower-cased.
pub fn email(name: &str, value: &str) -> Result<String> {
    account_core::address::email(value).ok_or_else(|| Error::invalid_param(name, EMAIL_DESCRIPTION))
}

/// Login/email-change password rule: 8–256 bytes (PHP `strlen`).
pub fn password(name: &str, value: &str) -> Result<()> {
    if (8..=256).contains(&value.len()) {
        Ok(())
    } else {
        Err(Error::invalid_param(name, PASSWORD_DESCRIPTION))
    }
}

/// Appwrite `Text(max)`: 1..=max characters.
pub fn text(name: &str, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid_param(name, &text_description(max)))
    }
}

/// E.164: `+`, 2–15 digits, first digit non-zero, a known country calling code, and a national
/// number of at least 2 digits that is not all zeros. Appwrite's validator is libphonenumber's
/// `parse` plus `^\+[1-9]\d{1,14}$`; this is the Rust port's `parse` (the tests' oracle) without
/// its per-region stripping of national and carrier prefixes, which refuses a few numbers of 9
/// digits or fewer (`+8612205`): those are accepted here and left to SNS. All-zero national
/// numbers (`+4400000`) are refused, as the Rust port does (PHP's may accept them). Linking
/// libphonenumber's region metadata and patterns would add about a megabyte to each function
/// that parses a phone number (README "Binary size").
pub fn phone(name: &str, value: &str) -> Result<String> {
    let digits = value.strip_prefix('+').unwrap_or("");
    let shape = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    // Calling codes are prefix-free: at most one of the first 1, 2 or 3 digits is one.
    let national = (1..=3).find_map(|n| {
        let code: u16 = digits.get(..n)?.parse().ok()?;
        CALLING_CODES.binary_search(&code).ok()?;
        digits.get(n..)
    });
    match national {
        Some(nsn) if shape && nsn.len() >= 2 && nsn.bytes().any(|b| b != b'0') => {
            Ok(value.to_owned())
        }
        _ => Err(Error::invalid_param(name, PHONE_DESCRIPTION)),
    }
}

/// The country calling codes libphonenumber 9.0.33 knows (the `phonenumber` crate 0.3.10's
/// metadata; `tests::calling_codes_are_libphonenumbers` checks the list against it), sorted.
const CALLING_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676,
    677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852,
    853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// Length of `v` as PHP's `json_encode` writes it: non-ASCII as `\uXXXX` (surrogate pairs for
/// astral characters) and `/` escaped.
pub fn php_json_len(v: &Value) -> usize {
    let s = v.to_string();
    s.chars()
        .map(|c| match c {
            '/' => 2,
            c if c.is_ascii() => 1,
            c if (c as u32) > 0xFFFF => 12,
            _ => 6,
        })
        .sum()
}

/// `prefs`: a JSON object whose encoding is at most 65 535 bytes.
pub fn prefs(name: &str, value: &Value) -> Result<Map<String, Value>> {
    match value {
        Value::Object(m) if php_json_len(value) <= PREFS_MAX_BYTES => Ok(m.clone()),
        _ => Err(Error::invalid_param(name, PREFS_DESCRIPTION)),
    }
}

/// Redirect URLs (`url`, `success`, `failure`; contract §1.13), parsed once by the WHATWG parser (`url` crate)
/// that also serialises the link we send: the allow-list is checked on the *parsed* host, so the
/// validator and the browser cannot disagree about where a link points.
///
/// Refused before parsing: backslashes, control characters and whitespace (browsers strip or
/// reinterpret them). Refused after: userinfo, a missing or trailing-dot host, hosts that are not
/// registered platforms (loopback aliases only if `localhost` is), plain `http` outside loopback
/// unless `REDIRECT_ALLOW_HTTP`, and schemes other than http(s) unless `REDIRECT_SCHEMES` opts in
/// to `exp` or `appwrite-callback-<project>`.
pub fn redirect_url(
    name: &str,
    value: &str,
    config: &account_core::config::Config,
) -> Result<url::Url> {
    let invalid = |host: &str| {
        Error::invalid_param(
            name,
            &format!("Invalid URI. Register your new client ({host}) as a new Web platform on your project console dashboard"),
        )
    };
    if value.len() > 2048
        || value
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return Err(invalid("invalid characters"));
    }
    let parsed = url::Url::parse(value).map_err(|_| invalid("malformed"))?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        let allowed = (scheme == "exp" && config.redirect_schemes.iter().any(|s| s == "exp"))
            || (scheme == format!("appwrite-callback-{}", config.project_id)
                && config
                    .redirect_schemes
                    .iter()
                    .any(|s| s == "appwrite-callback"));
        return if allowed {
            Ok(parsed)
        } else {
            Err(invalid(&format!("{scheme}:")))
        };
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("userinfo"));
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(invalid("")),
    };
    // The host must be written in its canonical form (contract §1.13): `[0:0:0:0:0:0:0:1]`,
    // `0x7f000001`, `127.1` or full-width letters parse to an allowed host but are look-alikes.
    // This only ever refuses more: userinfo is gone, so the authority follows `//`.
    let written = value.to_lowercase().contains(&format!("//{host}"));
    if !written || host.ends_with('.') || !config.host_allowed(&host) {
        return Err(invalid(&host));
    }
    let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
    if scheme == "http" && !loopback && !config.redirect_allow_http {
        return Err(invalid(&format!("http://{host}")));
    }
    Ok(parsed)
}

#[cfg(test)]
mod redirect_tests {
    use super::*;

    fn with_schemes() -> account_core::config::Config {
        account_core::config::Config {
            redirect_schemes: vec!["exp".into(), "appwrite-callback".into()],
            platform_hosts: vec!["localhost".into(), "app.example.com".into()],
            ..account_core::config::Config::default()
        }
    }

    #[test]
    fn loopback_allow_and_deny_lists() {
        let c = with_schemes();
        for ok in [
            "http://localhost/x",
            "http://localhost:3000/x",
            "http://127.0.0.1/x",
            "http://127.0.0.1:5173/magiclogin?a=1",
            "http://[::1]/x",
            "http://[::1]:3000/x",
            "http://LOCALHOST:3000/x",
            "https://app.example.com/x",
            "exp://anything",
            "appwrite-callback-local://cb",
        ] {
            assert!(redirect_url("url", ok, &c).is_ok(), "{ok}");
        }
        for bad in [
            "localhost/x",
            "http://127.0.0.1.example.com/x",
            "http://localhost.example.com/x",
            "http://128.0.0.1/x",
            "http://[2001:db8::1]/x",
            "http://127.0.0.2/x",
            "http://[0:0:0:0:0:0:0:1]/x",
            "http://0x7f000001/x",
            "http://127.1/x",
            "http://ｌｏｃａｌｈｏｓｔ/x",
            "http://remotehost/verification",
            "javascript:alert(1)",
            "appwrite-callback-other://x",
            "http://user@evil.com/x",
            "http://localhost@evil.com/",
            "http://user@localhost/",
            "http://app.example.com/plain-http",
        ] {
            assert!(redirect_url("url", bad, &c).is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_schemes_are_opt_in() {
        let c = account_core::config::Config::default();
        assert!(redirect_url("url", "exp://x", &c).is_err());
        assert!(redirect_url("url", "appwrite-callback-local://cb", &c).is_err());
        let http = account_core::config::Config {
            platform_hosts: vec!["app.example.com".into()],
            redirect_allow_http: true,
            ..account_core::config::Config::default()
        };
        assert!(redirect_url("url", "http://app.example.com/x", &http).is_ok());
    }

    /// Known parser-confusion shapes. Each is refused, or the link built from it (serialised by
    /// `token::link`, then parsed again as a browser would) points at an allowed host.
    #[test]
    fn bypass_corpus_never_yields_a_foreign_link() {
        let c = with_schemes();
        let corpus = [
            "https://evil.example\\@localhost/r",
            "https://evil.example\\.localhost/r",
            "http://localhost\\@evil.example/",
            "http://evil.example%5c@localhost/",
            "http://evil.example%5C.localhost/",
            "http://evil.example%2f@localhost/",
            "http://localhost%2f@evil.example/",
            "http://localhost%2F.evil.example/",
            "http://local\thost/",
            "http://evil.example\t@localhost/",
            "http://localhost\n.evil.example/",
            "http://evil.example\r\n@localhost/",
            " http://evil.example/",
            "http://localhost@evil.example/",
            "http://localhost:80@evil.example/",
            "http://evil.example#@localhost/",
            "http://evil.example?@localhost/",
            "http://localhost#@evil.example/",
            "http://localhost?@evil.example/",
            "http://evil.example/#localhost",
            "http://ｌｏｃａｌｈｏｓｔ/x",
            "http://localhost。evil.example/",
            "http://evil。example/",
            "http://lоcalhost/",
            "http://xn--lcalhost-9qf/",
            "http://localhost./x",
            "https://app.example.com./x",
            "//evil.example/x",
            "///evil.example/x",
            "http:/evil.example/x",
            "http:evil.example/x",
            "https:\\\\evil.example/x",
            "http://[::1]@evil.example/",
            "http://127.0.0.1.nip.io/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://017700000001/",
            "http://127.1/",
            "https://app.example.com.evil.example/",
            "https://evil-app.example.com/",
            "https://APP.EXAMPLE.COM/x",
            "javascript://localhost/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file://localhost/etc/passwd",
            "ftp://localhost/",
        ];
        for input in corpus {
            let Ok(parsed) = redirect_url("url", input, &c) else {
                continue;
            };
            let link = account_core::token::link(&parsed, "u1", "s", 0, "local");
            let again = url::Url::parse(&link).expect("the link parses");
            let host = again.host_str().unwrap_or_default().to_owned();
            assert!(
                again.username().is_empty() && c.host_allowed(&host) && !host.ends_with('.'),
                "{input:?} produced a link to {host:?}: {link}"
            );
        }
    }
}

/// `userId` (ID rules) and `secret` (1–256 chars) of a redemption.
pub fn user_and_secret(p: &crate::params::Params) -> Result<(&str, &str)> {
    let uid = p.required_str("userId", account_core::ids::UID_DESCRIPTION)?;
    if !account_core::ids::is_valid_custom(uid) {
        return Err(Error::invalid_param(
            "userId",
            account_core::ids::UID_DESCRIPTION,
        ));
    }
    let secret = p.required_str("secret", &text_description(256))?;
    text("secret", secret, 256)?;
    Ok((uid, secret))
}

/// `duration` of `POST /account/jwts`: integer seconds 0–3600; absent or 0 means the default 900
/// (Appwrite accepts 0 but then fails; we treat it as "default").
pub fn jwt_duration(v: Option<&serde_json::Value>) -> Result<i64> {
    let desc = "Value must be a valid range between 0 and 3,600";
    let n = match v {
        None => return Ok(account_core::jwt::DEFAULT_DURATION_SECS),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(0) => Ok(account_core::jwt::DEFAULT_DURATION_SECS),
        Some(n) if (1..=account_core::jwt::MAX_DURATION_SECS).contains(&n) => Ok(n),
        _ => Err(Error::invalid_param("duration", desc)),
    }
}

/// Appwrite's cap on limits, offsets and counts (`APP_LIMIT_COUNT`): a page never costs more
/// than reading twice this many log items (offset and limit), and `total` stops counting here.
pub const MAX_LOG_OFFSET: usize = 5000;

/// Paging of `GET /account/logs`: `queries` may hold only `limit` (1–5000, default 25, as
/// Appwrite's limit validator) and `offset` (0–5000); `total=false` skips counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPage {
    pub limit: usize,
    pub offset: usize,
    pub total: bool,
}

pub fn log_queries(p: &crate::params::Params) -> Result<LogPage> {
    let mut page = LogPage {
        limit: 25,
        offset: 0,
        total: p.optional_bool("total")?.unwrap_or(true),
    };
    let desc = "Invalid query: only limit and offset queries are allowed";
    let queries = match p.get("queries") {
        None => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::String(_)) => vec![v.clone()],
        Some(_) => return Err(Error::invalid_param("queries", desc)),
    };
    for q in queries {
        let parsed: Value = match &q {
            Value::String(s) => serde_json::from_str(s).map_err(|_| {
                Error::with_message(ErrorType::QueryInvalid, format!("Invalid query: {s}"))
            })?,
            other => other.clone(),
        };
        let n = parsed["values"]
            .get(0)
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        match (parsed["method"].as_str(), n) {
            (Some("limit"), Some(n)) if (1..=MAX_LOG_OFFSET).contains(&n) => page.limit = n,
            (Some("offset"), Some(n)) if n <= MAX_LOG_OFFSET => page.offset = n,
            _ => return Err(Error::invalid_param("queries", desc)),
        }
    }
    Ok(page)
}

/// `queries` of `GET /account/identities`: JSON query strings (at most 100); `total` loose bool.
/// The attributes `GET /account/identities` may query (contract §4.8); anything else,
/// `providerAccessToken` included, is a 400.
const IDENTITY_ATTRIBUTES: &[&str] = &[
    "userId",
    "provider",
    "providerUid",
    "providerEmail",
    "providerAccessTokenExpiry",
    "$id",
    "$createdAt",
    "$updatedAt",
    "$sequence",
];

/// Appwrite's limit on one query string (`APP_LIMIT_ARRAY_ELEMENT_SIZE`).
const MAX_QUERY_CHARS: usize = 4096;
/// Appwrite's limit on the values of one filter.
const MAX_QUERY_VALUES: usize = 100;

/// One filter of a list query: a condition on an attribute, or a group of filters.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Cond {
        method: String,
        attr: String,
        values: Vec<Value>,
    },
    Or(Vec<Filter>),
    And(Vec<Filter>),
}

/// Appwrite's order of two attribute values: strings by bytes, numbers by value; `None` when
/// they cannot be compared (a null, or a string against a number), which no range matches.
fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        _ => None,
    }
}

/// [`order`] for sorting: incomparable values keep their places.
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    order(a, b).unwrap_or(std::cmp::Ordering::Equal)
}

/// A model's value of `attr` (`$sequence` orders as `$createdAt`: both follow creation).
fn attribute(v: &Value, attr: &str) -> Value {
    let attr = if attr == "$sequence" {
        "$createdAt"
    } else {
        attr
    };
    v.get(attr).cloned().unwrap_or(Value::Null)
}

/// Full-text search as a fulltext index answers it: every word of the term begins a word of the
/// value, ignoring case.
fn search(value: &str, term: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let have = words(value);
    let want = words(term);
    !want.is_empty()
        && want
            .iter()
            .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
}

impl Filter {
    fn matches(&self, v: &Value) -> bool {
        let (method, attr, values) = match self {
            Filter::Or(all) => return all.iter().any(|f| f.matches(v)),
            Filter::And(all) => return all.iter().all(|f| f.matches(v)),
            Filter::Cond {
                method,
                attr,
                values,
            } => (method, attr, values),
        };
        let x = attribute(v, attr);
        let text = x.as_str().unwrap_or_default();
        let strings = || values.iter().filter_map(Value::as_str);
        let empty = x.is_null() || x == Value::String(String::new());
        let is = |y: &Value, f: fn(std::cmp::Ordering) -> bool| order(&x, y).is_some_and(f);
        let between = || match (values.first(), values.get(1)) {
            (Some(lo), Some(hi)) => {
                is(lo, std::cmp::Ordering::is_ge) && is(hi, std::cmp::Ordering::is_le)
            }
            _ => false,
        };
        let comparable = || values.iter().all(|y| order(&x, y).is_some());
        match method.as_str() {
            "equal" => values.contains(&x),
            "notEqual" => !values.contains(&x),
            "isNull" => empty,
            "isNotNull" => !empty,
            "lessThan" => values.iter().all(|y| is(y, std::cmp::Ordering::is_lt)),
            "lessThanEqual" => values.iter().all(|y| is(y, std::cmp::Ordering::is_le)),
            "greaterThan" => values.iter().all(|y| is(y, std::cmp::Ordering::is_gt)),
            "greaterThanEqual" => values.iter().all(|y| is(y, std::cmp::Ordering::is_ge)),
            "between" => between(),
            "notBetween" => comparable() && !between(),
            "startsWith" => x.is_string() && strings().any(|y| text.starts_with(y)),
            "notStartsWith" => !strings().any(|y| text.starts_with(y)),
            "endsWith" => x.is_string() && strings().any(|y| text.ends_with(y)),
            "notEndsWith" => !strings().any(|y| text.ends_with(y)),
            "contains" => x.is_string() && strings().any(|y| text.contains(y)),
            "notContains" => !strings().any(|y| text.contains(y)),
            "search" => strings().any(|y| search(text, y)),
            "notSearch" => !strings().any(|y| search(text, y)),
            _ => false,
        }
    }
}

/// One list query over rendered models: filters, order, cursor, page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    filters: Vec<Filter>,
    order: Option<(String, bool)>,
    cursor: Option<(String, bool)>,
    pub limit: usize,
    pub offset: usize,
    /// `total=false` answers `total: 0`.
    pub total: bool,
}

impl ListQuery {
    /// `(total, page)` of `items` (rendered models, in their natural order).
    pub fn apply(&self, items: Vec<Value>) -> Result<(usize, Vec<Value>)> {
        let mut matched: Vec<Value> = items
            .into_iter()
            .filter(|v| self.filters.iter().all(|f| f.matches(v)))
            .collect();
        if let Some((attr, asc)) = &self.order {
            matched.sort_by(|a, b| {
                let o = compare(&attribute(a, attr), &attribute(b, attr));
                if *asc {
                    o
                } else {
                    o.reverse()
                }
            });
        }
        let total = matched.len();
        if let Some((id, after)) = &self.cursor {
            let Some(at) = matched
                .iter()
                .position(|v| v["$id"] == Value::String(id.clone()))
            else {
                return Err(Error::with_message(
                    ErrorType::CursorNotFound,
                    format!("Cursor not found: {id}"),
                ));
            };
            matched = if *after {
                matched.split_off(at + 1)
            } else {
                matched.truncate(at);
                matched
            };
        }
        let page = matched
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        Ok((if self.total { total } else { 0 }, page))
    }
}

/// `queries` and `total` of `GET /account/identities`, parsed as Appwrite does.
pub fn identity_queries(p: &crate::params::Params) -> Result<ListQuery> {
    let mut q = ListQuery {
        filters: vec![],
        order: None,
        cursor: None,
        limit: 25,
        offset: 0,
        total: p.optional_bool("total")?.unwrap_or(true),
    };
    let items = match p.get("queries") {
        None => return Ok(q),
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::String(_)) => vec![v.clone()],
        Some(_) => {
            return Err(Error::invalid_param(
                "queries",
                "Value must be a valid array",
            ))
        }
    };
    if items.len() > 100 {
        return Err(Error::invalid_param(
            "queries",
            "Value must be a valid array no longer than 100 items",
        ));
    }
    for item in items {
        let text = item.as_str().unwrap_or_default();
        if text.is_empty() || text.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid_param(
                "queries",
                "Value must a valid array no longer than 100 items and Value must be a valid string and at least 1 chars and no longer than 4096 chars",
            ));
        }
        let invalid = |why: &str| {
            Error::with_message(ErrorType::QueryInvalid, format!("Invalid query: {why}"))
        };
        let parsed: Value = serde_json::from_str(text).map_err(|_| invalid(text))?;
        let method = parsed["method"].as_str().ok_or_else(|| invalid(text))?;
        let attribute = parsed["attribute"].as_str().unwrap_or_default();
        let values = parsed["values"].as_array().cloned().unwrap_or_default();
        let number = |max: u64| {
            values
                .first()
                .and_then(Value::as_u64)
                .filter(|n| *n <= max)
                .map(|n| n as usize)
                .ok_or_else(|| invalid(text))
        };
        let known = |a: &str| {
            if IDENTITY_ATTRIBUTES.contains(&a) {
                Ok(a.to_owned())
            } else {
                Err(invalid(&format!("Attribute not found in schema: {a}")))
            }
        };
        match method {
            "limit" => q.limit = number(5000)?,
            "offset" => q.offset = number(5000)?,
            "orderAsc" | "orderDesc" => {
                let attr = if attribute.is_empty() {
                    "$id"
                } else {
                    attribute
                };
                q.order = Some((known(attr)?, method == "orderAsc"));
            }
            "cursorAfter" | "cursorBefore" => {
                let id = values
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(text))?;
                q.cursor = Some((id.to_owned(), method == "cursorAfter"));
            }
            _ => q
                .filters
                .push(filter(&parsed).map_err(|why| invalid(&why))?),
        }
    }
    Ok(q)
}

/// A filter query (a condition on an allowed attribute, or `or`/`and` of at least two filters),
/// or why it is not one, in Appwrite's words.
fn filter(q: &Value) -> std::result::Result<Filter, String> {
    let method = q["method"].as_str().unwrap_or_default();
    let attr = q["attribute"].as_str().unwrap_or_default();
    let values = q["values"].as_array().cloned().unwrap_or_default();
    if values.len() > MAX_QUERY_VALUES {
        return Err(format!(
            "Query on attribute has greater than {MAX_QUERY_VALUES} values: {attr}"
        ));
    }
    let known = || {
        if IDENTITY_ATTRIBUTES.contains(&attr) {
            Ok(attr.to_owned())
        } else {
            Err(format!("Attribute not found in schema: {attr}"))
        }
    };
    let cond = |values: Vec<Value>| {
        Ok(Filter::Cond {
            method: method.to_owned(),
            attr: known()?,
            values,
        })
    };
    match method {
        "equal" | "notEqual" | "lessThan" | "lessThanEqual" | "greaterThan"
        | "greaterThanEqual" | "startsWith" | "notStartsWith" | "endsWith" | "notEndsWith"
        | "contains" | "notContains" | "search" | "notSearch" => {
            if values.is_empty() {
                return Err(format!("{method} queries require at least one value."));
            }
            cond(values)
        }
        "between" | "notBetween" => {
            if values.len() != 2 {
                return Err(format!("{method} queries require exactly two values."));
            }
            cond(values)
        }
        "isNull" | "isNotNull" => cond(vec![]),
        "or" | "and" => {
            let nested = values
                .iter()
                .map(|v| match v {
                    Value::Object(_) => filter(v),
                    _ => Err(v.to_string()),
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| match e.starts_with("Query method not valid") {
                    true => format!(
                        "{} queries can only contain filter queries",
                        capital(method)
                    ),
                    false => e,
                })?;
            if nested.len() < 2 {
                return Err(format!(
                    "{} queries require at least two queries",
                    capital(method)
                ));
            }
            Ok(match method {
                "or" => Filter::Or(nested),
                _ => Filter::And(nested),
            })
        }
        other => Err(format!("Query method not valid: {other}")),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A required, valid email param (lower-cased).
pub fn email_param(p: &crate::params::Params, name: &str) -> Result<String> {
    email(name, p.required_str(name, EMAIL_DESCRIPTION)?)
}

/// A required password param of 8–256 bytes (login, email and phone changes).
pub fn password_param<'p>(p: &'p crate::params::Params, name: &str) -> Result<&'p str> {
    let v = p.required_str(name, PASSWORD_DESCRIPTION)?;
    password(name, v)?;
    Ok(v)
}

/// A required new-password param that satisfies the project's password policy.
pub fn new_password_param<'p>(
    policy: &account_core::password::Policy,
    p: &'p crate::params::Params,
    name: &str,
) -> Result<&'p str> {
    let v = p.required_str(name, &policy.description())?;
    policy.check(name, v)?;
    Ok(v)
}

/// A required E.164 phone param.
pub fn phone_param(p: &crate::params::Params, name: &str) -> Result<String> {
    phone(name, p.required_str(name, PHONE_DESCRIPTION)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identities_query(queries: &[Value]) -> Result<ListQuery> {
        let pairs: Vec<(String, String)> = queries
            .iter()
            .map(|q| ("queries[]".to_owned(), q.to_string()))
            .collect();
        identity_queries(&crate::params::Params::from_query(&pairs))
    }

    #[test]
    fn identity_filters_group_and_match_as_appwrite() {
        let items = vec![
            json!({"$id": "a", "provider": "github", "providerEmail": "ada.lovelace@example.com", "$createdAt": "2026-01-01"}),
            json!({"$id": "b", "provider": "oidc", "providerEmail": "", "$createdAt": "2026-06-01"}),
            json!({"$id": "c", "provider": "apple", "providerEmail": "x@privaterelay.appleid.com", "$createdAt": "2026-12-01"}),
        ];
        let ids = |queries: &[Value]| -> Vec<String> {
            let (_, page) = identities_query(queries)
                .unwrap()
                .apply(items.clone())
                .unwrap();
            page.iter()
                .map(|v| v["$id"].as_str().unwrap().to_owned())
                .collect()
        };
        let q = |m: &str, a: &str, v: Value| json!({"method": m, "attribute": a, "values": v});
        assert_eq!(
            ids(&[q(
                "between",
                "$createdAt",
                json!(["2026-01-01", "2026-06-01"])
            )]),
            ["a", "b"]
        );
        assert_eq!(
            ids(&[q(
                "notBetween",
                "$createdAt",
                json!(["2026-01-01", "2026-06-01"])
            )]),
            ["c"]
        );
        // A null or a number against string bounds is in no range, and out of none.
        let none = Vec::<String>::new();
        assert_eq!(
            ids(&[q("between", "providerAccessTokenExpiry", json!(["", "~"]))]),
            none
        );
        assert_eq!(ids(&[q("notBetween", "$createdAt", json!([1, 2]))]), none);
        assert_eq!(ids(&[q("lessThan", "$createdAt", json!([5]))]), none);
        assert_eq!(
            ids(&[q("contains", "providerEmail", json!(["relay", "love"]))]),
            ["a", "c"]
        );
        assert_eq!(
            ids(&[q("notContains", "providerEmail", json!(["relay"]))]),
            ["a", "b"]
        );
        // Search: every word of the term begins a word of the value, in any case.
        assert_eq!(
            ids(&[q("search", "providerEmail", json!(["LOVE ada"]))]),
            ["a"]
        );
        assert_eq!(
            ids(&[q("search", "providerEmail", json!(["ove"]))]),
            Vec::<String>::new()
        );
        assert_eq!(
            ids(&[q("notSearch", "providerEmail", json!(["privaterelay"]))]),
            ["a", "b"]
        );
        let or = json!({"method": "or", "values": [q("equal", "provider", json!(["apple"])), q("isNull", "providerEmail", json!([]))]});
        assert_eq!(ids(std::slice::from_ref(&or)), ["b", "c"]);
        let and =
            json!({"method": "and", "values": [or, q("startsWith", "provider", json!(["a"]))]});
        assert_eq!(ids(&[and]), ["c"]);
    }

    #[test]
    fn identity_queries_refuse_what_appwrite_refuses() {
        let q = |m: &str, a: &str, v: Value| json!({"method": m, "attribute": a, "values": v});
        let kind = |queries: &[Value]| identities_query(queries).unwrap_err().kind;
        let one = json!({"method": "or", "values": [q("equal", "provider", json!(["x"]))]});
        let page = json!({"method": "and", "values": [q("limit", "", json!([1])), q("equal", "provider", json!(["x"]))]});
        let secret = json!({"method": "or", "values": [q("equal", "providerAccessToken", json!(["x"])), q("equal", "provider", json!(["x"]))]});
        for bad in [
            one,
            page,
            secret,
            q("between", "$createdAt", json!(["a"])),
            q("contains", "provider", json!([])),
            q("equal", "provider", json!(vec!["x"; 101])),
            q("regexp", "provider", json!(["x"])),
        ] {
            assert_eq!(
                kind(std::slice::from_ref(&bad)),
                ErrorType::QueryInvalid,
                "{bad}"
            );
        }
        // 4096 characters fit; one more is the parameter error.
        let fill = |n: usize| q("equal", "provider", json!(["x".repeat(n)]));
        let base = fill(0).to_string().len();
        assert!(identities_query(&[fill(4096 - base)]).is_ok());
        assert_eq!(kind(&[fill(4097 - base)]), ErrorType::ArgumentInvalid);
    }

    #[test]
    fn emails() {
        assert_eq!(
            email("email", "John.Doe+x@Example.COM").unwrap(),
            "john.doe+x@example.com"
        );
        assert_eq!(
            email("email", "useroauth@localhost.test").unwrap(),
            "useroauth@localhost.test"
        );
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@c.com",
            "a@.com",
            "a@c..com",
            "a@-c.com",
        ] {
            let e = email("email", bad).unwrap_err();
            assert_eq!(
                e.message, "Invalid `email` param: Value must be a valid email address",
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_count_bytes() {
        assert!(password("password", "12345678").is_ok());
        assert!(password("password", "1234567").is_err());
        assert!(password("password", &"a".repeat(257)).is_err());
        assert!(password("password", "ééé").is_err()); // 3 chars, 6 bytes
        assert!(password("password", "éééé").is_ok());
    }

    #[test]
    fn names() {
        assert!(text("name", "x", 128).is_ok());
        assert!(text("name", "", 128).is_err());
        assert!(text("name", &"n".repeat(130), 128).is_err());
        assert!(text("name", &"é".repeat(128), 128).is_ok());
    }

    #[test]
    fn phones() {
        assert!(phone("phone", "+14155552671").is_ok());
        assert!(phone("phone", "+123456789").is_ok());
        assert!(phone("phone", "+4915112345678").is_ok());
        for bad in [
            "14155552671",
            "+0123456",
            "+1",
            "+1234567890123456",
            "+1-415",
            "",
            "+999123456",
            "+4400000",
            "+445",
            // Look-alikes: full-width and Arabic-Indic digits, a full-width plus, whitespace,
            // a trailing dot, a backslash.
            "+1４155552671",
            "+١٤١٥٥٥٥٢٦٧١",
            "＋14155552671",
            "+14155552671 ",
            " +14155552671",
            "+14155552671.",
            "+1\\4155552671",
        ] {
            assert!(phone("phone", bad).is_err(), "{bad}");
        }
    }

    /// The calling-code table is exactly the codes libphonenumber (the `phonenumber` crate, a
    /// dev-dependency only) knows.
    #[test]
    fn calling_codes_are_libphonenumbers() {
        let known: Vec<u16> = (1..=999)
            .filter(|&cc| {
                phonenumber::parse(None, format!("+{cc}23456789"))
                    .is_ok_and(|n| n.code().value() == cc)
            })
            .collect();
        assert_eq!(known, CALLING_CODES);
    }

    /// Our verdict is libphonenumber's for every number of 10 digits or more; below that we may
    /// accept what its per-region prefix stripping refuses, never the reverse.
    #[test]
    fn phone_verdicts_agree_with_libphonenumber() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = 2 + (next() % 14) as usize;
            let number: String = std::iter::once('+')
                .chain((0..len).map(|i| {
                    let r = next();
                    let d = match (i, r % 5) {
                        (0, _) => 1 + r % 9,
                        (_, 0) => 0,
                        _ => r % 10,
                    };
                    char::from(b'0' + d as u8)
                }))
                .collect();
            let theirs = phonenumber::parse(None, &number).is_ok();
            let ours = phone("phone", &number).is_ok();
            if len >= 10 {
                assert_eq!(ours, theirs, "{number}");
            } else if theirs {
                assert!(ours, "{number}: libphonenumber accepts it");
            }
        }
    }

    #[test]
    fn prefs_object_only_and_size() {
        assert!(prefs("prefs", &json!({"a": 1})).is_ok());
        assert!(prefs("prefs", &json!({})).is_ok());
        for bad in [json!("{}"), json!("[]"), json!([]), json!(1), json!(null)] {
            assert!(prefs("prefs", &bad).is_err(), "{bad}");
        }
        assert!(prefs("prefs", &json!({"k": "-".repeat(100_000)})).is_err());
        // 12 000 cakes: 48 KB of UTF-8 but 144 KB as PHP-escaped JSON.
        assert!(prefs("prefs", &json!({"k": "🍰".repeat(12_000)})).is_err());
        assert!(prefs("prefs", &json!({"k": "-".repeat(60_000)})).is_ok());
    }
}
