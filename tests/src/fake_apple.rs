//! An Apple-shaped OpenID provider on loopback, as "Sign in with Apple" documents itself
//! (developer.apple.com/documentation/signinwithapplerestapi): discovery, a JWKS, an authorize
//! page that answers with a self-submitting form post (`response_mode=form_post`) carrying
//! `code`, `state`, `id_token` and, on a user's first authorization only, the `user` JSON with
//! their name; a token endpoint that takes only `client_secret_post` and checks the client
//! secret as Apple does: an ES256 JWT of the team (`iss`), for the Services ID (`sub`), for
//! Apple (`aud`), unexpired, signed by the key `kid` names. Its ID tokens are ES256 JWTs with
//! Apple's claims (`email_verified` and `is_private_email` as the strings Apple sometimes sends).

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub const SERVICES_ID: &str = "com.example.web";
pub const TEAM_ID: &str = "TEAM456789";
pub const KEY_ID: &str = "KEY1234567";

/// The team's private key (a `.p8`), made for these tests only.
pub const TEAM_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoeEighgk8c4cDgoc
UvxwKUN73Psh9hb3MNwqa3HMOrChRANCAAQdMiAVnz//4FJeRG9K/uh9PMKVnTBm
Q2dt2dLJY9ldQk0jUDCxjvzbePWGnwZRhFsdIAsWJbcRlSCrD03ax/14
-----END PRIVATE KEY-----";
const TEAM_X: &str = "HTIgFZ8__-BSXkRvSv7ofTzClZ0wZkNnbdnSyWPZXUI";
const TEAM_Y: &str = "TSNQMLGO_Nt49YafBlGEWx0gCxYltxGVIKsPTdrH_Xg";

/// The provider's own ID-token key, published in its JWKS.
const SIGNING_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgp2TSAd5p7/Nucdzf
ldNVulDWReA4kQv2OvUggYxUW8uhRANCAATpRAC5dmd6aJ9131taPClP+ngRIOho
P8yLOTEb931P9VeenA+o7YS9fz9/7O9y1KramsEa60L03Ot/EvCTOaPE
-----END PRIVATE KEY-----";
const SIGNING_X: &str = "6UQAuXZnemifdd9bWjwpT_p4ESDoaD_MizkxG_d9T_U";
const SIGNING_Y: &str = "V56cD6jthL1_P3_s73LUqtqawRrrQvTc638S8JM5o8Q";
const SIGNING_KID: &str = "apple-test-1";

/// A key nobody published: an ID token signed with it must be refused.
const STRANGER_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgj+fssWsVks8j7/bq
7hJEDlUu617EymT2LJXTbxDCPq6hRANCAATX8N8Ofzzb+CF4AhWYdyTe0iz1aQO4
mY74y8VSw4OjMXVfJtQbpFul0YBip8a+P7pyi2A2naV6R2EV5P9CRBE9
-----END PRIVATE KEY-----";

/// Appwrite's JSON for Apple's client secret, as an operator configures it.
pub fn team_secret() -> String {
    json!({"keyID": KEY_ID, "teamID": TEAM_ID, "p8": TEAM_P8}).to_string()
}

fn der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// The person behind the next authorization.
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: String,
    pub email: String,
    pub first: String,
    pub last: String,
    pub private_relay: bool,
}

/// A way the next ID token is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Signed by a key the JWKS does not publish (the same `kid`).
    ForeignKey,
    /// For another client.
    Audience,
    /// Another sign-in's nonce.
    Nonce,
    /// Expired an hour ago.
    Expired,
    /// From another issuer.
    Issuer,
}

#[derive(Default)]
struct Inner {
    next: Option<Person>,
    tamper: Option<Tamper>,
    /// Subjects that have authorized this app before: Apple sends `user` only the first time.
    known: HashSet<String>,
    /// code → (person, nonce, redirect_uri)
    codes: HashMap<String, (Person, String, String)>,
    refresh: HashMap<String, Person>,
    last_authorize: Option<HashMap<String, String>>,
    /// Every token request's form, and whether it carried an Authorization header.
    token_requests: Vec<(HashMap<String, String>, bool)>,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeApple {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeApple {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = inner.clone();
        let base = crate::loopback::serve(move |issuer, req| {
            let state = state.clone();
            async move { route(&state, &issuer, req).await }
        })
        .await;
        Self { base, inner }
    }

    pub fn next(&self, person: Person, tamper: Tamper) {
        let mut i = self.inner.lock().unwrap();
        i.next = Some(person);
        i.tamper = Some(tamper);
    }

    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.inner
            .lock()
            .unwrap()
            .last_authorize
            .clone()
            .unwrap_or_default()
    }

    /// The token requests so far: their form, and whether they carried an Authorization header.
    pub fn token_requests(&self) -> Vec<(HashMap<String, String>, bool)> {
        self.inner.lock().unwrap().token_requests.clone()
    }

    /// The configuration enabling `apple` at this provider, with `extra` on top.
    pub fn configure(&self, c: &mut account_core::config::Config, extra: &[(&str, &str)]) {
        let secret = team_secret();
        let lookup = |k: &str| -> Option<String> {
            if let Some((_, v)) = extra.iter().find(|(n, _)| *n == k) {
                return Some((*v).to_owned());
            }
            match k {
                "OAUTH2_PROVIDERS" => Some("apple".into()),
                "OAUTH2_APPLE_CLIENT_ID" => Some(SERVICES_ID.into()),
                "OAUTH2_APPLE_CLIENT_SECRET" => Some(secret.clone()),
                "OAUTH2_APPLE_ISSUER" => Some(self.base.clone()),
                // A moved issuer is untrusted by default; this double stands for Apple's own.
                "OAUTH2_APPLE_TRUSTED_EMAIL" => Some("true".into()),
                _ => None,
            }
        };
        c.oauth2 = account_core::config::Config::from_lookup(lookup)
            .expect("provider configuration")
            .oauth2;
    }
}

fn reply(status: u16, ctype: &str, body: String) -> hyper::Response<Full<Bytes>> {
    crate::loopback::reply(status, &[], ctype, body)
}

fn json_reply(status: u16, body: Value) -> hyper::Response<Full<Bytes>> {
    reply(status, "application/json", body.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Apple's check of a client secret (its documented claims), or why it fails.
fn check_client_secret(jwt: &str, issuer: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(KEY_ID) {
        return Err(format!("header {header:?}"));
    }
    let key = DecodingKey::from_ec_components(TEAM_X, TEAM_Y).unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[TEAM_ID]);
    v.set_audience(&[issuer]);
    v.sub = Some(SERVICES_ID.into());
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .map_err(|e| e.to_string())?
        .claims;
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    match (iat, exp) {
        (Some(iat), Some(exp)) if exp - iat <= 15_777_000 && iat <= now() + 60 => Ok(()),
        _ => Err(format!("iat/exp {claims}")),
    }
}

fn id_token(issuer: &str, p: &Person, nonce: &str, tamper: Tamper) -> String {
    let t = now();
    let claims = json!({
        "iss": if tamper == Tamper::Issuer { "https://evil.example" } else { issuer },
        "aud": if tamper == Tamper::Audience { "com.other.app" } else { SERVICES_ID },
        "exp": if tamper == Tamper::Expired { t - 3600 } else { t + 600 },
        "iat": if tamper == Tamper::Expired { t - 4200 } else { t },
        "sub": p.sub,
        "nonce": if tamper == Tamper::Nonce { "someone-elses-nonce" } else { nonce },
        "nonce_supported": true,
        "c_hash": "x",
        "email": p.email,
        "email_verified": "true",
        "is_private_email": if p.private_relay { "true" } else { "false" },
        "auth_time": t,
        "real_user_status": 2,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(SIGNING_KID.into());
    let pem = if tamper == Tamper::ForeignKey {
        STRANGER_P8
    } else {
        SIGNING_P8
    };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&der(pem))).unwrap()
}

async fn route(
    state: &Arc<Mutex<Inner>>,
    issuer: &str,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let has_authorization = req.headers().contains_key("authorization");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut s = state.lock().unwrap();
    match path.as_str() {
        // Apple's document, with its ID tokens signed ES256 here.
        "/.well-known/openid-configuration" => json_reply(
            200,
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/auth/authorize"),
                "token_endpoint": format!("{issuer}/auth/token"),
                "revocation_endpoint": format!("{issuer}/auth/revoke"),
                "jwks_uri": format!("{issuer}/auth/keys"),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "scopes_supported": ["openid", "email", "name"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "claims_supported": ["aud", "email", "email_verified", "exp", "iat",
                    "is_private_email", "iss", "nonce", "nonce_supported", "real_user_status",
                    "sub", "transfer_sub"],
            }),
        ),
        "/auth/keys" => json_reply(
            200,
            json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": SIGNING_KID, "use": "sig",
                "alg": "ES256", "x": SIGNING_X, "y": SIGNING_Y}]}),
        ),
        "/auth/authorize" => {
            s.last_authorize = Some(query.clone());
            let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
            let scope = query.get("scope").cloned().unwrap_or_default();
            let wants_name = scope.split(' ').any(|x| x == "name");
            // Apple: scopes need the form post.
            if query.get("response_mode").map(String::as_str) != Some("form_post")
                || query.get("client_id").map(String::as_str) != Some(SERVICES_ID)
                || query.get("response_type").map(String::as_str) != Some("code")
            {
                return reply(400, "text/plain", "invalid_request".into());
            }
            let person = s.next.clone().expect("a person for the next sign-in");
            let tamper = s.tamper.unwrap_or(Tamper::None);
            s.counter += 1;
            let code = format!("c{}.apple", s.counter);
            let nonce = query.get("nonce").cloned().unwrap_or_default();
            s.codes.insert(
                code.clone(),
                (person.clone(), nonce.clone(), redirect.clone()),
            );
            let mut fields = vec![
                ("state", query.get("state").cloned().unwrap_or_default()),
                ("code", code),
                ("id_token", id_token(issuer, &person, &nonce, tamper)),
            ];
            if wants_name && s.known.insert(person.sub.clone()) {
                fields.push((
                    "user",
                    json!({"name": {"firstName": person.first, "lastName": person.last},
                        "email": person.email})
                    .to_string(),
                ));
            }
            let inputs: String = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        r#"<input type="hidden" name="{k}" value="{}">"#,
                        html_escape(v)
                    )
                })
                .collect();
            reply(
                200,
                "text/html",
                format!(
                    r#"<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="{}">{inputs}</form></body></html>"#,
                    html_escape(&redirect)
                ),
            )
        }
        "/auth/token" => {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            s.token_requests.push((form.clone(), has_authorization));
            let client = form.get("client_id").map(String::as_str) == Some(SERVICES_ID)
                && !has_authorization
                && check_client_secret(
                    form.get("client_secret").map(String::as_str).unwrap_or(""),
                    issuer,
                )
                .is_ok();
            if !client {
                return json_reply(400, json!({"error": "invalid_client"}));
            }
            let tamper = s.tamper.unwrap_or(Tamper::None);
            let (person, nonce) = match form.get("grant_type").map(String::as_str) {
                Some("refresh_token") => {
                    let old = form.get("refresh_token").cloned().unwrap_or_default();
                    match s.refresh.get(&old) {
                        Some(p) => (p.clone(), String::new()),
                        None => return json_reply(400, json!({"error": "invalid_grant"})),
                    }
                }
                Some("authorization_code") => {
                    let code = form.get("code").cloned().unwrap_or_default();
                    match s.codes.remove(&code) {
                        Some((p, nonce, redirect))
                            if form.get("redirect_uri") == Some(&redirect) =>
                        {
                            (p, nonce)
                        }
                        _ => return json_reply(400, json!({"error": "invalid_grant"})),
                    }
                }
                _ => return json_reply(400, json!({"error": "unsupported_grant_type"})),
            };
            s.counter += 1;
            let refresh = format!("r{}.apple", s.counter);
            s.refresh.insert(refresh.clone(), person.clone());
            json_reply(
                200,
                json!({
                    "access_token": format!("a{}.apple", s.counter),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": refresh,
                    "id_token": id_token(issuer, &person, &nonce, tamper),
                }),
            )
        }
        _ => json_reply(404, json!({"error": "not_found"})),
    }
}
