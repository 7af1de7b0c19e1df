//! Lambda entry of the `mfa` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(shared::routes::Function::Mfa, fn_mfa::handler).await
}
