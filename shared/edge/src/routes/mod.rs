//! The one route table. It drives the Lambda routers, the local server and the HttpApi routes of
//! `template.yaml` (a test in `tests/` fails if the template disagrees).

use account_core::config::AuthMethod;

/// Lambda functions, grouped by cohesion and IAM needs (see README "Functions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// Profile reads and writes, sign-up; also the catch-all (CORS preflight, unknown routes).
    Account,
    /// Session creation (password, anonymous, token exchange), listing, extension and deletion.
    Sessions,
    /// Passwordless login tokens: email OTP, magic URL, phone OTP (SES + SNS).
    Tokens,
    /// Email and phone verification (SES + SNS).
    Verification,
    /// Password recovery (SES).
    Recovery,
    /// Multi-factor authentication: authenticators, challenges, recovery codes (SES + SNS).
    Mfa,
    /// OAuth2 sign-in and linking.
    Oauth2,
    /// Passkeys (WebAuthn): registration, listing, renaming, deletion and sign-in tokens.
    Passkeys,
}

impl Function {
    pub const ALL: &'static [Function] = &[
        Function::Account,
        Function::Sessions,
        Function::Tokens,
        Function::Verification,
        Function::Recovery,
        Function::Mfa,
        Function::Oauth2,
        Function::Passkeys,
    ];

    /// Crate binary name (`functions/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Sessions => "sessions",
            Self::Tokens => "tokens",
            Self::Verification => "verification",
            Self::Recovery => "recovery",
            Self::Mfa => "mfa",
            Self::Oauth2 => "oauth2",
            Self::Passkeys => "passkeys",
        }
    }

    /// Whether the function renders sessions or security logs (their `countryCode`): it reads
    /// the GeoIP database at Init.
    pub fn shows_countries(self) -> bool {
        matches!(self, Self::Account | Self::Sessions | Self::Mfa)
    }

    /// Whether the function sends email or SMS, so reads the operator's templates at Init:
    /// codes, links and MFA challenges always; `sessions` and `oauth2` send only the new-session
    /// alert, so only with `SESSION_ALERTS` on; `account` never.
    pub fn sends_messages(self, session_alerts: bool) -> bool {
        match self {
            Self::Account | Self::Passkeys => false,
            Self::Sessions | Self::Oauth2 => session_alerts,
            _ => true,
        }
    }

    /// Logical ID of the function in `template.yaml`.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Account => "AccountFunction",
            Self::Sessions => "SessionsFunction",
            Self::Tokens => "TokensFunction",
            Self::Verification => "VerificationFunction",
            Self::Recovery => "RecoveryFunction",
            Self::Mfa => "MfaFunction",
            Self::Oauth2 => "Oauth2Function",
            Self::Passkeys => "PasskeysFunction",
        }
    }
}

/// What is loaded to authenticate a user route (one DynamoDB round trip in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `BatchGetItem` profile + current session.
    Session,
    /// `Query` profile + every session of the user.
    AllSessions,
    /// `BatchGetItem` profile + current session + the `{sessionId}` path session.
    PathSession,
}

/// Who may call a route (contract §4.0 "Auth").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An authenticated user (scope `account`).
    User(Load),
    /// Guests allowed (scope `sessions.write`).
    Guest,
    /// Guests only: an authenticated caller gets 401 `user_session_already_exists`.
    GuestOnly,
    /// Anyone but API keys (scope `public`): guests and users alike.
    Public,
    /// A static page (`pages.rs`) outside the API: no project, no caller, no counter.
    Page,
}

impl Access {
    /// The scope a caller needs (API keys hold scopes; they never hold `account` or `public`).
    pub fn scope(self) -> &'static str {
        match self {
            Access::User(_) => "account",
            Access::Guest | Access::GuestOnly => "sessions.write",
            Access::Public | Access::Page => "public",
        }
    }
}

/// When the rate-limit counter is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Before the handler runs (in parallel with the authentication read, if any).
    Before,
    /// In parallel with the handler's first read: the handler passes `Call::gate` (`Gate::pass`) after that read
    /// and before any write or message. For routes whose first operation is a read.
    InHandler,
}

/// Fixed-window limit; `keys` are Appwrite abuse-key templates, every one is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub period_secs: u32,
    pub keys: &'static [&'static str],
    /// Clear the counters when the route answers 201 (successful logins).
    pub reset_on_success: bool,
    /// Guard keys beyond Appwrite's, each with its own limit: never reset on success (a success
    /// of the attacker's own must not refill them) and shown in the headers only when they refuse.
    pub guards: &'static [(&'static str, u32)],
}

const URL_IP: &[&str] = &["url:{url},ip:{ip}"];

/// Redeeming a 256-bit secret (recovery, email verification): per client address and user,
/// never per user alone (Appwrite's key), so nobody can spend the owner's budget. Guessing such a
/// secret is hopeless; the limit only bounds load.
const REDEEM_256_BIT: &[&str] = &["url:{url},ip:{ip},userId:{param-userId}"];

/// Logins per client address per hour, whatever the email (see `guards`).
pub const LOGIN_PER_IP: u32 = 50;
/// MFA challenge verifications per user per hour, across all their challenges.
pub const CHALLENGE_VERIFY_PER_USER: u32 = 20;
/// Profile writes per user, per route and hour: each writes a security-log entry.
pub const PROFILE_WRITES_PER_USER: u32 = 60;

/// `POST /account/sessions/token` and its deprecated PUT aliases: Appwrite's IP+user key. The
/// per-user bound that many addresses cannot multiply is the short-code guard in `token.rs`
/// (atomic, codes only): a route-level user key would let anyone block a user's magic links.
const fn redeeming(reset_on_success: bool) -> Option<RateLimit> {
    Some(RateLimit {
        limit: 10,
        period_secs: 3600,
        keys: &["ip:{ip},userId:{param-userId}"],
        reset_on_success,
        guards: &[],
    })
}

const fn limit(limit: u32, keys: &'static [&'static str]) -> Option<RateLimit> {
    Some(RateLimit {
        limit,
        period_secs: 3600,
        keys,
        reset_on_success: false,
        guards: &[],
    })
}

/// Declares the routes of each function: one enum per function (so a function crate's dispatch
/// is an exhaustive `match`, and a route without a handler is a compile error), the `RouteId`
/// that wraps them, and a constant per route so `RouteId::GetAccount` reads as before.
macro_rules! route_ids {
    ($($function:ident => $enum:ident {
        user $user:ident: [$($u:ident),* $(,)?],
        open $open:ident: [$($o:ident),* $(,)?] $(,)?
    })*) => {
        $(
            #[doc = concat!("The routes served by the `", stringify!($function), "` function.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $enum { $($u,)* $($o,)* }

            #[doc = concat!("The `", stringify!($function), "` routes that need a signed-in user ",
                "(`Access::User`): their handlers get a `UserCall`.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $user { $($u),* }

            #[doc = concat!("The `", stringify!($function), "` routes open to guests or anyone: ",
                "their handlers get a `Call`.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $open { $($o),* }

            impl $enum {
                /// Which kind of caller the route's handler gets.
                pub fn split(self) -> Split<$user, $open> {
                    match self {
                        $($enum::$u => Split::User($user::$u),)*
                        $($enum::$o => Split::Open($open::$o),)*
                    }
                }
            }
        )*

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RouteId { $($function($enum)),* }

        #[allow(non_upper_case_globals)]
        impl RouteId {
            $($(pub const $u: RouteId = RouteId::$function($enum::$u);)*)*
            $($(pub const $o: RouteId = RouteId::$function($enum::$o);)*)*

            /// The Lambda function that serves this route.
            pub fn function(self) -> Function {
                match self { $(RouteId::$function(_) => Function::$function),* }
            }

            /// Whether the route is declared among its function's user routes.
            pub fn needs_user(self) -> bool {
                match self { $(RouteId::$function(r) => matches!(r.split(), Split::User(_))),* }
            }
        }
    };
}

/// A route of one function, as its handler sees it: a user route or an open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split<U, O> {
    User(U),
    Open(O),
}

route_ids! {
    Account => AccountRoute {
        user AccountUserRoute: [
            GetAccount, UpdateEmail, UpdateName, UpdatePassword, UpdatePhone, GetPrefs,
            UpdatePrefs, UpdateStatus, ListLogs, ListIdentities, DeleteIdentity,
        ],
        open AccountOpenRoute: [
            CreateAccount, MagicUrlPage, OAuth2SuccessPage, OAuth2FailurePage,
        ],
    }
    Sessions => SessionsRoute {
        user SessionsUserRoute: [
            ListSessions, DeleteSessions, GetSession, UpdateSession, DeleteSession, CreateJwt,
        ],
        open SessionsOpenRoute: [
            CreateAnonymousSession, CreateEmailPasswordSession, CreateSession,
            UpdateMagicUrlSession, UpdatePhoneSession,
        ],
    }
    Tokens => TokensRoute {
        user TokensUserRoute: [],
        open TokensOpenRoute: [CreateEmailToken, CreateMagicUrlToken, CreatePhoneToken],
    }
    Verification => VerificationRoute {
        user VerificationUserRoute: [CreateEmailVerification, CreatePhoneVerification],
        open VerificationOpenRoute: [UpdateEmailVerification, UpdatePhoneVerification],
    }
    Recovery => RecoveryRoute {
        user RecoveryUserRoute: [],
        open RecoveryOpenRoute: [CreateRecovery, UpdateRecovery],
    }
    Mfa => MfaRoute {
        user MfaUserRoute: [
            UpdateMfa, CreateMfaAuthenticator, UpdateMfaAuthenticator, DeleteMfaAuthenticator,
            CreateMfaChallenge, UpdateMfaChallenge, ListMfaFactors, GetMfaRecoveryCodes,
            CreateMfaRecoveryCodes, UpdateMfaRecoveryCodes,
        ],
        open MfaOpenRoute: [],
    }
    Oauth2 => Oauth2Route {
        user Oauth2UserRoute: [],
        open Oauth2OpenRoute: [
            CreateOAuth2Session, CreateOAuth2Token, OAuth2Callback, OAuth2CallbackPost,
            OAuth2Redirect,
        ],
    }
    Passkeys => PasskeysRoute {
        user PasskeysUserRoute: [
            CreatePasskeyRegistration, UpdatePasskeyRegistration, ListPasskeys, GetPasskey,
            UpdatePasskey, DeletePasskey,
        ],
        open PasskeysOpenRoute: [CreatePasskeyToken, UpdatePasskeyToken],
    }
}

impl RouteId {
    /// Reachable by a session that still owes its second factor (contract §1.9 step 7).
    pub fn mfa_exempt(self) -> bool {
        matches!(
            self,
            Self::CreateMfaChallenge
                | Self::UpdateMfaChallenge
                | Self::ListMfaFactors
                | Self::DeleteSession
        )
    }

    /// The project auth method this route belongs to (`AUTH_METHODS_DISABLED` turns it off) and
    /// Appwrite's message when it is off.
    pub fn auth_method(self) -> Option<AuthMethod> {
        match self {
            Self::CreateAccount | Self::CreateEmailPasswordSession => {
                Some(AuthMethod::EmailPassword)
            }
            Self::CreateMagicUrlToken => Some(AuthMethod::MagicUrl),
            Self::CreateEmailToken => Some(AuthMethod::EmailOtp),
            Self::CreateAnonymousSession => Some(AuthMethod::Anonymous),
            Self::CreatePhoneToken | Self::CreatePhoneVerification => Some(AuthMethod::Phone),
            Self::CreateJwt => Some(AuthMethod::Jwt),
            Self::CreatePasskeyRegistration
            | Self::UpdatePasskeyRegistration
            | Self::CreatePasskeyToken
            | Self::UpdatePasskeyToken => Some(AuthMethod::Passkey),
            _ => None,
        }
    }

    /// Outside Appwrite's `api` group: the project comes from the path, not a header.
    pub fn project_in_path(self) -> bool {
        matches!(self, Self::OAuth2Callback | Self::OAuth2CallbackPost)
    }

    /// Needs an MFA challenge passed in the last 30 minutes (`mfaProtected`).
    pub fn needs_recent_challenge(self) -> bool {
        matches!(
            self,
            Self::GetMfaRecoveryCodes | Self::UpdateMfaRecoveryCodes | Self::DeleteMfaAuthenticator
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    /// Canonical path first, then aliases. `{name}` segments are path parameters.
    pub paths: &'static [&'static str],
    pub access: Access,
    pub admit: Admit,
    pub rate_limit: Option<RateLimit>,
}

mod table;
pub use table::ROUTES;

/// The `Events:` block of one function in `template.yaml`, generated from this table (API Gateway
/// routes each method and path to the function that serves it). The account function also takes
/// the catch-all: CORS preflight and unknown routes. `admin routes sam-events` prints every block
/// and `scripts/sync-template.py` writes them into the template.
pub fn sam_events(f: Function) -> String {
    let event = |name: &str, method: &str, path: &str| {
        format!(
            "        {name}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref Api\n            Method: {method}\n            Path: {path}\n"
        )
    };
    let mut s = String::from("      Events:\n");
    for r in ROUTES.iter().filter(|r| r.id.function() == f) {
        for (i, p) in r.paths.iter().enumerate() {
            let base = event_name(r.id);
            let name = if i == 0 {
                base
            } else {
                format!("{base}Alias{i}")
            };
            s.push_str(&event(&name, r.method, p));
        }
    }
    if f == Function::Account {
        s.push_str(&event("CatchAll", "ANY", "/{proxy+}"));
    }
    s
}

/// The event name of a route: its variant name.
fn event_name(id: RouteId) -> String {
    let debug = format!("{id:?}");
    // `Account(GetAccount)` → `GetAccount`
    debug.split_once('(').map_or(debug.clone(), |(_, rest)| {
        rest.trim_end_matches(')').to_owned()
    })
}

/// Path parameters captured by a match, e.g. `("sessionId", "current")`.
pub type PathParams = Vec<(&'static str, String)>;

fn match_path(template: &'static str, path: &str) -> Option<PathParams> {
    let mut params = vec![];
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.push((name, crate::http::percent_decode(ps)));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Find the route for `method` and `path` (a trailing `/` is ignored). Literal segments win over
/// parameters, so `/sessions/email` is never taken for `/sessions/{sessionId}`.
pub fn find(method: &str, path: &str) -> Option<(&'static Route, PathParams)> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut best: Option<(&'static Route, PathParams)> = None;
    for r in ROUTES
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method))
    {
        for t in r.paths {
            if let Some(params) = match_path(t, path) {
                if best.as_ref().is_none_or(|(_, bp)| params.len() < bp.len()) {
                    best = Some((r, params));
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_functions_that_send_read_the_templates_at_init() {
        use Function::*;
        for f in [Tokens, Verification, Recovery, Mfa] {
            assert!(f.sends_messages(false), "{f:?}");
        }
        for f in [Sessions, Oauth2] {
            assert!(f.sends_messages(true) && !f.sends_messages(false), "{f:?}");
        }
        assert!(!Account.sends_messages(true));
    }

    #[test]
    fn literal_beats_parameter() {
        let (r, p) = find("POST", "/v1/account/sessions/anonymous").unwrap();
        assert_eq!(r.id, RouteId::CreateAnonymousSession);
        assert!(p.is_empty());
        let (r, p) = find("GET", "/v1/account/sessions/current").unwrap();
        assert_eq!(r.id, RouteId::GetSession);
        assert_eq!(p, vec![("sessionId", "current".to_string())]);
    }

    #[test]
    fn aliases_and_unknowns() {
        assert_eq!(
            find("POST", "/v1/account/sessions").unwrap().0.id,
            RouteId::CreateEmailPasswordSession
        );
        assert_eq!(
            find("GET", "/v1/account/").unwrap().0.id,
            RouteId::GetAccount
        );
        assert!(find("PUT", "/v1/account").is_none());
        assert!(find("GET", "/v1/nope").is_none());
        assert!(find("GET", "/account").is_none());
    }

    /// A handler gets a `UserCall` exactly when the pipeline guarantees a user: the route ids'
    /// user groups and the table's `Access::User` agree.
    #[test]
    fn user_routes_are_the_user_access_routes() {
        for r in ROUTES {
            assert_eq!(
                r.id.needs_user(),
                matches!(r.access, Access::User(_)),
                "{:?}",
                r.id
            );
        }
    }

    #[test]
    fn every_route_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            for p in r.paths {
                assert!(seen.insert((r.method, *p)), "duplicate {} {}", r.method, p);
            }
        }
    }
}
