//! Lambda entry of the `recovery` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Recovery,
        fn_recovery::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
