//! The checks before a handler runs (contract section 1.9): the client address, origin, project,
//! identify (who is calling), the rate-limit admission, authorize and the auth-method toggle.

use super::*;

pub(super) fn client_ip(config: &Config, req: &ApiRequest) -> String {
    let hops = config.trusted_proxy_hops.max(1);
    config
        .trusted_ip_header
        .as_deref()
        .and_then(|h| req.header(h))
        .and_then(|v| v.rsplit(',').nth(hops - 1))
        .map(str::trim)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
        .unwrap_or_else(|| req.source_ip.clone())
}

/// Whether the `Origin` may call us (contract §1.12). Requests without one (server SDKs) pass.
pub(super) fn origin_allowed(config: &Config, origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let host_allowed = || url.host_str().is_some_and(|h| config.host_allowed(h));
    let scheme_allowed = |s: &str| config.redirect_schemes.iter().any(|r| r == s);
    // The same rules as redirect URLs (`validate::redirect_url`): a credentialed origin the
    // redirect rules would refuse (plain http off loopback, an unconfigured custom scheme) is
    // refused here too.
    match url.scheme() {
        "https" | "chrome-extension" | "moz-extension" | "tauri" => host_allowed(),
        "http" => {
            let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
                || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
            host_allowed() && (loopback || config.redirect_allow_http)
        }
        "exp" => scheme_allowed("exp"),
        s => {
            s == format!("appwrite-callback-{}", config.project_id)
                && scheme_allowed("appwrite-callback")
        }
    }
}

pub(super) fn scope_error(role: &str, scope: &str) -> Error {
    Error::with_message(
        ErrorType::UnauthorizedScope,
        format!("User (role: {role}) missing scopes ([\"{scope}\"])"),
    )
}

/// Serve one request. `handler_for` gives the handler of a function, or `None` when this process
/// does not host it (a Lambda receiving another function's route answers 404).
pub(super) fn unless_param_error(
    rl: Result<Option<Verdict>>,
    e: &Error,
) -> Result<Option<Verdict>> {
    let param_error = matches!(
        e.kind,
        ErrorType::ArgumentInvalid | ErrorType::BadRequest | ErrorType::QueryInvalid
    );
    match rl {
        Err(failed) if param_error => {
            tracing::warn!(error = %failed, "rate-limit counter failed; the parameter error stands");
            Ok(None)
        }
        rl => rl,
    }
}

/// Stage "origin" (contract §1.9 step 0): a browser's `Origin` must be a registered platform,
/// or the API's own origin (its pages, `pages.rs`, which serve nothing but their own script).
/// The OAuth2 callback is exempt: providers call it (Apple posts a form from its own origin).
pub(super) fn check_origin(config: &Config, req: &ApiRequest, route: &Route) -> Result<()> {
    let own = url::Url::parse(&account_core::oauth2::api_origin(
        config,
        req.gateway_domain.as_deref(),
    ))
    .map(|u| u.origin().ascii_serialization())
    .unwrap_or_default();
    match req.header("origin").filter(|_| !route.id.project_in_path()) {
        Some(origin) if origin != own && !origin_allowed(config, origin) => Err(Error::with_message(
            ErrorType::UnknownOrigin,
            format!("Invalid Origin. Register your new client ({origin}) as a new Web platform on your project console dashboard"),
        )),
        _ => Ok(()),
    }
}

/// Stage "project" (step 1): from the path on the OAuth2 callback, else the header, else
/// `?project=`; it must be the one project this deployment serves.
pub(super) fn check_project(
    config: &Config,
    req: &ApiRequest,
    route: &Route,
    path: &PathParams,
) -> Result<()> {
    let in_path = route.id.project_in_path().then(|| {
        path.iter()
            .find(|(k, _)| *k == "projectId")
            .map(|(_, v)| v.clone())
    });
    let project = in_path
        .flatten()
        .or_else(|| req.header("x-appwrite-project").map(str::to_owned))
        .or_else(|| {
            req.query_pairs()
                .into_iter()
                .find(|(k, _)| k == "project")
                .map(|(_, v)| v)
        });
    if project.as_deref() == Some(config.project_id.as_str()) {
        Ok(())
    } else {
        Err(Error::new(ErrorType::ProjectNotFound))
    }
}

/// Who is calling, as the "identify" stage found out.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A server with an API key (never also a user).
    Key(account_core::keys::KeyItem),
    /// A user, by session credential or JWT.
    User(Box<Auth>),
    Guest,
}

/// Stage "identify" (step 2): an API key, a session credential, a JWT, or nobody. One read.
pub(super) async fn identify(
    app: &App,
    req: &ApiRequest,
    route: &Route,
    path: &PathParams,
    now: Millis,
) -> Result<Caller> {
    if let Some(k) = req.header("x-appwrite-key") {
        let stored = match account_core::keys::id_of(k) {
            Some(id) => app.store.get_api_key(id).await?,
            None => None,
        };
        return account_core::keys::check(k, stored, now).map(Caller::Key);
    }
    let load = match route.access {
        Access::User(load) => Some(load),
        Access::GuestOnly => Some(Load::Session),
        Access::Guest | Access::Public | Access::Page => None,
    };
    let path_session = path
        .iter()
        .find(|(k, _)| *k == "sessionId")
        .map(|(_, v)| v.as_str());
    let cred = credential(req, &app.config.project_id).and_then(|c| Identity::from_credential(&c));
    let jwt = req.header("x-appwrite-jwt");
    // The session first: a valid session together with a JWT is refused.
    let by_session = match (&cred, load.or(jwt.map(|_| Load::Session))) {
        (Some(c), Some(load)) => authenticate(app, c, load, path_session, now).await?,
        _ => None,
    };
    let user = match (by_session, jwt) {
        (Some(_), Some(_)) => return Err(Error::new(ErrorType::UserJwtAndCookieSet)),
        (Some(a), None) => Some(a),
        (None, Some(token)) => {
            let claims = account_core::jwt::verify(&app.config.keys, token, now)?;
            let who = Identity {
                user_id: claims.user_id,
                session_id: claims.session_id,
                secret: None,
            };
            match load {
                Some(load) => authenticate(app, &who, load, path_session, now).await?,
                None => None,
            }
        }
        (None, None) => None,
    };
    Ok(user.map_or(Caller::Guest, |a| Caller::User(Box::new(a))))
}

/// Stage "admit" (step 8): the route's rate limit, counted once. Keys are exempt (they still get
/// the headers).
pub(super) struct Limiter<'a> {
    pub(super) app: &'a App,
    pub(super) req: &'a ApiRequest,
    pub(super) route: &'static Route,
    pub(super) params: Option<Params>,
    pub(super) ip: String,
    pub(super) exempt: bool,
    pub(super) now: Millis,
}

impl<'a> Limiter<'a> {
    /// Whether a key names the verified user, so the counter must wait for "identify".
    pub(super) fn needs_user(&self) -> bool {
        self.route.rate_limit.is_some_and(|rl| {
            rl.keys
                .iter()
                .chain(rl.guards.iter().map(|(k, _)| k))
                .any(|k| k.contains("{userId}"))
        })
    }

    pub(super) fn admission(&self, uid: String) -> Admission<'a> {
        let Limiter {
            app,
            req,
            route,
            exempt,
            now,
            ..
        } = *self;
        let (ip, params) = (self.ip.clone(), self.params.clone());
        futures_util::FutureExt::shared(Box::pin(async move {
            let Some(rl) = route.rate_limit else {
                return Ok(None);
            };
            if exempt {
                let (_, reset) = ratelimit::window(now, rl.period_secs);
                return Ok(Some(Verdict {
                    limit: rl.limit,
                    remaining: rl.limit,
                    reset,
                    allowed: true,
                    counters: vec![],
                }));
            }
            let vars = |name: &str| -> Option<String> {
                match name {
                    // The route template only: the Host header is the client's to choose, and one
                    // deployment serves one API host anyway.
                    "url" => Some(route.paths[0].to_owned()),
                    // An IPv6 client counts per /64, as in the message budgets.
                    "ip" => Some(account_core::budget::client_key(&ip)),
                    "userId" => Some(uid.clone()),
                    "projectId" => Some(app.config.project_id.clone()),
                    "method" => Some(route.method.to_owned()),
                    "userAgent" => req.header("user-agent").map(str::to_owned),
                    n => n.strip_prefix("param-").and_then(|p| {
                        let v = params.as_ref()?.get(p)?;
                        let raw = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        Some(ratelimit::normalise_param(p, &raw))
                    }),
                }
            };
            let keys = rl
                .keys
                .iter()
                .map(|k| ratelimit::fill_key(k, &vars))
                .collect();
            let guards = rl
                .guards
                .iter()
                .map(|(k, _)| ratelimit::fill_key(k, &vars))
                .collect();
            let mut verdict = ratelimit::check(app.store.as_ref(), &rl, keys, guards, now).await?;
            // `RATE_LIMITS=disabled` (development) still counts and sends the headers, as
            // Appwrite's abuse option does; it just never refuses.
            verdict.allowed |= !app.config.rate_limits_enabled;
            Ok(Some(verdict))
        })
            as futures_util::future::BoxFuture<'a, Result<Option<Verdict>>>)
    }
}

/// Who is calling from where. `X-Forwarded-User-Agent` is honoured only for servers (API keys).
pub(super) fn client_of(req: &ApiRequest, caller: &Caller, ip: String) -> Client {
    let ua_header = match caller {
        Caller::Key(_) => req
            .header("x-forwarded-user-agent")
            .or(req.header("user-agent")),
        _ => req.header("user-agent"),
    };
    let user_agent = ua_header.unwrap_or_default().to_owned();
    Client {
        ip,
        device: device::parse(&user_agent),
        user_agent,
        server: matches!(caller, Caller::Key(_)),
    }
}

/// Stage "authorize" (steps 2–7 and 11): scopes, blocked and reset-required users, the second
/// factor and the recent challenge. Pure: it reads only what "identify" loaded.
pub(super) fn authorize(route: &Route, caller: &Caller, now: Millis) -> Result<()> {
    let scope = route.access.scope();
    match (caller, route.access) {
        (Caller::Key(k), _) if !k.has_scope(scope) => {
            return Err(scope_error("applications", scope))
        }
        (Caller::Guest, Access::User(_)) => return Err(scope_error("guests", "account")),
        (Caller::User(a), _) if !a.user.status => return Err(Error::new(ErrorType::UserBlocked)),
        (Caller::User(a), Access::User(_)) if a.user.reset => {
            return Err(Error::new(ErrorType::UserPasswordResetRequired))
        }
        _ => {}
    }
    // MFA. A JWT carries the session it was issued for and obeys that session's factors (else a
    // JWT minted before the second factor would skip it); it can never show a recent challenge.
    if let (Caller::User(a), Access::User(_)) = (caller, route.access) {
        if !route.id.mfa_exempt() && account_core::mfa::second_factor_required(&a.user, &a.session)
        {
            return Err(Error::new(ErrorType::UserMoreFactorsRequired));
        }
        let recent = !a.jwt
            && a.session
                .mfa_updated_at
                .is_some_and(|t| now - t <= account_core::mfa::RECENT_MS);
        if route.id.needs_recent_challenge() && !recent {
            return Err(Error::new(ErrorType::UserChallengeRequired));
        }
    }
    Ok(())
}

/// Stage "auth-method toggle" (step 9): the refusal for a disabled method; servers are exempt.
pub(super) fn method_disabled(config: &Config, route: &Route, caller: &Caller) -> Option<Error> {
    let method = route.id.auth_method()?;
    (!matches!(caller, Caller::Key(_)) && config.auth_methods_disabled.contains(&method)).then(
        || {
            Error::with_message(
                ErrorType::UserAuthMethodUnsupported,
                method.disabled_message(),
            )
        },
    )
}

#[cfg(test)]
mod stage_tests {
    //! The order of checks, stage by stage, without a store, a server or HTTP: each stage reads
    //! only what the request and "identify" gave it.
    use super::*;
    use crate::routes::{find, RouteId};

    const NOW: Millis = 1_800_000_000_000;

    fn route(method: &str, path: &str) -> &'static Route {
        find(method, path).expect("route").0
    }

    fn request(headers: &[(&str, &str)]) -> ApiRequest {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        ApiRequest {
            method: http::Method::GET,
            path: "/v1/account".into(),
            query: String::new(),
            headers: h,
            body: bytes::Bytes::new(),
            source_ip: "127.0.0.1".into(),
            secure: false,
            gateway_domain: None,
        }
    }

    /// A user with a session carrying `factors`; `mfa` on with a verified TOTP if `mfa`.
    fn user(factors: &[&str], mfa: bool, mfa_updated_at: Option<Millis>) -> Caller {
        let mut user = UserItem::new("u1", NOW - 1000);
        if mfa {
            user.mfa = true;
            user.totp = Some(account_core::item::TotpItem {
                secret_sealed: String::new(),
                verified: true,
                created: NOW - 1000,
                last_step: 0,
            });
        }
        let session = SessionItem {
            pk: account_core::item::user_pk("u1"),
            sk: account_core::item::session_sk("s1"),
            id: "s1".into(),
            uid: "u1".into(),
            created: NOW - 1000,
            updated: NOW - 1000,
            expire: NOW + 1000,
            expires_at: 0,
            secret_hash: String::new(),
            provider: "email".into(),
            provider_uid: String::new(),
            provider_access_token: String::new(),
            provider_refresh_token: String::new(),
            provider_access_token_expiry: None,
            ip: String::new(),
            device: Default::default(),
            country_code: String::new(),
            country_name: String::new(),
            factors: factors.iter().map(|f| (*f).to_owned()).collect(),
            mfa_updated_at,
        };
        Caller::User(Box::new(Auth {
            user,
            sessions: vec![session.clone()],
            session,
            jwt: false,
        }))
    }

    fn key(scopes: &[&str]) -> Caller {
        Caller::Key(account_core::keys::KeyItem {
            pk: String::new(),
            sk: String::new(),
            id: "k1".into(),
            name: "k".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            secret_hash: String::new(),
            created: 0,
            expire: None,
        })
    }

    fn kind(r: Result<()>) -> Option<&'static str> {
        r.err().map(|e| e.kind.as_str())
    }

    #[test]
    fn authorize_in_contract_order() {
        let get_account = route("GET", "/v1/account");
        let challenge = route("PUT", "/v1/account/mfa/challenges");
        let codes = route("GET", "/v1/account/mfa/recovery-codes");
        let login = route("POST", "/v1/account/sessions/email");
        let mut blocked = user(&["password"], false, None);
        if let Caller::User(a) = &mut blocked {
            a.user.status = false;
            a.user.reset = true;
        }
        let mut reset = user(&["password"], false, None);
        if let Caller::User(a) = &mut reset {
            a.user.reset = true;
        }
        let cases: Vec<(&Route, Caller, Option<&str>)> = vec![
            (
                get_account,
                Caller::Guest,
                Some("general_unauthorized_scope"),
            ),
            (
                get_account,
                key(&["sessions.write"]),
                Some("general_unauthorized_scope"),
            ),
            (login, key(&["sessions.write"]), None),
            (
                login,
                key(&["users.read"]),
                Some("general_unauthorized_scope"),
            ),
            (login, Caller::Guest, None),
            // Blocked wins over reset-required (step 5 before 6), on any route.
            (get_account, blocked.clone(), Some("user_blocked")),
            (login, blocked, Some("user_blocked")),
            (get_account, reset, Some("user_password_reset_required")),
            (get_account, user(&["password"], false, None), None),
            // Step 7: MFA on, one factor: refused except on the MFA routes.
            (
                get_account,
                user(&["password"], true, None),
                Some("user_more_factors_required"),
            ),
            (challenge, user(&["password"], true, None), None),
            (get_account, user(&["password", "totp"], true, None), None),
            // Step 11: a recent challenge (30 minutes).
            (
                codes,
                user(&["password", "totp"], true, None),
                Some("user_challenge_required"),
            ),
            (
                codes,
                user(&["password", "totp"], true, Some(NOW - 1_801_000)),
                Some("user_challenge_required"),
            ),
            (
                codes,
                user(&["password", "totp"], true, Some(NOW - 60_000)),
                None,
            ),
        ];
        for (i, (r, caller, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                kind(authorize(r, &caller, NOW)),
                want,
                "case {i}: {:?}",
                r.id
            );
        }
    }

    #[test]
    fn a_jwt_owes_its_sessions_factors_and_never_shows_a_recent_challenge() {
        let mut jwt = user(&["password"], true, Some(NOW));
        if let Caller::User(a) = &mut jwt {
            a.jwt = true;
        }
        assert_eq!(
            kind(authorize(route("GET", "/v1/account"), &jwt, NOW)),
            Some("user_more_factors_required")
        );
        let mut jwt = user(&["password", "totp"], true, Some(NOW));
        if let Caller::User(a) = &mut jwt {
            a.jwt = true;
        }
        assert_eq!(
            kind(authorize(route("GET", "/v1/account"), &jwt, NOW)),
            None
        );
        assert_eq!(
            kind(authorize(
                route("GET", "/v1/account/mfa/recovery-codes"),
                &jwt,
                NOW
            )),
            Some("user_challenge_required")
        );
    }

    #[test]
    fn origin_then_project() {
        let config = Config {
            redirect_schemes: vec!["exp".into()],
            ..Config::default()
        };
        let get_account = route("GET", "/v1/account");
        let callback = find("GET", "/v1/account/sessions/oauth2/callback/github/local").unwrap();
        let cases = [
            (
                vec![("origin", "http://localhost:3000")],
                Ok(()),
                Some("project_not_found"),
            ),
            (
                vec![("origin", "https://evil.example")],
                Err("general_unknown_origin"),
                None,
            ),
            (
                vec![("origin", "exp://x")],
                Ok(()),
                Some("project_not_found"),
            ),
            (
                vec![("origin", "exp://x"), ("x-appwrite-project", "local")],
                Ok(()),
                None,
            ),
            (vec![("x-appwrite-project", "local")], Ok(()), None),
            (
                vec![("x-appwrite-project", "other")],
                Ok(()),
                Some("project_not_found"),
            ),
        ];
        for (i, (headers, origin, project)) in cases.into_iter().enumerate() {
            let req = request(&headers);
            let got = check_origin(&config, &req, get_account).map_err(|e| e.kind.as_str());
            assert_eq!(got, origin, "case {i}");
            if origin.is_ok() {
                let p = kind(check_project(&config, &req, get_account, &vec![]));
                assert_eq!(p, project, "case {i}");
            }
        }
        // The OAuth2 callback takes its project from the path and any origin (providers post).
        let req = request(&[("origin", "https://appleid.apple.com")]);
        assert!(check_origin(&config, &req, callback.0).is_ok());
        assert!(check_project(&config, &req, callback.0, &callback.1).is_ok());
        // The API's own origin (its pages exchange a magic link there) is allowed even when
        // the platforms list only the app; a look-alike of it is not.
        let own = Config {
            public_url: Some("https://api.example.test".into()),
            ..config.clone()
        };
        let redeem = route("POST", "/v1/account/sessions/token");
        for (origin, ok) in [
            ("https://api.example.test", true),
            ("https://api.example.test.evil.example", false),
            ("http://api.example.test", false),
        ] {
            let req = request(&[("origin", origin)]);
            assert_eq!(check_origin(&own, &req, redeem).is_ok(), ok, "{origin}");
        }
    }

    #[test]
    fn disabled_methods_refuse_everyone_but_servers() {
        let config = Config {
            auth_methods_disabled: vec![account_core::config::AuthMethod::Anonymous],
            ..Config::default()
        };
        let anon = route("POST", "/v1/account/sessions/anonymous");
        assert_eq!(anon.id, RouteId::CreateAnonymousSession);
        let refusal = method_disabled(&config, anon, &Caller::Guest).map(|e| e.message);
        assert_eq!(
            refusal.as_deref(),
            Some("Anonymous authentication is disabled for this project")
        );
        assert!(method_disabled(&config, anon, &key(&["sessions.write"])).is_none());
        let login = route("POST", "/v1/account/sessions/email");
        assert!(method_disabled(&config, login, &Caller::Guest).is_none());
    }
}
