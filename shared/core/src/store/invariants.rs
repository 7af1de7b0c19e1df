//! What a consistent table looks like, checked over every item (the operator's `admin table
//! check`, the fault-injection lane of `scripts/test`, and the twin's tests). A write that
//! failed half-way (a transaction split, a retry that landed twice, a cleanup that never ran)
//! shows up here as a violation.
//!
//! Items are JSON objects as the table holds them (`PK`, `SK` and the attributes of `item.rs`).

use crate::item;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Every broken invariant, one sentence each; empty when the table is consistent.
/// `counted_users`: whether the user counter must equal the profiles (`USER_LIMIT` on).
pub fn check(items: &[Value], counted_users: bool) -> Vec<String> {
    let text = |i: &Value, k: &str| i.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut profiles: HashMap<String, &Value> = HashMap::new();
    for i in items {
        if text(i, "SK") == item::PROFILE_SK {
            if let Some(uid) = text(i, "PK").strip_prefix("USER#") {
                profiles.insert(uid.to_owned(), i);
            }
        }
    }
    let keys: HashSet<(String, String)> = items
        .iter()
        .map(|i| (text(i, "PK"), text(i, "SK")))
        .collect();
    let has = |pk: &str, sk: &str| keys.contains(&(pk.to_owned(), sk.to_owned()));
    // Identities by (user, identity ID), and whether one reserves its address: verified by a
    // trusted provider (identities stored before the flag count as verified).
    let identities: HashMap<(String, String), &Value> = items
        .iter()
        .filter_map(|i| {
            let uid = text(i, "PK").strip_prefix("USER#")?.to_owned();
            let id = text(i, "SK")
                .strip_prefix(item::IDENTITY_PREFIX)?
                .to_owned();
            Some(((uid, id), i))
        })
        .collect();
    let reserves = |i: &Value| {
        i.get("providerEmailVerified").and_then(Value::as_bool) == Some(true)
            && !text(i, "providerEmail").is_empty()
    };
    // Passkeys per user, and each credential claim's (user, passkey): one pass, not one per item.
    let mut passkeys_of: HashMap<String, i64> = HashMap::new();
    let mut passkey_claims: HashMap<String, (String, String)> = HashMap::new();
    for i in items {
        let (pk, sk) = (text(i, "PK"), text(i, "SK"));
        if let (Some(uid), true) = (
            pk.strip_prefix("USER#"),
            sk.starts_with(item::PASSKEY_PREFIX),
        ) {
            *passkeys_of.entry(uid.to_owned()).or_default() += 1;
        }
        if pk.starts_with("PASSKEYCRED#") {
            passkey_claims.insert(pk, (text(i, "uid"), text(i, "passkeyId")));
        }
    }
    let mut out = vec![];

    for i in items {
        let (pk, sk) = (text(i, "PK"), text(i, "SK"));
        if let Some(uid) = pk.strip_prefix("USER#") {
            let Some(profile) = profiles.get(uid) else {
                out.push(format!("{pk} {sk}: no profile"));
                continue;
            };
            if let Some(kind) = sk.strip_prefix(item::TOKEN_PREFIX) {
                // A change of address deletes the tokens sent to the old one, in its transaction.
                // (OAuth2 token mode's token names its provider, not an address.)
                let target = text(i, "target");
                if let Some(field) = item::token_field(kind)
                    .filter(|f| !target.is_empty() && target != text(profile, f))
                {
                    out.push(format!(
                        "{pk} {sk}: sent to {target}, the profile's {field} is another"
                    ));
                }
            }
            if let Some(id) = sk.strip_prefix(item::PASSKEY_PREFIX) {
                // A passkey and the claim of its credential ID are written and deleted together.
                use base64::Engine;
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text(i, "credentialId"))
                    .unwrap_or_default();
                let claim = item::passkey_claim_pk(&raw);
                let claimed = passkey_claims
                    .get(&claim)
                    .is_some_and(|(u, p)| u == uid && p == id);
                if !claimed {
                    out.push(format!("{pk} {sk}: passkey {id} without its claim {claim}"));
                }
            }
            if let Some(id) = sk.strip_prefix(item::IDENTITY_PREFIX) {
                let claim = item::identity_claim_pk(
                    &text(i, "provider"),
                    &text(i, "issuer"),
                    &text(i, "providerUid"),
                );
                if !has(&claim, item::IDENTITY_CLAIM_SK) {
                    out.push(format!(
                        "{pk} {sk}: identity {id} without its claim {claim}"
                    ));
                }
                if reserves(i) {
                    let at = item::identity_email_pk(&text(i, "providerEmail"));
                    let listed = items.iter().any(|e| {
                        text(e, "PK") == at
                            && text(e, "uid") == uid
                            && e.get("ids")
                                .and_then(Value::as_array)
                                .is_some_and(|ids| ids.iter().any(|x| x.as_str() == Some(id)))
                    });
                    if !listed {
                        out.push(format!(
                            "{pk} {sk}: identity {id}'s verified address is not reserved ({at})"
                        ));
                    }
                }
            }
        } else if let Some(uid) = pk.strip_prefix("LOG#") {
            if !profiles.contains_key(uid) {
                out.push(format!("{pk} {sk}: security log of no user"));
            }
        } else if let Some(email) = pk.strip_prefix("EMAIL#") {
            let uid = text(i, "uid");
            match profiles.get(uid.as_str()) {
                Some(p) if text(p, "email") == email => {}
                Some(_) => out.push(format!("{pk}: claimed by {uid}, whose email is another")),
                None => out.push(format!("{pk}: claimed by {uid}, who has no profile")),
            }
        } else if let Some(phone) = pk.strip_prefix("PHONE#") {
            let uid = text(i, "uid");
            match profiles.get(uid.as_str()) {
                Some(p) if text(p, "phone") == phone => {}
                Some(_) => out.push(format!("{pk}: claimed by {uid}, whose phone is another")),
                None => out.push(format!("{pk}: claimed by {uid}, who has no profile")),
            }
        } else if pk.starts_with("PASSKEYCRED#") {
            let passkey = item::passkey_sk(&text(i, "passkeyId"));
            if !has(&item::user_pk(&text(i, "uid")), &passkey) {
                out.push(format!("{pk}: claim of a missing passkey {passkey}"));
            }
        } else if pk.starts_with("OAUTH#") {
            let identity = item::identity_sk(&text(i, "identityId"));
            if !has(&item::user_pk(&text(i, "uid")), &identity) {
                out.push(format!("{pk}: claim of a missing identity {identity}"));
            }
        } else if let Some(address) = pk.strip_prefix("IDEMAIL#").filter(|_| i.get("v").is_some()) {
            // (Unmarked reservations predate the verified flag and bind nobody.)
            let uid = text(i, "uid");
            let ids = i
                .get("ids")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for id in ids.iter().filter_map(Value::as_str) {
                match identities.get(&(uid.clone(), id.to_owned())) {
                    None => out.push(format!(
                        "{pk}: lists identity {id}, which {uid} does not have"
                    )),
                    Some(ident) if text(ident, "providerEmail") != address => out.push(format!(
                        "{pk}: lists identity {id}, whose provider address is another"
                    )),
                    Some(ident) if !reserves(ident) => out.push(format!(
                        "{pk}: reserved for identity {id}, whose address is not verified"
                    )),
                    Some(_) => {}
                }
            }
            // A reservation never stands against another user's own address.
            let owner = items.iter().find(|e| {
                text(e, "PK") == item::email_pk(address) && text(e, "SK") == item::EMAIL_SK
            });
            if let Some(e) = owner.filter(|e| !ids.is_empty() && text(e, "uid") != uid) {
                out.push(format!(
                    "{pk}: reserved for {uid}, but {} holds the address",
                    text(e, "uid")
                ));
            }
        }
    }

    for (uid, p) in &profiles {
        // The profile counts its passkeys (the registration limit rests on it).
        let counted = p
            .get("passkeys")
            .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))
            .unwrap_or(0);
        let held = passkeys_of.get(uid).copied().unwrap_or(0);
        if counted != held {
            out.push(format!("USER#{uid}: counts {counted} passkeys, has {held}"));
        }
        let email = text(p, "email");
        if !email.is_empty() && !has(&item::email_pk(&email), item::EMAIL_SK) {
            out.push(format!("USER#{uid}: email {email} without its claim"));
        }
        let phone = text(p, "phone");
        if !phone.is_empty() && !has(&item::phone_pk(&phone), item::PHONE_SK) {
            out.push(format!("USER#{uid}: phone {phone} without its claim"));
        }
    }

    if counted_users {
        let n = items
            .iter()
            .find(|i| {
                text(i, "PK") == item::USER_COUNTER_PK && text(i, "SK") == item::USER_COUNTER_SK
            })
            .and_then(|i| i.get("n"))
            .and_then(|n| n.as_u64().or_else(|| n.as_str()?.parse().ok()))
            .unwrap_or(0);
        if n != profiles.len() as u64 {
            out.push(format!(
                "user counter is {n}, {} profiles exist",
                profiles.len()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Vec<Value> {
        vec![
            json!({"PK": "USER#u1", "SK": "PROFILE", "email": "a@example.com", "phone": "+15555550100", "passkeys": 1}),
            json!({"PK": "EMAIL#a@example.com", "SK": "EMAIL", "uid": "u1"}),
            json!({"PK": "PHONE#+15555550100", "SK": "PHONE", "uid": "u1"}),
            json!({"PK": "USER#u1", "SK": "SESSION#s1"}),
            json!({"PK": "USER#u1", "SK": "TOKEN#email-otp", "target": "a@example.com"}),
            json!({"PK": "USER#u1", "SK": "TOKEN#phone", "target": "+15555550100"}),
            json!({"PK": "USER#u1", "SK": "TOKEN#oauth2", "target": "github"}),
            json!({"PK": "USER#u1", "SK": "IDENTITY#i1", "provider": "github", "providerUid": "42", "providerEmail": "a@example.com", "providerEmailVerified": true}),
            json!({"PK": "OAUTH#github#42", "SK": "IDENTITY", "uid": "u1", "identityId": "i1"}),
            json!({"PK": "IDEMAIL#a@example.com", "SK": "IDENTITY", "uid": "u1", "ids": ["i1"], "v": true}),
            json!({"PK": "LOG#u1", "SK": "001#l1"}),
            json!({"PK": "META#USERS", "SK": "COUNT", "n": 1}),
            json!({"PK": "USER#u1", "SK": "PASSKEY#p1", "credentialId": "AQID"}),
            json!({"PK": item::passkey_claim_pk(&[1, 2, 3]), "SK": "PASSKEY", "uid": "u1", "passkeyId": "p1"}),
            json!({"PK": "PASSKEYLOGIN#c1", "SK": "CHALLENGE"}),
        ]
    }

    #[test]
    fn a_consistent_table_passes() {
        assert_eq!(check(&table(), true), Vec::<String>::new());
    }

    #[test]
    fn every_half_write_is_reported() {
        let broken = |f: &dyn Fn(&mut Vec<Value>)| {
            let mut t = table();
            f(&mut t);
            check(&t, true)
        };
        let drop_pk = |pk: &'static str| move |t: &mut Vec<Value>| t.retain(|i| i["PK"] != pk);
        assert_eq!(
            broken(&drop_pk("EMAIL#a@example.com")).len(),
            1,
            "profile without claim"
        );
        assert_eq!(broken(&drop_pk("PHONE#+15555550100")).len(), 1);
        assert_eq!(
            broken(&drop_pk("OAUTH#github#42")).len(),
            1,
            "identity without claim"
        );
        // No profile: its session, tokens, identity, passkey, log and claims are all orphans,
        // and the counter is off by one.
        assert_eq!(broken(&|t| t.retain(|i| i["SK"] != "PROFILE")).len(), 10);
        assert_eq!(
            broken(&|t| t.retain(|i| i["SK"] != "PASSKEY#p1")).len(),
            2,
            "a credential claim without its passkey, and the count is off"
        );
        assert_eq!(broken(&|t| t[0]["passkeys"] = json!(2)).len(), 1, "count");
        assert_eq!(
            broken(&|t| t.retain(|i| i["SK"] != "PASSKEY")).len(),
            1,
            "a passkey without its claim"
        );
        assert_eq!(
            broken(&|t| t[13]["uid"] = json!("u2")).len(),
            2,
            "a claim that names another user"
        );
        assert_eq!(
            broken(&|t| t[0]["email"] = json!("b@example.com")).len(),
            3,
            "the old claim, the missing new claim, the stale token"
        );
        assert_eq!(broken(&|t| t[11]["n"] = json!(2)).len(), 1, "counter");
        assert!(check(
            &{
                let mut t = table();
                t[11]["n"] = json!(2);
                t
            },
            false
        )
        .is_empty());
        assert_eq!(
            broken(&|t| t.retain(|i| i["SK"] != "IDENTITY#i1")).len(),
            2,
            "the claim and the identity email point at nothing"
        );
        assert_eq!(
            broken(&drop_pk("IDEMAIL#a@example.com")).len(),
            1,
            "a verified identity address without its reservation"
        );
        assert_eq!(
            broken(&|t| t[7]["providerEmailVerified"] = json!(false)).len(),
            1,
            "a reservation for an unverified address"
        );
        assert_eq!(
            broken(&|t| {
                t[9]["uid"] = json!("u2");
                t.push(json!({"PK": "USER#u2", "SK": "IDENTITY#i1", "provider": "github", "providerUid": "43", "providerEmail": "a@example.com", "providerEmailVerified": true}));
                t.push(json!({"PK": "USER#u2", "SK": "PROFILE"}));
                t.push(json!({"PK": "OAUTH#github#43", "SK": "IDENTITY", "uid": "u2", "identityId": "i1"}));
            })
            .iter()
            .filter(|v| v.contains("but u1 holds the address"))
            .count(),
            1,
            "reserved for one user while another's email claims it"
        );
    }
}
