//! AWS SDK configuration, for the functions and for binaries and tests that build their own
//! clients.

pub use aws_config::SdkConfig;

/// What a function needs and nothing more: region, credentials and `AWS_ENDPOINT_URL` (and
/// `AWS_ENDPOINT_URL_<SERVICE>`, as the standard chain reads them) from the environment,
/// where Lambda puts the region and the role's credentials. The standard chain ([`load`]:
/// profiles, SSO, web identity, IMDS, container credentials) stays with the operator CLI
/// and the tests; leaving it out keeps the STS client and the profile parser out of every
/// function binary (README "Binary size").
pub fn from_environment() -> SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .map(aws_config::Region::new);
    let mut b = SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ));
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        b = b.endpoint_url(url);
    }
    b.service_config(ServiceEndpoints).build()
}

/// `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`, …), which the SDK prefers to
/// `AWS_ENDPOINT_URL` for that service: locally DynamoDB is DynamoDB Local and the rest moto.
#[derive(Debug)]
struct ServiceEndpoints;

impl aws_types::service_config::LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
            .ok()
            .filter(|v| !v.trim().is_empty())
    }
}

/// The standard chain (`AWS_ENDPOINT_URL`, region and credentials from the environment).
pub async fn load() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// The standard chain, but every service at `endpoint` (fault and stall tests).
pub async fn load_with_endpoint(endpoint: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await
}
