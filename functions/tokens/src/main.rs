//! Lambda entry of the `tokens` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Tokens,
        fn_tokens::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
