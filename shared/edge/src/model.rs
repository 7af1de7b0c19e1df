//! Appwrite's JSON response models (contract §3), rendered from stored items. Every non-optional
//! field is always present with its default (`""`, `false`, `[]`, `{}`), never `null`.

use account_core::dates;
use account_core::item::{SessionItem, TargetItem, UserItem};
use serde_json::{json, Map, Value};

/// Free-mail domains for `emailIsFree` (a short list of the big providers).
const FREE_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mail.com",
    "gmx.com",
    "gmx.de",
    "proton.me",
    "protonmail.com",
    "yandex.com",
    "zoho.com",
    "web.de",
];

pub fn prefs(user: &UserItem) -> Value {
    match serde_json::from_str::<Value>(&user.prefs) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

pub fn target(t: &TargetItem, user_id: &str) -> Value {
    json!({
        "$id": t.id,
        "$createdAt": dates::format(t.created),
        "$updatedAt": dates::format(t.updated),
        "name": "",
        "userId": user_id,
        "providerId": null,
        "providerType": t.provider_type,
        "identifier": t.identifier,
        "expired": false,
    })
}

/// The `Account` model (SDK `User`).
pub fn account(user: &UserItem) -> Value {
    let email = user.email.clone().unwrap_or_default();
    let (canonical, is_free, is_disposable, is_corporate, is_canonical) = if email.is_empty() {
        (
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        )
    } else {
        let domain = email.rsplit('@').next().unwrap_or_default();
        let free = FREE_DOMAINS.contains(&domain);
        (
            json!(email),
            json!(free),
            json!(false),
            json!(!free),
            json!(true),
        )
    };
    json!({
        "$id": user.id,
        "$createdAt": dates::format(user.created),
        "$updatedAt": dates::format(user.updated),
        "name": user.name,
        "registration": dates::format(user.registration),
        "status": user.status,
        "labels": user.labels,
        "passwordUpdate": dates::format_opt(user.password_update),
        "email": email,
        "phone": user.phone.clone().unwrap_or_default(),
        "emailVerification": user.email_verification,
        "emailCanonical": canonical,
        "emailIsFree": is_free,
        "emailIsDisposable": is_disposable,
        "emailIsCorporate": is_corporate,
        "emailIsCanonical": is_canonical,
        "phoneVerification": user.phone_verification,
        "mfa": user.mfa,
        "prefs": prefs(user),
        "targets": user.targets.iter().map(|t| target(t, &user.id)).collect::<Vec<_>>(),
        "accessedAt": dates::format(user.accessed),
        "impersonator": null,
        "impersonatorUserId": null,
    })
}

/// The twelve device fields Session and Log share, in Appwrite's order.
fn device_fields(d: &account_core::device::Device) -> Map<String, Value> {
    let fields = [
        ("osCode", &d.os_code),
        ("osName", &d.os_name),
        ("osVersion", &d.os_version),
        ("clientType", &d.client_type),
        ("clientCode", &d.client_code),
        ("clientName", &d.client_name),
        ("clientVersion", &d.client_version),
        ("clientEngine", &d.client_engine),
        ("clientEngineVersion", &d.client_engine_version),
        ("deviceName", &d.device_name),
        ("deviceBrand", &d.device_brand),
        ("deviceModel", &d.device_model),
    ];
    fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.clone())))
        .collect()
}

/// Extend a JSON object with more fields.
fn with(mut base: Value, extra: Map<String, Value>) -> Value {
    if let Value::Object(m) = &mut base {
        m.extend(extra);
    }
    base
}

/// The `Session` model. `secret` is `""` for clients; the caller decides what privileged callers see.
pub fn session(s: &SessionItem, current: bool, secret: &str) -> Value {
    let head = json!({
        "$id": s.id,
        "$createdAt": dates::format(s.created),
        "$updatedAt": dates::format(s.updated),
        "userId": s.uid,
        "expire": dates::format(s.expire),
        "provider": s.provider,
        "providerUid": s.provider_uid,
        "providerAccessToken": s.provider_access_token,
        "providerAccessTokenExpiry": dates::format_opt(s.provider_access_token_expiry),
        "providerRefreshToken": s.provider_refresh_token,
        "ip": s.ip,
    });
    let (country_code, country_name) = account_core::geo::of_session(&s.country_code, &s.ip);
    let tail = json!({
        "countryCode": country_code,
        "countryName": country_name,
        "current": current,
        "factors": s.factors,
        "secret": secret,
        "mfaUpdatedAt": dates::format_opt(s.mfa_updated_at),
    });
    let Value::Object(tail) = tail else {
        return head;
    };
    with(with(head, device_fields(&s.device)), tail)
}

pub fn session_list(sessions: &[Value]) -> Value {
    json!({ "total": sessions.len(), "sessions": sessions })
}

/// The `Token` model. `secret` is `""` for clients.
pub fn token(t: &account_core::item::TokenItem, secret: &str) -> Value {
    json!({
        "$id": t.id,
        "$createdAt": dates::format(t.created),
        "userId": t.uid,
        "secret": secret,
        "expire": dates::format(t.expire),
        "phrase": t.phrase,
    })
}

/// `passkeyChallenge` (docs/contract.md §6): a WebAuthn ceremony's options, as the official
/// SDKs' model (`passkeyId`, `publicKey`) and as issue 23's (`options: {publicKey}`).
pub fn passkey_challenge(c: &account_core::passkey::Ceremony) -> Value {
    json!({
        "$id": c.id,
        "$createdAt": dates::format(c.created),
        "passkeyId": c.passkey_id,
        "expire": dates::format(c.expire),
        "publicKey": c.options["publicKey"],
        "options": c.options,
    })
}

/// `passkey` (our extension, docs/contract.md §6).
pub fn passkey(p: &account_core::item::PasskeyItem) -> Value {
    json!({
        "$id": p.id,
        "$createdAt": dates::format(p.created),
        "$updatedAt": dates::format(p.updated),
        "name": p.name,
        "aaguid": p.aaguid,
        "backupEligible": p.backup_eligible,
        "backupState": p.backup_state,
        "lastUsedAt": p.last_used.map(dates::format).unwrap_or_default(),
        // The official SDKs' name: the last sign-in, or the registration before the first.
        "accessedAt": dates::format(p.last_used.unwrap_or(p.created)),
    })
}

/// `passkeyList`.
pub fn passkey_list(passkeys: &[account_core::item::PasskeyItem]) -> Value {
    json!({
        "total": passkeys.len(),
        "passkeys": passkeys.iter().map(passkey).collect::<Vec<_>>(),
    })
}

/// The `Log` model (Appwrite 1.9.6 `GET /account/logs`).
/// An identity (contract §3.7), with its provider tokens revealed for its owner.
pub fn identity(
    i: &account_core::item::IdentityItem,
    access_token: &str,
    refresh_token: &str,
) -> Value {
    json!({
        "$id": i.id,
        "$createdAt": dates::format(i.created),
        "$updatedAt": dates::format(i.updated),
        "userId": i.uid,
        "provider": i.provider,
        "providerUid": i.provider_uid,
        "providerEmail": i.provider_email,
        "providerAccessToken": access_token,
        "providerAccessTokenExpiry": i.access_token_expiry.map(dates::format).unwrap_or_default(),
        "providerRefreshToken": refresh_token,
    })
}

pub fn log(l: &account_core::item::LogItem) -> Value {
    let head = json!({
        "event": l.event,
        "userId": l.user_id,
        "userEmail": l.user_email,
        "userName": l.user_name,
        "mode": "default",
        "userType": "user",
        "ip": l.ip,
        "time": dates::format(l.time),
    });
    let (country_code, country_name) = account_core::geo::of_address(&l.ip);
    let mut tail = Map::new();
    tail.insert("countryCode".into(), json!(country_code));
    tail.insert("countryName".into(), json!(country_name));
    with(with(head, device_fields(&l.device)), tail)
}

/// The `MFAChallenge` model (never carries the code).
pub fn challenge(c: &account_core::item::ChallengeItem) -> Value {
    json!({
        "$id": c.id,
        "$createdAt": dates::format(c.created),
        "userId": c.uid,
        "expire": dates::format(c.expire),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_nulls_except(v: &Value, optional: &[&str]) {
        for (k, val) in v.as_object().unwrap() {
            if val.is_null() {
                assert!(optional.contains(&k.as_str()), "field {k} is null");
            }
        }
    }

    #[test]
    fn anonymous_account_has_defaults_not_nulls() {
        let u = UserItem::new("u1", 1_602_743_880_000);
        let v = account(&u);
        no_nulls_except(
            &v,
            &[
                "emailCanonical",
                "emailIsFree",
                "emailIsDisposable",
                "emailIsCorporate",
                "emailIsCanonical",
                "impersonator",
                "impersonatorUserId",
            ],
        );
        assert_eq!(v["prefs"], json!({}));
        assert_eq!(v["email"], "");
        assert_eq!(v["passwordUpdate"], "");
        assert_eq!(v["labels"], json!([]));
        assert_eq!(v["$createdAt"], "2020-10-15T06:38:00.000+00:00");
        assert_eq!(v["status"], true);
    }

    #[test]
    fn email_metadata_is_boolean_when_email_set() {
        let mut u = UserItem::new("u1", 0);
        u.email = Some("a@gmail.com".into());
        let v = account(&u);
        assert_eq!(v["emailIsFree"], true);
        assert_eq!(v["emailIsDisposable"], false);
        assert_eq!(v["emailCanonical"], "a@gmail.com");
    }

    #[test]
    fn prefs_object_even_if_corrupt() {
        let mut u = UserItem::new("u1", 0);
        u.prefs = "[]".into();
        assert_eq!(account(&u)["prefs"], json!({}));
        u.prefs = r#"{"k":"v"}"#.into();
        assert_eq!(account(&u)["prefs"], json!({"k": "v"}));
    }

    #[test]
    fn session_and_log_carry_every_device_field() {
        let s: SessionItem = serde_json::from_value(json!({
            "PK": "p", "SK": "s", "id": "sid", "uid": "u", "created": 0, "updated": 0, "expire": 1000,
            "expires_at": 1, "secretHash": "h", "provider": "email",
            "device": {"osCode": "WIN", "clientName": "Chrome"}
        }))
        .unwrap();
        let v = session(&s, true, "");
        for k in [
            "osCode",
            "osName",
            "osVersion",
            "clientType",
            "clientCode",
            "clientName",
            "clientVersion",
            "clientEngine",
            "clientEngineVersion",
            "deviceName",
            "deviceBrand",
            "deviceModel",
            "countryCode",
            "current",
            "mfaUpdatedAt",
        ] {
            assert!(v.get(k).is_some_and(|x| !x.is_null()), "{k}");
        }
        assert_eq!(v["osCode"], "WIN");
        assert_eq!(v["countryCode"], "--");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("$id"));
        assert_eq!(keys.last().map(|k| k.as_str()), Some("mfaUpdatedAt"));
    }
}
