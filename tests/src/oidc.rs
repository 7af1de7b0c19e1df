//! The OpenID Provider lane's helpers: a server with the `oidc` provider enabled for a freshly
//! registered client of the real provider (`tests/oidc/server.mjs`, named in `OIDC_ISSUER` by
//! `scripts/test`), and the provider's test switches.

use crate::{free_address, Options, Server, PROJECT};
use serde_json::{json, Value};

/// The provider's "next login" and "tamper" switches are global: its tests take turns.
pub static PROVIDER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn issuer() -> String {
    std::env::var("OIDC_ISSUER")
        .expect("OIDC_ISSUER is not set: run the tests through scripts/test, which starts the OpenID provider")
}

/// A server with the `oidc` provider enabled for a freshly registered client; `extra` adds or
/// overrides configuration (`OAUTH2_OIDC_TRUSTED_EMAIL`, a wrong client secret, …) and `o` is
/// adjusted before it starts.
pub async fn server_with(extra: &[(&str, &str)], adjust: impl FnOnce(&mut Options)) -> Server {
    server_for("oidc", extra, adjust).await
}

/// [`server_with`] for the provider `key` (any OpenID Connect entry, its issuer moved to the
/// test provider); `extra` names its variables as `OAUTH2_OIDC_*`.
pub async fn server_for(
    key: &str,
    extra: &[(&str, &str)],
    adjust: impl FnOnce(&mut Options),
) -> Server {
    let issuer = issuer();
    let listen = free_address();
    let callback = format!("http://{listen}/v1/account/sessions/oauth2/callback/{key}/{PROJECT}");
    let reg: Value = reqwest::Client::new()
        .post(format!("{issuer}/reg"))
        .json(&json!({
            "redirect_uris": [callback],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        reg["client_id"].as_str().expect("client_id").to_owned(),
        reg["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    );
    let upper = format!("OAUTH2_{}_", key.to_ascii_uppercase());
    let lookup = |k: &str| -> Option<String> {
        let k = match k.strip_prefix(&upper) {
            Some(rest) => format!("OAUTH2_OIDC_{rest}"),
            None => k.to_owned(),
        };
        let k = k.as_str();
        if let Some((_, v)) = extra.iter().find(|(n, _)| *n == k) {
            return Some((*v).to_owned());
        }
        match k {
            "OAUTH2_PROVIDERS" => Some(key.to_owned()),
            "OAUTH2_OIDC_CLIENT_ID" => Some(id.clone()),
            "OAUTH2_OIDC_CLIENT_SECRET" => Some(secret.clone()),
            "OAUTH2_OIDC_ISSUER" => Some(issuer.clone()),
            // The test provider verifies what it says: trusted unless a test says otherwise.
            "OAUTH2_OIDC_TRUSTED_EMAIL" => Some("true".into()),
            _ => None,
        }
    };
    let mut o = Options {
        public_origin: true,
        listen: Some(listen),
        fixed_clock: false,
        ..Options::default()
    };
    o.config.oauth2 = account_core::config::Config::from_lookup(lookup)
        .expect("configuration")
        .oauth2;
    adjust(&mut o);
    Server::with(o).await
}

pub async fn server() -> Server {
    server_with(&[], |_| {}).await
}

/// The next login at the provider signs in as this account.
pub async fn next_login(sub: &str, email: &str, verified: bool) {
    let r = reqwest::Client::new()
        .post(format!("{}/test/next", issuer()))
        .json(&json!({"sub": sub, "email": email, "email_verified": verified, "name": "Ada OIDC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

/// The start URL of a sign-in (`mode`: `sessions` or `tokens`).
pub fn start(s: &Server, mode: &str) -> String {
    start_for(s, "oidc", mode)
}

/// [`start`] for the provider `key`.
pub fn start_for(s: &Server, key: &str, mode: &str) -> String {
    format!(
        "{}/account/{mode}/oauth2/{key}?project={PROJECT}&success=http%3A%2F%2Flocalhost%2Fok&failure=http%3A%2F%2Flocalhost%2Ffail",
        s.base
    )
}

/// A provider subject no other test uses.
pub fn sub() -> String {
    format!(
        "sub-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
