//! OAuth2 and OpenID Connect sign-in (contract §4.6): one engine for every provider of
//! `providers.rs`.
//!
//! The protocol comes from well-kept crates: `openidconnect` (discovery, nonce, ID-token
//! signature against the JWKS, `iss`/`aud`/`exp`) and `oauth2` (authorization URL, PKCE, code
//! exchange). Their HTTP goes through the `outbound::Fetch` port (`App::fetch`): deadlines, bounded bodies, no
//! redirects followed.
//!
//! Stricter than Appwrite on the same wire format (`docs/security.md`):
//! - `state` is sealed (AES-GCM under a purpose-derived key) and expires after
//!   [`FLOW_SECS`]; nobody can forge or read it.
//! - The flow is bound to the browser that started it. A random value goes into a short-lived,
//!   HttpOnly, SameSite=Lax cookie; its hash goes into the state. In cookie mode, a code arriving
//!   in another browser (login CSRF) is refused. Token mode accepts a browser without the cookie
//!   (a server may have started the flow, see [`finish`]), never one with another flow's cookie,
//!   and such a finish is signed out: it never links.
//! - Linking to a signed-in account happens only when the flow was started by that same session
//!   (a hash of its credential is sealed in the state) and finishes in the browser that started
//!   it (the binding cookie). Account resolution is one decision function, [`decide`], whose
//!   table is in `docs/security.md`.
//! - PKCE (S256) with every provider, and an OIDC `nonce`. The verifier and the nonce travel
//!   inside the sealed state.
//! - An address the provider did not verify, or a provider not trusted to verify addresses
//!   (`OAUTH2_<KEY>_TRUSTED_EMAIL`), is never linked, reserved or claimed: it stays on the
//!   identity as `providerEmail`. A verified one links only to an account whose own email is
//!   verified.

use crate::clock::Millis;
use crate::config::OAuth2Provider;
use crate::context::Ctx;
use crate::crypto;
use crate::error::{Error, ErrorType, Result};
use crate::item::{self, EmailItem, IdentityItem, SessionItem, TokenItem, UserItem};
use crate::keyring::{Keyring, Purpose};
use crate::outbound::{Fetch, FetchFuture, OutboundError};
use crate::providers::{Protocol, Secret};
use crate::seal;
use crate::session::{self, NewSession};
use crate::store::{Conflict, IdentityWrite, OAuthSignIn, WriteError};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, OnceLock};

pub use crate::providers::APPWRITE_KEYS as PROVIDERS;

/// How long a started sign-in may take: the state and the binding cookie expire after this.
pub const FLOW_SECS: i64 = 600;
pub use crate::token::OAUTH2_TOKEN_SECS as TOKEN_SECS;
/// Discovery documents are cached this long (their keys rotate rarely).
const DISCOVERY_TTL_MS: Millis = 10 * 60 * 1000;

/// The cookie that binds a sign-in to the browser that started it. Over HTTPS it is a
/// `__Host-` cookie (Secure, `Path=/`, no `Domain`): a sibling subdomain cannot plant or
/// overwrite it. Plain-HTTP development keeps the bare name (browsers refuse the prefix there).
pub fn binding_cookie(project: &str, secure: bool) -> String {
    match secure {
        true => format!("__Host-a_oauth2_{project}"),
        false => format!("a_oauth2_{project}"),
    }
}

pub fn provider_param(provider: &str) -> Result<()> {
    if PROVIDERS.contains(&provider) {
        Ok(())
    } else {
        Err(Error::invalid_param(
            "provider",
            &format!("Value must be one of ({})", PROVIDERS.join(", ")),
        ))
    }
}

pub fn disabled() -> Error {
    Error::new(ErrorType::ProviderDisabled)
}

/// The API's public origin: `PUBLIC_URL`, else the API Gateway domain of the request, else
/// `http://localhost` (never the client's `Host` header).
pub fn api_origin(config: &crate::config::Config, gateway_domain: Option<&str>) -> String {
    match (&config.public_url, gateway_domain) {
        (Some(url), _) => url.clone(),
        (None, Some(domain)) => format!("https://{domain}"),
        (None, None) => "http://localhost".to_owned(),
    }
}

/// Where a sign-in lands when the caller gives no URL (`end`: `success` or `failure`): our own
/// page (`pages.rs`), as Appwrite's land on its console, naming the project for the page's
/// token exchange.
pub fn default_page(origin: &str, end: &str, project: &str) -> String {
    let project: String = url::form_urlencoded::byte_serialize(project.as_bytes()).collect();
    format!("{origin}/auth/oauth2/{end}?project={project}")
}

/// The redirect URI registered at the provider.
pub fn callback_url(origin: &str, provider: &str, project: &str) -> String {
    format!("{origin}/v1/account/sessions/oauth2/callback/{provider}/{project}")
}

/// The adapter the protocol crates call for every request: the app's outbound port.
pub(crate) struct Sender<'a>(pub &'a dyn Fetch);

impl<'c> openidconnect::AsyncHttpClient<'c> for Sender<'_> {
    type Error = OutboundError;
    type Future = FetchFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        self.0.send(request)
    }
}

/// What the sealed `state` carries from the start of a sign-in to its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Provider key.
    pub p: String,
    /// Success and failure URLs (validated at the start, and again at the end).
    pub s: String,
    pub f: Option<String>,
    /// Token mode.
    pub t: bool,
    pub exp: Millis,
    /// SHA-256 of the binding cookie.
    b: String,
    /// PKCE verifier.
    v: String,
    /// OIDC nonce.
    n: String,
    /// SHA-256 of the session credential that started the flow, if the browser was signed in:
    /// only that session may link the provider account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

impl State {
    /// Whether the session credential with this [`session_mark`] started the flow: only then
    /// is the signed-in user worth reading at the finish (nobody else can link).
    pub fn started_by(&self, mark: Option<&str>) -> bool {
        matches!((&self.c, mark), (Some(c), Some(m)) if crypto::ct_eq(c, m))
    }
}

pub struct StartRequest<'a> {
    pub provider: &'a str,
    pub success: String,
    pub failure: Option<String>,
    pub scopes: Vec<String>,
    pub token: bool,
    pub origin: &'a str,
    /// SHA-256 of the session credential the starting request presented (see [`session_mark`]).
    pub session: Option<String>,
}

/// What a flow remembers of the session that started it, and what its finish compares: the
/// SHA-256 of the credential's secret (never the secret itself, the state is only sealed).
pub fn session_mark(secret: &str) -> String {
    crypto::sha256_hex(secret)
}

pub struct Started {
    /// The provider's authorization URL.
    pub location: String,
    /// The binding cookie's value.
    pub binding: String,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `GET /account/sessions|tokens/oauth2/{provider}`: where to send the browser.
pub async fn start(cx: &Ctx<'_, '_>, r: StartRequest<'_>) -> Result<Started> {
    let app = cx.app;
    let conf = app
        .config
        .oauth2_provider(r.provider)
        .ok_or_else(disabled)?;
    let binding = crypto::random_hex(app.entropy.as_ref(), 32);
    let mut raw = [0u8; 32];
    app.entropy.fill(&mut raw);
    let verifier = b64url(&raw);
    let state = State {
        p: r.provider.to_owned(),
        s: r.success,
        f: r.failure,
        t: r.token,
        exp: cx.now + FLOW_SECS * 1000,
        b: crypto::sha256_hex(&binding),
        v: verifier.clone(),
        n: crypto::random_hex(app.entropy.as_ref(), 16),
        c: r.session,
    };
    let json = serde_json::to_vec(&state).map_err(Error::internal)?;
    let sealed = seal::seal(
        &app.config.keys,
        Purpose::OAuth2State,
        &json,
        app.entropy.as_ref(),
    )?;
    let redirect = redirect_uri(r.origin, conf, &app.config.project_id)?;
    let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(
        &oauth2::PkceCodeVerifier::new(verifier),
    );
    let mut scopes: Vec<String> = conf.provider.scopes.iter().map(|s| s.to_string()).collect();
    for s in r.scopes {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let location = match conf.provider.protocol {
        Protocol::Oidc { .. } => {
            use openidconnect::core::CoreAuthenticationFlow;
            let client = oidc_client(cx.app.fetch.as_ref(), conf, cx.now, false)
                .await?
                .set_redirect_uri(redirect);
            let nonce = state.n.clone();
            let mut req = client.authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || openidconnect::CsrfToken::new(sealed),
                move || openidconnect::Nonce::new(nonce),
            );
            // `openid` is always added by the crate.
            for s in scopes.into_iter().filter(|s| s != "openid") {
                req = req.add_scope(openidconnect::Scope::new(s));
            }
            if conf.provider.pkce {
                req = req.set_pkce_challenge(challenge);
            }
            if conf.provider.form_post {
                req = req.add_extra_param("response_mode", "form_post");
            }
            req.url().0.to_string()
        }
        Protocol::OAuth2(plain) => {
            let auth = conf.authorize_url.as_deref().unwrap_or(plain.authorize);
            let client =
                oauth2::basic::BasicClient::new(oauth2::ClientId::new(conf.client_id.clone()))
                    .set_auth_uri(oauth2::AuthUrl::new(auth.to_owned()).map_err(Error::internal)?)
                    .set_redirect_uri(redirect);
            let mut req = client.authorize_url(move || oauth2::CsrfToken::new(sealed));
            // The crate joins scopes with spaces; a provider that wants another separator
            // (Disqus: commas) gets them joined already.
            if plain.scope_separator == " " {
                for s in scopes {
                    req = req.add_scope(oauth2::Scope::new(s));
                }
            } else if !scopes.is_empty() {
                req = req.add_scope(oauth2::Scope::new(scopes.join(plain.scope_separator)));
            }
            for (k, v) in plain.authorize_params {
                req = req.add_extra_param(*k, *v);
            }
            if conf.provider.pkce {
                req = req.set_pkce_challenge(challenge);
            }
            req.url().0.to_string()
        }
    };
    Ok(Started { location, binding })
}

fn redirect_uri(origin: &str, conf: &OAuth2Provider, project: &str) -> Result<oauth2::RedirectUrl> {
    oauth2::RedirectUrl::new(callback_url(origin, conf.provider.key, project))
        .map_err(Error::internal)
}

fn invalid_state() -> Error {
    Error::with_message(
        ErrorType::BadRequest,
        "The OAuth2 state is invalid or has expired. Start the sign-in again.",
    )
}

/// Open and check the `state` of a sign-in to `provider`: sealed by us, for this provider, not
/// expired. Its URLs are for the caller to validate again before anything is written.
pub fn open_state(cx: &Ctx<'_, '_>, provider: &str, state: Option<&str>) -> Result<State> {
    let sealed = state.ok_or_else(invalid_state)?;
    let json = seal::open(&cx.app.config.keys, Purpose::OAuth2State, sealed)
        .map_err(|_| invalid_state())?;
    let state: State = serde_json::from_slice(&json).map_err(|_| invalid_state())?;
    if state.p != provider || state.exp <= cx.now {
        return Err(invalid_state());
    }
    Ok(state)
}

/// What the provider sent back to the redirect route.
pub struct FinishRequest<'a> {
    pub state: &'a State,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The `user` JSON a form-posting provider (Apple) sends on a first authorization: the only
    /// place its user's name is given.
    pub user: Option<&'a str>,
    /// The binding cookie the browser presented.
    pub binding: Option<&'a str>,
    /// The user already signed in in this browser, the session they used, and its
    /// [`session_mark`]: a link candidate only if that session started the flow.
    pub current: Option<(&'a UserItem, &'a str, String)>,
    pub origin: &'a str,
}

pub enum Finished {
    /// Cookie mode: the session to set, then go to the success URL.
    Session(Box<NewSession>),
    /// Token mode: the success URL with `userId` and `secret`.
    Token(String),
}

/// The user as the provider describes them.
#[derive(Debug, Clone, Default)]
struct Profile {
    id: String,
    email: Option<String>,
    verified: bool,
    name: String,
    access_token: String,
    refresh_token: String,
    expires_at: Option<Millis>,
}

/// `GET /account/sessions/oauth2/{provider}/redirect` after [`open_state`]: exchange the code,
/// resolve the user (contract §4.6 rules (a)–(e)), upsert the identity and create the session or
/// the token-mode secret, in one transaction.
pub async fn finish(cx: &Ctx<'_, '_>, r: FinishRequest<'_>) -> Result<Finished> {
    let app = cx.app;
    let state = r.state;
    // A browser that presents a binding cookie must present the one of this flow. Cookie mode
    // always requires it: the session lands in the browser that started. Token mode may be
    // started by a server (SSR: node SDK `createOAuth2Token`, the browser only follows the URL),
    // whose response cookie never reaches the browser; its secret goes to the app's own success
    // URL, to be exchanged there within 60 s.
    let bound = match r.binding {
        Some(b) => crypto::ct_eq(&crypto::sha256_hex(b), &state.b),
        None => state.t,
    };
    if !bound {
        return Err(Error::with_message(
            ErrorType::BadRequest,
            "The OAuth2 sign-in was started in another browser. Start it again here.",
        ));
    }
    // Linking needs both proofs: this browser started the flow (the cookie), and the session
    // signed in now is the one that started it. Anything less finishes signed out.
    let linking = match (&r.current, r.binding) {
        (Some((user, sid, mark)), Some(_)) if state.started_by(Some(mark)) => Some((*user, *sid)),
        _ => None,
    };
    if let Some(e) = r.error {
        // The provider's front-channel error code, if it looks like one; its description is
        // never echoed.
        let code: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(Error::with_message(
            ErrorType::OAuth2ProviderError,
            format!("Failed to obtain access token. The OAuth2 provider returned an error: {code}"),
        ));
    }
    let code = r.code.filter(|c| !c.is_empty()).ok_or_else(|| {
        Error::with_message(
            ErrorType::OAuth2ProviderError,
            "Failed to obtain access token. The OAuth2 provider returned no code.",
        )
    })?;
    let conf = app.config.oauth2_provider(&state.p).ok_or_else(disabled)?;
    let redirect = redirect_uri(r.origin, conf, &app.config.project_id)?;
    let profile = match conf.provider.protocol {
        Protocol::Oidc { .. } => oidc_profile(cx, conf, redirect, code, state).await?,
        Protocol::OAuth2(plain) => oauth2_profile(cx, conf, plain, redirect, code, state).await?,
    };
    if profile.id.is_empty() {
        return Err(Error::new(ErrorType::UserMissingId));
    }
    let mut profile = profile;
    if profile.name.is_empty() && conf.provider.form_post {
        profile.name = r
            .user
            .and_then(crate::apple::posted_name)
            .unwrap_or_default();
    }
    sign_in(cx, conf, state, profile, linking).await
}

pub(crate) fn provider_failure(why: impl std::fmt::Display) -> Error {
    Error {
        source: Some(format!("OAuth2 provider: {why}")),
        ..Error::new(ErrorType::OAuth2ProviderFailure)
    }
}

/// Relay `pairs` to the redirect route on this host, adding `project`. What would put a
/// credential or an address in a URL stays behind: an ID token a provider posted (we take ours
/// from the token endpoint), and of Apple's `user` JSON all but the name.
pub fn callback_location(provider: &str, project: &str, pairs: &[(String, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        match k.as_str() {
            "project" | "id_token" => {}
            "user" => {
                if let Some(user) = crate::apple::relayed_user(v) {
                    q.append_pair(k, &user);
                }
            }
            _ => {
                q.append_pair(k, v);
            }
        }
    }
    q.append_pair("project", project);
    let provider: String = url::form_urlencoded::byte_serialize(provider.as_bytes()).collect();
    format!(
        "/v1/account/sessions/oauth2/{provider}/redirect?{}",
        q.finish()
    )
}

mod identities;
mod linking;
mod oidc;
pub mod plain;
mod signin;
mod tokens;

pub use identities::{delete_identity, identities};
pub use linking::{decide, Decision, Facts};
use oidc::{oidc_client, oidc_profile};
use plain::oauth2_profile;
use signin::sign_in;
use tokens::{expiry, seal_token};
pub use tokens::{refresh_tokens, reveal_session, reveal_token};

#[cfg(test)]
mod tests {
    use super::*;

    /// Over HTTPS the binding cookie carries the `__Host-` prefix (no sibling subdomain can set
    /// it); plain-HTTP development cannot use the prefix.
    #[test]
    fn binding_cookie_is_host_prefixed_over_https() {
        assert_eq!(binding_cookie("p1", true), "__Host-a_oauth2_p1");
        assert_eq!(binding_cookie("p1", false), "a_oauth2_p1");
    }

    #[test]
    fn providers_are_case_sensitive() {
        assert!(provider_param("github").is_ok());
        assert!(provider_param("paypalSandbox").is_ok());
        assert!(provider_param("GitHub").is_err());
    }

    #[test]
    fn callback_relays_parameters() {
        let l = callback_location(
            "github",
            "p1",
            &[("code".into(), "a b".into()), ("state".into(), "{}".into())],
        );
        assert_eq!(
            l,
            "/v1/account/sessions/oauth2/github/redirect?code=a+b&state=%7B%7D&project=p1"
        );
        // Apple's form post: its ID token and the address in `user` stay behind, and so does a
        // `project` the sender chose.
        let l = callback_location(
            "apple",
            "p1",
            &[
                ("code".into(), "c".into()),
                ("id_token".into(), "eyJ.x.y".into()),
                ("project".into(), "other".into()),
                (
                    "user".into(),
                    r#"{"name":{"firstName":"A","lastName":"B"},"email":"a@privaterelay.appleid.com"}"#.into(),
                ),
            ],
        );
        assert!(
            !l.contains("eyJ") && !l.contains("privaterelay") && !l.contains("other"),
            "{l}"
        );
        assert!(
            l.contains("user=%7B%22name%22") && l.ends_with("&project=p1"),
            "{l}"
        );
    }
}
