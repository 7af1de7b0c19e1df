//! Lambda entry of the `mfa` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Mfa,
        fn_mfa::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
