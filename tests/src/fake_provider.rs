//! A plain OAuth2 provider on loopback that behaves as one provider's documentation says, from a
//! [`Spec`] the test writes from that documentation (not from our provider table): how its
//! token endpoint authenticates the client and reads the body, whether it checks PKCE, what its
//! token answer looks like, where its API takes the token, which headers and parameters it
//! requires, and the JSON each read answers. Every deviation is refused the way a provider
//! refuses it (an error status) and noted in [`FakeProvider::problems`].

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "client-id";
pub const CLIENT_SECRET: &str = "client secret/+=";

/// How the token endpoint authenticates the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `client_id` and `client_secret` in the body.
    Body,
    /// HTTP Basic (each part form-encoded, RFC 6749 section 2.3.1), nothing in the body.
    Basic,
    /// `client_id` in the body and no secret anywhere (PKCE public clients).
    IdOnly,
}

/// Where the API takes the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Bearer,
    Scheme(&'static str),
    Query(&'static str),
}

/// One provider's documented behaviour.
#[derive(Debug, Clone)]
pub struct Spec {
    pub key: &'static str,
    pub client: Client,
    /// The token request's body is JSON.
    pub json_body: bool,
    /// PKCE (S256) is checked; without it, a `code_challenge` at the authorization is a problem.
    pub pkce: bool,
    /// The authorization request must carry these (scope format, extra parameters).
    pub authorize: Vec<(&'static str, &'static str)>,
    /// The documented token answer, given the access and refresh tokens.
    pub token_answer: fn(&str, &str) -> Value,
    pub token: Token,
    /// The profile read is a POST.
    pub post_userinfo: bool,
    /// Headers and query parameters every API read must carry.
    pub headers: Vec<(&'static str, String)>,
    pub query: Vec<(&'static str, String)>,
    /// Path (below the fake's base) → the documented JSON it answers.
    pub documents: Vec<(String, Value)>,
}

#[derive(Default)]
struct Inner {
    /// code → (PKCE challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    access: Vec<String>,
    problems: Vec<String>,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub base: String,
    spec: Arc<Spec>,
    inner: Arc<Mutex<Inner>>,
}

impl FakeProvider {
    pub async fn start(spec: Spec) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let spec = Arc::new(spec);
        let (state, sp) = (inner.clone(), spec.clone());
        let base = crate::loopback::serve(move |_, req| {
            let (state, sp) = (state.clone(), sp.clone());
            async move { route(&state, &sp, req).await }
        })
        .await;
        Self { base, spec, inner }
    }

    pub fn problems(&self) -> Vec<String> {
        self.inner.lock().unwrap().problems.clone()
    }

    /// The access tokens issued so far.
    pub fn issued(&self) -> Vec<String> {
        self.inner.lock().unwrap().access.clone()
    }

    /// The configuration enabling this provider with every endpoint moved here; `extra` names
    /// the extra reads (`emails`, `profile`, …) and their path below the base.
    pub fn configure(&self, c: &mut account_core::config::Config, extra: &[(&str, &str)]) {
        let key = self.spec.key.to_ascii_uppercase();
        let mut vars: Vec<(String, String)> = vec![
            ("OAUTH2_PROVIDERS".into(), self.spec.key.into()),
            (format!("OAUTH2_{key}_CLIENT_ID"), CLIENT_ID.into()),
            (format!("OAUTH2_{key}_CLIENT_SECRET"), CLIENT_SECRET.into()),
            (
                format!("OAUTH2_{key}_AUTHORIZE_URL"),
                format!("{}/authorize", self.base),
            ),
            (
                format!("OAUTH2_{key}_TOKEN_URL"),
                format!("{}/token", self.base),
            ),
            (
                format!("OAUTH2_{key}_USERINFO_URL"),
                format!("{}/user", self.base),
            ),
            // Moved endpoints are untrusted by default; this double stands for the provider
            // itself, so its flag decides.
            (format!("OAUTH2_{key}_TRUSTED_EMAIL"), "true".into()),
        ];
        for (name, path) in extra {
            vars.push((
                format!("OAUTH2_{key}_{}_URL", name.to_ascii_uppercase()),
                format!("{}{path}", self.base),
            ));
        }
        let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        c.oauth2 = account_core::config::Config::from_lookup(lookup)
            .expect("provider configuration")
            .oauth2;
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: Value) -> hyper::Response<Full<Bytes>> {
    crate::loopback::json(status, headers, body)
}

fn refuse(s: &mut Inner, status: u16, problem: String) -> hyper::Response<Full<Bytes>> {
    s.problems.push(problem.clone());
    reply(
        status,
        &[],
        json!({"error": "invalid_request", "error_description": problem}),
    )
}

async fn route(
    state: &Arc<Mutex<Inner>>,
    spec: &Spec,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (authorization, ctype) = (header("authorization"), header("content-type"));
    let required: Vec<(&str, Option<String>)> =
        spec.headers.iter().map(|(k, _)| (*k, header(k))).collect();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut s = state.lock().unwrap();
    match path.as_str() {
        "/authorize" => {
            for (k, v) in &spec.authorize {
                if query.get(*k).map(String::as_str) != Some(*v) {
                    return refuse(&mut s, 400, format!("authorize {k}={:?}", query.get(*k)));
                }
            }
            let challenge = query.get("code_challenge").cloned().unwrap_or_default();
            if spec.pkce != (query.get("code_challenge_method").map(String::as_str) == Some("S256"))
                || spec.pkce == challenge.is_empty()
            {
                return refuse(&mut s, 400, format!("authorize PKCE: {query:?}"));
            }
            let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
            s.counter += 1;
            let code = format!("code{}", s.counter);
            s.codes.insert(code.clone(), (challenge, redirect.clone()));
            let mut to = url::Url::parse(&redirect).unwrap();
            to.query_pairs_mut().append_pair("code", &code).append_pair(
                "state",
                query.get("state").map(String::as_str).unwrap_or(""),
            );
            reply(302, &[("location", to.to_string())], json!({}))
        }
        "/token" => {
            let json_sent = ctype.as_deref() == Some("application/json");
            if json_sent != spec.json_body {
                return refuse(&mut s, 400, format!("token content-type {ctype:?}"));
            }
            let form: HashMap<String, String> = if json_sent {
                serde_json::from_slice::<HashMap<String, String>>(&body).unwrap_or_default()
            } else {
                url::form_urlencoded::parse(&body).into_owned().collect()
            };
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(CLIENT_ID),
                    enc(CLIENT_SECRET)
                ))
            );
            let (id, secret) = (form.get("client_id"), form.get("client_secret"));
            let client_ok = match spec.client {
                Client::Body => {
                    authorization.is_none()
                        && id.map(String::as_str) == Some(CLIENT_ID)
                        && secret.map(String::as_str) == Some(CLIENT_SECRET)
                }
                Client::Basic => {
                    authorization.as_deref() == Some(basic.as_str()) && secret.is_none()
                }
                Client::IdOnly => {
                    authorization.is_none()
                        && id.map(String::as_str) == Some(CLIENT_ID)
                        && secret.is_none()
                }
            };
            if !client_ok {
                return refuse(
                    &mut s,
                    401,
                    format!("token client: {authorization:?} {form:?}"),
                );
            }
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((challenge, redirect)) = s.codes.remove(&code) else {
                return refuse(&mut s, 400, format!("token code {code:?}"));
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            if form.get("grant_type").map(String::as_str) != Some("authorization_code")
                || form.get("redirect_uri") != Some(&redirect)
                || (spec.pkce && expected != challenge)
            {
                return refuse(&mut s, 400, format!("token grant: {form:?}"));
            }
            s.counter += 1;
            let access = format!("{}-access-{}", spec.key, s.counter);
            s.access.push(access.clone());
            let answer =
                (spec.token_answer)(&access, &format!("{}-refresh-{}", spec.key, s.counter));
            reply(200, &[], answer)
        }
        _ => {
            let token = match spec.token {
                Token::Bearer => {
                    authorization.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
                }
                Token::Scheme(scheme) => authorization
                    .and_then(|a| a.strip_prefix(&format!("{scheme} ")).map(str::to_owned)),
                Token::Query(name) => query.get(name).cloned(),
            };
            if !token.is_some_and(|t| s.access.contains(&t)) {
                return refuse(
                    &mut s,
                    401,
                    format!("{path}: no valid token as {:?}", spec.token),
                );
            }
            let post = path == "/user" && spec.post_userinfo;
            if method
                != if post {
                    hyper::Method::POST
                } else {
                    hyper::Method::GET
                }
                || !body.is_empty()
            {
                return refuse(
                    &mut s,
                    405,
                    format!("{path}: {method} with {} bytes", body.len()),
                );
            }
            for ((k, want), (_, got)) in spec.headers.iter().zip(&required) {
                if got.as_deref() != Some(want.as_str()) {
                    return refuse(&mut s, 403, format!("{path}: header {k}={got:?}"));
                }
            }
            for (k, want) in &spec.query {
                if query.get(*k) != Some(want) {
                    return refuse(
                        &mut s,
                        403,
                        format!("{path}: parameter {k}={:?}", query.get(*k)),
                    );
                }
            }
            match spec.documents.iter().find(|(p, _)| *p == path) {
                Some((_, doc)) => reply(200, &[], doc.clone()),
                None => refuse(&mut s, 404, format!("{path}: no such document")),
            }
        }
    }
}
