//! Lambda entry of the `sessions` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(shared::routes::Function::Sessions, fn_sessions::handler).await
}
