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
//! admin users import --from appwrite|firebase|supabase|auth0 --file F ...   (users.rs)
//! admin users export --format appwrite [--out F]
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
  admin users import --from appwrite|firebase|supabase|auth0 --file FILE[.csv] [--report FILE]
      [--dry-run] [--on-conflict skip|update] [--issuer KEY=URL ...] [--concurrency N]
      [--hash-config FILE]   (firebase: the project's password hash parameters)
  admin users export --format appwrite [--out FILE]
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
        ["users", "import", rest @ ..] => import(store, rest).await,
        ["users", "export", rest @ ..] => export(&store, rest).await,
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

/// `admin users import`: exit 1 when any record failed (the report says which and why).
async fn import(store: Store, rest: &[&str]) -> account_core::Result<()> {
    use admin::users::{self, OnConflict, Options, Source};
    let (mut from, mut file, mut report, mut hash_config) = (None, None, None, None);
    let mut opts = Options {
        source: Source::Appwrite,
        csv: false,
        on_conflict: OnConflict::Skip,
        dry_run: false,
        issuers: Default::default(),
        concurrency: 16,
        now: SystemClock.now_ms(),
    };
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        if *flag == "--dry-run" {
            opts.dry_run = true;
            continue;
        }
        let value = it
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match *flag {
            "--from" => from = Some(*value),
            "--file" => file = Some(*value),
            "--report" => report = Some(*value),
            "--hash-config" => hash_config = Some(*value),
            "--on-conflict" => {
                opts.on_conflict = match *value {
                    "skip" => OnConflict::Skip,
                    "update" => OnConflict::Update,
                    _ => fail("--on-conflict is skip or update"),
                }
            }
            "--issuer" => {
                let (k, v) = value
                    .split_once('=')
                    .unwrap_or_else(|| fail("--issuer takes KEY=URL"));
                opts.issuers.insert(k.to_owned(), v.to_owned());
            }
            "--concurrency" => {
                opts.concurrency = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .unwrap_or_else(|| fail("--concurrency takes 1 to 256"))
            }
            other => fail(&format!("unknown option {other}")),
        }
    }
    let read = |path: &str| {
        std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
    };
    opts.source = match from.unwrap_or_else(|| fail("--from is required")) {
        "appwrite" => Source::Appwrite,
        "supabase" => Source::Supabase,
        "auth0" => Source::Auth0,
        "firebase" => {
            let path = hash_config.unwrap_or_else(|| fail("--from firebase needs --hash-config"));
            Source::Firebase(users::firebase_config(&read(path)).unwrap_or_else(|e| fail(&e)))
        }
        other => fail(&format!("unknown source {other}")),
    };
    let file = file.unwrap_or_else(|| fail("--file is required"));
    opts.csv = file.to_ascii_lowercase().ends_with(".csv");
    if opts.csv && !matches!(opts.source, Source::Firebase(_) | Source::Supabase) {
        fail("CSV files come from Firebase or Supabase");
    }
    let text = read(file);
    let limit = std::env::var("USER_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let store = account_core::store::Storage::with_user_limit(store, limit);
    let mut out: Box<dyn std::io::Write> = match report {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(account_core::Error::internal)?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let mut progress = |done: usize, total: usize| {
        if done == total || last.elapsed().as_millis() >= 500 {
            last = std::time::Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            let eta = (total - done) as f64 / rate.max(0.001);
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\r[{}{}] {done}/{total} users, {rate:.0}/s, ETA {eta:.0}s ",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
        }
    };
    let summary = users::import(&store, &text, &opts, &mut out, &mut progress)
        .await
        .map_err(account_core::Error::internal)?;
    out.flush().map_err(account_core::Error::internal)?;
    eprintln!(
        "\nimport{}: {} created, {} updated, {} skipped, {} valid, {} failed in {:.1}s",
        if opts.dry_run {
            " (dry run, nothing written)"
        } else {
            ""
        },
        summary.created,
        summary.updated,
        summary.skipped,
        summary.valid,
        summary.failed,
        started.elapsed().as_secs_f64()
    );
    if summary.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// `admin users export --format appwrite`: Appwrite's Users API shape, hashes included.
async fn export(store: &Store, rest: &[&str]) -> account_core::Result<()> {
    let (format, out) = match rest {
        ["--format", f] => (*f, None),
        ["--format", f, "--out", o] | ["--out", o, "--format", f] => (*f, Some(*o)),
        _ => fail("users export --format appwrite [--out FILE]"),
    };
    if format != "appwrite" {
        fail("the export format is appwrite");
    }
    let items = store.scan_items().await?;
    let json = admin::users::export(&items);
    let text = serde_json::to_string_pretty(&json).map_err(account_core::Error::internal)?;
    match out {
        Some(path) => std::fs::write(path, text).map_err(account_core::Error::internal)?,
        None => println!("{text}"),
    }
    eprintln!("exported {} users", json["total"]);
    Ok(())
}
