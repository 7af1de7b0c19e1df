//! Production wiring, once per process (Lambda Init, the local server): the configuration with
//! the secrets kept in SSM, the DynamoDB store, the SES and SNS senders this build has (crate
//! features) and outbound HTTPS, put together into an [`App`].

use crate::dynamo::DynamoStore;
use account_core::clock::{OsEntropy, SystemClock};
use account_core::config::Config;
use account_core::error::Result;
use account_core::outbox::Outbox;
use account_core::App;
use std::sync::Arc;

/// Configuration and AWS clients from the environment.
pub async fn from_env() -> Result<App> {
    let sdk = crate::aws::from_environment();
    let config = load_config(&sdk, |k| std::env::var(k).ok()).await?;
    let store = DynamoStore::with_timeouts(&sdk, &config.table_name, config.dynamodb_timeouts);
    let outbox = outbox_from(&sdk, &config);
    Ok(
        App::new(config, store, Arc::new(SystemClock), Arc::new(OsEntropy))
            .with_outbox(outbox)
            .with_fetch(crate::https::providers()),
    )
}

/// Local development and tests: create the table, and verify the sender address (the
/// emulator, like SES's sandbox, only sends from verified identities).
pub async fn prepare_local(app: &App) -> Result<()> {
    app.store.prepare().await?;
    #[cfg(feature = "ses")]
    if let Some(from) = &app.config.mail_from {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let address = from
            .rsplit('<')
            .next()
            .unwrap_or(from)
            .trim_end_matches('>')
            .trim()
            .to_owned();
        aws_sdk_ses::Client::new(&sdk)
            .verify_email_identity()
            .email_address(address)
            .send()
            .await
            .map_err(account_core::Error::internal)?;
    }
    Ok(())
}

/// SSM Parameter Store values (SecureStrings decrypted) by name, in one `GetParameters` call
/// per 10 names, during Init only. Parameters that do not exist are left out of the map.
async fn ssm_parameters(
    sdk: &aws_config::SdkConfig,
    names: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    let conf = aws_sdk_ssm::config::Builder::from(sdk)
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(1))
                .operation_attempt_timeout(std::time::Duration::from_secs(2))
                .operation_timeout(std::time::Duration::from_secs(4))
                .build(),
        )
        .build();
    let client = aws_sdk_ssm::Client::from_conf(conf);
    let mut found = std::collections::HashMap::new();
    for chunk in names.chunks(10) {
        let out = client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                account_core::Error::internal(format!(
                    "reading SSM parameters: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                ))
            })?;
        for p in out.parameters.unwrap_or_default() {
            if let (Some(n), Some(v)) = (p.name, p.value) {
                found.insert(n, v);
            }
        }
    }
    Ok(found)
}

/// The configuration, with the secrets kept in SSM (the key ring `SECRET_KEY_PARAM` names, the
/// OAuth2 client secrets) read once, in one `GetParameters`: what every function does during
/// Init.
pub async fn load_config(
    sdk: &aws_config::SdkConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    let key_param = get("SECRET_KEY_PARAM")
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let mut names = account_core::config::oauth2_secret_params(&get)?;
    names.extend(key_param.clone());
    let found = parameters(sdk, names).await?;
    let key = key_param.map(|name| required(&found, &name)).transpose()?;
    let mut config = Config::from_sources(get, key)?;
    fill_oauth2_secrets(&mut config, &found)?;
    Ok(config)
}

/// The values of `names` (deduplicated; no call for none).
async fn parameters(
    sdk: &aws_config::SdkConfig,
    mut names: Vec<String>,
) -> Result<std::collections::HashMap<String, String>> {
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(Default::default());
    }
    ssm_parameters(sdk, &names).await
}

/// A parameter that must exist: a deployment never runs without its key ring or with a
/// provider it cannot finish.
fn required(found: &std::collections::HashMap<String, String>, name: &str) -> Result<String> {
    found
        .get(name)
        .cloned()
        .ok_or_else(|| account_core::Error::internal(format!("SSM parameter {name} not found")))
}

fn fill_oauth2_secrets(
    config: &mut Config,
    found: &std::collections::HashMap<String, String>,
) -> Result<()> {
    for p in &mut config.oauth2 {
        if let Some(name) = &p.secret_param {
            p.client_secret = required(found, name)?;
            account_core::config::check_secret(p.provider, &p.client_secret).map_err(|why| {
                account_core::Error::internal(format!(
                    "SSM parameter {name} cannot serve {}: {why}",
                    p.provider.key
                ))
            })?;
        }
    }
    Ok(())
}

/// Read the OAuth2 client secrets kept in SSM Parameter Store (SecureString) into a parsed
/// configuration. A missing parameter is an error.
pub async fn resolve_oauth2_secrets(
    sdk: &aws_config::SdkConfig,
    config: &mut Config,
) -> Result<()> {
    let names = config
        .oauth2
        .iter()
        .filter_map(|p| p.secret_param.clone())
        .collect();
    let found = parameters(sdk, names).await?;
    fill_oauth2_secrets(config, &found)
}

/// SES and SNS (`Config::messaging_timeouts`, README "Timeouts"): past the budget the token is
/// withdrawn and the client gets a 503.
#[cfg(any(feature = "ses", feature = "sns"))]
fn messaging_timeouts(
    t: account_core::config::Timeouts,
) -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(t.attempt)
        .operation_timeout(t.operation)
        .build()
}

/// Senders this build can have (crate features) and the configuration enables.
#[allow(unused_variables, unused_mut)]
pub fn outbox_from(sdk: &aws_config::SdkConfig, config: &Config) -> Outbox {
    let mut outbox = Outbox {
        log_messages: config.outbox_log,
        ..Outbox::default()
    };
    #[cfg(feature = "ses")]
    if let Some(from) = &config.mail_from {
        let conf = aws_sdk_ses::config::Builder::from(sdk)
            .timeout_config(messaging_timeouts(config.messaging_timeouts))
            .build();
        outbox.mail = Some(Arc::new(crate::ses::SesMailer {
            client: aws_sdk_ses::Client::from_conf(conf),
            from: from.clone(),
            senders: config.mail_senders.clone(),
        }));
    }
    #[cfg(feature = "sns")]
    if config.sms_enabled {
        let conf = aws_sdk_sns::config::Builder::from(sdk)
            .timeout_config(messaging_timeouts(config.messaging_timeouts))
            .build();
        outbox.sms = Some(Arc::new(crate::sns::SnsTexter {
            client: aws_sdk_sns::Client::from_conf(conf),
        }));
    }
    outbox
}
