//! A GitHub-shaped OAuth2 provider on loopback: the authorize page (consent-free: it sends the
//! browser straight back with a code), the token endpoint (client secret and PKCE S256 checked,
//! codes single-use), `/user` and `/user/emails` in GitHub's shapes. It proves the declarative
//! mapping of a plain OAuth2 provider end to end.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "gh-client";
pub const CLIENT_SECRET: &str = "gh-secret";

/// The account the next authorization signs in as.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub login: String,
    pub name: String,
    /// `(address, primary, verified)`, as `/user/emails` lists them.
    pub emails: Vec<(String, bool, bool)>,
}

#[derive(Default)]
struct Inner {
    next: Option<Account>,
    /// Next authorization answers `?error=` instead of a code.
    deny: bool,
    /// code → (account, PKCE challenge, redirect_uri)
    codes: HashMap<String, (Account, String, String)>,
    tokens: HashMap<String, Account>,
    /// refresh token → account (single use: each refresh rotates it).
    refresh: HashMap<String, Account>,
    /// What the last authorization request asked for.
    pub last_authorize: Option<HashMap<String, String>>,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeGithub {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGithub {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = inner.clone();
        let base = crate::loopback::serve(move |_, req| {
            let state = state.clone();
            async move { route(&state, req).await }
        })
        .await;
        Self { base, inner }
    }

    /// Sign the next authorization in as `account`.
    pub fn next(&self, account: Account) {
        let mut i = self.inner.lock().unwrap();
        i.next = Some(account);
        i.deny = false;
    }

    /// The next authorization is refused by the "user" (`error=access_denied`).
    pub fn deny_next(&self) {
        self.inner.lock().unwrap().deny = true;
    }

    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.inner
            .lock()
            .unwrap()
            .last_authorize
            .clone()
            .unwrap_or_default()
    }

    /// The server configuration enabling this provider.
    pub fn configure(&self, c: &mut account_core::config::Config) {
        let lookup = |k: &str| -> Option<String> {
            match k {
                "OAUTH2_PROVIDERS" => Some("github".into()),
                "OAUTH2_GITHUB_CLIENT_ID" => Some(CLIENT_ID.into()),
                "OAUTH2_GITHUB_CLIENT_SECRET" => Some(CLIENT_SECRET.into()),
                "OAUTH2_GITHUB_AUTHORIZE_URL" => {
                    Some(format!("{}/login/oauth/authorize", self.base))
                }
                "OAUTH2_GITHUB_TOKEN_URL" => {
                    Some(format!("{}/login/oauth/access_token", self.base))
                }
                "OAUTH2_GITHUB_USERINFO_URL" => Some(format!("{}/user", self.base)),
                "OAUTH2_GITHUB_EMAILS_URL" => Some(format!("{}/user/emails", self.base)),
                // Moved endpoints make a provider untrusted by default; this double stands
                // for github.com, which verifies the addresses it marks verified.
                "OAUTH2_GITHUB_TRUSTED_EMAIL" => Some("true".into()),
                _ => None,
            }
        };
        c.oauth2 = account_core::config::Config::from_lookup(lookup)
            .expect("provider configuration")
            .oauth2;
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: Value) -> hyper::Response<Full<Bytes>> {
    crate::loopback::json(status, headers, body)
}

/// A new access token and refresh token (GitHub's expiring user tokens).
fn issue(s: &mut Inner, account: Account) -> hyper::Response<Full<Bytes>> {
    s.counter += 1;
    let token = format!("gho_{}", s.counter);
    let refresh = format!("ghr_{}", s.counter);
    s.tokens.insert(token.clone(), account.clone());
    s.refresh.insert(refresh.clone(), account);
    reply(
        200,
        &[],
        json!({
            "access_token": token,
            "token_type": "bearer",
            "scope": "read:user,user:email",
            "expires_in": 28800,
            "refresh_token": refresh,
        }),
    )
}

async fn route(
    state: &Arc<Mutex<Inner>>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut s = state.lock().unwrap();
    match path.as_str() {
        "/login/oauth/authorize" => {
            s.last_authorize = Some(query.clone());
            let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
            let st = query.get("state").cloned().unwrap_or_default();
            let mut to = url::Url::parse(&redirect).unwrap();
            if s.deny {
                s.deny = false;
                to.query_pairs_mut()
                    .append_pair("error", "access_denied")
                    .append_pair("error_description", "<script>the user said no</script>")
                    .append_pair("state", &st);
            } else {
                let account = s.next.clone().expect("an account for the next sign-in");
                s.counter += 1;
                let code = format!("code{}", s.counter);
                let challenge = query.get("code_challenge").cloned().unwrap_or_default();
                s.codes
                    .insert(code.clone(), (account, challenge, redirect.clone()));
                to.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", &st);
            }
            reply(302, &[("location", to.to_string())], json!({}))
        }
        "/login/oauth/access_token" => {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let client_ok = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
            if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
                let old = form.get("refresh_token").cloned().unwrap_or_default();
                let Some(account) = s.refresh.remove(&old).filter(|_| client_ok) else {
                    return reply(400, &[], json!({"error": "bad_refresh_token"}));
                };
                return issue(&mut s, account);
            }
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((account, challenge, redirect)) = s.codes.remove(&code) else {
                return reply(200, &[], json!({"error": "bad_verification_code"}));
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            let ok = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
                && form.get("redirect_uri") == Some(&redirect)
                && !challenge.is_empty()
                && expected == challenge;
            if !ok {
                return reply(400, &[], json!({"error": "invalid_grant"}));
            }
            issue(&mut s, account)
        }
        "/user" | "/user/emails" => {
            let Some(account) = auth.and_then(|t| s.tokens.get(&t).cloned()) else {
                return reply(401, &[], json!({"message": "Bad credentials"}));
            };
            if path == "/user" {
                let public = account
                    .emails
                    .iter()
                    .find(|(_, primary, _)| *primary)
                    .map(|(e, _, _)| e.clone());
                reply(
                    200,
                    &[],
                    json!({"id": account.id, "login": account.login, "name": account.name, "email": public}),
                )
            } else {
                let list: Vec<Value> = account
                    .emails
                    .iter()
                    .map(|(e, p, v)| json!({"email": e, "primary": p, "verified": v, "visibility": null}))
                    .collect();
                reply(200, &[], Value::Array(list))
            }
        }
        _ => reply(404, &[], json!({"message": "Not Found"})),
    }
}
