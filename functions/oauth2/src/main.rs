//! Lambda entry of the `oauth2` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    account_edge::lambda::run(
        account_edge::routes::Function::Oauth2,
        fn_oauth2::handler,
        account_adapters::wiring::from_env(),
    )
    .await
}
