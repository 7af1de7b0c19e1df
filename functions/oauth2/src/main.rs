//! Lambda entry of the `oauth2` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(shared::routes::Function::Oauth2, fn_oauth2::handler).await
}
