//! One-time secrets: magic URLs, email and phone OTPs, email/phone verification and password
//! recovery.
//!
//! Security model:
//! * A user has at most one live token per kind (`USER#<uid>` / `TOKEN#<kind>`): issuing a new
//!   one replaces, and so revokes, the last. The secret is stored only as HMAC-SHA256 under
//!   the key ring's token-hash key and compared in constant time; a stolen table does not reveal 6-digit codes.
//! * A token is bound to the address it was sent to. Redemption requires the profile to still
//!   have it, checked in code and again as a condition of the redemption transaction; changing
//!   the email, phone or password also deletes the tokens that change makes stale.
//! * A token is valid until `expire`, whatever TTL has or has not deleted.
//! * Single use under concurrency: redemption deletes the token in the same transaction that
//!   applies its effect, conditioned on the token still holding this secret and being unexpired.
//! * Guessing short codes is bounded per user and hour: every attempt first reserves a slot in a
//!   guard (`ADD attempts 1 IF attempts < CODE_ATTEMPTS_PER_HOUR`), atomically, before any
//!   comparison, so parallel guesses cannot all read "0 failures". Issuing a code does not refill
//!   the budget; a right code does. Guards are per scope (login codes, phone verification), and
//!   long secrets (magic URL, email verification, recovery: 256 bits and more) have none, so
//!   spending a user's code budget cannot lock their links.
//! * Ownership proof: a passwordless login that proves an address the account had not verified
//!   (someone may have pre-registered it) revokes every earlier session and the password, in
//!   the same transaction.
//!
//! ```text
//!  issue ──► [TOKEN#kind, replaces the last] ──redeem ok──► consumed with its effect, atomically
//!  attempt ──► reserve a slot in TOKENGUARD#scope#hour ──full──► refused, right code or not
//! ```

use crate::app::App;
use crate::budget::{Channel, Requester::Anyone};
use crate::clock::{Entropy, Millis};
use crate::context::{Ctx, Gate};
use crate::error::{Error, ErrorType, Result};
use crate::item::{self, EmailItem, PhoneItem, TokenItem, UserItem};
use crate::keyring::{Keyring, Purpose};
use crate::messages::{self, Letter};
use crate::session::{self, NewSession};
use crate::store::{Claims, Conflict, Expect, Redemption, WriteError};
use crate::{crypto, dates, ids};

/// OAuth2 token mode: the secret handed to the success URL is redeemable for this long.
pub const OAUTH2_TOKEN_SECS: i64 = 60;

/// Short-code attempts per user, guard scope and hour (a right code refills the budget).
pub const CODE_ATTEMPTS_PER_HOUR: u32 = 5;

pub use crate::item::{EMAIL_TOKEN_KINDS as EMAIL_KINDS, PHONE_TOKEN_KINDS as PHONE_KINDS};

use crate::config::MAX_CODE_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MagicUrl,
    EmailOtp,
    Phone,
    VerifyEmail,
    VerifyPhone,
    Recovery,
    /// OAuth2 token mode: handed to the success URL, redeemed within 60 s.
    OAuth2,
    /// A passkey sign-in's answer (`PUT /account/tokens/passkey`), redeemed within 60 s.
    Passkey,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicUrl => "magic-url",
            Self::EmailOtp => "email-otp",
            Self::Phone => "phone",
            Self::VerifyEmail => "verify-email",
            Self::VerifyPhone => "verify-phone",
            Self::Recovery => item::RECOVERY_TOKEN_KIND,
            Self::OAuth2 => "oauth2",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::MagicUrl,
            Self::EmailOtp,
            Self::Phone,
            Self::VerifyEmail,
            Self::VerifyPhone,
            Self::Recovery,
            Self::OAuth2,
            Self::Passkey,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Lifetimes from the contract (§1.7), but a phone-verification code: six digits live 15
    /// minutes, as every other code does (Appwrite 1.9.6 gives it an hour; README "Where we
    /// differ").
    pub fn lifetime_secs(self) -> i64 {
        match self {
            Self::EmailOtp | Self::Phone | Self::VerifyPhone => 900,
            Self::MagicUrl | Self::VerifyEmail | Self::Recovery => 3600,
            Self::OAuth2 | Self::Passkey => OAUTH2_TOKEN_SECS,
        }
    }

    pub fn new_secret(self, entropy: &dyn Entropy) -> String {
        match self {
            Self::MagicUrl | Self::Passkey => crypto::random_hex(entropy, 32),
            // Wrapped in a JWT with the provider key, which must stay within Appwrite's 256
            // characters for `secret` (see `wrap_oauth2_secret`).
            Self::OAuth2 => crypto::random_b64url(entropy, 32),
            Self::EmailOtp | Self::Phone | Self::VerifyPhone => otp(entropy),
            Self::VerifyEmail | Self::Recovery => crypto::random_hex(entropy, 128),
        }
    }

    /// Whether the secret is a short code (guessable, so guarded).
    pub fn is_code(self) -> bool {
        matches!(self, Self::EmailOtp | Self::Phone | Self::VerifyPhone)
    }

    /// Whether the token was sent to the user's phone (else to their email).
    pub fn by_phone(self) -> bool {
        matches!(self, Self::Phone | Self::VerifyPhone)
    }

    /// The session a login token creates: `(provider, factor)`. Verification and recovery
    /// secrets never create sessions (Appwrite lets phone-verification codes log in; we do not).
    fn session(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::MagicUrl => Some(("magic-url", "email")),
            Self::EmailOtp => Some(("token", "email")),
            Self::Phone => Some(("phone", "phone")),
            _ => None,
        }
    }
}

/// Six uniformly random decimal digits.
fn otp(entropy: &dyn Entropy) -> String {
    loop {
        let mut b = [0u8; 4];
        entropy.fill(&mut b);
        let n = u32::from_le_bytes(b);
        // Reject the top sliver so `n % 1e6` is uniform.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// How a one-time secret or code is stored: a keyed hash under the ring's current key, so a
/// table dump does not give six-digit codes away to a brute force.
pub fn secret_hash(keys: &Keyring, secret: &str) -> String {
    keys.hash(Purpose::TokenHash, secret)
}

/// Whether `stored` (from [`secret_hash`]) is the hash of `secret`; constant time.
pub fn secret_matches(keys: &Keyring, secret: &str, stored: &str) -> bool {
    keys.verify_hash(Purpose::TokenHash, secret, stored)
}

const ADJECTIVES: &[&str] = &[
    "Brave", "Calm", "Clever", "Cosmic", "Curious", "Daring", "Eager", "Fancy", "Gentle", "Golden",
    "Happy", "Humble", "Jolly", "Kind", "Lively", "Lucky", "Mighty", "Noble", "Polite", "Proud",
    "Quick", "Quiet", "Rapid", "Shiny", "Silent", "Smart", "Sunny", "Swift", "Tidy", "Witty",
];
const NOUNS: &[&str] = &[
    "badger", "beacon", "canyon", "comet", "dolphin", "falcon", "forest", "garden", "glacier",
    "harbor", "island", "lantern", "meadow", "monkey", "nebula", "otter", "panda", "pebble",
    "planet", "raven", "river", "rocket", "sparrow", "summit", "tiger", "tulip", "valley",
    "violin", "walrus", "willow",
];

/// `"<Adjective> <noun>"`, shown at sign-in and in the email so users can spot phishing.
pub fn phrase(entropy: &dyn Entropy) -> String {
    let mut b = [0u8; 2];
    entropy.fill(&mut b);
    format!(
        "{} {}",
        ADJECTIVES[usize::from(b[0]) % ADJECTIVES.len()],
        NOUNS[usize::from(b[1]) % NOUNS.len()]
    )
}

/// How often a token request looks its address (or profile) up again when the profile keeps
/// changing under it (a login code's owner moving off the address, a verification or recovery
/// racing the user's own change).
const ADDRESS_LOOKUPS: u32 = 3;

/// A stored token and its secret (returned once).
pub struct Issued {
    pub token: TokenItem,
    pub secret: String,
    /// The user created together with this token (first token for a new address).
    pub new_user: Option<UserItem>,
}

fn build(
    app: &App,
    uid: &str,
    kind: Kind,
    secret: &str,
    target: &str,
    phrase: String,
    now: Millis,
) -> TokenItem {
    let expire = now + kind.lifetime_secs() * 1000;
    TokenItem {
        pk: item::user_pk(uid),
        sk: item::token_sk(kind.as_str()),
        id: ids::unique(now, app.entropy.as_ref()),
        uid: uid.to_owned(),
        kind: kind.as_str().to_owned(),
        secret_hash: secret_hash(&app.config.keys, secret),
        target: target.to_owned(),
        created: now,
        expire,
        expires_at: expire / 1000,
        phrase,
    }
}

/// The token a verified passkey sign-in answers with (`PUT /account/tokens/passkey`): bound to
/// the passkey (its ID is the target), redeemed by `create_session` within 60 s.
pub fn passkey_token(app: &App, uid: &str, passkey_id: &str, now: Millis) -> Issued {
    let secret = Kind::Passkey.new_secret(app.entropy.as_ref());
    let token = build(
        app,
        uid,
        Kind::Passkey,
        &secret,
        passkey_id,
        String::new(),
        now,
    );
    Issued {
        token,
        secret,
        new_user: None,
    }
}

/// What a new token is for.
#[derive(Clone, Copy)]
struct NewToken<'a> {
    uid: &'a str,
    kind: Kind,
    /// The address the secret is sent to (the binding).
    target: &'a str,
    /// A mock number's fixed code instead of a random secret.
    fixed_secret: Option<&'a str>,
    want_phrase: bool,
    new_user: Option<(&'a UserItem, Option<&'a EmailItem>, Option<&'a PhoneItem>)>,
}

/// Store a new token, replacing the user's earlier one of its kind (creating `new_user` with
/// it, in the same transaction). `None` when the profile no longer has the address (or is
/// gone), or another request claimed the new address first: nothing was stored or sent, and
/// the flow looks the address (or the profile) up again.
async fn try_store(app: &App, t: NewToken<'_>, now: Millis) -> Result<Option<Issued>> {
    let phrase = if t.want_phrase {
        phrase(app.entropy.as_ref())
    } else {
        String::new()
    };
    let secret = t
        .fixed_secret
        .map_or_else(|| t.kind.new_secret(app.entropy.as_ref()), str::to_owned);
    let token = build(app, t.uid, t.kind, &secret, t.target, phrase, now);
    match app.store.issue_token(&token, t.new_user).await {
        Ok(()) => Ok(Some(Issued {
            token,
            secret,
            new_user: t.new_user.map(|(u, _, _)| u.clone()),
        })),
        Err(WriteError::Conflict(Conflict::Target)) => Ok(None),
        // A parallel request created the user for this new address first: look it up again.
        Err(WriteError::Conflict(Conflict::Email | Conflict::Phone)) if t.new_user.is_some() => {
            Ok(None)
        }
        Err(WriteError::Conflict(Conflict::UserLimit)) => {
            Err(Error::new(ErrorType::UserCountExceeded))
        }
        Err(WriteError::Conflict(Conflict::Phone)) => {
            Err(Error::new(ErrorType::UserPhoneAlreadyExists))
        }
        // Another user's OAuth2 identity uses the address (contract §4.6): the magic URL says
        // so, the email OTP stays vague, as Appwrite's do.
        Err(WriteError::Conflict(Conflict::IdentityEmail)) => Err(Error::new(match t.kind {
            Kind::MagicUrl => ErrorType::UserEmailAlreadyExists,
            _ => ErrorType::BadRequest,
        })),
        Err(WriteError::Conflict(_)) => Err(Error::new(ErrorType::UserAlreadyExists)),
        Err(WriteError::Other(e)) => Err(e),
    }
}

/// Where a magic link points when the client gives no `url`. Appwrite links to its console's
/// magic-URL page; we link to the same path under `PUBLIC_URL`, else the domain API Gateway
/// served the request on, never under the client's `Host` header (a forged Host would send the
/// victim's secret to the attacker).
pub fn default_magic_url(
    config: &crate::config::Config,
    gateway_domain: Option<&str>,
) -> Result<url::Url> {
    let base = match (&config.public_url, gateway_domain) {
        (Some(url), _) => url.clone(),
        (None, Some(domain)) => format!("https://{domain}"),
        (None, None) => "http://localhost".to_owned(),
    };
    url::Url::parse(&format!("{base}/auth/magic-url")).map_err(Error::internal)
}

/// `url` with `userId`, `secret`, `expire` and `project` appended, in that order.
pub fn link(base: &url::Url, uid: &str, secret: &str, expire: Millis, project: &str) -> String {
    let mut u = base.clone();
    u.query_pairs_mut()
        .append_pair("userId", uid)
        .append_pair("secret", secret)
        .append_pair("expire", &dates::format(expire))
        .append_pair("project", project);
    u.to_string()
}

async fn send_email(app: &App, locale: &str, m: Letter<'_>) -> Result<()> {
    let custom =
        match crate::custom_templates::kind(crate::custom_templates::Channel::Email, m.template) {
            Some(kind) => app.template(kind, locale).await,
            None => None,
        };
    let email = messages::email(&app.config.project_name, locale, m, custom.as_ref());
    app.outbox.email(&email).await
}

/// Email a link carrying `issued`'s secret to `to` (address, name) with `template`; a failed
/// send withdraws the token.
async fn send_link(
    cx: &Ctx<'_, '_>,
    locale: &str,
    template: &str,
    url: &url::Url,
    issued: &Issued,
    to: (&str, &str),
) -> Result<()> {
    let app = cx.app;
    let t = &issued.token;
    let l = link(
        url,
        &t.uid,
        &issued.secret,
        t.expire,
        &app.config.project_id,
    );
    let message = Letter {
        template,
        to: to.0,
        name: to.1,
        vars: &[("link", &l)],
        link: Some(&l),
        phrase: "",
    };
    deliver(app, issued, send_email(app, locale, message)).await
}

/// Deliver, or withdraw the token so nothing usable is left behind. (The message was admitted
/// by its budgets before the token was written: a refusal leaves the last token live.)
async fn deliver(
    app: &App,
    issued: &Issued,
    send: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    if let Err(e) = send.await {
        // Withdraw the token, and the user if this request created it: nothing half-made stays.
        let withdrawn = match &issued.new_user {
            Some(user) => app.store.withdraw_new_user(user, &issued.token).await,
            None => app.store.delete_token(&issued.token).await,
        };
        if let Err(del) = withdrawn {
            tracing::error!(error = %del, "could not withdraw an undelivered token");
        }
        return Err(e);
    }
    Ok(())
}

fn new_uid(app: &App, requested: &str, now: Millis) -> String {
    if requested == "unique()" {
        ids::unique(now, app.entropy.as_ref())
    } else {
        requested.to_owned()
    }
}

mod login;
mod recovery;
mod redeem;
mod verification;

pub use login::{create_email_login, create_phone_login, EmailLogin};
pub use recovery::{complete_recovery, create_recovery};
use redeem::*;
pub use redeem::{create_session, unwrap_oauth2_secret, wrap_oauth2_secret};
use verification::profile_again;
pub use verification::{
    confirm_verification, create_email_verification, create_phone_verification,
};

#[cfg(test)]
mod tests {
    #[test]
    fn a_wrapped_secret_fits_appwrites_secret_param_for_every_provider() {
        // The longest key ID a ring accepts, every provider key, a real secret.
        let k = Keyring::parse("abcdefghijklmnop:0123456789abcdef0123456789abcdef").unwrap();
        let secret = Kind::OAuth2.new_secret(&crate::clock::OsEntropy);
        assert_eq!(secret.len(), 43);
        for key in crate::providers::APPWRITE_KEYS {
            let w = wrap_oauth2_secret(&k, &secret, key, 4_102_444_800_000).unwrap();
            assert!(w.len() <= 256, "{key}: {} characters", w.len());
        }
    }

    #[test]
    fn token_secrets_are_ours_and_expire() {
        let k = Keyring::parse("k1:0123456789abcdef0123456789abcdef").unwrap();
        let other = Keyring::parse("k1:fedcba9876543210fedcba9876543210").unwrap();
        let w = wrap_oauth2_secret(&k, "abc", "github", 1_000_000).unwrap();
        assert_eq!(
            unwrap_oauth2_secret(&k, &w, 1_000_000),
            Some(("abc".into(), "github".into()))
        );
        assert_eq!(
            unwrap_oauth2_secret(&k, &w, 1_000_000 + OAUTH2_TOKEN_SECS * 1000),
            None
        );
        assert_eq!(unwrap_oauth2_secret(&other, &w, 1_000_000), None);
        // An account JWT of the same ring is not a wrapped secret.
        let jwt = crate::jwt::issue(&k, "u1", "s1", 900, 1_000_000).unwrap();
        assert_eq!(unwrap_oauth2_secret(&k, &jwt, 1_000_000), None);
    }

    use super::*;
    use crate::clock::SeqEntropy;

    #[test]
    fn secrets_have_contract_shapes() {
        let e = SeqEntropy::default();
        assert_eq!(Kind::MagicUrl.new_secret(&e).len(), 64);
        assert_eq!(Kind::Recovery.new_secret(&e).len(), 256);
        assert_eq!(Kind::VerifyEmail.new_secret(&e).len(), 256);
        let o = Kind::EmailOtp.new_secret(&e);
        assert!(o.len() == 6 && o.bytes().all(|b| b.is_ascii_digit()), "{o}");
    }

    #[test]
    fn hmac_is_keyed() {
        let a = Keyring::parse("k:0123456789abcdef0123456789abcdef").unwrap();
        let b = Keyring::parse("k:fedcba9876543210fedcba9876543210").unwrap();
        assert_ne!(secret_hash(&a, "123456"), secret_hash(&b, "123456"));
        assert_eq!(secret_hash(&a, "123456").len(), "k:".len() + 64);
        assert!(secret_matches(&a, "123456", &secret_hash(&a, "123456")));
        assert!(!secret_matches(&b, "123456", &secret_hash(&a, "123456")));
    }

    #[test]
    fn link_appends_in_order() {
        let base = url::Url::parse("http://localhost/magic?existing=1").unwrap();
        let l = link(&base, "u1", "s3cr3t", 1_602_743_880_000, "p");
        assert_eq!(l, "http://localhost/magic?existing=1&userId=u1&secret=s3cr3t&expire=2020-10-15T06%3A38%3A00.000%2B00%3A00&project=p");
    }

    #[test]
    fn phrase_shape() {
        let p = phrase(&SeqEntropy::default());
        let words: Vec<&str> = p.split(' ').collect();
        assert_eq!(words.len(), 2);
        assert!(words[0].chars().next().unwrap().is_uppercase());
    }

    #[test]
    fn default_magic_link_from_configuration_then_gateway() {
        let mut c = crate::config::Config::default();
        let url = |c: &crate::config::Config, d| default_magic_url(c, d).unwrap().to_string();
        assert_eq!(url(&c, None), "http://localhost/auth/magic-url");
        assert_eq!(
            url(&c, Some("abc.execute-api.eu-west-1.amazonaws.com")),
            "https://abc.execute-api.eu-west-1.amazonaws.com/auth/magic-url"
        );
        c.public_url = Some("https://api.example.com".into());
        assert_eq!(
            url(&c, Some("abc.execute-api.eu-west-1.amazonaws.com")),
            "https://api.example.com/auth/magic-url"
        );
    }

    #[test]
    fn kind_lists_match_the_kinds() {
        for k in EMAIL_KINDS.iter().chain(PHONE_KINDS) {
            let kind = Kind::parse(k).unwrap();
            assert_eq!(kind.by_phone(), PHONE_KINDS.contains(k), "{k}");
        }
        assert_eq!(EMAIL_KINDS.len() + PHONE_KINDS.len(), 6);
    }

    #[test]
    fn only_login_tokens_make_sessions() {
        assert!(
            Kind::MagicUrl.session().is_some()
                && Kind::EmailOtp.session().is_some()
                && Kind::Phone.session().is_some()
        );
        assert!(Kind::VerifyPhone.session().is_none() && Kind::Recovery.session().is_none());
    }
}
