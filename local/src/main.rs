//! `devserver`: the whole API on `http://127.0.0.1:${PORT:-8787}/v1`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    account_edge::init_logging();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8787".into());
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    // STORE=memory: the in-memory twin instead of DynamoDB (scripts/bench-load measures our own
    // CPU per request apart from the emulator's). Nothing is kept when the process ends.
    let app = if std::env::var("STORE").is_ok_and(|s| s == "memory") {
        let from_env = account_adapters::wiring::from_env().await?;
        let clock = std::sync::Arc::new(account_core::clock::SystemClock);
        account_core::App::new(
            (*from_env.config).clone(),
            account_core::store::MemoryStore::new(clock.clone()),
            clock,
            std::sync::Arc::new(account_core::clock::OsEntropy),
        )
        .with_outbox(from_env.outbox.clone())
        .with_fetch(from_env.fetch.clone())
    } else {
        let app = account_adapters::wiring::from_env().await?;
        account_adapters::wiring::prepare_local(&app).await?;
        app
    };
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await?;
    let addr = listener.local_addr()?;
    println!("Appwrite-compatible Account API on http://{addr}/v1");
    println!(
        "project ID: {}  (send it as X-Appwrite-Project)",
        app.config.project_id
    );
    println!(
        "table: {}  rate limits: {}",
        if std::env::var("STORE").is_ok_and(|s| s == "memory") {
            "(in memory)"
        } else {
            app.config.table_name.as_str()
        },
        if app.config.rate_limits_enabled {
            "on"
        } else {
            "off"
        }
    );
    devserver::preload(&app).await;
    devserver::serve(Arc::new(app), listener).await?;
    Ok(())
}
