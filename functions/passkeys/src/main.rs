//! Lambda entry of the `passkeys` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Passkeys,
        fn_passkeys::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
