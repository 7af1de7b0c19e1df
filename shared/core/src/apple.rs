//! Sign in with Apple's two departures from a plain OpenID provider: its client secret is a
//! short-lived ES256 JWT the server signs with the team's private key, and the user's name comes
//! only once, in the `user` JSON of the first authorization's form post (never in the ID token).
//!
//! The configured secret is Appwrite's JSON for Apple, `{"keyID", "teamID", "p8"}` (the `.p8`
//! file's PEM text), kept like any other client secret (a file or an SSM SecureString). Apple:
//! "Creating a client secret", developer.apple.com/documentation/accountorganizationaldatasharing/creating-a-client-secret.

use crate::clock::Millis;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// A fresh secret for every token request, valid this long: nothing to cache or renew, and a
/// leaked one is worthless within minutes (Apple allows up to six months).
pub const SECRET_SECS: i64 = 300;

/// Apple's audience for client secrets, when the issuer is Apple's own.
pub const AUDIENCE: &str = "https://appleid.apple.com";

/// The name kept from the form post is capped as a user's own name is (Appwrite: 128).
const NAME_CHARS: usize = 128;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TeamKey {
    #[serde(rename = "keyID")]
    key_id: String,
    #[serde(rename = "teamID")]
    team_id: String,
    p8: String,
}

#[derive(Serialize)]
struct SecretClaims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    aud: &'a str,
    sub: &'a str,
}

fn team_key(secret: &str) -> Result<(TeamKey, EncodingKey), String> {
    let key: TeamKey = serde_json::from_str(secret)
        .map_err(|_| "not Appwrite's Apple JSON {\"keyID\", \"teamID\", \"p8\"}".to_owned())?;
    if key.key_id.trim().is_empty() || key.team_id.trim().is_empty() {
        return Err("keyID and teamID must not be empty".into());
    }
    let not_a_key = || "p8 is not a PKCS#8 P-256 private key (the .p8 file's text)".to_owned();
    let der = pkcs8_der(&key.p8).ok_or_else(not_a_key)?;
    Ok((key, EncodingKey::from_ec_der(&der)))
}

/// The DER inside a `PRIVATE KEY` PEM block; pasted keys often carry escaped line breaks.
fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let pem = pem.replace("\\n", "\n");
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .strip_suffix("-----END PRIVATE KEY-----")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Whether `secret` is usable, checked when the configuration is read (a deployment that cannot
/// sign a secret fails at Init, not at a user's sign-in). The message never quotes the secret.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let (_, signing) = team_key(secret)?;
    // The signer checks the curve and the PKCS#8 structure: sign once, here, to learn it.
    encode(&Header::new(Algorithm::ES256), &(), &signing)
        .map(|_| ())
        .map_err(|_| "p8 is not a PKCS#8 P-256 private key (the .p8 file's text)".to_owned())
}

/// The client secret for one token request of `client_id` (the Services ID), for the issuer
/// `audience`: `{iss: team, iat, exp, aud, sub: client}`, ES256, `kid` the key's ID.
pub fn client_secret(
    secret: &str,
    client_id: &str,
    audience: &str,
    now: Millis,
) -> Result<String, String> {
    let (key, signing) = team_key(secret)?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.key_id.trim().to_owned());
    // A minute back: a clock a little ahead of Apple's must not make a secret from the future.
    let iat = now.div_euclid(1000) - 60;
    let claims = SecretClaims {
        iss: key.team_id.trim(),
        iat,
        exp: iat + SECRET_SECS,
        aud: audience,
        sub: client_id,
    };
    encode(&header, &claims, &signing).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserName {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

#[derive(Deserialize)]
struct User {
    name: Option<UserName>,
}

/// The name in the `user` JSON Apple posts on a user's first authorization
/// (`{"name": {"firstName", "lastName"}, "email"}`): "first last", trimmed, capped. The JSON is
/// not signed, so only the name is ever taken from it (the address comes from the ID token).
pub fn posted_name(user: &str) -> Option<String> {
    let user: User = serde_json::from_str(user).ok()?;
    let name = user.name?;
    let full = format!("{} {}", name.first_name.trim(), name.last_name.trim());
    let full: String = full
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(NAME_CHARS)
        .collect();
    Some(full).filter(|n| !n.is_empty())
}

/// What of the `user` JSON travels on from the callback to the redirect route (a URL): the
/// name only, rebuilt from its two parts, each capped; never the address or anything else.
pub fn relayed_user(user: &str) -> Option<String> {
    posted_name(user)?;
    let name = serde_json::from_str::<User>(user).ok()?.name?;
    let cap = |s: &str| -> String {
        s.trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(NAME_CHARS)
            .collect()
    };
    Some(
        serde_json::json!({"name": {"firstName": cap(&name.first_name), "lastName": cap(&name.last_name)}})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key made for these tests only (openssl genpkey -algorithm EC
    // -pkeyopt ec_paramgen_curve:P-256), as Apple's .p8 files are.
    const P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGV8EEy0pK5z4Opd5
6pXu3E8YFmucYQJevb+m0iI9TuihRANCAARwZdRC/rrRHwnESaZl7jf6t7p6Z04N
W1ZED1PVcqRGGMVB4aTiWkL6ASPeFCc/FwbZbjfoIKdOhPOPXDSzcfP4
-----END PRIVATE KEY-----";

    fn secret() -> String {
        serde_json::json!({"keyID": "KEY123", "teamID": "TEAM456", "p8": P8}).to_string()
    }

    #[test]
    fn the_client_secret_is_an_es256_jwt_of_the_team() {
        let jwt = client_secret(&secret(), "com.example.web", AUDIENCE, 1_700_000_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("KEY123"));
        let public = jsonwebtoken::DecodingKey::from_ec_components(
            "cGXUQv660R8JxEmmZe43-re6emdODVtWRA9T1XKkRhg",
            "xUHhpOJaQvoBI94UJz8XBtluN-ggp06E849cNLNx8_g",
        )
        .unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&["TEAM456"]);
        v.validate_exp = false;
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &public, &v)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["iat"], 1_700_000_000 - 60);
        assert_eq!(claims["exp"], 1_700_000_000 - 60 + SECRET_SECS);
    }

    #[test]
    fn a_bad_secret_is_refused_without_quoting_it() {
        for bad in [
            "plain-secret".to_owned(),
            serde_json::json!({"keyID": "", "teamID": "T", "p8": P8}).to_string(),
            serde_json::json!({"keyID": "K", "teamID": "T", "p8": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}).to_string(),
        ] {
            let e = check_secret(&bad).unwrap_err();
            assert!(!e.contains("AAAA") && !e.contains("plain-secret"), "{e}");
        }
        check_secret(&secret()).unwrap();
        // Escaped line breaks, as a pasted key often has them.
        let escaped =
            serde_json::json!({"keyID": "K", "teamID": "T", "p8": P8.replace('\n', "\\n")});
        check_secret(&escaped.to_string()).unwrap();
    }

    #[test]
    fn the_posted_name_is_first_and_last_and_nothing_else() {
        let user = r#"{"name":{"firstName":" Ada ","lastName":"Lovelace"},"email":"ada@privaterelay.appleid.com"}"#;
        assert_eq!(posted_name(user).as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            relayed_user(user).unwrap(),
            r#"{"name":{"firstName":"Ada","lastName":"Lovelace"}}"#
        );
        let stuffed = format!(
            r#"{{"name":{{"firstName":"A","lastName":"B","extra":"{}"}},"email":"a@b.c"}}"#,
            "x".repeat(5000)
        );
        assert_eq!(
            relayed_user(&stuffed).unwrap(),
            r#"{"name":{"firstName":"A","lastName":"B"}}"#
        );
        assert_eq!(
            posted_name(r#"{"name":{"firstName":"Ada"}}"#).as_deref(),
            Some("Ada")
        );
        assert_eq!(posted_name(r#"{"email":"a@b.c"}"#), None);
        assert_eq!(posted_name("not json"), None);
        assert_eq!(
            posted_name(r#"{"name":{"firstName":"","lastName":""}}"#),
            None
        );
        let long = format!(r#"{{"name":{{"firstName":"{}"}}}}"#, "x".repeat(500));
        assert_eq!(posted_name(&long).unwrap().len(), NAME_CHARS);
    }
}
