//! Lambda entry of the `verification` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(
        shared::routes::Function::Verification,
        fn_verification::handler,
    )
    .await
}
