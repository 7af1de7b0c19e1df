//! Users who arrive with a password hash from elsewhere (issue 22): each of Appwrite's seven
//! algorithms signs in over HTTP with its published test vector, and the first login leaves an
//! Argon2id hash on the profile and the email claim, in one more conditional transaction.

use account_core::item::{email_pk, user_pk, EMAIL_SK, PROFILE_SK};
use account_core::store::{Accounts, Claims};
use base64::Engine;
use integration_tests::*;

/// Appwrite's end-to-end test users, password "appwrite"
/// (appwrite/appwrite tests/e2e/Services/Users/UsersBase.php), in our stored formats.
fn vectors() -> Vec<(&'static str, String)> {
    let salt = base64::engine::general_purpose::STANDARD.encode("appwrite");
    vec![
        ("md5", "$md5$144fa7eaa4904e8ee120651997f70dcc".into()),
        ("bcrypt", "$2a$15$xX/myGbFU.ZSKHSi6EHdBOySTdYm8QxBLXmOPHrYMwV0mHRBBSBOq".into()),
        ("argon2", "$argon2i$v=19$m=20,t=3,p=2$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI".into()),
        ("sha", "$sha$sha512$4243da0a694e8a2f727c8060fe0507c8fa01ca68146c76d2c190805b638c20c6bf6ba04e21f11ae138785d0bff63c416e6f87badbffad37f6dee50094cc38c70".into()),
        ("scrypt", format!("$scrypt$n=16384,r=13,p=2,l=64${salt}$3fdef49701bc4cfaacd551fe017283513284b4731e6945c263246ef948d3cf63b5d269c31fd697246085111a428245e24a4ddc6b64c687bc60a8910dbafc1d5b")),
        ("phpass", "$P$Br387rwferoKN7uwHZqNMu98q3U8RO.".into()),
        ("scryptMod", "$firebase-scrypt$r=8,m=14$UxLMreBr6tYyjQ==$Bw==$XyEKE9RcTDeLEsL/RjwPDBv/RqDl8fb3gpYEOQaPihbxf1ZAtSOHCjuAAa7Q3oHpCYhXSN9tizHgVOwn6krflQ==$UlM7JiXRcQhzAGlaonpSqNSLIz475WMddOgLjej5De9vxTy48K6WtqlEzrRFeK4t0COfMhWCb8wuMHgxOFCHFQ==".into()),
    ]
}

async fn login_ops(s: &Server, email: &str, password: &str) -> (Vec<String>, u16) {
    s.recorder.take_ops();
    let r = s
        .post(
            "/account/sessions/email",
            serde_json::json!({"email": email, "password": password}),
        )
        .await;
    (s.recorder.take_ops(), r.status)
}

#[tokio::test]
async fn each_imported_algorithm_signs_in_and_leaves_argon2id() {
    let s = Server::start().await;
    for (name, hash) in vectors() {
        // A user as an import leaves it: the hash on the profile and the claim's copy.
        let (uid, email, _) = s.sign_up().await;
        let (user, _) = s.dynamo.get_user_and_sessions(&uid, &[]).await.unwrap();
        let user = user.unwrap();
        let mut after = user.clone();
        after.password = Some(hash.clone());
        let claims = Claims {
            email_password: Some((email.clone(), Some(hash.clone()))),
            ..Claims::default()
        };
        s.dynamo
            .update_user_atomically(&user, &after, &claims, &[], &[])
            .await
            .unwrap();

        let (_, status) = login_ops(&s, &email, "appwritf").await;
        assert_eq!(status, 401, "{name}: a wrong password");
        assert_eq!(
            s.text(&user_pk(&uid), PROFILE_SK, "password")
                .await
                .as_deref(),
            Some(hash.as_str())
        );

        let (ops, status) = login_ops(&s, &email, "appwrite").await;
        assert_eq!(status, 201, "{name}: the imported password");
        let stored = s
            .text(&user_pk(&uid), PROFILE_SK, "password")
            .await
            .unwrap();
        assert!(
            account_core::crypto::is_current(&stored),
            "{name}: {stored}"
        );
        assert_eq!(
            s.text(&email_pk(&email), EMAIL_SK, "password")
                .await
                .as_deref(),
            Some(stored.as_str()),
            "{name}: the claim's copy"
        );
        // The upgrade: one read of the profile and one conditional transaction, beyond a login's.
        let (plain, status) = login_ops(&s, &email, "appwrite").await;
        assert_eq!(status, 201, "{name}: the new hash");
        let extra: Vec<_> = {
            let mut rest = plain.clone();
            ops.iter()
                .filter(|op| match rest.iter().position(|p| p == *op) {
                    Some(i) => {
                        rest.remove(i);
                        false
                    }
                    None => true,
                })
                .cloned()
                .collect()
        };
        assert_eq!(
            extra,
            ["BatchGetItem", "TransactWriteItems"],
            "{name}: {ops:?} vs {plain:?}"
        );
        assert_eq!(
            s.text(&user_pk(&uid), PROFILE_SK, "password")
                .await
                .as_deref(),
            Some(stored.as_str()),
            "{name}: a current hash is left alone"
        );
    }
}
