//! OpenID Connect providers: the client from the (cached) discovery document, the client
//! secret (Apple signs one), and the user from the validated ID token or UserInfo.

use super::*;

/// An OpenID Connect client of `conf`, from its (cached) discovery document.
pub(super) type OidcClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// `with_secret`: for the token endpoint. The authorization URL needs none, so starting a sign-in
/// never signs Apple's secret.
pub(super) async fn oidc_client(
    fetch: &dyn Fetch,
    conf: &OAuth2Provider,
    now: Millis,
    with_secret: bool,
) -> Result<OidcClient> {
    use openidconnect::core::CoreClientAuthMethod as Method;
    let meta = metadata(fetch, conf, now).await?;
    // OpenID Connect's default is HTTP Basic; a provider that lists only `client_secret_post`
    // (Apple) gets the secret in the body.
    let methods = meta.token_endpoint_auth_methods_supported();
    let post_only = methods.is_some_and(|m| {
        m.contains(&Method::ClientSecretPost) && !m.contains(&Method::ClientSecretBasic)
    });
    let client = openidconnect::core::CoreClient::from_provider_metadata(
        meta,
        openidconnect::ClientId::new(conf.client_id.clone()),
        match with_secret {
            true => Some(openidconnect::ClientSecret::new(client_secret(conf, now)?)),
            false => None,
        },
    );
    Ok(match post_only {
        true => client.set_auth_type(openidconnect::AuthType::RequestBody),
        false => client,
    })
}

/// The secret the client presents at the token endpoint: the configured one, or for Apple a
/// fresh ES256 JWT signed with the team's key for the issuer.
pub(super) fn client_secret(conf: &OAuth2Provider, now: Millis) -> Result<String> {
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

/// Discovery documents by issuer, with the time they were fetched.
pub(super) type Discovered = Vec<(String, Millis, openidconnect::core::CoreProviderMetadata)>;

pub(super) fn discovered() -> &'static Mutex<Discovered> {
    static CACHE: OnceLock<Mutex<Discovered>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The provider's discovery document (and its keys), cached for [`DISCOVERY_TTL_MS`].
pub(super) async fn metadata(
    fetch: &dyn Fetch,
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
    let meta = openidconnect::core::CoreProviderMetadata::discover_async(url, &Sender(fetch))
        .await
        .map_err(provider_failure)?;
    if let Ok(mut cache) = discovered().lock() {
        cache.retain(|(i, _, _)| *i != issuer);
        cache.push((issuer, now, meta.clone()));
    }
    Ok(meta)
}

pub(super) async fn oidc_profile(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    redirect: oauth2::RedirectUrl,
    code: &str,
    state: &State,
) -> Result<Profile> {
    use openidconnect::{OAuth2TokenResponse, TokenResponse};
    let fetch = cx.app.fetch.as_ref();
    let client = oidc_client(fetch, conf, cx.now, true)
        .await?
        .set_redirect_uri(redirect);
    let mut exchange = client
        .exchange_code(openidconnect::AuthorizationCode::new(code.to_owned()))
        .map_err(provider_failure)?;
    if conf.provider.pkce {
        exchange =
            exchange.set_pkce_verifier(openidconnect::PkceCodeVerifier::new(state.v.clone()));
    }
    let tokens = exchange
        .request_async(&Sender(fetch))
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
            .request_async(&Sender(fetch))
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
pub(super) fn chrono_now(now: Millis) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(now).unwrap_or_default()
}
