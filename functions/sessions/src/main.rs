//! Lambda entry of the `sessions` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Sessions,
        fn_sessions::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
