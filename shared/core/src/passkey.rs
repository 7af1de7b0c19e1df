//! Passkeys (WebAuthn): registration, discoverable sign-in, listing, renaming and deletion.
//! The ceremonies are verified by `webauthn-rs` (WebAuthn L3 §7.1 and L3 §7.2: origin, RP ID hash,
//! user presence and verification, signature, counter); this module keeps their state and
//! makes every rule the library leaves to its caller hold under races.
//!
//! ```text
//!  POST registration ──► [PASSKEYREG, one per user, bound to the session] ──PUT (verified)──►
//!      consumed + credential-ID claim + passkey, one transaction
//!  POST tokens/passkey ──► [PASSKEYLOGIN#id] ──PUT (verified)──► consumed + counter moved +
//!      passkey marked used + token, one transaction ──► createSession (provider `passkey`)
//! ```
//!
//! * A ceremony is single-use: its transaction deletes it under the condition that it is still
//!   there (the library would accept the same state twice), and an answer that fails burns it.
//!   It expires after 5 minutes, checked here, not only by TTL.
//! * User verification is required in both ceremonies; a credential ID belongs to one passkey
//!   of one user (a conditional put of its claim).
//! * The stored credential carries the signature counter: a counter that does not grow (when
//!   either is non-zero) is refused and logged as a possible clone; the sign-in replaces the
//!   credential only where it still is the one verified against, so two answers of one
//!   authenticator cannot both pass.
//! * At most [`MAX_PER_USER`] passkeys; registration and deletion need a recent sign-in
//!   ([`RECENT_SIGN_IN_MS`]); the last way into an account cannot be deleted.

use crate::clock::Millis;
use crate::config::PasskeyConfig;
use crate::context::Ctx;
use crate::error::{Error, ErrorType, Result};
use crate::item::{
    self, PasskeyChallengeItem, PasskeyClaimItem, PasskeyItem, SessionItem, UserItem,
};
use crate::store::{Conflict, PasskeyUse, WriteError};
use crate::{audit, ids, token};
use base64::Engine;
use serde_json::Value;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

/// A ceremony lives this long (WebAuthn's recommended timeout).
pub const CHALLENGE_TTL_MS: Millis = 300_000;
/// Passkeys a user may hold.
pub const MAX_PER_USER: usize = 20;
/// Registration and deletion need a sign-in or an MFA challenge this recent.
pub const RECENT_SIGN_IN_MS: Millis = 900_000;
/// The name of a passkey registered without one.
pub const DEFAULT_NAME: &str = "Passkey";
/// The longest name.
pub const MAX_NAME_LEN: usize = 128;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A ceremony handed to the client: `passkeyChallenge`.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub id: String,
    /// Registration: the ID the passkey will have; sign-in: empty.
    pub passkey_id: String,
    pub created: Millis,
    pub expire: Millis,
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, as `{publicKey: …}`.
    pub options: Value,
}

/// The relying party, from configuration.
fn relying_party(config: &PasskeyConfig, name: &str) -> Result<Webauthn> {
    let mut urls = config
        .origins
        .iter()
        .map(|o| Url::parse(o).map_err(Error::internal))
        .collect::<Result<Vec<_>>>()?;
    // The builder checks its first origin against the RP ID: a web origin goes first.
    urls.sort_by_key(|u| u.domain().is_none());
    let first = urls
        .first()
        .cloned()
        .ok_or_else(|| Error::internal("PASSKEY_ORIGINS names no web origin"))?;
    let mut builder = WebauthnBuilder::new(&config.rp_id, &first)
        .map_err(Error::internal)?
        .rp_name(name)
        .allow_any_port(config.any_local_port)
        .timeout(std::time::Duration::from_millis(CHALLENGE_TTL_MS as u64));
    for u in &urls[1..] {
        builder = builder.append_allowed_origin(u);
    }
    builder.build().map_err(Error::internal)
}

/// The WebAuthn user handle of a user: stable, opaque (no user ID or address reaches the
/// authenticator), 16 bytes.
fn user_handle(project: &str, uid: &str) -> Uuid {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("passkey-user-handle\0{project}\0{uid}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    Uuid::from_bytes(b)
}

fn invalid_token() -> Error {
    Error::new(ErrorType::UserInvalidToken)
}

fn not_found() -> Error {
    Error::with_message(
        ErrorType::UserAuthenticatorNotFound,
        "The passkey could not be found on the current user.",
    )
}

/// Why the library refused an answer, as the client sees it.
fn refused(e: &WebauthnError) -> Error {
    let message = match e {
        WebauthnError::UserNotVerified => {
            "User verification is required: the authenticator must verify the user (PIN or biometrics)."
        }
        WebauthnError::InvalidRPOrigin => "The passkey answer comes from an origin this project does not allow.",
        WebauthnError::InvalidRPIDHash => "The passkey answer is for another relying party.",
        WebauthnError::MismatchedChallenge => "The passkey answer is for another challenge.",
        WebauthnError::CredentialPossibleCompromise => {
            "The passkey's signature counter went backwards: the authenticator may have been cloned. Sign in another way."
        }
        _ => "The passkey answer could not be verified.",
    };
    Error {
        source: Some(format!("webauthn: {e:?}")),
        ..Error::with_message(ErrorType::UserInvalidCredentials, message)
    }
}

fn limit_reached() -> Error {
    Error::with_message(
        ErrorType::ArgumentInvalid,
        format!("A user can have at most {MAX_PER_USER} passkeys. Delete one to add another."),
    )
}

/// Whether the session was created, or passed an MFA challenge, within [`RECENT_SIGN_IN_MS`].
pub fn signed_in_recently(session: &SessionItem, now: Millis) -> bool {
    let recent = |t: Millis| now - t <= RECENT_SIGN_IN_MS;
    recent(session.created) || session.mfa_updated_at.is_some_and(recent)
}

fn require_recent(session: &SessionItem, now: Millis) -> Result<()> {
    match signed_in_recently(session, now) {
        true => Ok(()),
        false => Err(Error::with_message(
            ErrorType::UserChallengeRequired,
            "A sign-in or an MFA challenge in the last 15 minutes is required to change passkeys.",
        )),
    }
}

/// A name given by the client: trimmed, 1 to 128 characters.
pub fn valid_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_LEN || n.chars().any(char::is_control) {
        return Err(Error::invalid_param(
            "name",
            "Value must be a valid string and at least 1 chars and no longer than 128 chars",
        ));
    }
    Ok(n.to_owned())
}

fn ceremony_item(
    cx: &Ctx<'_, '_>,
    pk: String,
    sk: &str,
    id: String,
    state: String,
) -> PasskeyChallengeItem {
    let expire = cx.now + CHALLENGE_TTL_MS;
    PasskeyChallengeItem {
        pk,
        sk: sk.to_owned(),
        id,
        uid: String::new(),
        sid: String::new(),
        email_verification: false,
        phone_verification: false,
        passkey_id: String::new(),
        name: String::new(),
        state,
        created: cx.now,
        expire,
        expires_at: expire / 1000,
    }
}

fn ceremony(c: &PasskeyChallengeItem, options: Value) -> Ceremony {
    Ceremony {
        id: c.id.clone(),
        passkey_id: c.passkey_id.clone(),
        created: c.created,
        expire: c.expire,
        options,
    }
}

/// `POST /account/passkeys/registration`: creation options that exclude the user's passkeys.
/// One `Query` (the passkeys), then one `PutItem` replacing any registration in flight.
/// What a registration is for: the passkey's ID (`unique()` or a custom one) and name, both
/// optional (the official SDKs' `createPasskey` takes them here).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewPasskey<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
}

pub async fn start_registration(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: &SessionItem,
    new: NewPasskey<'_>,
) -> Result<Ceremony> {
    let app = cx.app;
    require_recent(session, cx.now)?;
    let name = new.name.map(valid_name).transpose()?.unwrap_or_default();
    let passkey_id = match new.id {
        None | Some("unique()") => ids::unique(cx.now, app.entropy.as_ref()),
        Some(id) if ids::is_valid_custom(id) => id.to_owned(),
        Some(_) => {
            return Err(Error::invalid_param(
                "passkeyId",
                ids::CUSTOM_ID_DESCRIPTION,
            ))
        }
    };
    let passkeys = app.store.list_passkeys(&user.id).await?;
    if passkeys.len() >= MAX_PER_USER {
        return Err(limit_reached());
    }
    let exclude = passkeys
        .iter()
        .filter_map(|p| B64.decode(&p.credential_id).ok())
        .collect::<Vec<_>>();
    let rp = relying_party(&app.config.passkeys, &app.config.project_name)?;
    let label = user
        .email
        .clone()
        .or_else(|| user.phone.clone())
        .unwrap_or_else(|| user.id.clone());
    let display = match user.name.is_empty() {
        true => label.clone(),
        false => user.name.clone(),
    };
    let (options, state): (CreationChallengeResponse, PasskeyRegistration) = rp
        .start_passkey_registration(
            user_handle(&app.config.project_id, &user.id),
            &label,
            &display,
            Some(exclude),
        )
        .map_err(Error::internal)?;
    let state = serde_json::to_string(&state).map_err(Error::internal)?;
    let mut c = ceremony_item(
        cx,
        item::user_pk(&user.id),
        item::PASSKEY_REGISTRATION_SK,
        ids::unique(cx.now, app.entropy.as_ref()),
        state,
    );
    c.uid = user.id.clone();
    c.sid = session.id.clone();
    c.email_verification = user.email_verification;
    c.phone_verification = user.phone_verification;
    c.passkey_id = passkey_id;
    c.name = name;
    app.store.put_passkey_challenge(&c).await?;
    let mut options = serde_json::to_value(&options).map_err(Error::internal)?;
    // Sign-in is discoverable (no user named before the answer): the credential must be a
    // resident one. The library's passkey options leave that to the authenticator, and a
    // security key would make a credential that sign-in could never find.
    if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection") {
        sel["residentKey"] = Value::from("required");
        sel["requireResidentKey"] = Value::Bool(true);
    }
    Ok(ceremony(&c, options))
}

/// The authenticator model of a new credential (the attested credential data's AAGUID).
fn aaguid(reg: &RegisterPublicKeyCredential) -> String {
    let parsed: Option<Vec<u8>> =
        serde_cbor_2::from_slice::<serde_cbor_2::Value>(&reg.response.attestation_object)
            .ok()
            .and_then(|v| match v {
                serde_cbor_2::Value::Map(m) => m.into_iter().find_map(|(k, v)| match (k, v) {
                    (serde_cbor_2::Value::Text(k), serde_cbor_2::Value::Bytes(b))
                        if k == "authData" =>
                    {
                        Some(b)
                    }
                    _ => None,
                }),
                _ => None,
            });
    // rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) …, present with flag AT (0x40).
    match parsed {
        Some(d) if d.len() >= 53 && d[32] & 0x40 != 0 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&d[37..53]);
            Uuid::from_bytes(b).to_string()
        }
        _ => Uuid::nil().to_string(),
    }
}

/// A flag of the library's stored credential (`cred.backup_eligible`, …).
fn credential_flag(credential: &Value, flag: &str) -> bool {
    credential
        .pointer(&format!("/cred/{flag}"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `PUT /account/passkeys/registration`: verify the authenticator's answer to the user's
/// registration in flight (from this very session) and store the passkey. One `GetItem`, then
/// one transaction (ceremony consumed, session still there, credential ID claimed, passkey).
/// Which registration an answer is for: the ceremony's ID (`challengeId`), or the passkey ID
/// it was started for (`PUT /account/passkeys/{passkeyId}/verification`).
#[derive(Debug, Clone, Copy)]
pub enum Registration<'a> {
    Challenge(&'a str),
    Passkey(&'a str),
}

pub async fn finish_registration(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: &SessionItem,
    which: Registration<'_>,
    credential: &Value,
    name: Option<&str>,
) -> Result<PasskeyItem> {
    let app = cx.app;
    require_recent(session, cx.now)?;
    let name = name.map(valid_name).transpose()?;
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| {
            Error::invalid_param(
                "credential",
                "Value must be the JSON of the PublicKeyCredential navigator.credentials.create() returned",
            )
        })?;
    let c = app
        .store
        .get_passkey_registration(&user.id)
        .await?
        .filter(|c| {
            let named = match which {
                Registration::Challenge(id) => c.id == id,
                Registration::Passkey(id) => c.passkey_id == id,
            };
            named && c.sid == session.id && c.expire > cx.now
        })
        .ok_or_else(invalid_token)?;
    let state: PasskeyRegistration = serde_json::from_str(&c.state).map_err(Error::internal)?;
    let rp = relying_party(&app.config.passkeys, &app.config.project_name)?;
    let verified = match rp.finish_passkey_registration(&reg, &state) {
        Ok(p) => p,
        Err(e) => {
            app.store.burn_passkey_challenge(&c).await?;
            return Err(refused(&e));
        }
    };
    let stored = serde_json::to_value(&verified).map_err(Error::internal)?;
    let now = cx.now;
    // Ceremonies stored before the ID was chosen at the start get one now.
    let id = match c.passkey_id.is_empty() {
        true => ids::unique(now, app.entropy.as_ref()),
        false => c.passkey_id.clone(),
    };
    let name = name.or_else(|| (!c.name.is_empty()).then(|| c.name.clone()));
    let credential_id: &[u8] = verified.cred_id();
    let passkey = PasskeyItem {
        pk: item::user_pk(&user.id),
        sk: item::passkey_sk(&id),
        id: id.clone(),
        uid: user.id.clone(),
        name: name.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
        credential_id: B64.encode(credential_id),
        aaguid: aaguid(&reg),
        backup_eligible: credential_flag(&stored, "backup_eligible"),
        backup_state: credential_flag(&stored, "backup_state"),
        created: now,
        updated: now,
        last_used: None,
    };
    let claim = PasskeyClaimItem {
        pk: item::passkey_claim_pk(credential_id),
        sk: item::PASSKEY_CLAIM_SK.to_owned(),
        uid: user.id.clone(),
        passkey_id: id,
        credential: stored.to_string(),
    };
    let log = audit::for_user(cx, audit::event::PASSKEY_CREATE, user);
    let max = u32::try_from(MAX_PER_USER).unwrap_or(u32::MAX);
    let write = async {
        let written = app.store.add_passkey(&c, &passkey, &claim, max, now).await;
        if let Err(WriteError::Conflict(Conflict::ProfileCondition)) = written {
            // At the limit, or an ownership proof since the ceremony began (it voids it).
            let (profile, _) = app.store.get_user_and_sessions(&user.id, &[]).await?;
            return Err(match profile {
                Some(p) if p.passkeys as usize >= MAX_PER_USER => limit_reached(),
                _ => invalid_token(),
            });
        }
        written.map_err(|e| match e {
            WriteError::Conflict(Conflict::Passkey) => Error::with_message(
                ErrorType::UserAlreadyExists,
                "A passkey with this ID or this credential is registered already.",
            ),
            WriteError::Conflict(Conflict::Session) => Error::new(ErrorType::UserSessionNotFound),
            WriteError::Conflict(_) => invalid_token(),
            WriteError::Other(e) => e,
        })
    };
    if let Err(e) = audit::logged(cx, vec![log], write).await {
        // A refused write consumed nothing: burn the ceremony all the same (single use).
        app.store.burn_passkey_challenge(&c).await?;
        return Err(e);
    }
    Ok(passkey)
}

/// `POST /account/tokens/passkey`: request options for a discoverable credential (no user yet).
/// One `PutItem`.
pub async fn start_sign_in(cx: &Ctx<'_, '_>) -> Result<Ceremony> {
    let app = cx.app;
    let rp = relying_party(&app.config.passkeys, &app.config.project_name)?;
    let (mut options, state) = rp
        .start_discoverable_authentication()
        .map_err(Error::internal)?;
    // A button's sign-in, not the autofill of conditional mediation: the client chooses.
    options.mediation = None;
    let id = ids::unique(cx.now, app.entropy.as_ref());
    let state = serde_json::to_string(&state).map_err(Error::internal)?;
    let c = ceremony_item(
        cx,
        item::passkey_login_pk(&id),
        item::PASSKEY_LOGIN_SK,
        id,
        state,
    );
    app.store.put_passkey_challenge(&c).await?;
    let options = serde_json::to_value(&options).map_err(Error::internal)?;
    Ok(ceremony(&c, options))
}

/// `PUT /account/tokens/passkey`: verify the answer and hand out a 60-second token for
/// `createSession`. One `BatchGetItem` (ceremony, credential claim), then one transaction
/// (ceremony consumed, credential moved on where unchanged, passkey marked used, token).
pub async fn finish_sign_in(
    cx: &Ctx<'_, '_>,
    challenge_id: &str,
    credential: &Value,
) -> Result<token::Issued> {
    let app = cx.app;
    let answer: PublicKeyCredential = serde_json::from_value(credential.clone()).map_err(|_| {
        Error::invalid_param(
            "credential",
            "Value must be the JSON of the PublicKeyCredential navigator.credentials.get() returned",
        )
    })?;
    let (c, claim) = app
        .store
        .get_passkey_sign_in(challenge_id, answer.get_credential_id())
        .await?;
    cx.gate.pass().await?;
    let c = c.filter(|c| c.expire > cx.now).ok_or_else(invalid_token)?;
    // An unknown credential, or one the answer names for another user, reads as any refusal:
    // nothing tells whether a credential ID is registered.
    let handle = claim
        .as_ref()
        .map(|k| user_handle(&app.config.project_id, &k.uid));
    let claim = match (claim, handle) {
        (Some(k), Some(h)) if answer.get_user_unique_id() == Some(h.as_bytes().as_slice()) => k,
        _ => {
            app.store.burn_passkey_challenge(&c).await?;
            return Err(refused(&WebauthnError::InvalidUserUniqueId));
        }
    };
    let state: DiscoverableAuthentication =
        serde_json::from_str(&c.state).map_err(Error::internal)?;
    let mut passkey: Passkey = serde_json::from_str(&claim.credential).map_err(Error::internal)?;
    let result = match rp_verify(cx, &answer, state, &passkey) {
        Ok(r) => r,
        Err(e) => {
            app.store.burn_passkey_challenge(&c).await?;
            if matches!(e, WebauthnError::CredentialPossibleCompromise) {
                tracing::warn!(uid = %claim.uid, passkey = %claim.passkey_id, "passkey counter went backwards: possible clone");
                let log = audit::entry(
                    cx,
                    audit::event::PASSKEY_CLONE_SUSPECTED,
                    &claim.uid,
                    "",
                    "",
                );
                if let Err(e) = app.store.put_logs(&[log]).await {
                    tracing::warn!(error = %e, "security log not written");
                }
            }
            return Err(refused(&e));
        }
    };
    passkey.update_credential(&result);
    let moved = PasskeyClaimItem {
        credential: serde_json::to_string(&passkey).map_err(Error::internal)?,
        ..claim.clone()
    };
    let used = PasskeyUse {
        uid: claim.uid.clone(),
        id: claim.passkey_id.clone(),
        backup_eligible: result.backup_eligible(),
        backup_state: result.backup_state(),
        now: cx.now,
    };
    let issued = token::passkey_token(app, &claim.uid, &claim.passkey_id, cx.now);
    let log = audit::entry(cx, audit::event::PASSKEY_SIGN_IN, &claim.uid, "", "");
    let write = async {
        app.store
            .passkey_sign_in(&c, &moved, &claim.credential, &used, &issued.token)
            .await
            .map_err(|e| match e {
                // Deleted (by its user, or an ownership proof) since it was read.
                WriteError::Conflict(Conflict::ProfileCondition) => {
                    refused(&WebauthnError::CredentialNotFound)
                }
                WriteError::Conflict(_) => invalid_token(),
                WriteError::Other(e) => e,
            })
    };
    if let Err(e) = audit::logged(cx, vec![log], write).await {
        app.store.burn_passkey_challenge(&c).await?;
        return Err(e);
    }
    Ok(issued)
}

fn rp_verify(
    cx: &Ctx<'_, '_>,
    answer: &PublicKeyCredential,
    state: DiscoverableAuthentication,
    passkey: &Passkey,
) -> std::result::Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError> {
    let rp = relying_party(&cx.app.config.passkeys, &cx.app.config.project_name)
        .map_err(|_| WebauthnError::Configuration)?;
    let result = rp.finish_discoverable_authentication_v2(answer, state, passkey)?;
    // The library requires it under the policy it set; a passkey session rests on it.
    match result.user_verified() {
        true => Ok(result),
        false => Err(WebauthnError::UserNotVerified),
    }
}

/// `GET /account/passkeys`: one `Query`.
pub async fn list(cx: &Ctx<'_, '_>, user: &UserItem) -> Result<Vec<PasskeyItem>> {
    cx.app.store.list_passkeys(&user.id).await
}

/// `GET /account/passkeys/{id}`: one `Query` (a user has at most 20).
pub async fn get(cx: &Ctx<'_, '_>, user: &UserItem, id: &str) -> Result<PasskeyItem> {
    cx.app
        .store
        .list_passkeys(&user.id)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(not_found)
}

/// `PATCH /account/passkeys/{id}`: one conditional `UpdateItem`.
pub async fn rename(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    id: &str,
    name: &str,
) -> Result<PasskeyItem> {
    let name = valid_name(name)?;
    if !ids::is_valid_custom(id) {
        return Err(not_found());
    }
    let log = audit::for_user(cx, audit::event::PASSKEY_UPDATE, user);
    let write = async {
        cx.app
            .store
            .rename_passkey(&user.id, id, &name, cx.now)
            .await?
            .ok_or_else(not_found)
    };
    audit::logged(cx, vec![log], write).await
}

/// Whether the account has a way in besides passkeys and identities: an address a sign-in
/// method that this project has on can reach.
fn address_way_in(config: &crate::config::Config, user: &UserItem) -> bool {
    use crate::config::AuthMethod::*;
    let on = |m| !config.auth_methods_disabled.contains(&m);
    let email = user.email.as_deref().is_some_and(|e| !e.is_empty())
        && (on(MagicUrl) || on(EmailOtp) || (on(EmailPassword) && user.password.is_some()));
    let phone = user.phone.as_deref().is_some_and(|p| !p.is_empty()) && on(Phone);
    email || phone
}

/// `DELETE /account/passkeys/{id}`: the passkey, its claim, a token it answered with, and the
/// other sessions it opened (`sessions`: the user's live ones). Refused when it is the
/// account's last way in: no address a sign-in method reaches, no identity, no other passkey.
/// Otherwise one other way (an identity or a passkey) must still exist when it is deleted, so
/// parallel deletions cannot take them all. Two parallel `Query`s, then one transaction.
pub async fn delete(
    cx: &Ctx<'_, '_>,
    user: &UserItem,
    session: &SessionItem,
    sessions: &[SessionItem],
    id: &str,
) -> Result<()> {
    let app = cx.app;
    require_recent(session, cx.now)?;
    if !ids::is_valid_custom(id) {
        return Err(not_found());
    }
    let (passkeys, identities) = tokio::join!(
        app.store.list_passkeys(&user.id),
        app.store.list_identities(&user.id)
    );
    let (passkeys, identities) = (passkeys?, identities?);
    let target = passkeys
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(not_found)?;
    // Another passkey first: its own deletion checks the same way (an identity's does not).
    // Only identities of providers this project has configured are a way in.
    let passkeys_on = !app
        .config
        .auth_methods_disabled
        .contains(&crate::config::AuthMethod::Passkey);
    let configured = |i: &&crate::item::IdentityItem| {
        app.config
            .oauth2
            .iter()
            .any(|p| p.provider.key == i.provider)
    };
    let keep: Vec<(String, String)> = if !passkeys_on || address_way_in(&app.config, user) {
        vec![]
    } else if let Some(p) = passkeys.iter().find(|p| p.id != id) {
        vec![(p.pk.clone(), p.sk.clone())]
    } else if let Some(i) = identities.iter().find(configured) {
        vec![(i.pk.clone(), i.sk.clone())]
    } else {
        return Err(Error::with_message(
            ErrorType::BadRequest,
            "This passkey is the account's last way to sign in. Add an email, a phone number, a password or another passkey before deleting it.",
        ));
    };
    let opened_by = |s: &&SessionItem| {
        s.provider == item::PASSKEY_PROVIDER && s.provider_uid == id && s.id != session.id
    };
    let revoke: Vec<String> = sessions
        .iter()
        .filter(opened_by)
        .map(|s| s.id.clone())
        .collect();
    let log = audit::for_user(cx, audit::event::PASSKEY_DELETE, user);
    let write = async {
        app.store
            .delete_passkey(&target, &keep, &revoke)
            .await
            .map_err(|e| match e {
                WriteError::Conflict(Conflict::Token) => not_found(),
                WriteError::Conflict(_) => Error::contended(),
                WriteError::Other(e) => e,
            })
    };
    audit::logged(cx, vec![log], write).await?;
    // A session its token opened after `sessions` was read: none can appear after the commit
    // (the token and the passkey are gone), so one more look finds them all.
    let late = match app.store.get_user_with_all_sessions(&user.id).await {
        Ok((_, live)) => live
            .iter()
            .filter(opened_by)
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(error = %e, "sessions of a deleted passkey not checked again");
            vec![]
        }
    };
    if !late.is_empty() {
        if let Err(e) = app.store.delete_sessions(&user.id, &late).await {
            tracing::warn!(error = %e, "sessions of a deleted passkey not revoked");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_handles_are_stable_opaque_and_per_project() {
        let a = user_handle("p", "u1");
        assert_eq!(a, user_handle("p", "u1"));
        assert_ne!(a, user_handle("p", "u2"));
        assert_ne!(a, user_handle("q", "u1"));
        assert!(!a.to_string().contains("u1"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Laptop ").unwrap(), "Laptop");
        assert!(valid_name("").is_err());
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"x".repeat(129)).is_err());
        assert!(valid_name("a\u{0}b").is_err());
        assert_eq!(valid_name(&"é".repeat(128)).unwrap().chars().count(), 128);
    }

    #[test]
    fn recent_means_a_sign_in_or_a_challenge_within_15_minutes() {
        let now = 10_000_000_000;
        let mut s: SessionItem = serde_json::from_value(serde_json::json!({
            "PK": "USER#u", "SK": "SESSION#s", "id": "s", "uid": "u", "created": now - RECENT_SIGN_IN_MS,
            "updated": now, "expire": now + 1, "expires_at": 1, "secretHash": "", "provider": "email",
        }))
        .unwrap();
        assert!(signed_in_recently(&s, now));
        s.created -= 1;
        assert!(!signed_in_recently(&s, now));
        s.mfa_updated_at = Some(now - 60_000);
        assert!(signed_in_recently(&s, now));
    }

    #[test]
    fn the_relying_party_takes_the_configured_origins() {
        let c = PasskeyConfig {
            rp_id: "example.com".into(),
            origins: vec![
                "android:apk-key-hash:abc".into(),
                "https://app.example.com".into(),
            ],
            any_local_port: false,
        };
        let rp = relying_party(&c, "Demo").unwrap();
        let got: Vec<String> = rp
            .get_allowed_origins()
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            got,
            ["https://app.example.com/", "android:apk-key-hash:abc"]
        );
        let none = PasskeyConfig {
            origins: vec!["android:apk-key-hash:abc".into()],
            ..c
        };
        assert!(relying_party(&none, "Demo").is_err());
    }
}
