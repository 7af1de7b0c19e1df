//! The OAuth2 providers as data: one entry per provider, one engine (`oauth2/`) for all of them.
//! An OpenID Connect provider needs only its issuer (discovery gives the endpoints, the ID token
//! gives the user); a plain OAuth2 provider lists its endpoints and where its user JSON keeps
//! the ID, email, verified flag and name. Providers whose endpoints depend on a tenant take the
//! issuer (or base URL) from configuration (`OAUTH2_<KEY>_ISSUER`).
//!
//! A provider of Appwrite's list ([`APPWRITE_KEYS`]) without an entry here cannot be enabled:
//! configuration refuses it, and its routes answer `412 project_provider_disabled`.

/// Appwrite's provider keys (case-sensitive, contract §4.6), plus its test-only `mock` ones.
pub const APPWRITE_KEYS: &[&str] = &[
    "amazon",
    "apple",
    "appwrite",
    "auth0",
    "authentik",
    "autodesk",
    "bitbucket",
    "bitly",
    "box",
    "dailymotion",
    "discord",
    "disqus",
    "dropbox",
    "etsy",
    "facebook",
    "figma",
    "fusionauth",
    "github",
    "gitlab",
    "google",
    "huggingface",
    "keycloak",
    "kick",
    "linkedin",
    "microsoft",
    "notion",
    "oidc",
    "okta",
    "paypal",
    "paypalSandbox",
    "podio",
    "salesforce",
    "slack",
    "spotify",
    "stripe",
    "tradeshift",
    "tradeshiftBox",
    "twitch",
    "wordpress",
    "x",
    "yahoo",
    "yammer",
    "yandex",
    "zoho",
    "zoom",
    "mock",
    "mock-unverified",
];

/// How a provider tells that an email address is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// A field of the user JSON (JSON pointer): `true`, `1` or `"true"` (Zoom answers `1`).
    Field(&'static str),
    /// An entry of a list of addresses (GitHub `/user/emails`, Bitbucket, Bitly, Podio): the one
    /// equal to the profile's address if it has one, else the primary one. Its address becomes
    /// the email and its flag the verified state. Fields are names within an entry.
    List {
        list: &'static str,
        address: &'static str,
        primary: &'static str,
        verified: &'static str,
    },
    /// The provider returns an address only once its owner confirmed it (X's
    /// `confirmed_email`).
    Present,
    /// The provider gives no flag: its emails never count as verified, so they never link to or
    /// take over an existing account.
    Never,
}

/// Where a plain OAuth2 provider's user JSON keeps what we need (JSON pointers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// A string or a number (numbers become their decimal text).
    pub id: &'static str,
    /// `""` when the address comes only from a [`Verified::List`].
    pub email: &'static str,
    pub verified: Verified,
    /// Tried in order; each is one or more fields joined by a space (first and last names); the
    /// first non-empty one is the name.
    pub name: &'static [&'static [&'static str]],
}

/// How the client proves itself at a plain provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the body (RFC 6749 section 2.3.1's alternative).
    Body,
    /// HTTP Basic with the form-encoded ID and secret (RFC 6749 section 2.3.1).
    Basic,
    /// Only `client_id` in the body: the provider knows the client by PKCE (Etsy).
    IdOnly,
}

/// Where a plain provider's API wants the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIn {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: <scheme> <token>` (Podio: `OAuth2`).
    Scheme(&'static str),
    /// A query parameter (Disqus: `access_token`).
    Query(&'static str),
}

/// A plain OAuth2 provider, as its API documentation describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain {
    pub authorize: &'static str,
    pub token: &'static str,
    /// The user's profile.
    pub userinfo: &'static str,
    /// Further reads, each put into the user JSON under its name before the mapping reads it
    /// (GitHub's `emails`, Podio's `profile`); `{id}` in a URL is the ID read so far (Etsy).
    /// Configuration may move each (`OAUTH2_<KEY>_<NAME>_URL`).
    pub extra: &'static [(&'static str, &'static str)],
    pub client_auth: ClientAuth,
    /// The token request's body as JSON rather than a form (Notion).
    pub json_body: bool,
    /// Where the token response keeps the access token (Yammer nests it).
    pub access_token: &'static str,
    /// A refresh endpoint apart from the token endpoint (Figma).
    pub refresh: Option<&'static str>,
    pub token_in: TokenIn,
    /// The profile read is a POST without a body (Dropbox's RPC style).
    pub post_userinfo: bool,
    /// Headers and query parameters every API read carries; `{client_id}` and `{client_secret}`
    /// in a value are the client's (Etsy's `x-api-key`, Disqus's `api_key`).
    pub headers: &'static [(&'static str, &'static str)],
    pub query: &'static [(&'static str, &'static str)],
    /// Parameters every authorization request carries (Dropbox's `token_access_type=offline`).
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// How the authorization request joins scopes (Disqus: commas).
    pub scope_separator: &'static str,
    pub mapping: Mapping,
}

/// The common case: body credentials, a form, a Bearer token, one GET.
const PLAIN: Plain = Plain {
    authorize: "",
    token: "",
    userinfo: "",
    extra: &[],
    client_auth: ClientAuth::Body,
    json_body: false,
    access_token: "/access_token",
    refresh: None,
    token_in: TokenIn::Bearer,
    post_userinfo: false,
    headers: &[],
    query: &[],
    authorize_params: &[],
    scope_separator: " ",
    mapping: Mapping {
        id: "/id",
        email: "/email",
        verified: Verified::Never,
        name: &[&["/name"]],
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect: endpoints by discovery from the issuer, the user from the validated ID
    /// token. `None`: the issuer comes from configuration (tenants, self-hosted, generic `oidc`).
    Oidc { issuer: Option<&'static str> },
    /// Plain OAuth2: fixed endpoints (each overridable by configuration) and a user mapping.
    OAuth2(&'static Plain),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// Appwrite's key (case-sensitive), as in the route.
    pub key: &'static str,
    pub protocol: Protocol,
    /// Scopes always asked for (the caller's `scopes` are added).
    pub scopes: &'static [&'static str],
    /// Whether the provider accepts PKCE (S256); sent whenever it does.
    pub pkce: bool,
    /// Whether the provider verifies the addresses it calls verified itself, for consumer
    /// accounts nobody else administers: the default of `OAUTH2_<KEY>_TRUSTED_EMAIL`. Workforce
    /// and self-hosted providers (a tenant administrator sets users' addresses) are not.
    pub trusts_email: bool,
    /// What the client presents as its secret at the token endpoint.
    pub secret: Secret,
    /// Whether the provider answers by posting a form to the callback
    /// (`response_mode=form_post`), with the user's name in a `user` field (Apple).
    pub form_post: bool,
}

/// What a provider takes as the client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The configured secret, as it is.
    Configured,
    /// Apple: a short-lived ES256 JWT signed with the team's key, which the configured secret
    /// holds (`apple.rs`).
    AppleJwt,
}

const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];

const fn oidc(key: &'static str, issuer: Option<&'static str>, trusts_email: bool) -> Provider {
    Provider {
        key,
        protocol: Protocol::Oidc { issuer },
        scopes: OIDC_SCOPES,
        pkce: true,
        trusts_email,
        secret: Secret::Configured,
        form_post: false,
    }
}

mod table;
pub use table::PROVIDERS;

/// The issuer an identity of `key` is keyed with when the deployment sets none
/// (`oauth2::signin::issuer_key` without `OAUTH2_<KEY>_ISSUER` or a moved token endpoint): the
/// OpenID issuer, or a plain provider's token endpoint. `None` for the generic OpenID providers,
/// whose issuer is always configured.
pub fn default_issuer(key: &str) -> Option<&'static str> {
    match find(key)?.protocol {
        Protocol::Oidc { issuer } => issuer,
        Protocol::OAuth2(plain) => Some(plain.token),
    }
}

pub fn find(key: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_a_provider_of_the_contract() {
        for p in PROVIDERS {
            assert!(
                APPWRITE_KEYS.contains(&p.key),
                "{} is not an Appwrite provider key",
                p.key
            );
            assert_eq!(find(p.key), Some(p));
        }
    }

    #[test]
    fn every_provider_of_the_contract_has_an_entry() {
        let missing: Vec<&str> = APPWRITE_KEYS
            .iter()
            .filter(|k| !k.starts_with("mock") && find(k).is_none())
            .copied()
            .collect();
        assert_eq!(missing, Vec::<&str>::new());
        assert_eq!(PROVIDERS.len(), APPWRITE_KEYS.len() - 2);
    }
}
