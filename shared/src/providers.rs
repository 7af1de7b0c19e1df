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
    /// A boolean field of the user JSON (JSON pointer).
    Field(&'static str),
    /// GitHub: the `verified` flag of the matching entry of `/user/emails`.
    EmailsEndpoint,
    /// The provider gives no flag: its emails never count as verified, so they never link to or
    /// take over an existing account.
    Never,
}

/// Where a plain OAuth2 provider's user JSON keeps what we need (JSON pointers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub id: &'static str,
    pub email: &'static str,
    pub verified: Verified,
    /// Tried in order; the first non-empty string is the name.
    pub name: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect: endpoints by discovery from the issuer, the user from the validated ID
    /// token. `None`: the issuer comes from configuration (tenants, self-hosted, generic `oidc`).
    Oidc { issuer: Option<&'static str> },
    /// Plain OAuth2: fixed endpoints (each overridable by configuration) and a user mapping.
    OAuth2 {
        authorize: &'static str,
        token: &'static str,
        userinfo: &'static str,
        /// GitHub's list of addresses with their verified flags.
        emails: Option<&'static str>,
        mapping: Mapping,
    },
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
}

const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];

const fn oidc(key: &'static str, issuer: Option<&'static str>, trusts_email: bool) -> Provider {
    Provider {
        key,
        protocol: Protocol::Oidc { issuer },
        scopes: OIDC_SCOPES,
        pkce: true,
        trusts_email,
    }
}

pub const PROVIDERS: &[Provider] = &[
    Provider {
        key: "github",
        protocol: Protocol::OAuth2 {
            authorize: "https://github.com/login/oauth/authorize",
            token: "https://github.com/login/oauth/access_token",
            userinfo: "https://api.github.com/user",
            emails: Some("https://api.github.com/user/emails"),
            mapping: Mapping {
                id: "/id",
                email: "/email",
                verified: Verified::EmailsEndpoint,
                name: &["/name", "/login"],
            },
        },
        scopes: &["read:user", "user:email"],
        pkce: true,
        trusts_email: true,
    },
    Provider {
        key: "discord",
        protocol: Protocol::OAuth2 {
            authorize: "https://discord.com/oauth2/authorize",
            token: "https://discord.com/api/oauth2/token",
            userinfo: "https://discord.com/api/users/@me",
            emails: None,
            mapping: Mapping {
                id: "/id",
                email: "/email",
                verified: Verified::Field("/verified"),
                name: &["/global_name", "/username"],
            },
        },
        scopes: &["identify", "email"],
        pkce: true,
        trusts_email: true,
    },
    Provider {
        key: "spotify",
        protocol: Protocol::OAuth2 {
            authorize: "https://accounts.spotify.com/authorize",
            token: "https://accounts.spotify.com/api/token",
            userinfo: "https://api.spotify.com/v1/me",
            emails: None,
            mapping: Mapping {
                id: "/id",
                email: "/email",
                verified: Verified::Never,
                name: &["/display_name"],
            },
        },
        scopes: &["user-read-email"],
        pkce: true,
        trusts_email: false,
    },
    Provider {
        key: "amazon",
        protocol: Protocol::OAuth2 {
            authorize: "https://www.amazon.com/ap/oa",
            token: "https://api.amazon.com/auth/o2/token",
            userinfo: "https://api.amazon.com/user/profile",
            emails: None,
            mapping: Mapping {
                id: "/user_id",
                email: "/email",
                verified: Verified::Never,
                name: &["/name"],
            },
        },
        scopes: &["profile"],
        pkce: true,
        trusts_email: false,
    },
    Provider {
        key: "facebook",
        protocol: Protocol::OAuth2 {
            authorize: "https://www.facebook.com/v19.0/dialog/oauth",
            token: "https://graph.facebook.com/v19.0/oauth/access_token",
            userinfo: "https://graph.facebook.com/v19.0/me?fields=id,name,email",
            emails: None,
            // Facebook returns confirmed addresses only, but says so nowhere in the answer: we
            // do not take it on trust.
            mapping: Mapping {
                id: "/id",
                email: "/email",
                verified: Verified::Never,
                name: &["/name"],
            },
        },
        scopes: &["email", "public_profile"],
        pkce: true,
        trusts_email: false,
    },
    Provider {
        key: "wordpress",
        protocol: Protocol::OAuth2 {
            authorize: "https://public-api.wordpress.com/oauth2/authorize",
            token: "https://public-api.wordpress.com/oauth2/token",
            userinfo: "https://public-api.wordpress.com/rest/v1/me",
            emails: None,
            mapping: Mapping {
                id: "/ID",
                email: "/email",
                verified: Verified::Field("/email_verified"),
                name: &["/display_name", "/username"],
            },
        },
        scopes: &["auth"],
        pkce: false,
        trusts_email: true,
    },
    Provider {
        key: "yandex",
        protocol: Protocol::OAuth2 {
            authorize: "https://oauth.yandex.com/authorize",
            token: "https://oauth.yandex.com/token",
            userinfo: "https://login.yandex.ru/info?format=json",
            emails: None,
            mapping: Mapping {
                id: "/id",
                email: "/default_email",
                verified: Verified::Never,
                name: &["/real_name", "/display_name", "/login"],
            },
        },
        scopes: &["login:email", "login:info"],
        pkce: true,
        trusts_email: false,
    },
    Provider {
        key: "box",
        protocol: Protocol::OAuth2 {
            authorize: "https://account.box.com/api/oauth2/authorize",
            token: "https://api.box.com/oauth2/token",
            userinfo: "https://api.box.com/2.0/users/me",
            emails: None,
            mapping: Mapping {
                id: "/id",
                email: "/login",
                verified: Verified::Never,
                name: &["/name"],
            },
        },
        scopes: &[],
        pkce: false,
        trusts_email: false,
    },
    oidc("google", Some("https://accounts.google.com"), true),
    oidc("huggingface", Some("https://huggingface.co"), true),
    oidc("paypal", Some("https://www.paypal.com"), true),
    // Anyone can make sandbox accounts with any address: not trusted to verify addresses.
    oidc(
        "paypalSandbox",
        Some("https://www.sandbox.paypal.com"),
        false,
    ),
    oidc("zoho", Some("https://accounts.zoho.com"), false),
    oidc("gitlab", Some("https://gitlab.com"), true),
    oidc("slack", Some("https://slack.com"), false),
    oidc("twitch", Some("https://id.twitch.tv/oauth2"), true),
    oidc("linkedin", Some("https://www.linkedin.com/oauth"), true),
    oidc("yahoo", Some("https://api.login.yahoo.com"), true),
    oidc("salesforce", Some("https://login.salesforce.com"), false),
    // Tenant-specific: the issuer comes from configuration.
    oidc("microsoft", None, false),
    oidc("auth0", None, false),
    oidc("authentik", None, false),
    oidc("fusionauth", None, false),
    oidc("keycloak", None, false),
    oidc("okta", None, false),
    oidc("oidc", None, false),
];

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
}
