//! Lambda entry of the `verification` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Verification,
        fn_verification::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
