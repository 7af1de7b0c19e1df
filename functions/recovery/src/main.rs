//! Lambda entry of the `recovery` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(shared::routes::Function::Recovery, fn_recovery::handler).await
}
