//! Every plain OAuth2 provider entry against a fake that behaves as that provider documents
//! itself (`fake_provider`): its client authentication, token body, PKCE, token answer, where
//! its API takes the token, its required headers and parameters, and the documented JSON of
//! its user reads. Each case is a full sign-in through the browser, in cookie mode then token
//! mode; the account it makes must carry the documented ID, address, verified state and name.
//!
//! The shapes are copied from each provider's documentation page (named per case), not from our
//! provider table: a wrong entry fails here.

use integration_tests::browser::Browser;
use integration_tests::fake_provider::{
    Client, FakeProvider, Spec, Token, CLIENT_ID, CLIENT_SECRET,
};
use integration_tests::*;
use serde_json::{json, Value};

struct Case {
    spec: Spec,
    /// Extra reads moved to the fake: name → path.
    extra: &'static [(&'static str, &'static str)],
    uid: &'static str,
    email: Option<&'static str>,
    verified: bool,
    name: &'static str,
}

fn standard(access: &str, refresh: &str) -> Value {
    json!({"access_token": access, "token_type": "bearer", "expires_in": 3600, "refresh_token": refresh})
}

fn spec(key: &'static str, client: Client, documents: Vec<(&str, Value)>) -> Spec {
    Spec {
        key,
        client,
        json_body: false,
        pkce: false,
        authorize: vec![],
        token_answer: standard,
        token: Token::Bearer,
        post_userinfo: false,
        headers: vec![],
        query: vec![],
        documents: documents
            .into_iter()
            .map(|(p, v)| (p.to_owned(), v))
            .collect(),
    }
}

/// The addresses are unique per run: a case's account must not meet another run's.
fn cases(tag: &str) -> Vec<(Case, String)> {
    let mail = |who: &str| format!("{who}.{tag}@example.com");
    let mut out = vec![];
    // developer.atlassian.com/cloud/bitbucket/oauth-2/, .../rest/api-group-users/
    let m = mail("bitbucket");
    out.push((
        Case {
            spec: spec(
                "bitbucket",
                Client::Basic,
                vec![
                    ("/user", json!({"type": "user", "uuid": "{250a442a-3ab3-4fcb-87c3-3c8f3df65ec7}",
                        "account_id": "5d5355e8c6b9320d9ea5b28d", "display_name": "Jane Doe",
                        "nickname": "jdoe", "links": {"avatar": {"href": "https://x"}}})),
                    ("/emails", json!({"pagelen": 10, "page": 1, "size": 2, "values": [
                        {"type": "email", "email": mail("old"), "is_primary": false, "is_confirmed": true},
                        {"type": "email", "email": m, "is_primary": true, "is_confirmed": true}]})),
                ],
            ),
            extra: &[("emails", "/emails")],
            uid: "{250a442a-3ab3-4fcb-87c3-3c8f3df65ec7}",
            email: None,
            verified: true,
            name: "Jane Doe",
        },
        m,
    ));
    // dev.bitly.com/docs/getting-started/authentication/, dev.bitly.com/api-reference/#getUser
    let m = mail("bitly");
    let mut bitly = spec(
        "bitly",
        Client::Body,
        vec![(
            "/user",
            json!({"login": "jdoe", "name": "Jane Doe", "is_active": true,
            "created": "2020-01-01T00:00:00+0000", "modified": "2020-01-01T00:00:00+0000",
            "is_sso_user": false, "is_2fa_enabled": false, "default_group_guid": "Ba1bc23dE4F",
            "emails": [{"email": mail("other"), "is_primary": false, "is_verified": true},
                       {"email": m, "is_primary": true, "is_verified": false}]}),
        )],
    );
    bitly.token_answer = |a, _| json!({"access_token": a, "login": "jdoe", "apiKey": "R_0123"});
    out.push((
        Case {
            spec: bitly,
            extra: &[],
            uid: "jdoe",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // developers.dailymotion.com/guides/platform-api-authentication/ (`verified` is a partner
    // account, not an address)
    let m = mail("dailymotion");
    let mut dm = spec(
        "dailymotion",
        Client::Body,
        vec![(
            "/user",
            json!({"email": m, "id": "x1fz4ii", "fullname": "Jane Doe", "verified": true}),
        )],
    );
    dm.authorize = vec![("scope", "userinfo email")];
    dm.token_answer = |a, r| {
        json!({"access_token": a, "expires_in": 36000, "refresh_token": r,
        "scope": "email userinfo", "uid": "x1fz4ii"})
    };
    out.push((
        Case {
            spec: dm,
            extra: &[],
            uid: "x1fz4ii",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // disqus.com/api/docs/auth/, disqus.com/api/docs/requests/, .../users/details/
    let m = mail("disqus");
    let mut dq = spec(
        "disqus",
        Client::Body,
        vec![(
            "/user",
            json!({"code": 0, "response": {"username": "disqus_api", "about": "",
            "name": "disqus_api", "url": "", "isFollowing": false, "isFollowedBy": false,
            "profileUrl": "http://disqus.com/disqus_api/", "id": "1", "isAnonymous": false,
            "email": m}}),
        )],
    );
    dq.authorize = vec![("scope", "read,email")];
    dq.token = Token::Query("access_token");
    dq.query = vec![
        ("api_key", CLIENT_ID.into()),
        ("api_secret", CLIENT_SECRET.into()),
    ];
    dq.token_answer = |a, r| {
        json!({"access_token": a, "expires_in": 2592000, "token_type": "Bearer",
        "state": "", "scope": "read,email", "refresh_token": r, "user_id": 1, "username": "disqus_api"})
    };
    out.push((
        Case {
            spec: dq,
            extra: &[],
            uid: "1",
            email: None,
            verified: false,
            name: "disqus_api",
        },
        m,
    ));
    // developers.dropbox.com/oauth-guide, .../documentation/http/documentation#users-get_current_account
    let m = mail("dropbox");
    let mut db = spec(
        "dropbox",
        Client::Body,
        vec![(
            "/user",
            json!({"account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            "name": {"given_name": "Franz", "surname": "Ferdinand", "familiar_name": "Franz",
                "display_name": "Franz Ferdinand (Personal)", "abbreviated_name": "FF"},
            "email": m, "email_verified": true, "disabled": false, "locale": "en",
            "country": "US", "is_paired": false, "account_type": {".tag": "basic"}}),
        )],
    );
    db.pkce = true;
    db.post_userinfo = true;
    db.authorize = vec![("token_access_type", "offline")];
    db.token_answer = |a, r| {
        json!({"access_token": a, "expires_in": 14400, "token_type": "bearer",
        "scope": "account_info.read", "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
        "uid": "12345", "refresh_token": r})
    };
    out.push((
        Case {
            spec: db,
            extra: &[],
            uid: "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
            email: None,
            verified: true,
            name: "Franz Ferdinand (Personal)",
        },
        m,
    ));
    // developers.etsy.com/documentation/essentials/authentication/, .../essentials/requests,
    // reference getMe and getUser
    let m = mail("etsy");
    let mut etsy = spec(
        "etsy",
        Client::IdOnly,
        vec![
            ("/user", json!({"user_id": 456789, "shop_id": 123456})),
            (
                "/users/456789",
                json!({"user_id": 456789, "primary_email": m,
                "first_name": "Jane", "last_name": "Doe", "image_url_75x75": "https://i"}),
            ),
        ],
    );
    etsy.pkce = true;
    etsy.authorize = vec![("scope", "email_r profile_r")];
    etsy.headers = vec![("x-api-key", format!("{CLIENT_ID}:{CLIENT_SECRET}"))];
    etsy.token_answer = |a, r| json!({"access_token": a, "token_type": "Bearer", "expires_in": 3600, "refresh_token": r});
    out.push((
        Case {
            spec: etsy,
            extra: &[("user", "/users/{id}")],
            uid: "456789",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // developers.notion.com/reference/create-a-token, .../reference/get-self
    let m = mail("notion");
    let mut notion = spec(
        "notion",
        Client::Basic,
        vec![(
            "/user",
            json!({"object": "user", "id": "16d84278-ab0e-484c-9bdd-b35da3bd8905",
            "name": "pied piper", "avatar_url": null, "type": "bot",
            "bot": {"owner": {"type": "user", "user": {"object": "user",
                "id": "5389a034-eb5c-47b5-8a9e-f79c99ef166c", "name": "christine makenotion",
                "avatar_url": null, "type": "person", "person": {"email": m}}}}}),
        )],
    );
    notion.json_body = true;
    notion.authorize = vec![("owner", "user")];
    notion.headers = vec![("notion-version", "2022-06-28".into())];
    notion.token_answer = |a, r| {
        json!({"access_token": a, "token_type": "bearer", "refresh_token": r,
        "bot_id": "b", "workspace_id": "w", "workspace_name": "W", "workspace_icon": null,
        "owner": {"type": "user"}, "duplicated_template_id": null, "request_id": "r"})
    };
    out.push((
        Case {
            spec: notion,
            extra: &[],
            uid: "5389a034-eb5c-47b5-8a9e-f79c99ef166c",
            email: None,
            verified: false,
            name: "christine makenotion",
        },
        m,
    ));
    // developers.podio.com/authentication (the `OAuth2` scheme), .../authentication/server_side
    // (token v2, JSON), developers.podio.com/doc/users
    let m = mail("podio");
    let mut podio = spec(
        "podio",
        Client::Body,
        vec![
            (
                "/user",
                json!({"user_id": 123456, "mail": m, "status": "active", "locale": "en_GB",
                "timezone": "Europe/Copenhagen", "created_on": "2020-01-01 00:00:00",
                "mails": [{"mail": mail("old"), "verified": false, "primary": true, "disabled": false},
                          {"mail": m, "verified": true, "primary": false, "disabled": false}]}),
            ),
            (
                "/profile",
                json!({"profile_id": 987, "user_id": 123456, "name": "Jane Doe",
                "mail": [m], "avatar": 111}),
            ),
        ],
    );
    podio.json_body = true;
    podio.token = Token::Scheme("OAuth2");
    podio.token_answer = |a, r| {
        json!({"access_token": a, "token_type": "bearer", "expires_in": 28800,
        "refresh_token": r, "ref": {"type": "user", "id": 123456}})
    };
    out.push((
        Case {
            spec: podio,
            extra: &[("profile", "/profile")],
            uid: "123456",
            email: None,
            verified: true,
            name: "Jane Doe",
        },
        m,
    ));
    // docs.stripe.com/connect/oauth-standard-accounts, docs.stripe.com/api/accounts/object
    let m = mail("stripe");
    let mut stripe = spec(
        "stripe",
        Client::Body,
        vec![(
            "/user",
            json!({"id": "acct_1Nv0FGQ9RKHgCVdK", "object": "account", "email": m,
            "business_profile": {"name": "Jenny's Shop", "url": null, "support_email": null},
            "settings": {"dashboard": {"display_name": "Jenny's Shop", "timezone": "Etc/UTC"}},
            "country": "US", "default_currency": "usd", "charges_enabled": false}),
        )],
    );
    stripe.authorize = vec![("scope", "read_write")];
    stripe.token_answer = |a, r| {
        json!({"token_type": "bearer", "stripe_publishable_key": "pk_test_1",
        "scope": "read_write", "livemode": false, "stripe_user_id": "acct_1Nv0FGQ9RKHgCVdK",
        "refresh_token": r, "access_token": a})
    };
    out.push((
        Case {
            spec: stripe,
            extra: &[],
            uid: "acct_1Nv0FGQ9RKHgCVdK",
            email: None,
            verified: false,
            name: "Jenny's Shop",
        },
        m,
    ));
    // api.tradeshift.com/tradeshift/rest/external/doc (and its sandbox, tradeshiftBox)
    for key in ["tradeshift", "tradeshiftBox"] {
        let m = mail(&key.to_ascii_lowercase());
        let mut ts = spec(
            key,
            Client::Basic,
            vec![(
                "/user",
                json!({"Id": "58a5b768-08be-48ec-a06d-6874fde8cf46", "Username": m,
                "FirstName": "Jane", "LastName": "Doe", "CompanyAccountId": "c", "State": "ACTIVE",
                "Language": "en", "TimeZone": "Europe/Copenhagen"}),
            )],
        );
        ts.authorize = vec![("scope", "openid offline")];
        out.push((
            Case {
                spec: ts,
                extra: &[],
                uid: "58a5b768-08be-48ec-a06d-6874fde8cf46",
                email: None,
                verified: false,
                name: "Jane Doe",
            },
            m,
        ));
    }
    // learn.microsoft.com/en-us/rest/api/yammer/oauth-2, .../yammer/users-current-json
    let m = mail("yammer");
    let mut yammer = spec(
        "yammer",
        Client::Body,
        vec![(
            "/user",
            json!({"type": "user", "id": 1014216, "network_id": 104604, "state": "active",
            "name": "jdoe", "full_name": "Jane Doe", "first_name": "Jane", "last_name": "Doe",
            "email": m, "contact": {"email_addresses": [{"type": "primary", "address": m}]}}),
        )],
    );
    yammer.token_answer = |a, _| {
        json!({"user": {"id": 1014216}, "network": {"id": 104604},
        "access_token": {"user_id": 1014216, "network_id": 104604, "token": a, "view_members": true,
            "authorized_at": "2011/04/06 16:25:46 +0000", "expires_at": null}})
    };
    out.push((
        Case {
            spec: yammer,
            extra: &[],
            uid: "1014216",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // developers.zoom.us/docs/integrations/oauth/, .../integrations/PKCE/, .../api/users/
    let m = mail("zoom");
    let mut zoom = spec(
        "zoom",
        Client::Basic,
        vec![(
            "/user",
            json!({"id": "KDcuGIm1QgePTO8WbOqwIQ", "first_name": "Jane", "last_name": "Doe",
            "display_name": "Jane Doe", "email": m, "type": 1, "pmi": 1234567890,
            "timezone": "America/New_York", "verified": 1, "account_id": "q6gBJVO5TzexKYTb_I2rpg",
            "status": "active", "language": "en-US"}),
        )],
    );
    zoom.pkce = true;
    out.push((
        Case {
            spec: zoom,
            extra: &[],
            uid: "KDcuGIm1QgePTO8WbOqwIQ",
            email: None,
            verified: true,
            name: "Jane Doe",
        },
        m,
    ));
    // docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code, docs.x.com/x-api/users/get-me
    let m = mail("x");
    let mut x = spec(
        "x",
        Client::Basic,
        vec![(
            "/user",
            json!({"data": {"id": "2244994945", "name": "X Developers",
            "username": "XDevelopers", "confirmed_email": m}}),
        )],
    );
    x.pkce = true;
    x.authorize = vec![("scope", "tweet.read users.read users.email offline.access")];
    out.push((
        Case {
            spec: x,
            extra: &[],
            uid: "2244994945",
            email: None,
            verified: true,
            name: "X Developers",
        },
        m,
    ));
    // developers.figma.com/docs/rest-api/authentication/, .../users-endpoints/
    let m = mail("figma");
    let mut figma = spec(
        "figma",
        Client::Basic,
        vec![(
            "/user",
            json!({"id": "1234567890", "email": m, "handle": "Jane Doe",
            "img_url": "https://s3-alpha.figma.com/profile/x"}),
        )],
    );
    figma.authorize = vec![("scope", "current_user:read")];
    figma.token_answer = |a, r| {
        json!({"user_id": 1234567890, "user_id_string": "1234567890",
        "access_token": a, "refresh_token": r, "expires_in": 7776000})
    };
    out.push((
        Case {
            spec: figma,
            extra: &[],
            uid: "1234567890",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // docs.kick.com/getting-started/generating-tokens-oauth2-flow, docs.kick.com/apis/users
    let m = mail("kick");
    let mut kick = spec(
        "kick",
        Client::Body,
        vec![(
            "/user",
            json!({"data": [{"user_id": 123456, "name": "janedoe", "email": m,
            "profile_picture": "https://k"}], "message": "OK"}),
        )],
    );
    kick.pkce = true;
    kick.authorize = vec![("scope", "user:read")];
    out.push((
        Case {
            spec: kick,
            extra: &[],
            uid: "123456",
            email: None,
            verified: false,
            name: "janedoe",
        },
        m,
    ));
    // discord.com/developers/docs/topics/oauth2, .../resources/user#user-object
    let m = mail("discord");
    let mut discord = spec(
        "discord",
        Client::Body,
        vec![(
            "/user",
            json!({"id": "80351110224678912", "username": "nelly", "discriminator": "0",
            "global_name": "Nelly", "avatar": "8342729096ea3675442027381ff50dfe", "verified": true,
            "email": m, "flags": 64, "premium_type": 1, "public_flags": 64}),
        )],
    );
    discord.pkce = true;
    discord.authorize = vec![("scope", "identify email")];
    out.push((
        Case {
            spec: discord,
            extra: &[],
            uid: "80351110224678912",
            email: None,
            verified: true,
            name: "Nelly",
        },
        m,
    ));
    // developer.spotify.com/documentation/web-api/reference/get-current-users-profile
    let m = mail("spotify");
    let mut spotify = spec(
        "spotify",
        Client::Body,
        vec![(
            "/user",
            json!({"country": "SE", "display_name": "Jane Doe", "email": m,
            "explicit_content": {"filter_enabled": false, "filter_locked": false},
            "external_urls": {"spotify": "https://open.spotify.com/user/smedjan"},
            "followers": {"href": null, "total": 0}, "href": "https://api.spotify.com/v1/users/smedjan",
            "id": "smedjan", "images": [], "product": "premium", "type": "user",
            "uri": "spotify:user:smedjan"}),
        )],
    );
    spotify.pkce = true;
    spotify.authorize = vec![("scope", "user-read-email")];
    out.push((
        Case {
            spec: spotify,
            extra: &[],
            uid: "smedjan",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // developer.amazon.com/docs/login-with-amazon/obtain-customer-profile.html
    let m = mail("amazon");
    let mut amazon = spec(
        "amazon",
        Client::Body,
        vec![(
            "/user",
            json!({"user_id": "amznl.account.K2LI23KL2LK2", "email": m,
            "name": "Mork Hashimoto", "postal_code": "98052"}),
        )],
    );
    amazon.pkce = true;
    amazon.authorize = vec![("scope", "profile")];
    out.push((
        Case {
            spec: amazon,
            extra: &[],
            uid: "amznl.account.K2LI23KL2LK2",
            email: None,
            verified: false,
            name: "Mork Hashimoto",
        },
        m,
    ));
    // developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow, Graph API /me
    let m = mail("facebook");
    let mut facebook = spec(
        "facebook",
        Client::Body,
        vec![(
            "/user",
            json!({"id": "10158289532948541", "name": "Jane Doe", "email": m}),
        )],
    );
    facebook.pkce = true;
    facebook.authorize = vec![("scope", "email public_profile")];
    out.push((
        Case {
            spec: facebook,
            extra: &[],
            uid: "10158289532948541",
            email: None,
            verified: false,
            name: "Jane Doe",
        },
        m,
    ));
    // developer.wordpress.com/docs/oauth2/, developer.wordpress.com/docs/api/1.1/get/me/
    let m = mail("wordpress");
    let mut wordpress = spec(
        "wordpress",
        Client::Body,
        vec![(
            "/user",
            json!({"ID": 12345678, "display_name": "Jane Doe", "username": "janedoe",
            "email": m, "primary_blog": 123, "language": "en", "email_verified": true,
            "verified": true}),
        )],
    );
    wordpress.authorize = vec![("scope", "auth")];
    wordpress.token_answer = |a, _| {
        json!({"access_token": a, "token_type": "bearer",
        "blog_id": "0", "blog_url": null, "scope": "auth"})
    };
    out.push((
        Case {
            spec: wordpress,
            extra: &[],
            uid: "12345678",
            email: None,
            verified: true,
            name: "Jane Doe",
        },
        m,
    ));
    // yandex.com/dev/id/doc/en/user-information
    let m = mail("yandex");
    let mut yandex = spec(
        "yandex",
        Client::Body,
        vec![(
            "/user",
            json!({"login": "ivan", "id": "1000034426", "client_id": "4760187d81bc4b7799476b42b5103713",
            "psuid": "1.AAceCw.tbHgw5DtJ9_zeqPrk-Ba2w.qPWSRC5v2t2IaksPJgnge", "default_email": m,
            "emails": [m], "real_name": "Ivan Ivanov", "display_name": "Ivan",
            "first_name": "Ivan", "last_name": "Ivanov", "sex": "male"}),
        )],
    );
    yandex.pkce = true;
    yandex.authorize = vec![("scope", "login:email login:info")];
    out.push((
        Case {
            spec: yandex,
            extra: &[],
            uid: "1000034426",
            email: None,
            verified: false,
            name: "Ivan Ivanov",
        },
        m,
    ));
    // developer.box.com/guides/authentication/oauth2/, developer.box.com/reference/get-users-me/
    let m = mail("box");
    let boxed = spec(
        "box",
        Client::Body,
        vec![(
            "/user",
            json!({"id": "11446498", "type": "user", "name": "Aaron Levie", "login": m,
            "created_at": "2012-12-12T10:53:43-08:00", "language": "en", "status": "active"}),
        )],
    );
    out.push((
        Case {
            spec: boxed,
            extra: &[],
            uid: "11446498",
            email: None,
            verified: false,
            name: "Aaron Levie",
        },
        m,
    ));
    out
}

#[tokio::test]
async fn every_plain_provider_signs_in_as_documented() {
    let tag = unique_email().split('@').next().unwrap().replace('.', "");
    let mut failures = vec![];
    let cases = cases(&tag);
    // Every plain entry has its case (GitHub's double is `fake_github`, `oauth2_flows.rs`).
    let mut covered: Vec<&str> = cases.iter().map(|(c, _)| c.spec.key).collect();
    covered.push("github");
    covered.sort_unstable();
    let mut plain: Vec<&str> = account_core::providers::PROVIDERS
        .iter()
        .filter(|p| matches!(p.protocol, account_core::providers::Protocol::OAuth2(_)))
        .map(|p| p.key)
        .collect();
    plain.sort_unstable();
    assert_eq!(covered, plain);
    for (case, address) in cases {
        let key = case.spec.key;
        let fake = FakeProvider::start(case.spec).await;
        let mut o = Options {
            public_origin: true,
            fixed_clock: false,
            ..Options::default()
        };
        fake.configure(&mut o.config, case.extra);
        let s = Server::with(o).await;
        let start = format!(
            "{}/account/sessions/oauth2/{key}?project={PROJECT}&success=http%3A%2F%2Flocalhost%2Fok&failure=http%3A%2F%2Flocalhost%2Ffail",
            s.base
        );
        let mut b = Browser::new(&s.base);
        let landed = b.follow(&start, &fake.base).await;
        if landed != "http://localhost/ok" {
            failures.push(format!(
                "{key}: landed at {landed}; the fake saw {:?}",
                fake.problems()
            ));
            continue;
        }
        let cookie = b.session(PROJECT).unwrap();
        let me = s.get("/account", Some(&cookie)).await;
        let ids = s.get("/account/identities", Some(&cookie)).await;
        let session = s.get("/account/sessions/current", Some(&cookie)).await;
        let email = case.email.map(str::to_owned).unwrap_or(address);
        let got = (
            ids.json["identities"][0]["providerUid"].clone(),
            ids.json["identities"][0]["providerEmail"].clone(),
            me.json["email"].clone(),
            me.json["emailVerification"].clone(),
            me.json["name"].clone(),
            session.json["providerAccessToken"].clone(),
        );
        let want = (
            json!(case.uid),
            json!(email),
            // An unverified address is kept on the identity only, never on the account.
            json!(if case.verified { email.as_str() } else { "" }),
            json!(case.verified),
            json!(case.name),
            json!(fake.issued().last().unwrap()),
        );
        if got != want {
            failures.push(format!("{key}: got {got:?}, want {want:?}"));
        }
        // Token mode: the same provider account reaches the same user, through the secret.
        let landed = Browser::new(&s.base)
            .follow(&start.replace("/sessions/", "/tokens/"), &fake.base)
            .await;
        let r = s.redeem_landing(&landed).await;
        if r.status != 201 || r.json["userId"] != me.json["$id"] || r.json["provider"] != key {
            failures.push(format!("{key}: token mode landed at {landed}: {}", r.json));
        }
        if !fake.problems().is_empty() {
            failures.push(format!("{key}: the fake saw {:?}", fake.problems()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
