//! OAuth2 and OpenID Connect sign-in (contract §4.6): one engine for every provider of
//! `providers.rs`.
//!
//! The protocol comes from well-kept crates: `openidconnect` (discovery, nonce, ID-token
//! signature against the JWKS, `iss`/`aud`/`exp`) and `oauth2` (authorization URL, PKCE, code
//! exchange). Their HTTP goes through `outbound::HttpClient`: deadlines, bounded bodies, no
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
use crate::outbound::{HttpClient, OutboundError};
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
/// Provider endpoints get this long per request (connect, TLS, answer).
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
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

/// The redirect URI registered at the provider.
pub fn callback_url(origin: &str, provider: &str, project: &str) -> String {
    format!("{origin}/v1/account/sessions/oauth2/callback/{provider}/{project}")
}

fn http() -> Result<&'static HttpClient> {
    static CLIENT: OnceLock<std::result::Result<HttpClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| HttpClient::new(PROVIDER_TIMEOUT).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Error::internal)
}

/// The adapter the protocol crates call for every request.
pub(crate) async fn send(
    req: openidconnect::HttpRequest,
) -> std::result::Result<openidconnect::HttpResponse, OutboundError> {
    match http() {
        Ok(client) => client.send(req).await,
        Err(e) => Err(OutboundError(e.message)),
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
            let client = oidc_client(conf, cx.now).await?.set_redirect_uri(redirect);
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

/// An OpenID Connect client of `conf`, from its (cached) discovery document.
type OidcClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

async fn oidc_client(conf: &OAuth2Provider, now: Millis) -> Result<OidcClient> {
    use openidconnect::core::CoreClientAuthMethod as Method;
    let meta = metadata(conf, now).await?;
    // OpenID Connect's default is HTTP Basic; a provider that lists only `client_secret_post`
    // (Apple) gets the secret in the body.
    let methods = meta.token_endpoint_auth_methods_supported();
    let post_only = methods.is_some_and(|m| {
        m.contains(&Method::ClientSecretPost) && !m.contains(&Method::ClientSecretBasic)
    });
    let client = openidconnect::core::CoreClient::from_provider_metadata(
        meta,
        openidconnect::ClientId::new(conf.client_id.clone()),
        Some(openidconnect::ClientSecret::new(client_secret(conf, now)?)),
    );
    Ok(match post_only {
        true => client.set_auth_type(openidconnect::AuthType::RequestBody),
        false => client,
    })
}

/// The secret the client presents at the token endpoint: the configured one, or for Apple a
/// fresh ES256 JWT signed with the team's key for the issuer.
fn client_secret(conf: &OAuth2Provider, now: Millis) -> Result<String> {
    match conf.provider.secret {
        Secret::Configured => Ok(conf.client_secret.clone()),
        Secret::AppleJwt => {
            let audience = match (&conf.issuer, conf.provider.protocol) {
                (Some(i), _) => i.as_str(),
                (None, Protocol::Oidc { issuer: Some(i) }) => i,
                _ => crate::apple::AUDIENCE,
            };
            crate::apple::client_secret(&conf.client_secret, &conf.client_id, audience, now)
                .map_err(Error::internal)
        }
    }
}

/// When an access token that lives `expires_in` from `now` expires.
fn expiry(now: Millis, expires_in: Option<std::time::Duration>) -> Option<Millis> {
    expires_in.map(|d| now + i64::try_from(d.as_millis()).unwrap_or(0))
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

/// Discovery documents by issuer, with the time they were fetched.
type Discovered = Vec<(String, Millis, openidconnect::core::CoreProviderMetadata)>;

fn discovered() -> &'static Mutex<Discovered> {
    static CACHE: OnceLock<Mutex<Discovered>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The provider's discovery document (and its keys), cached for [`DISCOVERY_TTL_MS`].
async fn metadata(
    conf: &OAuth2Provider,
    now: Millis,
) -> Result<openidconnect::core::CoreProviderMetadata> {
    let issuer = match (&conf.issuer, conf.provider.protocol) {
        (Some(i), _) => i.clone(),
        (None, Protocol::Oidc { issuer: Some(i) }) => i.to_owned(),
        _ => return Err(disabled()),
    };
    if let Ok(cache) = discovered().lock() {
        if let Some((_, _, m)) = cache
            .iter()
            .find(|(i, at, _)| *i == issuer && now - at < DISCOVERY_TTL_MS)
        {
            return Ok(m.clone());
        }
    }
    let url = openidconnect::IssuerUrl::new(issuer.clone()).map_err(provider_failure)?;
    let meta = openidconnect::core::CoreProviderMetadata::discover_async(url, &send)
        .await
        .map_err(provider_failure)?;
    if let Ok(mut cache) = discovered().lock() {
        cache.retain(|(i, _, _)| *i != issuer);
        cache.push((issuer, now, meta.clone()));
    }
    Ok(meta)
}

async fn oidc_profile(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    redirect: oauth2::RedirectUrl,
    code: &str,
    state: &State,
) -> Result<Profile> {
    use openidconnect::{OAuth2TokenResponse, TokenResponse};
    let client = oidc_client(conf, cx.now).await?.set_redirect_uri(redirect);
    let mut exchange = client
        .exchange_code(openidconnect::AuthorizationCode::new(code.to_owned()))
        .map_err(provider_failure)?;
    if conf.provider.pkce {
        exchange =
            exchange.set_pkce_verifier(openidconnect::PkceCodeVerifier::new(state.v.clone()));
    }
    let tokens = exchange
        .request_async(&send)
        .await
        .map_err(provider_failure)?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| provider_failure("no ID token"))?;
    // Signature (JWKS), issuer, audience, expiry and nonce.
    let verifier = client
        .id_token_verifier()
        .set_time_fn(|| chrono_now(cx.now));
    let claims = id_token
        .claims(&verifier, &openidconnect::Nonce::new(state.n.clone()))
        .map_err(provider_failure)?;
    let mut name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    // Provider addresses meet the rules a user's own input meets; one that does not counts as
    // no address (no link, no new user), never as a look-alike key.
    let mut email = claims
        .email()
        .and_then(|e| crate::address::email(e.as_str()));
    let mut verified = claims.email_verified().unwrap_or(false);
    // Conforming providers may keep scope claims out of the ID token when an access token is
    // issued (OpenID Connect Core 1.0, section 5.4): ask the UserInfo endpoint, for the same
    // subject, if there is one (Apple has none: its ID token is all there is).
    if email.is_none() && client.user_info_url().is_some() {
        let info: openidconnect::core::CoreUserInfoClaims = client
            .user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(provider_failure)?
            .request_async(&send)
            .await
            .map_err(provider_failure)?;
        email = info.email().and_then(|e| crate::address::email(e.as_str()));
        verified = info.email_verified().unwrap_or(false);
        if name.is_empty() {
            name = info
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default();
        }
    }
    Ok(Profile {
        id: claims.subject().as_str().to_owned(),
        email,
        verified,
        name,
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens
            .refresh_token()
            .map(|t| t.secret().clone())
            .unwrap_or_default(),
        expires_at: expiry(cx.now, tokens.expires_in()),
    })
}

/// The injected clock, as the ID-token verifier wants it.
fn chrono_now(now: Millis) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(now).unwrap_or_default()
}

async fn oauth2_profile(
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
    let tokens = crate::oauth2_plain::token(conf, plain, url, grant).await?;
    let json = crate::oauth2_plain::user_json(conf, plain, &tokens.access).await?;
    let user = crate::oauth2_plain::map_user(&json, &plain.mapping);
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

fn seal_token(cx: &Ctx<'_, '_>, token: &str) -> Result<String> {
    if token.is_empty() {
        return Ok(String::new());
    }
    seal::seal(
        &cx.app.config.keys,
        Purpose::ProviderToken,
        token.as_bytes(),
        cx.app.entropy.as_ref(),
    )
}

/// A provider token stored by [`seal_token`], for its owner.
pub fn reveal_token(keys: &Keyring, sealed: &str) -> String {
    if sealed.is_empty() {
        return String::new();
    }
    seal::open(keys, Purpose::ProviderToken, sealed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// `PATCH /account/sessions/{id}` of an OAuth2 session: fresh provider tokens from its refresh
/// token. `None` when the session is not an OAuth2 one, has no refresh token, or its provider is
/// no longer enabled (the session is then only extended).
pub async fn refresh_tokens(
    cx: &Ctx<'_, '_>,
    session: &SessionItem,
) -> Result<Option<session::ProviderTokens>> {
    let Some(conf) = cx.app.config.oauth2_provider(&session.provider) else {
        return Ok(None);
    };
    let refresh = reveal_token(&cx.app.config.keys, &session.provider_refresh_token);
    if refresh.is_empty() {
        return Ok(None);
    }
    let grant = oauth2::RefreshToken::new(refresh.clone());
    let (access, new_refresh, expires_in) = match conf.provider.protocol {
        Protocol::Oidc { .. } => {
            use openidconnect::OAuth2TokenResponse;
            let t = oidc_client(conf, cx.now)
                .await?
                .exchange_refresh_token(&grant)
                .map_err(provider_failure)?
                .request_async(&send)
                .await
                .map_err(provider_failure)?;
            (
                t.access_token().secret().clone(),
                t.refresh_token().map(|r| r.secret().clone()),
                t.expires_in(),
            )
        }
        Protocol::OAuth2(plain) => {
            // A moved token endpoint (a test double, an enterprise host) moves refreshes too.
            let url = conf
                .token_url
                .as_deref()
                .unwrap_or(plain.refresh.unwrap_or(plain.token));
            let grant = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.clone()),
            ];
            let t = crate::oauth2_plain::token(conf, plain, url, grant).await?;
            (t.access, t.refresh, t.expires_in)
        }
    };
    Ok(Some(session::ProviderTokens {
        access_sealed: seal_token(cx, &access)?,
        // A provider that does not rotate refresh tokens keeps the old one valid.
        refresh_sealed: seal_token(cx, new_refresh.as_deref().unwrap_or(&refresh))?,
        expiry: expiry(cx.now, expires_in),
    }))
}

/// What account resolution knows about one sign-in (the inputs of [`decide`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The signed-in user, only when the flow was started by that same session in this browser
    /// (the binding cookie and the sealed session mark both match); `None` otherwise.
    pub linking: Option<String>,
    /// The user this provider account is linked to.
    pub identity_owner: Option<String>,
    /// The provider gave an address (verified or not).
    pub address: bool,
    /// The address is verified by a provider trusted to verify addresses.
    pub verified: bool,
    /// The user whose email claim holds the (verified) address, and whether that account has
    /// verified it itself.
    pub email_owner: Option<(String, bool)>,
    /// The user whose identities hold the (verified) address.
    pub identity_email_owner: Option<String>,
}

/// Whose account a sign-in reaches: the linking policy, one function (table in
/// `docs/security.md`, proved row by row in `tests::linking_table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Link the provider account to the signed-in user (or refresh its link to them).
    Link(String),
    /// Sign in to the user the provider account is linked to.
    SignIn(String),
    /// Link to the account that holds and has verified the provider's verified address.
    LinkByAddress(String),
    /// A new user; `with_email`: the provider's verified address becomes its email.
    NewUser {
        with_email: bool,
    },
    Refuse(ErrorType, &'static str),
}

const HELD_BY_ANOTHER: &str = "The provider account or its email address belongs to another user.";
const UNPROVEN_ACCOUNT: &str = "An account with this email address exists, but its owner has not verified the address. Sign in to that account and verify it, or link the provider from it.";
const NO_EMAIL: &str = "OAuth provider failed to return email.";

/// The linking policy. An address counts only when `verified` (a trusted provider verified it);
/// otherwise it is as if the provider had sent none, except that a new account may still be
/// made (without the address).
pub fn decide(f: &Facts) -> Decision {
    // (a) Linking to the signed-in user who started the flow. A new link is refused when the
    // provider account or its verified address is another user's (Appwrite's rule); a link
    // already the user's is refreshed (its address then stays unreserved, see `resolve`).
    if let Some(me) = &f.linking {
        let mine = f.identity_owner.as_deref() == Some(me.as_str());
        let address_elsewhere = f.verified
            && (f.email_owner.as_ref().is_some_and(|(o, _)| o != me)
                || f.identity_email_owner.as_deref().is_some_and(|o| o != me));
        if !mine && (f.identity_owner.is_some() || address_elsewhere) {
            return Decision::Refuse(ErrorType::UserAlreadyExists, HELD_BY_ANOTHER);
        }
        return Decision::Link(me.clone());
    }
    // (b) A known provider account.
    if let Some(owner) = &f.identity_owner {
        return Decision::SignIn(owner.clone());
    }
    if f.verified {
        // (c) An account with the address: only one that verified it itself (no pre-registered
        // account captures the sign-in).
        if let Some((owner, proven)) = &f.email_owner {
            return match proven {
                true => Decision::LinkByAddress(owner.clone()),
                false => Decision::Refuse(ErrorType::UserAlreadyExists, UNPROVEN_ACCOUNT),
            };
        }
        // (d) Another identity holds the verified address: its user.
        if let Some(owner) = &f.identity_email_owner {
            return Decision::LinkByAddress(owner.clone());
        }
    }
    // (e) A new user; an unverified address is not claimed.
    match f.address {
        true => Decision::NewUser {
            with_email: f.verified,
        },
        false => Decision::Refuse(ErrorType::UserUnauthorized, NO_EMAIL),
    }
}

/// The issuer a provider account's subject belongs to, part of its identity's key: the OpenID
/// issuer, or a plain provider's token endpoint (GitHub Enterprise moves it).
fn issuer_key(conf: &OAuth2Provider) -> String {
    match (conf.provider.protocol, &conf.issuer, &conf.token_url) {
        (_, Some(issuer), _) => issuer.clone(),
        (Protocol::Oidc { issuer: Some(i) }, None, _) => i.to_owned(),
        (Protocol::OAuth2(_), None, Some(token)) => token.clone(),
        (Protocol::OAuth2(plain), None, None) => plain.token.to_owned(),
        (Protocol::Oidc { issuer: None }, None, _) => String::new(),
    }
}

/// Who the sign-in is for.
enum Target {
    Existing {
        uid: String,
        identity: Option<IdentityItem>,
    },
    New(UserItem),
}

impl Target {
    fn uid(&self) -> &str {
        match self {
            Target::Existing { uid, .. } => uid,
            Target::New(u) => &u.id,
        }
    }
}

/// The identity after this sign-in: `(before, after)`, `before` empty for a new link.
/// `reserve`: its address is verified and nobody else's, so it is reserved for the user.
fn identity_change(
    cx: &Ctx<'_, '_>,
    target: &Target,
    (provider, issuer): (&str, &str),
    profile: &Profile,
    tokens: &session::ProviderTokens,
    reserve: bool,
) -> (Option<IdentityItem>, IdentityItem) {
    if let Target::Existing {
        identity: Some(old),
        ..
    } = target
    {
        let mut new = old.clone();
        // An identity of before issuers were keyed moves to its issuer's key now.
        new.issuer = issuer.to_owned();
        new.provider_email = profile.email.clone().unwrap_or_default();
        new.provider_email_verified = reserve;
        new.access_token_sealed = tokens.access_sealed.clone();
        new.refresh_token_sealed = tokens.refresh_sealed.clone();
        new.access_token_expiry = tokens.expiry;
        new.updated = cx.now;
        return (Some(old.clone()), new);
    }
    let id = crate::ids::unique(cx.now, cx.app.entropy.as_ref());
    let uid = target.uid();
    (
        None,
        IdentityItem {
            pk: item::user_pk(uid),
            sk: item::identity_sk(&id),
            id,
            uid: uid.to_owned(),
            provider: provider.to_owned(),
            provider_uid: profile.id.clone(),
            issuer: issuer.to_owned(),
            provider_email: profile.email.clone().unwrap_or_default(),
            provider_email_verified: reserve,
            access_token_sealed: tokens.access_sealed.clone(),
            refresh_token_sealed: tokens.refresh_sealed.clone(),
            access_token_expiry: tokens.expiry,
            created: cx.now,
            updated: cx.now,
        },
    )
}

/// What the sign-in grants: a session (cookie mode), or a one-time secret and its token item
/// (token mode).
enum Grant {
    Session(Box<NewSession>),
    Token {
        item: Box<TokenItem>,
        secret: String,
    },
}

fn grant(
    cx: &Ctx<'_, '_>,
    state: &State,
    uid: &str,
    provider: &str,
    profile: &Profile,
    tokens: &session::ProviderTokens,
) -> Grant {
    let app = cx.app;
    if !state.t {
        let mut built = session::build(cx, uid, provider, &profile.id, &["email"]);
        built.item.provider_access_token = tokens.access_sealed.clone();
        built.item.provider_refresh_token = tokens.refresh_sealed.clone();
        built.item.provider_access_token_expiry = tokens.expiry;
        return Grant::Session(Box::new(built));
    }
    let secret = crate::token::Kind::OAuth2.new_secret(app.entropy.as_ref());
    let expire = cx.now + TOKEN_SECS * 1000;
    let kind = crate::token::Kind::OAuth2.as_str();
    let item = TokenItem {
        pk: item::user_pk(uid),
        sk: item::token_sk(kind),
        id: crate::ids::unique(cx.now, app.entropy.as_ref()),
        uid: uid.to_owned(),
        kind: kind.to_owned(),
        secret_hash: crate::token::secret_hash(&app.config.keys, &secret),
        target: provider.to_owned(),
        created: cx.now,
        expire,
        expires_at: expire / 1000,
        phrase: String::new(),
    };
    Grant::Token {
        item: Box::new(item),
        secret,
    }
}

/// Resolve the user and write the sign-in in one transaction; a lost race re-resolves once.
async fn sign_in(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    state: &State,
    profile: Profile,
    linking: Option<(&UserItem, &str)>,
) -> Result<Finished> {
    let provider = conf.provider.key;
    let issuer = issuer_key(conf);
    let tokens = session::ProviderTokens {
        access_sealed: seal_token(cx, &profile.access_token)?,
        refresh_sealed: seal_token(cx, &profile.refresh_token)?,
        expiry: profile.expires_at,
    };
    for attempt in 0..2 {
        let (target, reserve) = resolve(cx, conf, &profile, linking).await?;
        let uid = target.uid().to_owned();
        let who = (provider, issuer.as_str());
        let (old, new) = identity_change(cx, &target, who, &profile, &tokens, reserve);
        let granted = grant(cx, state, &uid, provider, &profile, &tokens);
        let email_claim = match &target {
            Target::New(u) => u.email.as_deref().map(|e| EmailItem::new(e, &u.id, None)),
            Target::Existing { .. } => None,
        };
        let w = OAuthSignIn {
            new_user: match &target {
                Target::New(u) => Some((u, email_claim.as_ref())),
                Target::Existing { .. } => None,
            },
            existing: matches!(target, Target::Existing { .. }).then_some(uid.as_str()),
            identity: match &old {
                Some(old) => IdentityWrite::Update(old, &new),
                None => IdentityWrite::New(&new),
            },
            session: match &granted {
                Grant::Session(s) => Some(&s.item),
                Grant::Token { .. } => None,
            },
            token: match &granted {
                Grant::Token { item, .. } => Some(item),
                Grant::Session(_) => None,
            },
            delete_session: linking.map(|(_, sid)| sid),
            now: cx.now,
        };
        // The session index (for the session limit) is read beside the write, as every login
        // does; a new user has no other session.
        let cookie_mode_existing =
            matches!(granted, Grant::Session(_)) && matches!(target, Target::Existing { .. });
        let (written, index) = tokio::join!(cx.app.store.oauth2_sign_in(w), async {
            match cookie_mode_existing {
                true => cx.app.store.session_index(&uid).await.ok(),
                false => None,
            }
        });
        match written {
            Ok(()) => {
                return granted_answer(cx, state, &uid, &profile, granted, index).await;
            }
            // Another sign-in of the same provider account or email won the race: resolve again.
            Err(WriteError::Conflict(
                Conflict::Identity | Conflict::Email | Conflict::IdentityEmail,
            )) if attempt == 0 => continue,
            Err(e) => return Err(sign_in_error(e)),
        }
    }
    Err(Error::contended())
}

fn sign_in_error(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(Conflict::ProfileCondition) => Error::new(ErrorType::UserBlocked),
        WriteError::Conflict(Conflict::Session) => Error::with_message(
            ErrorType::UserUnauthorized,
            "The session that started this sign-in has ended. Sign in and link the provider again.",
        ),
        WriteError::Conflict(Conflict::UserLimit) => Error::new(ErrorType::UserCountExceeded),
        WriteError::Conflict(_) => Error::new(ErrorType::UserAlreadyExists),
        WriteError::Other(e) => e,
    }
}

/// After the write: the log entry and the session limit (in parallel), and what the browser is
/// sent. `index` is the user's sessions, read beside the write.
async fn granted_answer(
    cx: &Ctx<'_, '_>,
    state: &State,
    uid: &str,
    profile: &Profile,
    granted: Grant,
    index: Option<Vec<(String, Millis)>>,
) -> Result<Finished> {
    let app = cx.app;
    let log = crate::audit::entry(
        cx,
        crate::audit::event::SESSION_CREATE,
        uid,
        profile.email.as_deref().unwrap_or_default(),
        &profile.name,
    );
    let limit = async {
        match (&granted, index) {
            (Grant::Session(s), Some(index)) => {
                session::enforce_limit(cx, uid, &s.item.id, index).await
            }
            _ => Ok(()),
        }
    };
    let (logged, limited) = tokio::join!(app.store.put_logs(std::slice::from_ref(&log)), limit);
    if let Err(e) = logged {
        tracing::warn!(error = %e, "security log not written");
    }
    limited?;
    match granted {
        Grant::Session(s) => Ok(Finished::Session(s)),
        Grant::Token { secret, item } => {
            let wrapped =
                crate::token::wrap_oauth2_secret(&app.config.keys, &secret, &item.target, cx.now)?;
            let mut url = url::Url::parse(&state.s).map_err(Error::internal)?;
            url.query_pairs_mut()
                .append_pair("secret", &wrapped)
                .append_pair("userId", uid);
            Ok(Finished::Token(url.to_string()))
        }
    }
}

/// Rules (a)–(e) of contract §4.6 under [`decide`]: read the facts (one round of parallel
/// reads, plus the address holder's profile when rule (c) needs it) and build the target, with
/// whether the identity's address is reserved for it.
async fn resolve(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    profile: &Profile,
    linking: Option<(&UserItem, &str)>,
) -> Result<(Target, bool)> {
    let store = &cx.app.store;
    let provider = conf.provider.key;
    let issuer = issuer_key(conf);
    let verified = conf.trusted_email && profile.verified && profile.email.is_some();
    // An address nobody verified is looked up nowhere.
    let address = profile.email.as_deref().filter(|_| verified);
    let (claim, email_claim, identity_email) = tokio::join!(
        store.get_identity_claim(provider, &issuer, &profile.id),
        async {
            match address {
                Some(e) => store.get_email(e).await,
                None => Ok(None),
            }
        },
        async {
            match address {
                Some(e) => store.identity_email_owner(e).await,
                None => Ok(None),
            }
        }
    );
    let (claim, email_claim, identity_email) = (claim?, email_claim?, identity_email?);
    // Whether the holder of the address verified it matters only for rule (c).
    let proven = match (&linking, &claim, &email_claim) {
        (None, None, Some(ec)) => store
            .get_user_and_sessions(&ec.uid, &[])
            .await?
            .0
            .is_some_and(|u| u.email_verification && u.email.as_deref() == address),
        _ => false,
    };
    let facts = Facts {
        linking: linking.map(|(me, _)| me.id.clone()),
        identity_owner: claim.as_ref().map(|c| c.uid.clone()),
        address: profile.email.is_some(),
        verified,
        email_owner: email_claim.map(|c| (c.uid, proven)),
        identity_email_owner: identity_email,
    };
    let decision = decide(&facts);
    // The identity's address is reserved only when verified and no other user holds it.
    let reserve = |uid: &str| {
        verified
            && facts.email_owner.as_ref().is_none_or(|(o, _)| o == uid)
            && facts
                .identity_email_owner
                .as_deref()
                .is_none_or(|o| o == uid)
    };
    let identity_of = |uid: String| async move {
        let identity = match claim.as_ref().filter(|c| c.uid == uid) {
            None => None,
            Some(c) => store
                .list_identities(&uid)
                .await?
                .into_iter()
                .find(|i| i.id == c.identity_id),
        };
        let reserved = reserve(&uid);
        Ok::<_, Error>((Target::Existing { uid, identity }, reserved))
    };
    match decision {
        Decision::Link(uid) | Decision::SignIn(uid) | Decision::LinkByAddress(uid) => {
            identity_of(uid).await
        }
        Decision::Refuse(kind, message) => Err(Error::with_message(kind, message)),
        Decision::NewUser { with_email } => {
            let uid = crate::ids::unique(cx.now, cx.app.entropy.as_ref());
            let mut user = UserItem::new(&uid, cx.now);
            user.name = profile.name.chars().take(128).collect();
            if let (true, Some(email)) = (with_email, address) {
                user.email = Some(email.to_owned());
                user.email_verification = true;
                user.targets
                    .push(crate::account::target(cx.app, "email", email, cx.now));
            }
            let reserved = reserve(&uid);
            Ok((Target::New(user), reserved))
        }
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

/// `GET /account/identities`: the caller's identities, each with its provider access and refresh
/// tokens revealed for them.
pub async fn identities(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
) -> Result<Vec<(IdentityItem, String, String)>> {
    let key = &cx.app.config.keys;
    Ok(cx
        .app
        .store
        .list_identities(&user.id)
        .await?
        .into_iter()
        .map(|i| {
            let access = reveal_token(key, &i.access_token_sealed);
            let refresh = reveal_token(key, &i.refresh_token_sealed);
            (i, access, refresh)
        })
        .collect())
}

/// `DELETE /account/identities/{id}`: only the caller's own identities are looked at (another
/// user's ID is as unknown as a made-up one); the identity, its claims and an `identity.delete`
/// log entry, the log written beside the delete.
pub async fn delete_identity(cx: &Ctx<'_, '_>, user: &UserItem, id: &str) -> Result<()> {
    let store = &cx.app.store;
    let found = store
        .list_identities(&user.id)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| Error::new(ErrorType::UserIdentityNotFound))?;
    let log = crate::audit::for_user(cx, crate::audit::event::IDENTITY_DELETE, user);
    let delete = async {
        match store.delete_identity(&found).await? {
            true => Ok(()),
            false => Err(Error::new(ErrorType::UserIdentityNotFound)),
        }
    };
    crate::audit::logged(cx, vec![log], delete).await
}

/// A session's provider tokens, revealed for its owner.
pub fn reveal_session(keys: &Keyring, s: &SessionItem) -> SessionItem {
    let mut s = s.clone();
    s.provider_access_token = reveal_token(keys, &s.provider_access_token);
    s.provider_refresh_token = reveal_token(keys, &s.provider_refresh_token);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the linking table of `docs/security.md`: (row, facts, decision).
    #[test]
    fn linking_table() {
        use Decision::*;
        let me = || Some("me".to_owned());
        let other = || Some("other".to_owned());
        let f = |linking: Option<String>,
                 identity_owner: Option<String>,
                 address: bool,
                 verified: bool,
                 email_owner: Option<(&str, bool)>,
                 identity_email_owner: Option<String>| Facts {
            linking,
            identity_owner,
            address,
            verified,
            email_owner: email_owner.map(|(o, p)| (o.to_owned(), p)),
            identity_email_owner,
        };
        let exists = |m: &'static str| Refuse(ErrorType::UserAlreadyExists, m);
        let rows: Vec<(&str, Facts, Decision)> = vec![
            (
                "L1 link, nothing known",
                f(me(), None, true, true, None, None),
                Link("me".into()),
            ),
            (
                "L2 link, already mine",
                f(me(), me(), true, true, Some(("me", true)), me()),
                Link("me".into()),
            ),
            (
                "L3 link, account is another's",
                f(me(), other(), true, true, None, None),
                exists(HELD_BY_ANOTHER),
            ),
            (
                "L4 link, verified address is another's",
                f(me(), None, true, true, Some(("other", true)), None),
                exists(HELD_BY_ANOTHER),
            ),
            (
                "L5 link, verified address on another's identity",
                f(me(), None, true, true, None, other()),
                exists(HELD_BY_ANOTHER),
            ),
            (
                "L6 link, unverified address is ignored",
                f(me(), None, true, false, None, None),
                Link("me".into()),
            ),
            (
                "L7 link, no address",
                f(me(), None, false, false, None, None),
                Link("me".into()),
            ),
            (
                "L8 refresh, verified address now another's",
                f(me(), me(), true, true, Some(("other", true)), None),
                Link("me".into()),
            ),
            (
                "S1 known provider account",
                f(None, other(), true, false, None, None),
                SignIn("other".into()),
            ),
            (
                "S2 known, address now another's",
                f(None, other(), true, true, Some(("me", true)), None),
                SignIn("other".into()),
            ),
            (
                "A1 verified address, proven account",
                f(None, None, true, true, Some(("other", true)), None),
                LinkByAddress("other".into()),
            ),
            (
                "A2 verified address, unproven account",
                f(None, None, true, true, Some(("other", false)), None),
                exists(UNPROVEN_ACCOUNT),
            ),
            (
                "A3 verified address on an identity",
                f(None, None, true, true, None, other()),
                LinkByAddress("other".into()),
            ),
            (
                "N1 verified, free address",
                f(None, None, true, true, None, None),
                NewUser { with_email: true },
            ),
            (
                "N2 unverified or untrusted address",
                f(None, None, true, false, None, None),
                NewUser { with_email: false },
            ),
            (
                "N3 no address",
                f(None, None, false, false, None, None),
                Refuse(ErrorType::UserUnauthorized, NO_EMAIL),
            ),
        ];
        for (row, facts, want) in rows {
            assert_eq!(decide(&facts), want, "{row}");
        }
    }

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
