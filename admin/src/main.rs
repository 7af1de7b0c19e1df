//! `admin`: operator commands against the table named by `TABLE_NAME` (AWS configuration from the
//! environment, `AWS_ENDPOINT_URL` honoured).
//!
//! ```text
//! admin keys create --name NAME --scope sessions.write [--scope ...] [--expires-in-days N]
//! admin keys list
//! admin keys revoke KEY_ID
//! admin table create
//! admin table check [--counted-users]   (every invariant of infra/storage.md; exit 1 if broken)
//! admin routes sam-events      (the Events blocks of template.yaml, from the route table)
//! admin templates list|get|set|delete|preview ...   (message templates: templates.rs)
//! ```

mod templates;

use account_adapters::dynamo::DynamoStore as Store;
use account_core::clock::{Clock, OsEntropy, SystemClock};
use account_core::store::Security;

const USAGE: &str = "usage:
  admin keys create --name NAME --scope SCOPE [--scope SCOPE ...] [--expires-in-days N]
  admin keys list
  admin keys revoke KEY_ID
  admin table create
  admin table check [--counted-users]
  admin routes sam-events
  admin templates list
  admin templates get|delete|preview --channel email|sms --type TYPE --locale LOCALE [--out FILE.html]
  admin templates set --channel email|sms --type TYPE --locale LOCALE [--subject S]
      [--text T | --text-file F] [--html-file F] [--sender-name N] [--sender-email E]
      [--reply-to R] [--message M]
scopes: sessions.write, users.read, users.write";

fn fail(msg: &str) -> ! {
    eprintln!("{msg}\n\n{USAGE}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["routes", "sam-events"] {
        // No AWS needed: the template's events come from the route table alone.
        for f in account_edge::routes::Function::ALL {
            print!(
                "# {}\n{}",
                f.resource(),
                account_edge::routes::sam_events(*f)
            );
        }
        return;
    }
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "appwrite-account".into());
    let timeouts =
        account_core::config::Timeouts::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    let store = Store::with_timeouts(&account_adapters::aws::load().await, &table, timeouts);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["keys", "create", rest @ ..] => create(&store, rest).await,
        ["keys", "list"] => list(&store).await,
        ["keys", "revoke", id] => revoke(&store, id).await,
        ["table", "create"] => store
            .ensure_table()
            .await
            .map(|()| println!("table {table} is ready")),
        ["table", "check", rest @ ..] => check(&store, rest.contains(&"--counted-users")).await,
        ["templates", rest @ ..] => templates::run(&store, rest).await,
        _ => fail("unknown command"),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Scan the table and report every broken invariant (`store::invariants`): exit 1 if any.
async fn check(store: &Store, counted_users: bool) -> account_core::Result<()> {
    let items = store.scan_items().await?;
    let broken = account_core::store::invariants::check(&items, counted_users);
    for b in &broken {
        println!("{b}");
    }
    println!(
        "table check: {} items, {} broken invariants",
        items.len(),
        broken.len()
    );
    if !broken.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

async fn create(store: &Store, rest: &[&str]) -> account_core::Result<()> {
    let (mut name, mut scopes, mut days) = (None, vec![], None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match *flag {
            "--name" => name = Some(value.to_string()),
            "--scope" => scopes.push(value.to_string()),
            "--expires-in-days" => {
                days = Some(
                    value
                        .parse::<i64>()
                        .unwrap_or_else(|_| fail("--expires-in-days takes a number")),
                )
            }
            other => fail(&format!("unknown option {other}")),
        }
    }
    let name = name.unwrap_or_else(|| fail("--name is required"));
    if scopes.is_empty() {
        fail("at least one --scope is required");
    }
    let now = SystemClock.now_ms();
    let expire = days.map(|d| now + d * 86_400_000);
    let (item, key) = account_core::keys::generate(&name, &scopes, expire, now, &OsEntropy)?;
    store.put_api_key(&item).await?;
    println!(
        "created key {} ({}) with scopes {}",
        item.id,
        item.name,
        item.scopes.join(", ")
    );
    println!("{key}");
    eprintln!("The key is shown once: store it in your server's secret store (X-Appwrite-Key).");
    Ok(())
}

async fn list(store: &Store) -> account_core::Result<()> {
    for k in store.list_api_keys().await? {
        let expire = k
            .expire
            .map_or_else(|| "never".to_owned(), account_core::dates::format);
        println!(
            "{}  {}  scopes={}  expires={}",
            k.id,
            k.name,
            k.scopes.join(","),
            expire
        );
    }
    Ok(())
}

async fn revoke(store: &Store, id: &str) -> account_core::Result<()> {
    if store.delete_api_key(id).await? {
        println!("revoked {id}");
        Ok(())
    } else {
        fail(&format!("no key {id}"))
    }
}
