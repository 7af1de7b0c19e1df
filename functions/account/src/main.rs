//! Lambda entry of the `account` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(shared::routes::Function::Account, fn_account::handler).await
}
