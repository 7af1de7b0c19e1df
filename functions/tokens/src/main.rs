//! Lambda entry of the `tokens` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(shared::routes::Function::Tokens, fn_tokens::handler).await
}
