//! Plain OAuth2 providers (no OpenID Connect): the code exchange, the API reads, and the user
//! mapping of `providers::Plain`, one engine for every entry.
//!
//! The exchange is ours rather than the `oauth2` crate's: its typed token response cannot read
//! what some providers document (Yammer nests the token in an object, Bitly's answer has no
//! `token_type`, Notion wants a JSON body), and the request itself is one POST of RFC 6749
//! section 4.1.3. The authorization URL and PKCE stay with the crate (`oauth2.rs`).
//!
//! Nothing a provider sends back is echoed to the caller, and no logged line carries a query
//! string (Disqus takes the token and the API secret there).

use super::{expiry, Ctx, Profile, State};
use crate::config::OAuth2Provider;
use crate::error::{Error, Result};
use crate::outbound::Fetch;
use crate::providers::{ClientAuth, Mapping, Plain, TokenIn, Verified};
use base64::Engine;
use serde_json::Value;

const USER_AGENT: &str = "appwrite-account-lambda";

/// A token endpoint's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub expires_in: Option<std::time::Duration>,
}

/// The user as a plain provider describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub verified: bool,
    pub name: String,
}

fn failure(why: impl std::fmt::Display) -> Error {
    super::provider_failure(why)
}

/// `{client_id}` and `{client_secret}` in a configured header or parameter value.
fn fill(value: &str, conf: &OAuth2Provider) -> String {
    value
        .replace("{client_id}", &conf.client_id)
        .replace("{client_secret}", &conf.client_secret)
}

/// Where a URL goes, for the log: never its query.
fn shown(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// One token request (RFC 6749 sections 4.1.3 and 6): `grant` plus the client's credentials as
/// the provider takes them.
pub async fn token(
    fetch: &dyn Fetch,
    conf: &OAuth2Provider,
    plain: &Plain,
    url: &str,
    mut grant: Vec<(&'static str, String)>,
) -> Result<Tokens> {
    let mut req = http::Request::post(url)
        .header("accept", "application/json")
        .header("user-agent", USER_AGENT);
    match plain.client_auth {
        ClientAuth::Body => {
            grant.push(("client_id", conf.client_id.clone()));
            grant.push(("client_secret", conf.client_secret.clone()));
        }
        ClientAuth::IdOnly => grant.push(("client_id", conf.client_id.clone())),
        ClientAuth::Basic => {
            // RFC 6749 section 2.3.1: each part form-encoded before the Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&conf.client_id), enc(&conf.client_secret));
            req = req.header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
    }
    let body = if plain.json_body {
        req = req.header("content-type", "application/json");
        let map: serde_json::Map<String, Value> = grant
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        Value::Object(map).to_string().into_bytes()
    } else {
        req = req.header("content-type", "application/x-www-form-urlencoded");
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &grant {
            form.append_pair(k, v);
        }
        form.finish().into_bytes()
    };
    let resp = fetch
        .send(req.body(body).map_err(Error::internal)?)
        .await
        .map_err(failure)?;
    let answer = parse_answer(resp.body());
    // An error answer (some providers send it with a 200) names its code; nothing else of it
    // is kept.
    let error = answer.get("error").and_then(Value::as_str).map(|e| {
        e.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect::<String>()
    });
    let access = match answer.pointer(plain.access_token) {
        Some(Value::String(t)) if !t.is_empty() && resp.status().is_success() => t.clone(),
        _ => {
            return Err(failure(format!(
                "{} answered {} without an access token (error {error:?})",
                shown(url),
                resp.status()
            )))
        }
    };
    let seconds = match answer.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(Tokens {
        access,
        refresh: answer
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        expires_in: seconds
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs),
    })
}

/// A token answer as JSON; a form-encoded one (GitHub and Bitly without `Accept`, older APIs)
/// as the object of its pairs.
fn parse_answer(body: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(
            url::form_urlencoded::parse(body)
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ),
    }
}

/// One API read with the access token, where and how the provider wants it.
async fn read(
    fetch: &dyn Fetch,
    conf: &OAuth2Provider,
    plain: &Plain,
    url: &str,
    access: &str,
    post: bool,
) -> Result<Value> {
    let mut target =
        url::Url::parse(url).map_err(|_| failure(format!("bad URL {}", shown(url))))?;
    let mut query: Vec<(&str, String)> = plain
        .query
        .iter()
        .map(|(k, v)| (*k, fill(v, conf)))
        .collect();
    if let TokenIn::Query(name) = plain.token_in {
        query.push((name, access.to_owned()));
    }
    if !query.is_empty() {
        let mut pairs = target.query_pairs_mut();
        for (k, v) in &query {
            pairs.append_pair(k, v);
        }
    }
    let mut req = http::Request::builder()
        .method(if post {
            http::Method::POST
        } else {
            http::Method::GET
        })
        .uri(target.as_str())
        .header("accept", "application/json")
        .header("user-agent", USER_AGENT);
    match plain.token_in {
        TokenIn::Bearer => req = req.header("authorization", format!("Bearer {access}")),
        TokenIn::Scheme(s) => req = req.header("authorization", format!("{s} {access}")),
        TokenIn::Query(_) => {}
    }
    for (k, v) in plain.headers {
        req = req.header(*k, fill(v, conf));
    }
    let resp = fetch
        .send(req.body(vec![]).map_err(Error::internal)?)
        .await
        .map_err(failure)?;
    if !resp.status().is_success() {
        return Err(failure(format!(
            "{} answered {}",
            shown(url),
            resp.status()
        )));
    }
    serde_json::from_slice(resp.body()).map_err(|e| failure(format!("{}: {e}", shown(url))))
}

/// The profile read and its extra reads, each put into the user JSON under its name; `{id}` in
/// an extra URL is the ID read so far.
pub async fn user_json(
    fetch: &dyn Fetch,
    conf: &OAuth2Provider,
    plain: &Plain,
    access: &str,
) -> Result<Value> {
    let userinfo = conf.userinfo_url.as_deref().unwrap_or(plain.userinfo);
    let mut user = read(fetch, conf, plain, userinfo, access, plain.post_userinfo).await?;
    for (name, default) in plain.extra {
        let url = conf
            .extra_urls
            .iter()
            .find(|(n, _)| n == name)
            .map_or(*default, |(_, u)| u.as_str());
        let raw = text(&user, plain.mapping.id);
        // An ID is one path segment: never empty or a dot segment that would move the read.
        if raw.is_empty() || raw.chars().all(|c| c == '.') {
            return Err(failure(format!(
                "{}: no usable ID for {name}",
                shown(userinfo)
            )));
        }
        // Form encoding escapes every reserved character; a space is `%20` in a path.
        let id = url::form_urlencoded::byte_serialize(raw.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let url = url.replace("{id}", &id).replace("%7Bid%7D", &id);
        let extra = read(fetch, conf, plain, &url, access, false).await?;
        if let Value::Object(fields) = &mut user {
            fields.insert((*name).to_owned(), extra);
        }
    }
    Ok(user)
}

/// A string or a number at `ptr` as text (IDs are numbers at Etsy, Podio, Yammer, Kick).
fn text(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        // As sent: a padded address is a look-alike, not an address to tidy up.
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Whether a flag says yes: `true`, `1` or `"true"`.
fn yes(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// The user a provider's JSON describes, under `mapping`. Addresses meet the rules a user's own
/// input meets; one that does not counts as none.
pub fn map_user(user: &Value, mapping: &Mapping) -> User {
    let mut email = crate::address::email(&text(user, mapping.email));
    let verified = match mapping.verified {
        Verified::Field(ptr) => yes(user.pointer(ptr)),
        Verified::Present => email.is_some(),
        Verified::Never => false,
        Verified::List {
            list,
            address,
            primary,
            verified,
        } => {
            let entries = user
                .pointer(list)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let entry = |e: &Value| {
                (
                    e.get(address)
                        .and_then(Value::as_str)
                        .and_then(crate::address::email),
                    yes(e.get(verified)),
                    yes(e.get(primary)),
                )
            };
            // The profile's address if listed, else the primary one.
            let chosen = entries
                .iter()
                .map(entry)
                .find(|(e, _, _)| e.is_some() && *e == email)
                .or_else(|| entries.iter().map(entry).find(|(_, _, p)| *p));
            match chosen {
                Some((Some(e), v, _)) => {
                    email = Some(e);
                    v
                }
                _ => false,
            }
        }
    };
    let name = mapping
        .name
        .iter()
        .map(|parts| {
            parts
                .iter()
                .map(|p| text(user, p).trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .find(|n| !n.is_empty())
        .unwrap_or_default();
    User {
        id: text(user, mapping.id),
        email,
        verified,
        name,
    }
}

/// The user of a plain provider's sign-in: the code exchanged, then the API reads.
pub(super) async fn oauth2_profile(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    plain: &crate::providers::Plain,
    redirect: oauth2::RedirectUrl,
    code: &str,
    state: &State,
) -> Result<Profile> {
    let mut grant = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect.as_str().to_owned()),
    ];
    if conf.provider.pkce {
        grant.push(("code_verifier", state.v.clone()));
    }
    let url = conf.token_url.as_deref().unwrap_or(plain.token);
    let tokens = token(cx.app.fetch.as_ref(), conf, plain, url, grant).await?;
    let json = user_json(cx.app.fetch.as_ref(), conf, plain, &tokens.access).await?;
    let user = map_user(&json, &plain.mapping);
    Ok(Profile {
        id: user.id,
        email: user.email,
        verified: user.verified,
        name: user.name,
        access_token: tokens.access,
        refresh_token: tokens.refresh.unwrap_or_default(),
        expires_at: expiry(cx.now, tokens.expires_in),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{find, Protocol};
    use serde_json::json;

    fn mapping(key: &str) -> Mapping {
        match find(key).map(|p| p.protocol) {
            Some(Protocol::OAuth2(plain)) => plain.mapping,
            _ => panic!("{key} is not a plain provider"),
        }
    }

    fn user(id: &str, email: Option<&str>, verified: bool, name: &str) -> User {
        User {
            id: id.into(),
            email: email.map(str::to_owned),
            verified,
            name: name.into(),
        }
    }

    #[test]
    fn flags_and_names_read_as_documented() {
        assert!(yes(Some(&json!(1))) && yes(Some(&json!("true"))) && yes(Some(&json!(true))));
        assert!(!yes(Some(&json!(0))) && !yes(Some(&json!("1"))) && !yes(None));
        // Zoom: `verified: 1`, a name from two fields when there is no display name.
        let zoom = json!({"id": "KDcuGIm1QgePTO8WbOqwIQ", "first_name": "Jane", "last_name": "Doe",
            "email": "jane@example.com", "verified": 1});
        assert_eq!(
            map_user(&zoom, &mapping("zoom")),
            user(
                "KDcuGIm1QgePTO8WbOqwIQ",
                Some("jane@example.com"),
                true,
                "Jane Doe"
            )
        );
        // A look-alike address counts as none, whatever the flag.
        let bad = json!({"id": "1", "email": "jane@exa mple.com", "verified": 1});
        assert_eq!(map_user(&bad, &mapping("zoom")).email, None);
    }

    #[test]
    fn list_entries_pick_the_profile_address_else_the_primary() {
        let m = mapping("bitbucket");
        let u = json!({"uuid": "{250a}", "display_name": "Jane", "emails": {"values": [
            {"email": "old@example.com", "is_primary": false, "is_confirmed": true},
            {"email": "jane@example.com", "is_primary": true, "is_confirmed": false}]}});
        assert_eq!(
            map_user(&u, &m),
            user("{250a}", Some("jane@example.com"), false, "Jane")
        );
        // Podio: the profile's `mail` wins over the primary flag.
        let p = json!({"user_id": 123456, "mail": "b@example.com", "profile": {"name": "B"},
            "mails": [{"mail": "a@example.com", "primary": true, "verified": true},
                      {"mail": "b@example.com", "primary": false, "verified": true}]});
        assert_eq!(
            map_user(&p, &mapping("podio")),
            user("123456", Some("b@example.com"), true, "B")
        );
        // No list at all: the address stays, unverified.
        let g = json!({"id": 7, "login": "octo", "email": "o@example.com"});
        assert_eq!(
            map_user(&g, &mapping("github")),
            user("7", Some("o@example.com"), false, "octo")
        );
    }

    #[test]
    fn the_log_never_shows_a_query() {
        assert_eq!(
            shown("https://disqus.com/api/3.0/users/details.json?access_token=t&api_secret=s"),
            "https://disqus.com/api/3.0/users/details.json"
        );
    }

    #[test]
    fn token_answers_as_json_or_as_a_form() {
        assert_eq!(
            parse_answer(b"access_token=a&scope=user"),
            json!({"access_token": "a", "scope": "user"})
        );
        assert_eq!(
            parse_answer(br#"{"access_token":{"token":"t"}}"#)["access_token"]["token"],
            "t"
        );
    }
}
