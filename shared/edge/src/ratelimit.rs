//! Fixed-window rate limits (Appwrite "abuse" semantics, contract §1.10).
//!
//! Each key template of the route is filled in, hashed (keys can hold emails) and counted in a
//! DynamoDB item `RL#<sha256(key)>#<window start>` with one atomic conditional `UpdateItem`
//! (`ADD n 1 IF n < limit`), so parallel requests never over-admit. Counters expire by TTL at the
//! end of their window.

use crate::routes::RateLimit;
use account_core::clock::Millis;
pub use account_core::context::Verdict;
use account_core::crypto::sha256_hex;
use account_core::error::Result;
use account_core::store::Security;

/// Substitute `{url}`, `{ip}`, `{userId}`, `{projectId}`, `{method}`, `{param-<name>}`. An empty
/// parameter leaves its placeholder in the key, as Appwrite does.
pub fn fill_key(template: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + end];
        match vars(name).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..=start + end]),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A parameter as its handler will read it, so look-alike spellings share one counter: emails
/// lower-cased (as `validate::email` does), phones without the separators people type. Values
/// the handler would refuse keep a key of their own; they never reach a write.
pub fn normalise_param(name: &str, raw: &str) -> String {
    match name {
        "email" => crate::validate::email("email", raw.trim())
            .unwrap_or_else(|_| raw.trim().to_lowercase()),
        "phone" => raw
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '(' | ')' | '.'))
            .collect(),
        _ => raw.to_owned(),
    }
}

pub use account_core::dates::window;

/// Count this request against every key of `rl` and every guard key (calls run in parallel).
/// `keys` are the filled templates of `rl.keys`, `guards` those of `rl.guards` (same order).
pub async fn check<S: Security + ?Sized>(
    store: &S,
    rl: &RateLimit,
    keys: Vec<String>,
    guards: Vec<String>,
    now: Millis,
) -> Result<Verdict> {
    let (start, end) = window(now, rl.period_secs);
    let counter = |k: &String| format!("RL#{}#{start}", sha256_hex(k));
    let counters: Vec<String> = keys.iter().map(counter).collect();
    let guard_counters: Vec<(String, u32)> = guards
        .iter()
        .zip(rl.guards)
        .map(|(k, (_, limit))| (counter(k), *limit))
        .collect();
    let hits = counters
        .iter()
        .map(|c| (c.as_str(), rl.limit))
        .chain(guard_counters.iter().map(|(c, l)| (c.as_str(), *l)));
    let results =
        futures_util::future::join_all(hits.map(|(c, limit)| store.hit_counter(c, limit, end)))
            .await;
    let mut remaining = rl.limit;
    let mut allowed = true;
    for (i, r) in results.into_iter().enumerate() {
        match r? {
            // Guards show in the headers only when they refuse.
            Some(count) if i < counters.len() => {
                remaining = remaining.min(rl.limit.saturating_sub(count));
            }
            Some(_) => {}
            None => {
                allowed = false;
                remaining = 0;
            }
        }
    }
    Ok(Verdict {
        limit: rl.limit,
        remaining,
        reset: end,
        allowed,
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders() {
        let vars = |n: &str| match n {
            "url" => Some("localhost/v1/account".to_string()),
            "ip" => Some("1.2.3.4".to_string()),
            "param-email" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            fill_key("url:{url},ip:{ip}", &vars),
            "url:localhost/v1/account,ip:1.2.3.4"
        );
        assert_eq!(
            fill_key("email:{param-email}", &vars),
            "email:{param-email}"
        );
    }

    #[test]
    fn look_alike_params_share_a_key() {
        for e in [
            "rl1@example.com",
            "RL1@example.com",
            "rL1@Example.COM",
            " rl1@example.com",
        ] {
            assert_eq!(normalise_param("email", e), "rl1@example.com", "{e}");
        }
        assert_eq!(normalise_param("phone", "+1 415-555 0100"), "+14155550100");
        assert_eq!(normalise_param("userId", "AbC"), "AbC");
    }

    #[test]
    fn fixed_windows() {
        assert_eq!(window(7_200_500, 3600), (7200, 10800));
        assert_eq!(window(7_199_999, 3600), (3600, 7200));
    }
}
