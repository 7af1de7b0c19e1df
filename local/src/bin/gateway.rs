//! `gateway`: API Gateway's HTTP API on `127.0.0.1:${PORT}`, invoking the functions that
//! `cargo lambda watch` runs at `${LAMBDA_INVOKE_URL:-http://127.0.0.1:9000}` (`devserver::gateway`).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    account_edge::init_logging();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8788".into());
    let invoke =
        std::env::var("LAMBDA_INVOKE_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!(
        "API Gateway stand-in on http://{}/v1, invoking {invoke}",
        listener.local_addr()?
    );
    devserver::gateway::serve(listener, invoke).await?;
    Ok(())
}
