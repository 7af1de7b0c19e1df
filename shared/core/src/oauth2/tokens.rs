//! Provider tokens: sealed in the table, revealed to their owner, refreshed on a session
//! extension.

use super::*;

/// When an access token that lives `expires_in` from `now` expires.
pub(super) fn expiry(now: Millis, expires_in: Option<std::time::Duration>) -> Option<Millis> {
    expires_in.map(|d| now + i64::try_from(d.as_millis()).unwrap_or(0))
}

pub(super) fn seal_token(cx: &Ctx<'_, '_>, token: &str) -> Result<String> {
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
            let t = oidc_client(cx.app.fetch.as_ref(), conf, cx.now, true)
                .await?
                .exchange_refresh_token(&grant)
                .map_err(provider_failure)?
                .request_async(&Sender(cx.app.fetch.as_ref()))
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
            let t = super::plain::token(cx.app.fetch.as_ref(), conf, plain, url, grant).await?;
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

/// A session's provider tokens, revealed for its owner.
pub fn reveal_session(keys: &Keyring, s: &SessionItem) -> SessionItem {
    let mut s = s.clone();
    s.provider_access_token = reveal_token(keys, &s.provider_access_token);
    s.provider_refresh_token = reveal_token(keys, &s.provider_refresh_token);
    s
}
