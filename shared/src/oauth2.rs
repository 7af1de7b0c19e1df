//! OAuth2 sign-in. Provider support is not built yet: no provider can be configured, so every
//! provider answers as Appwrite does for one that is not enabled (`412 project_provider_disabled`,
//! or a redirect to the caller's failure URL with the error). The routes, their parameter
//! validation and the callback relay are in place for the real implementation.

use crate::config::Config;
use crate::error::{Error, ErrorType, Result};
use crate::params::Params;
use crate::validate;
use serde_json::Value;

/// Appwrite's provider keys (case-sensitive), plus the test-only `mock` ones.
pub const PROVIDERS: &[&str] = &[
    "amazon",
    "apple",
    "appwrite",
    "auth0",
    "authentik",
    "autodesk",
    "bitbucket",
    "bitly",
    "box",
    "dailymotion",
    "discord",
    "disqus",
    "dropbox",
    "etsy",
    "facebook",
    "figma",
    "fusionauth",
    "github",
    "gitlab",
    "google",
    "huggingface",
    "keycloak",
    "kick",
    "linkedin",
    "microsoft",
    "notion",
    "oidc",
    "okta",
    "paypal",
    "paypalSandbox",
    "podio",
    "salesforce",
    "slack",
    "spotify",
    "stripe",
    "tradeshift",
    "tradeshiftBox",
    "twitch",
    "wordpress",
    "x",
    "yahoo",
    "yammer",
    "yandex",
    "zoho",
    "zoom",
    "mock",
    "mock-unverified",
];

pub fn provider_param(provider: &str) -> Result<()> {
    if PROVIDERS.contains(&provider) {
        Ok(())
    } else {
        Err(Error::invalid_param(
            "provider",
            &format!("Value must be one of ({})", PROVIDERS.join(", ")),
        ))
    }
}

fn disabled() -> Error {
    Error::with_message(
        ErrorType::ProviderDisabled,
        "This provider is disabled. Please enable the provider from your Appwrite console to continue.",
    )
}

/// `GET /account/sessions/oauth2/{provider}` and `/account/tokens/oauth2/{provider}`: validate
/// `success`, `failure` and `scopes` as Appwrite does, then report the provider disabled.
pub fn start(config: &Config, provider: &str, p: &Params) -> Result<String> {
    provider_param(provider)?;
    for name in ["success", "failure"] {
        if let Some(url) = p.optional_str(name, "Value must be a valid URL")? {
            validate::redirect_url(name, url, config)?;
        }
    }
    match p.get("scopes") {
        None => {}
        Some(Value::Array(a))
            if a.len() <= 100
                && a.iter()
                    .all(|s| s.as_str().is_some_and(|s| s.len() <= 4096)) => {}
        Some(Value::String(s)) if s.len() <= 4096 => {}
        Some(_) => {
            return Err(Error::invalid_param(
                "scopes",
                "Value must be a valid array no longer than 100 items",
            ))
        }
    }
    Err(disabled())
}

/// `GET /account/sessions/oauth2/{provider}/redirect`: with a valid `failure` URL in `state`, the
/// error goes there (`?error={message,type,code}`); otherwise it is the response.
pub fn finish(config: &Config, provider: &str, p: &Params) -> Result<String> {
    provider_param(provider)?;
    let err = disabled();
    let state: Value = p
        .optional_str("state", "Value must be a valid string")?
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let failure = state
        .get("failure")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty());
    match failure.map(|f| validate::redirect_url("failure", f, config)) {
        Some(Ok(mut url)) => {
            let error = serde_json::json!({"message": err.message, "type": err.kind.as_str(), "code": err.kind.status()});
            url.query_pairs_mut()
                .append_pair("error", &error.to_string());
            Ok(url.to_string())
        }
        Some(Err(_)) => Err(Error::new(ErrorType::InvalidFailureUrl)),
        None => Err(err),
    }
}

/// `GET|POST /account/sessions/oauth2/callback/{provider}/{projectId}`: the redirect-route URL
/// carrying every parameter the provider sent (query for GET, form body for POST).
pub fn callback(req: &crate::http::ApiRequest, provider: &str, project: &str) -> Result<String> {
    provider_param(provider)?;
    let pairs: Vec<(String, String)> = if req.method == http::Method::GET {
        req.query_pairs()
    } else {
        url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect()
    };
    let pairs: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "project").collect();
    Ok(callback_location(provider, project, &pairs))
}

/// Relay `pairs` to the redirect route on this host, adding `project`.
pub fn callback_location(provider: &str, project: &str, pairs: &[(String, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.append_pair("project", project);
    let provider: String = url::form_urlencoded::byte_serialize(provider.as_bytes()).collect();
    format!(
        "/v1/account/sessions/oauth2/{provider}/redirect?{}",
        q.finish()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_query(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn providers_are_case_sensitive() {
        assert!(provider_param("github").is_ok());
        assert!(provider_param("paypalSandbox").is_ok());
        assert!(provider_param("GitHub").is_err());
    }

    #[test]
    fn start_validates_then_reports_disabled() {
        let c = Config::default();
        assert_eq!(
            start(&c, "github", &params(&[])).unwrap_err().kind,
            ErrorType::ProviderDisabled
        );
        assert_eq!(
            start(
                &c,
                "github",
                &params(&[("success", "http://evil.example/")])
            )
            .unwrap_err()
            .kind,
            ErrorType::ArgumentInvalid
        );
        assert_eq!(
            start(&c, "nope", &params(&[])).unwrap_err().kind,
            ErrorType::ArgumentInvalid
        );
    }

    #[test]
    fn finish_redirects_errors_to_a_valid_failure_url() {
        let c = Config::default();
        let p = params(&[(
            "state",
            r#"{"success":"http://localhost/ok","failure":"http://localhost/fail"}"#,
        )]);
        let to = finish(&c, "github", &p).unwrap();
        assert!(to.starts_with("http://localhost/fail?error="), "{to}");
        assert!(to.contains("project_provider_disabled"));
        let bad = params(&[("state", r#"{"failure":"http://evil.example/"}"#)]);
        assert_eq!(
            finish(&c, "github", &bad).unwrap_err().kind,
            ErrorType::InvalidFailureUrl
        );
        assert_eq!(
            finish(&c, "github", &params(&[])).unwrap_err().kind,
            ErrorType::ProviderDisabled
        );
    }

    #[test]
    fn callback_relays_parameters() {
        let l = callback_location(
            "github",
            "p1",
            &[("code".into(), "a b".into()), ("state".into(), "{}".into())],
        );
        assert_eq!(
            l,
            "/v1/account/sessions/oauth2/github/redirect?code=a+b&state=%7B%7D&project=p1"
        );
    }
}
