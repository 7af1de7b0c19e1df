//! Lambda entry of the `account` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Account,
        fn_account::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
