//! Secrets from SSM Parameter Store (moto's SSM): the secret key ring and the OAuth2 client
//! secrets are read once at start-up, never printed, and a missing one fails the start instead
//! of a request.

use account_core::config::Config;

fn unique() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn client_secrets_come_from_ssm_parameters() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "run through scripts/test"
    );
    let sdk = account_adapters::aws::load().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let prefix = format!("/itest/oauth2/{}/", unique());
    ssm.put_parameter()
        .name(format!("{prefix}github"))
        .value("gh-s3cret-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let env = |k: &str| -> Option<String> {
        match k {
            "OAUTH2_PROVIDERS" => Some("github,oidc".into()),
            "OAUTH2_CLIENT_IDS" => Some("github=Iv1.abc, oidc=my-app".into()),
            "OAUTH2_ISSUERS" => Some("oidc=https://idp.example.com/realms/main".into()),
            "OAUTH2_SECRETS_PARAM_PREFIX" => Some(prefix.clone()),
            // One provider names its own parameter instead of the prefix's.
            "OAUTH2_OIDC_CLIENT_SECRET_PARAM" => Some(format!("{prefix}github")),
            _ => None,
        }
    };
    let mut config = Config::from_lookup(env).unwrap();
    assert_eq!(config.oauth2[0].client_secret, "", "not read before Init");
    account_adapters::wiring::resolve_oauth2_secrets(&sdk, &mut config)
        .await
        .unwrap();
    let github = config.oauth2_provider("github").unwrap();
    assert_eq!(
        (github.client_id.as_str(), github.client_secret.as_str()),
        ("Iv1.abc", "gh-s3cret-value")
    );
    let oidc = config.oauth2_provider("oidc").unwrap();
    assert_eq!(
        oidc.issuer.as_deref(),
        Some("https://idp.example.com/realms/main")
    );
    assert_eq!(oidc.client_secret, "gh-s3cret-value");
    assert!(
        !format!("{config:?}").contains("s3cret"),
        "secrets never printed"
    );

    // A function's Init: the key ring and the client secrets in one read.
    let ring_name = format!("{prefix}secret-key");
    ssm.put_parameter()
        .name(&ring_name)
        .value(format!("k7:{}", "c".repeat(40)))
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let lambda = |k: &str| match k {
        "AWS_LAMBDA_FUNCTION_NAME" => Some("oauth2".to_owned()),
        "SECRET_KEY_PARAM" => Some(ring_name.clone()),
        _ => env(k),
    };
    let config = account_adapters::wiring::load_config(&sdk, lambda)
        .await
        .unwrap();
    assert_eq!(config.keys.current_id(), "k7");
    assert_eq!(
        config.oauth2_provider("github").unwrap().client_secret,
        "gh-s3cret-value"
    );

    // A parameter that does not exist fails the start.
    let missing = |k: &str| -> Option<String> {
        match k {
            "OAUTH2_PROVIDERS" => Some("github".into()),
            "OAUTH2_GITHUB_CLIENT_ID" => Some("Iv1.abc".into()),
            "OAUTH2_GITHUB_CLIENT_SECRET_PARAM" => Some(format!("{prefix}nothing-here")),
            _ => None,
        }
    };
    let mut config = Config::from_lookup(missing).unwrap();
    let err = account_adapters::wiring::resolve_oauth2_secrets(&sdk, &mut config)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("not found"), "{err:?}");
}

#[tokio::test]
async fn the_key_ring_comes_from_ssm_and_lambda_takes_it_from_nowhere_else() {
    let sdk = account_adapters::aws::load().await;
    let name = format!("/itest/secret-key/{}", unique());
    let ring = format!("k2:{},k1:{}", "a".repeat(40), "b".repeat(40));
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(&name)
        .value(&ring)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let lambda = |param: Option<String>, plain: Option<String>| {
        move |k: &str| match k {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("account".to_owned()),
            "SECRET_KEY_PARAM" => param.clone(),
            "SECRET_KEY" => plain.clone(),
            _ => None,
        }
    };
    let config = account_adapters::wiring::load_config(&sdk, lambda(Some(name.clone()), None))
        .await
        .unwrap();
    assert_eq!(config.keys.current_id(), "k2");
    assert!(config
        .keys
        .get("k1", account_core::keyring::Purpose::Totp)
        .is_some());
    assert!(
        !format!("{config:?}").contains(&"a".repeat(40)),
        "never printed"
    );
    // The old key still opens what it sealed; the new one seals.
    let old = account_core::keyring::Keyring::parse(&format!("k1:{}", "b".repeat(40))).unwrap();
    let e = account_core::clock::OsEntropy;
    let sealed =
        account_core::seal::seal(&old, account_core::keyring::Purpose::Totp, b"x", &e).unwrap();
    assert_eq!(
        account_core::seal::open(&config.keys, account_core::keyring::Purpose::Totp, &sealed)
            .unwrap(),
        b"x"
    );

    for (param, plain, why) in [
        (Some(format!("{name}-missing")), None, "not found"),
        (None, Some(ring.clone()), "SECRET_KEY_PARAM"),
        (None, None, "SECRET_KEY_PARAM"),
    ] {
        let err = account_adapters::wiring::load_config(&sdk, lambda(param, plain))
            .await
            .unwrap_err();
        let shown = format!("{err:?}");
        assert!(shown.contains(why), "{shown}");
        assert!(!shown.contains(&"a".repeat(40)), "{shown}");
    }
}

#[test]
fn provider_configuration_is_checked_at_start() {
    let with = |pairs: &'static [(&'static str, &'static str)]| {
        Config::from_lookup(move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    // Unknown or unsupported keys, a missing ID, two secret sources, an issuer-less tenant
    // provider, a plain-http endpoint off loopback: each refuses to start.
    for bad in [
        &[("OAUTH2_PROVIDERS", "GitHub")][..],
        &[
            ("OAUTH2_PROVIDERS", "apple"),
            ("OAUTH2_APPLE_CLIENT_ID", "a"),
            ("OAUTH2_APPLE_CLIENT_SECRET", "s"),
        ][..],
        &[
            ("OAUTH2_PROVIDERS", "github"),
            ("OAUTH2_GITHUB_CLIENT_SECRET", "s"),
        ][..],
        &[
            ("OAUTH2_PROVIDERS", "github"),
            ("OAUTH2_GITHUB_CLIENT_ID", "a"),
            ("OAUTH2_GITHUB_CLIENT_SECRET", "s"),
            ("OAUTH2_GITHUB_CLIENT_SECRET_PARAM", "/p"),
        ][..],
        &[
            ("OAUTH2_PROVIDERS", "okta"),
            ("OAUTH2_OKTA_CLIENT_ID", "a"),
            ("OAUTH2_OKTA_CLIENT_SECRET", "s"),
        ][..],
        &[
            ("OAUTH2_PROVIDERS", "oidc"),
            ("OAUTH2_OIDC_CLIENT_ID", "a"),
            ("OAUTH2_OIDC_CLIENT_SECRET", "s"),
            ("OAUTH2_OIDC_ISSUER", "http://idp.example.com"),
        ][..],
    ] {
        assert!(with(bad).is_err(), "{bad:?}");
    }
    let ok = with(&[
        ("OAUTH2_PROVIDERS", "github"),
        ("OAUTH2_GITHUB_CLIENT_ID", "a"),
        ("OAUTH2_GITHUB_CLIENT_SECRET", "s"),
    ])
    .unwrap();
    assert_eq!(ok.oauth2.len(), 1);
}
