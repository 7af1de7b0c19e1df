//! Configuration from environment variables, read once at start-up (Lambda Init or the local
//! server's start). The SAM template sets the same variables; README lists them with defaults.

use crate::error::{Error, ErrorType};
use crate::keyring::Keyring;

#[derive(Debug, Clone)]
pub struct Config {
    /// `PROJECT_ID` (default `local`): the only project this deployment serves.
    pub project_id: String,
    /// `PROJECT_NAME` (default `Appwrite`): used in emails and TOTP issuers.
    pub project_name: String,
    /// `DEFAULT_LOCALE` (default `en`): the language of messages to a request that names none
    /// this deployment ships (`templates::LOCALES`); stored as the shipped code it resolves to.
    pub default_locale: &'static str,
    /// `TABLE_NAME` (default `appwrite-account`): the single DynamoDB table.
    pub table_name: String,
    /// `PLATFORM_HOSTS` (default `localhost`): comma-separated hostnames allowed as CORS origins and
    /// redirect targets; `*.example.com` wildcards allowed.
    pub platform_hosts: Vec<String>,
    /// `REDIRECT_SCHEMES` (default none): custom redirect schemes allowed besides https, any of
    /// `exp` (Expo) and `appwrite-callback` (`appwrite-callback-<project>://`, native apps).
    pub redirect_schemes: Vec<String>,
    /// `REDIRECT_ALLOW_HTTP` (default false): allow plain-http redirect URLs to non-loopback
    /// platform hosts (loopback hosts may always use http).
    pub redirect_allow_http: bool,
    /// `PUBLIC_URL` (default unset): the API's public origin, e.g. `https://api.example.com`; the
    /// default magic-URL link points there (never at the client's `Host` header).
    pub public_url: Option<String>,
    /// `SESSION_DURATION` seconds (default 31536000 = 1 year; 60..=31536000).
    pub session_duration_secs: i64,
    /// `SESSION_LIMIT` (default 10; 0 = unlimited): oldest sessions beyond it are evicted.
    pub max_sessions: usize,
    /// `INVALIDATE_SESSIONS` (default true): a password change deletes the user's other sessions.
    pub invalidate_sessions: bool,
    /// `RATE_LIMITS` (`enabled` default; `disabled` for development, as Appwrite's abuse option:
    /// counters and headers stay, nothing is refused).
    pub rate_limits_enabled: bool,
    /// `TRUSTED_IP_HEADER` (default unset): a proxy header (e.g. `x-forwarded-for`) trusted for the
    /// client IP. Unset means the address API Gateway (or the local socket) saw.
    pub trusted_ip_header: Option<String>,
    /// `TRUSTED_PROXY_HOPS` (default 1, 1–5): how many proxies append to `TRUSTED_IP_HEADER`;
    /// the client is that many entries from the right.
    pub trusted_proxy_hops: usize,
    /// `MAIL_FROM` (default unset = email disabled, 503): SES sender, `Name <address>` or `address`.
    pub mail_from: Option<String>,
    /// `SMS_ENABLED` (default true): SMS through SNS; false answers 503 `general_phone_disabled`.
    pub sms_enabled: bool,
    /// `MOCK_NUMBERS` (default none): `+15555550100:123456,...` numbers that get a fixed OTP and no SMS.
    pub mock_numbers: Vec<(String, String)>,
    /// The key ring (`crate::keyring`): in Lambda from the SSM SecureString `SECRET_KEY_PARAM`
    /// names (read at Init by `App::from_env`), never from the environment; locally
    /// `SECRET_KEY`, or a development key with a warning.
    pub keys: Keyring,
    /// Password rules (`PASSWORD_*`), see [`crate::password::Policy`].
    pub password_policy: crate::password::Policy,
    /// Failed-login lockout (`LOCKOUT_*`), see [`crate::password::Lockout`].
    pub lockout: crate::password::Lockout,
    /// `AUTH_METHODS_DISABLED` (default none): any of `email-password`, `magic-url`, `email-otp`,
    /// `anonymous`, `phone`, `jwt`; their routes answer 501 `user_auth_method_unsupported`.
    pub auth_methods_disabled: Vec<AuthMethod>,
    /// `USER_LIMIT` (default 0 = unlimited, max 10000): sign-ups beyond it get 400
    /// `user_count_exceeded`.
    pub user_limit: u32,
    /// `SESSION_ALERTS` (default false): email the user when a new session is created.
    pub session_alerts: bool,
    /// `LOG_RETENTION_DAYS` (default 90): security-log items expire after this.
    pub log_retention_days: i64,
    /// `DYNAMODB_ATTEMPT_TIMEOUT_MS` (1000) and `DYNAMODB_OPERATION_TIMEOUT_MS` (3000): see
    /// `store::Timeouts`.
    pub dynamodb_timeouts: Timeouts,
    /// `MESSAGING_ATTEMPT_TIMEOUT_MS` (2000) and `MESSAGING_OPERATION_TIMEOUT_MS` (4000): SES and
    /// SNS. They answer in tens of milliseconds; past this the token is withdrawn and the client
    /// gets a 503. The serialised emulator is given more in `scripts/dev` and `scripts/test`.
    pub messaging_timeouts: Timeouts,
    /// `OUTBOX_LOG` (default false): log every outgoing email/SMS text (local development only).
    pub outbox_log: bool,
    /// `TEMPLATE_CACHE_SECONDS` (default 60, 0–3600): how old the operator templates a function
    /// holds may get before it reads them again (`custom_templates::TemplateCache`; 0 = read
    /// before every send).
    pub template_cache_secs: u64,
    /// `MAIL_SENDERS` (default none): the addresses an operator template may send from besides
    /// `MAIL_FROM`'s (the IAM condition allows exactly these, `template.yaml`
    /// `MailSenderAddresses`). A template naming another is sent from `MAIL_FROM`.
    pub mail_senders: Vec<String>,
    /// `OAUTH2_PROVIDERS` (default none): the enabled OAuth2 providers, each with its
    /// `OAUTH2_<KEY>_*` settings (see [`OAuth2Provider`]).
    pub oauth2: Vec<OAuth2Provider>,
    /// How many emails and SMS may go out (`MESSAGE_BUDGET_*`, see [`MessageBudget`]); enforced
    /// when `RATE_LIMITS` is enabled.
    pub message_budget: MessageBudget,
    /// `SMS_COUNTRIES` (default none = every country): the calling codes (`1`, `44`, `351`, …)
    /// SMS may be sent to; other numbers get 400 `general_argument_invalid` before any send.
    pub sms_countries: Vec<String>,
    /// Passkeys (WebAuthn): the relying party and the origins its ceremonies may come from.
    pub passkeys: PasskeyConfig,
}

/// Message budgets: nobody can pump mail or SMS through the project. Each message counts
/// against all three of its channel's budgets (email or SMS) before it is sent; 0 = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageBudget {
    /// `MESSAGE_BUDGET_IP_HOUR` (60): per client address (an IPv6 client counts per /64) and
    /// channel, per hour, as Appwrite's per-IP limit on magic URLs.
    pub ip_hour: u32,
    /// `MESSAGE_BUDGET_RECIPIENT_DAY` (20): per recipient address or number, per day.
    pub recipient_day: u32,
    /// `MESSAGE_BUDGET_EMAIL_HOUR` (1000): emails per hour for the whole project.
    pub email_hour: u32,
    /// `MESSAGE_BUDGET_SMS_HOUR` (200): SMS per hour for the whole project (an SMS bill's cap).
    pub sms_hour: u32,
}

impl Default for MessageBudget {
    fn default() -> Self {
        Self {
            ip_hour: 60,
            recipient_day: 20,
            email_hour: 1000,
            sms_hour: 200,
        }
    }
}

/// An enabled OAuth2 provider. `<KEY>` is the provider key upper-cased
/// (`paypalSandbox` → `PAYPALSANDBOX`).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuth2Provider {
    pub provider: &'static crate::providers::Provider,
    /// `OAUTH2_<KEY>_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH2_<KEY>_CLIENT_SECRET`, or the contents of the file `OAUTH2_<KEY>_CLIENT_SECRET_FILE`,
    /// or the SSM parameter [`secret_param`](Self::secret_param) once `App::from_env` has read it
    /// (never logged: `Debug` prints it redacted).
    pub client_secret: String,
    /// `OAUTH2_<KEY>_CLIENT_SECRET_PARAM`, or `OAUTH2_SECRETS_PARAM_PREFIX` + the key: an SSM
    /// SecureString holding the secret, read once during Init.
    pub secret_param: Option<String>,
    /// `OAUTH2_<KEY>_ISSUER`: the OpenID issuer (required for tenant providers and `oidc`;
    /// overrides the built-in one otherwise).
    pub issuer: Option<String>,
    /// `OAUTH2_<KEY>_AUTHORIZE_URL`, `…_TOKEN_URL`, `…_USERINFO_URL`, and `…_<NAME>_URL` for each
    /// of its extra reads (`…_EMAILS_URL`): overrides of a plain OAuth2 provider's endpoints
    /// (GitHub Enterprise, test doubles).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub extra_urls: Vec<(&'static str, String)>,
    /// `OAUTH2_<KEY>_TRUSTED_EMAIL`: whether the provider's "verified" addresses are taken as
    /// verified (linking by address, the account's own email). Default: the provider entry's
    /// [`trusts_email`](crate::providers::Provider::trusts_email), and false whenever the issuer
    /// or an endpoint is overridden (a self-hosted instance's administrator sets addresses).
    pub trusted_email: bool,
}

impl std::fmt::Debug for OAuth2Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Provider")
            .field("provider", &self.provider.key)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("secret_param", &self.secret_param)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The enabled provider `key`, if any.
    pub fn oauth2_provider(&self, key: &str) -> Option<&OAuth2Provider> {
        self.oauth2.iter().find(|p| p.provider.key == key)
    }
}

/// The project's authentication methods that `AUTH_METHODS_DISABLED` can turn off; each route
/// that starts one declares it (`routes::RouteId::auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    EmailPassword,
    MagicUrl,
    EmailOtp,
    Anonymous,
    Phone,
    Jwt,
    /// Passkeys (our extension): registration and sign-in.
    Passkey,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 7] = [
        Self::EmailPassword,
        Self::MagicUrl,
        Self::EmailOtp,
        Self::Anonymous,
        Self::Phone,
        Self::Jwt,
        Self::Passkey,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailPassword => "email-password",
            Self::MagicUrl => "magic-url",
            Self::EmailOtp => "email-otp",
            Self::Anonymous => "anonymous",
            Self::Phone => "phone",
            Self::Jwt => "jwt",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Appwrite's `501 user_auth_method_unsupported` message for it.
    pub fn disabled_message(self) -> &'static str {
        match self {
            Self::EmailPassword => "Email / Password authentication is disabled for this project",
            Self::MagicUrl => "Magic URL authentication is disabled for this project",
            Self::EmailOtp => "Email OTP authentication is disabled for this project",
            Self::Anonymous => "Anonymous authentication is disabled for this project",
            Self::Phone => "Phone authentication is disabled for this project",
            Self::Jwt => "JWT authentication is disabled for this project",
            Self::Passkey => "Passkey authentication is disabled for this project",
        }
    }
}

/// How long DynamoDB may take (README "Timeouts"). In production single-item calls answer in
/// milliseconds, so an attempt that has not answered in 1 s is stalled and is retried, and the
/// whole operation, retries included, gets 3 s: a request fails fast and still renders Appwrite's
/// envelope inside its Lambda's 12 s. Every write is safe to retry (`store::dynamo`). Locally the
/// emulators share two cores with the builds and tests, so they are given far more
/// (`DYNAMODB_*_TIMEOUT_MS` in `scripts/dev`, `scripts/test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub attempt: std::time::Duration,
    pub operation: std::time::Duration,
}

impl Timeouts {
    /// `DYNAMODB_*_TIMEOUT_MS` from the environment (the operator CLI, which has no `Config`).
    pub fn from_env() -> Result<Self, Error> {
        timeouts(
            &Env(&|k| std::env::var(k).ok()),
            "DYNAMODB",
            Self::default(),
        )
    }

    /// SES and SNS by default (`Config::messaging_timeouts`).
    pub const MESSAGING: Self = Self {
        attempt: std::time::Duration::from_millis(2000),
        operation: std::time::Duration::from_millis(4000),
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            attempt: std::time::Duration::from_millis(1000),
            operation: std::time::Duration::from_millis(3000),
        }
    }
}

/// One-time secrets this short or shorter are codes (6 digits, or a mock number's fixed code);
/// longer ones are links of 256 bits and more (see `token.rs`).
pub const MAX_CODE_LEN: usize = 16;

/// Used when `SECRET_KEY` is unset: fine for local development, never for a deployment.
pub const DEV_SECRET_KEY: &str = "insecure-development-key-set-SECRET_KEY";

impl Default for Config {
    fn default() -> Self {
        Self {
            project_id: "local".into(),
            project_name: "Appwrite".into(),
            default_locale: "en",
            table_name: "appwrite-account".into(),
            platform_hosts: vec!["localhost".into()],
            redirect_schemes: vec![],
            redirect_allow_http: false,
            public_url: None,
            session_duration_secs: 31_536_000,
            max_sessions: 10,
            invalidate_sessions: true,
            rate_limits_enabled: true,
            trusted_ip_header: None,
            trusted_proxy_hops: 1,
            mail_from: None,
            sms_enabled: true,
            mock_numbers: vec![],
            keys: Keyring::development(DEV_SECRET_KEY),
            outbox_log: false,
            template_cache_secs: 60,
            mail_senders: vec![],
            dynamodb_timeouts: Timeouts::default(),
            messaging_timeouts: Timeouts::MESSAGING,
            password_policy: crate::password::Policy::default(),
            lockout: crate::password::Lockout::default(),
            log_retention_days: 90,
            auth_methods_disabled: vec![],
            session_alerts: false,
            user_limit: 0,
            oauth2: vec![],
            message_budget: MessageBudget::default(),
            sms_countries: vec![],
            passkeys: PasskeyConfig::default(),
        }
    }
}

impl Config {
    /// Build from any key lookup (tests pass a map). Each policy reads its own variables; every
    /// default comes from [`Config::default`] (or the policy's own `Default`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Self::from_sources(get, None)
    }

    /// As [`Config::from_lookup`], with `resolved_key` the value of the SSM parameter that
    /// `SECRET_KEY_PARAM` names (`app::load_config` reads it at Init).
    pub fn from_sources(
        get: impl Fn(&str) -> Option<String>,
        resolved_key: Option<String>,
    ) -> Result<Self, Error> {
        let env = Env(&get);
        let d = Self::default();
        let hosts = platform_hosts(&env, &d);
        let passkeys = passkeys(&env, &hosts)?;
        Ok(Self {
            project_id: env.text("PROJECT_ID").unwrap_or(d.project_id),
            project_name: env.text("PROJECT_NAME").unwrap_or(d.project_name),
            default_locale: match env.text("DEFAULT_LOCALE") {
                Some(v) => {
                    crate::templates::shipped(&v).ok_or_else(|| bad("DEFAULT_LOCALE", &v))?
                }
                None => d.default_locale,
            },
            table_name: env.text("TABLE_NAME").unwrap_or(d.table_name),
            platform_hosts: hosts,
            redirect_schemes: redirect_schemes(&env)?,
            redirect_allow_http: env.flag("REDIRECT_ALLOW_HTTP", d.redirect_allow_http)?,
            public_url: public_url(&env)?,
            session_duration_secs: env.int(
                "SESSION_DURATION",
                d.session_duration_secs,
                60,
                31_536_000,
            )?,
            max_sessions: env.int("SESSION_LIMIT", d.max_sessions as i64, 0, 100)? as usize,
            invalidate_sessions: env.flag("INVALIDATE_SESSIONS", d.invalidate_sessions)?,
            rate_limits_enabled: env.flag("RATE_LIMITS", d.rate_limits_enabled)?,
            trusted_ip_header: env
                .text("TRUSTED_IP_HEADER")
                .map(|h| h.to_ascii_lowercase()),
            trusted_proxy_hops: env.int("TRUSTED_PROXY_HOPS", d.trusted_proxy_hops as i64, 1, 5)?
                as usize,
            mail_from: env.text("MAIL_FROM"),
            sms_enabled: env.flag("SMS_ENABLED", d.sms_enabled)?,
            mock_numbers: mock_numbers(&env)?,
            keys: secret_keys(&env, resolved_key, d.keys)?,
            outbox_log: env.flag("OUTBOX_LOG", d.outbox_log)?,
            template_cache_secs: env.int(
                "TEMPLATE_CACHE_SECONDS",
                d.template_cache_secs as i64,
                0,
                3600,
            )? as u64,
            mail_senders: env
                .list("MAIL_SENDERS")
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
            dynamodb_timeouts: timeouts(&env, "DYNAMODB", d.dynamodb_timeouts)?,
            messaging_timeouts: timeouts(&env, "MESSAGING", d.messaging_timeouts)?,
            password_policy: password_policy(&env, d.password_policy)?,
            lockout: lockout(&env, d.lockout)?,
            log_retention_days: env.int("LOG_RETENTION_DAYS", d.log_retention_days, 1, 3650)?,
            auth_methods_disabled: env
                .list("AUTH_METHODS_DISABLED")
                .unwrap_or_default()
                .into_iter()
                .map(|m| AuthMethod::parse(&m).ok_or_else(|| bad("AUTH_METHODS_DISABLED", &m)))
                .collect::<Result<_, Error>>()?,
            session_alerts: env.flag("SESSION_ALERTS", d.session_alerts)?,
            user_limit: env.int("USER_LIMIT", i64::from(d.user_limit), 0, 10_000)? as u32,
            oauth2: oauth2_providers(&env)?,
            message_budget: message_budget(&env, d.message_budget)?,
            sms_countries: sms_countries(&env)?,
            passkeys,
        })
    }

    /// The fixed OTP of a mock phone number.
    pub fn mock_otp(&self, phone: &str) -> Option<&str> {
        self.mock_numbers
            .iter()
            .find(|(n, _)| n == phone)
            .map(|(_, otp)| otp.as_str())
    }

    /// Whether `host` (lower-case, no port) is a registered platform hostname. `127.0.0.1` and
    /// `[::1]`/`::1` count as `localhost`; look-alikes do not.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = match host.as_str() {
            "127.0.0.1" | "[::1]" | "::1" => "localhost".to_owned(),
            _ => host,
        };
        self.platform_hosts.iter().any(|p| {
            if let Some(suffix) = p.strip_prefix("*.") {
                host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
            } else {
                *p == host
            }
        })
    }
}

fn bad(k: &str, v: &str) -> Error {
    Error::with_message(
        ErrorType::ServerError,
        format!("invalid configuration {k}={v}"),
    )
}

/// Typed reads of configuration variables; a blank value counts as unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn text(&self, k: &str) -> Option<String> {
        (self.0)(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn int(&self, k: &str, default: i64, min: i64, max: i64) -> Result<i64, Error> {
        match self.text(k) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| bad(k, &v)),
        }
    }

    fn flag(&self, k: &str, default: bool) -> Result<bool, Error> {
        match self.text(k).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on" | "enabled") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off" | "disabled") => Ok(false),
            Some(v) => Err(bad(k, &v)),
        }
    }

    /// A comma-separated list, lower-cased, blanks dropped.
    fn list(&self, k: &str) -> Option<Vec<String>> {
        self.text(k).map(|v| {
            v.split(',')
                .map(|m| m.trim().to_ascii_lowercase())
                .filter(|m| !m.is_empty())
                .collect()
        })
    }
}

fn redirect_schemes(env: &Env<'_>) -> Result<Vec<String>, Error> {
    let list = env.list("REDIRECT_SCHEMES").unwrap_or_default();
    match list
        .iter()
        .find(|m| !matches!(m.as_str(), "exp" | "appwrite-callback"))
    {
        Some(b) => Err(bad("REDIRECT_SCHEMES", b)),
        None => Ok(list),
    }
}

fn platform_hosts(env: &Env<'_>, d: &Config) -> Vec<String> {
    env.list("PLATFORM_HOSTS")
        .unwrap_or_else(|| d.platform_hosts.clone())
}

/// The WebAuthn relying party: `PASSKEY_RP_ID` and `PASSKEY_ORIGINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// `PASSKEY_RP_ID` (default: the first `PLATFORM_HOSTS` entry without a wildcard): the
    /// domain passkeys are bound to.
    pub rp_id: String,
    /// `PASSKEY_ORIGINS` (default `https://<rp id>`): the exact origins (`scheme://host[:port]`,
    /// each on the RP ID or a subdomain of it) a ceremony may come from, and Android apps'
    /// `android:apk-key-hash:<hash>` origins.
    pub origins: Vec<String>,
    /// Local development only: with the RP ID `localhost` and no `PASSKEY_ORIGINS`,
    /// `http://localhost` and `https://localhost` on any port.
    pub any_local_port: bool,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            origins: vec!["http://localhost".into(), "https://localhost".into()],
            any_local_port: true,
        }
    }
}

fn passkeys(env: &Env<'_>, hosts: &[String]) -> Result<PasskeyConfig, Error> {
    let rp_id = match env.text("PASSKEY_RP_ID") {
        Some(v) => {
            let v = v.to_ascii_lowercase();
            let valid = url::Host::parse(&v).is_ok_and(|h| matches!(h, url::Host::Domain(_)))
                && !v.ends_with('.');
            if !valid {
                return Err(bad("PASSKEY_RP_ID", &v));
            }
            v
        }
        None => hosts
            .iter()
            .find(|h| !h.starts_with("*."))
            .cloned()
            .unwrap_or_else(|| "localhost".into()),
    };
    // Not `env.list`: an APK key hash is base64, case matters.
    let list = env.text("PASSKEY_ORIGINS").map(|v| {
        v.split(',')
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect::<Vec<_>>()
    });
    let Some(list) = list else {
        return Ok(match rp_id.as_str() {
            "localhost" => PasskeyConfig::default(),
            _ => PasskeyConfig {
                origins: vec![format!("https://{rp_id}")],
                rp_id,
                any_local_port: false,
            },
        });
    };
    let mut origins = vec![];
    for o in list {
        if let Some(hash) = o.strip_prefix("android:apk-key-hash:") {
            let ok = !hash.is_empty()
                && hash.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/')
                });
            if !ok {
                return Err(bad("PASSKEY_ORIGINS", &o));
            }
            origins.push(o);
            continue;
        }
        let u = url::Url::parse(&o.to_ascii_lowercase()).map_err(|_| bad("PASSKEY_ORIGINS", &o))?;
        let host = u.host_str().unwrap_or_default().to_owned();
        let within = host == rp_id || host.ends_with(&format!(".{rp_id}"));
        let plain = u.path() == "/" && u.query().is_none() && u.fragment().is_none();
        let secure = u.scheme() == "https" || (u.scheme() == "http" && host == "localhost");
        if !within || !plain || !secure {
            return Err(bad("PASSKEY_ORIGINS", &o));
        }
        origins.push(u.origin().ascii_serialization());
    }
    Ok(PasskeyConfig {
        rp_id,
        origins,
        any_local_port: false,
    })
}

fn public_url(env: &Env<'_>) -> Result<Option<String>, Error> {
    let Some(v) = env.text("PUBLIC_URL") else {
        return Ok(None);
    };
    let u = url::Url::parse(&v).map_err(|_| bad("PUBLIC_URL", &v))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(bad("PUBLIC_URL", &v));
    }
    Ok(Some(u.as_str().trim_end_matches('/').to_owned()))
}

/// An endpoint a provider is reached at: https, or plain http on loopback only (local test
/// doubles).
fn endpoint(k: &str, v: &str) -> Result<String, Error> {
    let u = url::Url::parse(v).map_err(|_| bad(k, v))?;
    let loopback = matches!(
        u.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || u.host_str() == Some("localhost");
    if u.scheme() == "https" || (u.scheme() == "http" && loopback) {
        Ok(u.as_str().trim_end_matches('/').to_owned())
    } else {
        Err(bad(k, v))
    }
}

/// `k=v,k=v` (the compact forms SAM can pass: `OAUTH2_CLIENT_IDS`, `OAUTH2_ISSUERS`).
fn pairs(env: &Env<'_>, k: &str) -> Result<Vec<(String, String)>, Error> {
    let Some(v) = env.text(k) else {
        return Ok(vec![]);
    };
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .ok_or_else(|| bad(k, p))
        })
        .collect()
}

/// The SSM parameters holding the configured providers' client secrets, known before the rest
/// of the configuration (which needs the key ring) is parsed: Init reads them and the key ring
/// in one `GetParameters`.
pub fn oauth2_secret_params(get: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, Error> {
    Ok(oauth2_providers(&Env(&get))?
        .into_iter()
        .filter_map(|p| p.secret_param)
        .collect())
}

fn oauth2_providers(env: &Env<'_>) -> Result<Vec<OAuth2Provider>, Error> {
    let Some(keys) = env.text("OAUTH2_PROVIDERS") else {
        return Ok(vec![]);
    };
    let ids = pairs(env, "OAUTH2_CLIENT_IDS")?;
    let issuers = pairs(env, "OAUTH2_ISSUERS")?;
    let prefix = env.text("OAUTH2_SECRETS_PARAM_PREFIX");
    let lookup = |list: &[(String, String)], key: &str| {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut out = vec![];
    for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let provider = crate::providers::find(key).ok_or_else(|| bad("OAUTH2_PROVIDERS", key))?;
        let var = |suffix: &str| format!("OAUTH2_{}_{suffix}", key.to_ascii_uppercase());
        let client_id = env
            .text(&var("CLIENT_ID"))
            .or_else(|| lookup(&ids, key))
            .ok_or_else(|| bad(&var("CLIENT_ID"), ""))?;
        let sources = (
            env.text(&var("CLIENT_SECRET")),
            env.text(&var("CLIENT_SECRET_FILE")),
            env.text(&var("CLIENT_SECRET_PARAM")),
        );
        let (client_secret, secret_param) = match sources {
            (Some(s), None, None) => (s, None),
            (None, Some(path), None) => (
                std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| bad(&var("CLIENT_SECRET_FILE"), &path))?,
                None,
            ),
            (None, None, Some(param)) => (String::new(), Some(param)),
            (None, None, None) => match &prefix {
                Some(p) => (String::new(), Some(format!("{p}{key}"))),
                None => {
                    return Err(bad(
                        &var("CLIENT_SECRET"),
                        "(unset: set it, _FILE, _PARAM or OAUTH2_SECRETS_PARAM_PREFIX)",
                    ))
                }
            },
            _ => {
                return Err(bad(
                    &var("CLIENT_SECRET"),
                    "(more than one of CLIENT_SECRET, _FILE, _PARAM)",
                ))
            }
        };
        if !client_secret.is_empty() {
            check_secret(provider, &client_secret)
                .map_err(|why| bad(&var("CLIENT_SECRET"), &format!("({why})")))?;
        }
        let url = |suffix: &str| -> Result<Option<String>, Error> {
            env.text(&var(suffix))
                .map(|v| endpoint(&var(suffix), &v))
                .transpose()
        };
        let issuer = match url("ISSUER")? {
            Some(i) => Some(i),
            None => lookup(&issuers, key)
                .map(|v| endpoint("OAUTH2_ISSUERS", &v))
                .transpose()?,
        };
        if matches!(
            provider.protocol,
            crate::providers::Protocol::Oidc { issuer: None }
        ) && issuer.is_none()
        {
            return Err(bad(&var("ISSUER"), "(required for this provider)"));
        }
        let (authorize_url, token_url) = (url("AUTHORIZE_URL")?, url("TOKEN_URL")?);
        let userinfo_url = url("USERINFO_URL")?;
        let mut extra_urls = vec![];
        if let crate::providers::Protocol::OAuth2(plain) = provider.protocol {
            for (name, _) in plain.extra {
                if let Some(u) = url(&format!("{}_URL", name.to_ascii_uppercase()))? {
                    extra_urls.push((*name, u));
                }
            }
        }
        let overridden = [&issuer, &authorize_url, &token_url, &userinfo_url]
            .iter()
            .any(|o| o.is_some())
            || !extra_urls.is_empty();
        let trusted_email =
            env.flag(&var("TRUSTED_EMAIL"), provider.trusts_email && !overridden)?;
        out.push(OAuth2Provider {
            provider,
            client_id,
            client_secret,
            secret_param,
            issuer,
            authorize_url,
            token_url,
            userinfo_url,
            extra_urls,
            trusted_email,
        });
    }
    Ok(out)
}

/// Whether `secret` can serve `provider` (Apple's must sign its client secrets); the reason
/// never quotes the secret.
pub fn check_secret(provider: &crate::providers::Provider, secret: &str) -> Result<(), String> {
    match provider.secret {
        crate::providers::Secret::Configured => Ok(()),
        crate::providers::Secret::AppleJwt => crate::apple::check_secret(secret),
    }
}

fn message_budget(env: &Env<'_>, d: MessageBudget) -> Result<MessageBudget, Error> {
    let n = |k: &str, v: u32| env.int(k, i64::from(v), 0, 1_000_000).map(|n| n as u32);
    Ok(MessageBudget {
        ip_hour: n("MESSAGE_BUDGET_IP_HOUR", d.ip_hour)?,
        recipient_day: n("MESSAGE_BUDGET_RECIPIENT_DAY", d.recipient_day)?,
        email_hour: n("MESSAGE_BUDGET_EMAIL_HOUR", d.email_hour)?,
        sms_hour: n("MESSAGE_BUDGET_SMS_HOUR", d.sms_hour)?,
    })
}

/// `SMS_COUNTRIES`: calling codes (1–3 digits, no leading zero), with or without `+`.
fn sms_countries(env: &Env<'_>) -> Result<Vec<String>, Error> {
    let Some(list) = env.list("SMS_COUNTRIES") else {
        return Ok(vec![]);
    };
    list.into_iter()
        .map(|c| {
            let c = c.trim_start_matches('+').to_owned();
            let shape = (1..=3).contains(&c.len())
                && c.bytes().all(|b| b.is_ascii_digit())
                && !c.starts_with('0');
            match shape {
                true => Ok(c),
                false => Err(bad("SMS_COUNTRIES", &c)),
            }
        })
        .collect()
}

fn mock_numbers(env: &Env<'_>) -> Result<Vec<(String, String)>, Error> {
    let Some(v) = env.text("MOCK_NUMBERS") else {
        return Ok(vec![]);
    };
    v.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (num, otp) = p
                .trim()
                .split_once(':')
                .ok_or_else(|| bad("MOCK_NUMBERS", p))?;
            // A mock code must look like a code, or it would be taken for a link secret and
            // never log in.
            let otp = otp.trim();
            if otp.is_empty() || otp.len() > MAX_CODE_LEN {
                return Err(bad("MOCK_NUMBERS", p));
            }
            Ok((num.trim().to_owned(), otp.to_owned()))
        })
        .collect()
}

fn secret_keys(
    env: &Env<'_>,
    resolved: Option<String>,
    development: Keyring,
) -> Result<Keyring, Error> {
    let param = env.text("SECRET_KEY_PARAM");
    let plain = (env.0)("SECRET_KEY").filter(|k| !k.trim().is_empty());
    // A deployed function must never sign with a key everyone can read in this file, nor with
    // one that `lambda:GetFunctionConfiguration` shows in plain text.
    let in_lambda = env.text("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let (name, value) = match (param, plain, resolved) {
        (Some(_), Some(_), _) => {
            return Err(bad(
                "SECRET_KEY",
                "<set SECRET_KEY or SECRET_KEY_PARAM, not both>",
            ))
        }
        (Some(_), None, Some(v)) => ("SECRET_KEY_PARAM", v),
        (Some(_), None, None) => {
            return Err(bad(
                "SECRET_KEY_PARAM",
                "<not read: only App::from_env reads SSM>",
            ))
        }
        (None, Some(_), _) if in_lambda => {
            return Err(bad(
                "SECRET_KEY",
                "<plain text in a Lambda environment: use SECRET_KEY_PARAM>",
            ))
        }
        (None, Some(v), _) => ("SECRET_KEY", v),
        (None, None, _) if in_lambda => {
            return Err(bad("SECRET_KEY_PARAM", "<unset: required in Lambda>"))
        }
        (None, None, _) => {
            tracing::warn!("SECRET_KEY is not set: using the insecure development key");
            return Ok(development);
        }
    };
    // The reason names the entry's ID at most, never a secret.
    Keyring::parse(&value).map_err(|why| bad(name, &format!("<{why}>")))
}

fn timeouts(env: &Env<'_>, service: &str, d: Timeouts) -> Result<Timeouts, Error> {
    let ms = |k: &str, default: std::time::Duration| -> Result<std::time::Duration, Error> {
        let n = env.int(k, default.as_millis() as i64, 100, 60_000)?;
        Ok(std::time::Duration::from_millis(n as u64))
    };
    Ok(Timeouts {
        attempt: ms(&format!("{service}_ATTEMPT_TIMEOUT_MS"), d.attempt)?,
        operation: ms(&format!("{service}_OPERATION_TIMEOUT_MS"), d.operation)?,
    })
}

fn password_policy(
    env: &Env<'_>,
    d: crate::password::Policy,
) -> Result<crate::password::Policy, Error> {
    let classes = env.list("PASSWORD_REQUIRE").unwrap_or_default();
    if let Some(b) = classes
        .iter()
        .find(|c| !matches!(c.as_str(), "uppercase" | "lowercase" | "number" | "symbols"))
    {
        return Err(bad("PASSWORD_REQUIRE", b));
    }
    let has = |c: &str| classes.iter().any(|x| x == c);
    Ok(crate::password::Policy {
        min_length: env.int("PASSWORD_MIN_LENGTH", d.min_length as i64, 8, 256)? as usize,
        uppercase: has("uppercase"),
        lowercase: has("lowercase"),
        number: has("number"),
        symbols: has("symbols"),
        dictionary: env.flag("PASSWORD_DICTIONARY", d.dictionary)?,
        history: env.int("PASSWORD_HISTORY", d.history as i64, 0, 20)? as usize,
        personal_data: env.flag("PASSWORD_PERSONAL_DATA", d.personal_data)?,
    })
}

fn lockout(env: &Env<'_>, d: crate::password::Lockout) -> Result<crate::password::Lockout, Error> {
    Ok(crate::password::Lockout {
        threshold: env.int("LOCKOUT_THRESHOLD", i64::from(d.threshold), 0, 100)? as u32,
        max_secs: env.int("LOCKOUT_MAX_SECONDS", d.max_secs, 1, 86_400)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.project_id, "local");
        assert_eq!(c.max_sessions, 10);
        assert_eq!(c.session_duration_secs, 31_536_000);
        assert!(c.invalidate_sessions && c.rate_limits_enabled);
    }

    #[test]
    fn parses_and_rejects() {
        let c = cfg(&[
            ("SESSION_LIMIT", "2"),
            ("RATE_LIMITS", "disabled"),
            ("PLATFORM_HOSTS", "a.com, *.b.com"),
        ])
        .unwrap();
        assert_eq!(c.max_sessions, 2);
        assert!(!c.rate_limits_enabled);
        assert!(c.host_allowed("a.com") && c.host_allowed("x.b.com") && !c.host_allowed("b.com"));
        assert!(cfg(&[("SESSION_LIMIT", "101")]).is_err());
        assert!(cfg(&[("SESSION_DURATION", "abc")]).is_err());
    }

    #[test]
    fn timeouts_per_service() {
        let c = cfg(&[("MESSAGING_OPERATION_TIMEOUT_MS", "30000")]).unwrap();
        assert_eq!(c.messaging_timeouts.operation.as_millis(), 30_000);
        assert_eq!(c.messaging_timeouts.attempt, Timeouts::MESSAGING.attempt);
        assert_eq!(c.dynamodb_timeouts, Timeouts::default());
        assert!(cfg(&[("MESSAGING_ATTEMPT_TIMEOUT_MS", "5")]).is_err());
    }

    #[test]
    fn loopback_aliases_only_for_localhost() {
        let c = cfg(&[]).unwrap();
        for ok in ["localhost", "127.0.0.1", "[::1]"] {
            assert!(c.host_allowed(ok), "{ok}");
        }
        for bad in [
            "127.0.0.2",
            "localhost.example.com",
            "127.0.0.1.example.com",
            "[0:0:0:0:0:0:0:1]",
            "128.0.0.1",
        ] {
            assert!(!c.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn lambda_takes_its_key_from_ssm_only() {
        let key = "k".repeat(32);
        let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "account");
        let param = ("SECRET_KEY_PARAM", "/app/secret-key");
        let from = |pairs: &[(&str, &str)], resolved: Option<&str>| {
            let m: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Config::from_sources(|k| m.get(k).cloned(), resolved.map(str::to_owned))
        };
        assert!(from(&[lambda], None).is_err(), "no key at all");
        let e = from(&[lambda, ("SECRET_KEY", &key)], None).unwrap_err();
        assert!(e.message.contains("SECRET_KEY_PARAM") && !e.message.contains(&key));
        let ring = format!("k2:{key},k1:{}", "j".repeat(32));
        let c = from(&[lambda, param], Some(&ring)).unwrap();
        assert_eq!(c.keys.current_id(), "k2");
        assert!(from(&[lambda, param], None).is_err(), "named but not read");
        assert!(
            from(&[param, ("SECRET_KEY", &key)], Some(&ring)).is_err(),
            "both"
        );
        let e = from(&[lambda, param], Some("k1:short")).unwrap_err();
        assert!(e.message.contains("SECRET_KEY_PARAM") && !e.message.contains("short"));
        // Locally: the environment, or the development key.
        assert_eq!(
            cfg(&[("SECRET_KEY", &key)]).unwrap().keys,
            Keyring::parse(&key).unwrap()
        );
        assert!(cfg(&[("SECRET_KEY", "short")]).is_err());
        assert_eq!(cfg(&[]).unwrap().keys, Keyring::development(DEV_SECRET_KEY));
    }
}
