//! The provider entries, each citing the documentation its shapes come from.

use super::*;

/// Tradeshift and its sandbox, by host.
macro_rules! tradeshift {
    ($host:literal) => {
        Plain {
            authorize: concat!($host, "/tradeshift/auth/login"),
            token: concat!($host, "/tradeshift/auth/token"),
            userinfo: concat!($host, "/tradeshift/rest/external/account/info/user"),
            client_auth: ClientAuth::Basic,
            mapping: mapping(
                "/Id",
                "/Username",
                Verified::Never,
                &[&["/FirstName", "/LastName"], &["/Username"]],
            ),
            ..PLAIN
        }
    };
}

/// A plain OAuth2 provider entry.
const fn plain(
    key: &'static str,
    plain: &'static Plain,
    scopes: &'static [&'static str],
    pkce: bool,
    trusts_email: bool,
) -> Provider {
    Provider {
        key,
        protocol: Protocol::OAuth2(plain),
        scopes,
        pkce,
        trusts_email,
        secret: Secret::Configured,
        form_post: false,
    }
}

const fn mapping(
    id: &'static str,
    email: &'static str,
    verified: Verified,
    name: &'static [&'static [&'static str]],
) -> Mapping {
    Mapping {
        id,
        email,
        verified,
        name,
    }
}

/// The entries. Each plain one names the documentation its shapes come from; where a provider
/// documents no verified flag (or a flag that means something else), `Verified::Never`.
pub const PROVIDERS: &[Provider] = &[
    // developer.apple.com/documentation/signinwithapplerestapi: OpenID Connect (discovery at
    // appleid.apple.com/.well-known/openid-configuration, ID tokens, `client_secret_post`), with
    // a signed client secret, a form post, and no PKCE in its documentation. Apple verifies the
    // addresses it gives, private-relay ones included.
    Provider {
        key: "apple",
        protocol: Protocol::Oidc {
            issuer: Some("https://appleid.apple.com"),
        },
        scopes: &["openid", "name", "email"],
        pkce: false,
        trusts_email: true,
        secret: Secret::AppleJwt,
        form_post: true,
    },
    // docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
    // docs.github.com/en/rest/users/emails
    plain(
        "github",
        &Plain {
            authorize: "https://github.com/login/oauth/authorize",
            token: "https://github.com/login/oauth/access_token",
            userinfo: "https://api.github.com/user",
            extra: &[("emails", "https://api.github.com/user/emails")],
            mapping: mapping(
                "/id",
                "/email",
                Verified::List {
                    list: "/emails",
                    address: "email",
                    primary: "primary",
                    verified: "verified",
                },
                &[&["/name"], &["/login"]],
            ),
            ..PLAIN
        },
        &["read:user", "user:email"],
        true,
        true,
    ),
    // discord.com/developers/docs/topics/oauth2, discord.com/developers/docs/resources/user
    plain(
        "discord",
        &Plain {
            authorize: "https://discord.com/oauth2/authorize",
            token: "https://discord.com/api/oauth2/token",
            userinfo: "https://discord.com/api/users/@me",
            mapping: mapping(
                "/id",
                "/email",
                Verified::Field("/verified"),
                &[&["/global_name"], &["/username"]],
            ),
            ..PLAIN
        },
        &["identify", "email"],
        true,
        true,
    ),
    // developer.spotify.com/documentation/web-api/reference/get-current-users-profile
    plain(
        "spotify",
        &Plain {
            authorize: "https://accounts.spotify.com/authorize",
            token: "https://accounts.spotify.com/api/token",
            userinfo: "https://api.spotify.com/v1/me",
            mapping: mapping("/id", "/email", Verified::Never, &[&["/display_name"]]),
            ..PLAIN
        },
        &["user-read-email"],
        true,
        false,
    ),
    // developer.amazon.com/docs/login-with-amazon/obtain-customer-profile.html
    plain(
        "amazon",
        &Plain {
            authorize: "https://www.amazon.com/ap/oa",
            token: "https://api.amazon.com/auth/o2/token",
            userinfo: "https://api.amazon.com/user/profile",
            mapping: mapping("/user_id", "/email", Verified::Never, &[&["/name"]]),
            ..PLAIN
        },
        &["profile"],
        true,
        false,
    ),
    // developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow. Facebook returns
    // confirmed addresses only, but says so nowhere in the answer: not taken on trust.
    plain(
        "facebook",
        &Plain {
            authorize: "https://www.facebook.com/v19.0/dialog/oauth",
            token: "https://graph.facebook.com/v19.0/oauth/access_token",
            userinfo: "https://graph.facebook.com/v19.0/me?fields=id,name,email",
            mapping: mapping("/id", "/email", Verified::Never, &[&["/name"]]),
            ..PLAIN
        },
        &["email", "public_profile"],
        true,
        false,
    ),
    // developer.wordpress.com/docs/oauth2/, developer.wordpress.com/docs/api/1.1/get/me/
    plain(
        "wordpress",
        &Plain {
            authorize: "https://public-api.wordpress.com/oauth2/authorize",
            token: "https://public-api.wordpress.com/oauth2/token",
            userinfo: "https://public-api.wordpress.com/rest/v1/me",
            mapping: mapping(
                "/ID",
                "/email",
                Verified::Field("/email_verified"),
                &[&["/display_name"], &["/username"]],
            ),
            ..PLAIN
        },
        &["auth"],
        false,
        true,
    ),
    // yandex.com/dev/id/doc/en/user-information
    plain(
        "yandex",
        &Plain {
            authorize: "https://oauth.yandex.com/authorize",
            token: "https://oauth.yandex.com/token",
            userinfo: "https://login.yandex.ru/info?format=json",
            mapping: mapping(
                "/id",
                "/default_email",
                Verified::Never,
                &[&["/real_name"], &["/display_name"], &["/login"]],
            ),
            ..PLAIN
        },
        &["login:email", "login:info"],
        true,
        false,
    ),
    // developer.box.com/reference/get-users-me/
    plain(
        "box",
        &Plain {
            authorize: "https://account.box.com/api/oauth2/authorize",
            token: "https://api.box.com/oauth2/token",
            userinfo: "https://api.box.com/2.0/users/me",
            mapping: mapping("/id", "/login", Verified::Never, &[&["/name"]]),
            ..PLAIN
        },
        &[],
        false,
        false,
    ),
    // developer.atlassian.com/cloud/bitbucket/oauth-2/ (HTTP Basic at the token endpoint),
    // developer.atlassian.com/cloud/bitbucket/rest/api-group-users/ (`/user`, `/user/emails`
    // with `is_primary` and `is_confirmed`). Permissions are the consumer's, not scopes.
    plain(
        "bitbucket",
        &Plain {
            authorize: "https://bitbucket.org/site/oauth2/authorize",
            token: "https://bitbucket.org/site/oauth2/access_token",
            userinfo: "https://api.bitbucket.org/2.0/user",
            extra: &[(
                "emails",
                "https://api.bitbucket.org/2.0/user/emails?pagelen=100",
            )],
            client_auth: ClientAuth::Basic,
            mapping: mapping(
                "/uuid",
                "",
                Verified::List {
                    list: "/emails/values",
                    address: "email",
                    primary: "is_primary",
                    verified: "is_confirmed",
                },
                &[&["/display_name"], &["/nickname"]],
            ),
            ..PLAIN
        },
        &[],
        false,
        true,
    ),
    // dev.bitly.com/docs/getting-started/authentication/ (its token answer has no
    // `token_type`), dev.bitly.com/api-reference/#getUser (`emails` with `is_primary` and
    // `is_verified`).
    plain(
        "bitly",
        &Plain {
            authorize: "https://bitly.com/oauth/authorize",
            token: "https://api-ssl.bitly.com/oauth/access_token",
            userinfo: "https://api-ssl.bitly.com/v4/user",
            mapping: mapping(
                "/login",
                "",
                Verified::List {
                    list: "/emails",
                    address: "email",
                    primary: "is_primary",
                    verified: "is_verified",
                },
                &[&["/name"], &["/login"]],
            ),
            ..PLAIN
        },
        &[],
        false,
        true,
    ),
    // developers.dailymotion.com/guides/platform-api-authentication/,
    // developers.dailymotion.com/guides/api-scopes/. Its `verified` marks a verified partner
    // account, not an address: no flag.
    plain(
        "dailymotion",
        &Plain {
            authorize: "https://www.dailymotion.com/oauth/authorize",
            token: "https://api.dailymotion.com/oauth/token",
            userinfo:
                "https://api.dailymotion.com/user/me?fields=id,email,fullname,screenname,username",
            mapping: mapping(
                "/id",
                "/email",
                Verified::Never,
                &[&["/fullname"], &["/screenname"], &["/username"]],
            ),
            ..PLAIN
        },
        &["userinfo", "email"],
        false,
        false,
    ),
    // disqus.com/api/docs/auth/ (comma-separated scopes), disqus.com/api/docs/requests/ (the
    // token and the API key as query parameters), disqus.com/api/docs/users/details/.
    plain(
        "disqus",
        &Plain {
            authorize: "https://disqus.com/api/oauth/2.0/authorize/",
            token: "https://disqus.com/api/oauth/2.0/access_token/",
            userinfo: "https://disqus.com/api/3.0/users/details.json",
            token_in: TokenIn::Query("access_token"),
            query: &[
                ("api_key", "{client_id}"),
                ("api_secret", "{client_secret}"),
            ],
            scope_separator: ",",
            mapping: mapping(
                "/response/id",
                "/response/email",
                Verified::Never,
                &[&["/response/name"], &["/response/username"]],
            ),
            ..PLAIN
        },
        &["read", "email"],
        false,
        false,
    ),
    // developers.dropbox.com/oauth-guide (PKCE, `token_access_type=offline` for a refresh
    // token), dropbox.com/developers/documentation/http/documentation#users-get_current_account
    // (a POST without a body). Scopes are the app's, set in its console.
    plain(
        "dropbox",
        &Plain {
            authorize: "https://www.dropbox.com/oauth2/authorize",
            token: "https://api.dropboxapi.com/oauth2/token",
            userinfo: "https://api.dropboxapi.com/2/users/get_current_account",
            post_userinfo: true,
            authorize_params: &[("token_access_type", "offline")],
            mapping: mapping(
                "/account_id",
                "/email",
                Verified::Field("/email_verified"),
                &[&["/name/display_name"], &["/name/familiar_name"]],
            ),
            ..PLAIN
        },
        &[],
        true,
        true,
    ),
    // developers.etsy.com/documentation/essentials/authentication/ (PKCE required, no client
    // secret at the token endpoint), .../essentials/requests (`x-api-key` on every request),
    // developers.etsy.com/documentation/reference#operation/getMe and #operation/getUser.
    plain(
        "etsy",
        &Plain {
            authorize: "https://www.etsy.com/oauth/connect",
            token: "https://api.etsy.com/v3/public/oauth/token",
            userinfo: "https://api.etsy.com/v3/application/users/me",
            extra: &[("user", "https://api.etsy.com/v3/application/users/{id}")],
            client_auth: ClientAuth::IdOnly,
            headers: &[("x-api-key", "{client_id}:{client_secret}")],
            mapping: mapping(
                "/user_id",
                "/user/primary_email",
                Verified::Never,
                &[&["/user/first_name", "/user/last_name"]],
            ),
            ..PLAIN
        },
        &["email_r", "profile_r"],
        true,
        false,
    ),
    // developers.notion.com/reference/create-a-token (HTTP Basic, a JSON body),
    // developers.notion.com/reference/get-self (`Notion-Version`; the bot's owner is the user).
    plain(
        "notion",
        &Plain {
            authorize: "https://api.notion.com/v1/oauth/authorize",
            token: "https://api.notion.com/v1/oauth/token",
            userinfo: "https://api.notion.com/v1/users/me",
            client_auth: ClientAuth::Basic,
            json_body: true,
            headers: &[("Notion-Version", "2022-06-28")],
            authorize_params: &[("owner", "user")],
            mapping: mapping(
                "/bot/owner/user/id",
                "/bot/owner/user/person/email",
                Verified::Never,
                &[&["/bot/owner/user/name"]],
            ),
            ..PLAIN
        },
        &[],
        false,
        false,
    ),
    // developers.podio.com/authentication/server_side (token v2, a JSON body),
    // developers.podio.com/authentication (`Authorization: OAuth2 <token>`),
    // developers.podio.com/doc/users (`/user/` with `mails`, `/user/profile/` with the name).
    plain(
        "podio",
        &Plain {
            authorize: "https://podio.com/oauth/authorize",
            token: "https://api.podio.com/oauth/token/v2",
            userinfo: "https://api.podio.com/user/",
            extra: &[("profile", "https://api.podio.com/user/profile/")],
            json_body: true,
            token_in: TokenIn::Scheme("OAuth2"),
            mapping: mapping(
                "/user_id",
                "/mail",
                Verified::List {
                    list: "/mails",
                    address: "mail",
                    primary: "primary",
                    verified: "verified",
                },
                &[&["/profile/name"]],
            ),
            ..PLAIN
        },
        &[],
        false,
        true,
    ),
    // docs.stripe.com/connect/oauth-standard-accounts (the platform's secret key is the client
    // secret), docs.stripe.com/api/accounts/retrieve and /object (no top-level name).
    plain(
        "stripe",
        &Plain {
            authorize: "https://connect.stripe.com/oauth/authorize",
            token: "https://connect.stripe.com/oauth/token",
            userinfo: "https://api.stripe.com/v1/account",
            mapping: mapping(
                "/id",
                "/email",
                Verified::Never,
                &[
                    &["/business_profile/name"],
                    &["/settings/dashboard/display_name"],
                ],
            ),
            ..PLAIN
        },
        &["read_write"],
        false,
        false,
    ),
    // api.tradeshift.com/tradeshift/rest/external/doc (`account/info/user`), HTTP Basic at the
    // token endpoint; `tradeshiftBox` is the same on the sandbox host.
    plain(
        "tradeshift",
        &tradeshift!("https://api.tradeshift.com"),
        &["openid", "offline"],
        false,
        false,
    ),
    plain(
        "tradeshiftBox",
        &tradeshift!("https://api-sandbox.tradeshift.com"),
        &["openid", "offline"],
        false,
        false,
    ),
    // learn.microsoft.com/en-us/rest/api/yammer/oauth-2 (the token answer nests the token:
    // `access_token.token`), learn.microsoft.com/en-us/rest/api/yammer/users-current-json.
    plain(
        "yammer",
        &Plain {
            authorize: "https://www.yammer.com/oauth2/authorize",
            token: "https://www.yammer.com/oauth2/access_token",
            userinfo: "https://www.yammer.com/api/v1/users/current.json",
            access_token: "/access_token/token",
            mapping: mapping(
                "/id",
                "/email",
                Verified::Never,
                &[&["/full_name"], &["/name"]],
            ),
            ..PLAIN
        },
        &[],
        false,
        false,
    ),
    // developers.zoom.us/docs/integrations/oauth/ (HTTP Basic), .../integrations/PKCE/,
    // developers.zoom.us/docs/api/users/#tag/users/GET/users/{userId} (`verified`: 1 or 0).
    // Scopes are the app's (`user:read:user`), set in the Marketplace. A workforce service
    // (account administrators provision users and SSO sets addresses): not trusted by default.
    plain(
        "zoom",
        &Plain {
            authorize: "https://zoom.us/oauth/authorize",
            token: "https://zoom.us/oauth/token",
            userinfo: "https://api.zoom.us/v2/users/me",
            client_auth: ClientAuth::Basic,
            mapping: mapping(
                "/id",
                "/email",
                Verified::Field("/verified"),
                &[&["/display_name"], &["/first_name", "/last_name"]],
            ),
            ..PLAIN
        },
        &[],
        true,
        true,
    ),
    // docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code (PKCE required, HTTP
    // Basic), docs.x.com/x-api/users/get-me (`confirmed_email`: given only once confirmed).
    plain(
        "x",
        &Plain {
            authorize: "https://x.com/i/oauth2/authorize",
            token: "https://api.x.com/2/oauth2/token",
            userinfo: "https://api.x.com/2/users/me?user.fields=confirmed_email",
            client_auth: ClientAuth::Basic,
            mapping: mapping(
                "/data/id",
                "/data/confirmed_email",
                Verified::Present,
                &[&["/data/name"], &["/data/username"]],
            ),
            ..PLAIN
        },
        &["tweet.read", "users.read", "users.email", "offline.access"],
        true,
        true,
    ),
    // developers.figma.com/docs/rest-api/authentication/ (HTTP Basic, refresh at its own URL),
    // developers.figma.com/docs/rest-api/users-endpoints/ (`/v1/me`).
    plain(
        "figma",
        &Plain {
            authorize: "https://www.figma.com/oauth",
            token: "https://api.figma.com/v1/oauth/token",
            refresh: Some("https://api.figma.com/v1/oauth/refresh"),
            userinfo: "https://api.figma.com/v1/me",
            client_auth: ClientAuth::Basic,
            mapping: mapping("/id", "/email", Verified::Never, &[&["/handle"]]),
            ..PLAIN
        },
        &["current_user:read"],
        false,
        false,
    ),
    // docs.kick.com/getting-started/generating-tokens-oauth2-flow (PKCE required),
    // docs.kick.com/apis/users (the caller is `data[0]`).
    plain(
        "kick",
        &Plain {
            authorize: "https://id.kick.com/oauth/authorize",
            token: "https://id.kick.com/oauth/token",
            userinfo: "https://api.kick.com/public/v1/users",
            mapping: mapping(
                "/data/0/user_id",
                "/data/0/email",
                Verified::Never,
                &[&["/data/0/name"]],
            ),
            ..PLAIN
        },
        &["user:read"],
        true,
        false,
    ),
    // aps.autodesk.com/en/docs/oauth/v2/reference/http/openid-GET: OpenID Connect (its v1
    // endpoints are retired); a workforce provider (company administrators set addresses).
    Provider {
        key: "autodesk",
        protocol: Protocol::Oidc {
            issuer: Some("https://developer.api.autodesk.com"),
        },
        scopes: &["openid", "user-profile:read"],
        pkce: true,
        trusts_email: false,
        secret: Secret::Configured,
        form_post: false,
    },
    // Appwrite Cloud's own OpenID provider for its console accounts (Appwrite's adapter
    // `Appwrite.php` names this issuer).
    oidc(
        "appwrite",
        Some("https://cloud.appwrite.io/v1/oauth2/console"),
        true,
    ),
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
