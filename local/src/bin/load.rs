//! `load`: a traffic mix against a running server, for `scripts/bench-load` (a benchmark, not a
//! test). Each connection loops over one user's life: sign-up, password login, eight
//! authenticated `GET /account`, a phone token issued and redeemed (a mock number per
//! connection, fixed code, no SMS). Prints throughput, p50/p99 per operation, the server's (and
//! the emulator's) CPU per request and peak RSS, and Argon2's share of the machine.
//!
//! ```text
//! load API PROJECT CONNECTIONS SECONDS SERVER_PID [EMULATOR_PID]
//! ```
//! Mock numbers: `+1555555{1000 + i}` with code `424242` for connection `i` (the script sets
//! `MOCK_NUMBERS` to match).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

type Http = Client<HttpConnector, Full<Bytes>>;
const PASSWORD: &str = "load-test-password-1";
pub const CODE: &str = "424242";

struct Api {
    http: Http,
    base: String,
    project: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        session: Option<&str>,
    ) -> Result<(u16, serde_json::Value, Option<String>), String> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("x-appwrite-project", &self.project)
            .header("content-type", "application/json");
        if let Some(s) = session {
            req = req.header("x-appwrite-session", s);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = self.http.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let fallback = resp
            .headers()
            .get("x-fallback-cookies")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            .and_then(|v| {
                v[format!("a_session_{}", self.project)]
                    .as_str()
                    .map(str::to_owned)
            });
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, json, fallback))
    }
}

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn record(&mut self, op: &'static str, took: Duration, status: Result<u16, String>, ok: u16) {
        match status {
            Ok(s) if s == ok => self.latencies.entry(op).or_default().push(took),
            Ok(s) => *self.errors.entry(format!("{op} {s}")).or_default() += 1,
            Err(e) => *self.errors.entry(format!("{op} {e}")).or_default() += 1,
        }
    }
}

type Reply = (u16, serde_json::Value, Option<String>);

/// One call, timed and recorded under `op` (`ok` is its success status); the reply, if any.
async fn timed(
    api: &Api,
    tally: &mut Tally,
    (op, ok): (&'static str, u16),
    (method, path): (&str, &str),
    body: Option<serde_json::Value>,
    session: Option<&str>,
) -> Option<Reply> {
    let t = Instant::now();
    let r = api.call(method, path, body, session).await;
    let took = t.elapsed();
    let reply = r.as_ref().ok().cloned();
    tally.record(op, took, r.map(|x| x.0), ok);
    reply
}

async fn user_loop(api: &Api, i: usize, deadline: Instant, tally: &mut Tally) {
    use serde_json::json;
    let phone = format!("+1555555{}", 1000 + i);
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let email = format!("load-{}-{i}-{n}@example.com", std::process::id());
        let body = json!({"userId": "unique()", "email": email, "password": PASSWORD});
        timed(
            api,
            tally,
            ("sign-up", 201),
            ("POST", "/account"),
            Some(body),
            None,
        )
        .await;
        let body = json!({"email": email, "password": PASSWORD});
        let login = ("POST", "/account/sessions/email");
        let r = timed(api, tally, ("login", 201), login, Some(body), None).await;
        let Some(session) = r.and_then(|x| x.2) else {
            continue;
        };
        for _ in 0..8 {
            let get = ("GET", "/account");
            timed(api, tally, ("get account", 200), get, None, Some(&session)).await;
        }
        let body = json!({"userId": "unique()", "phone": phone});
        let issue = ("POST", "/account/tokens/phone");
        let r = timed(api, tally, ("token issue", 201), issue, Some(body), None).await;
        if let Some(uid) = r.and_then(|x| x.1["userId"].as_str().map(str::to_owned)) {
            let body = json!({"userId": uid, "secret": CODE});
            let redeem = ("PUT", "/account/sessions/phone");
            timed(api, tally, ("token redeem", 201), redeem, Some(body), None).await;
        }
    }
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime), in clock ticks (100 per second on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 5 {
        return Err("usage: load API PROJECT CONNECTIONS SECONDS SERVER_PID [EMULATOR_PID]".into());
    }
    let (connections, seconds): (usize, u64) = (a[2].parse()?, a[3].parse()?);
    let server: u32 = a[4].parse()?;
    let emulator: Option<u32> = a.get(5).map(|p| p.parse()).transpose()?;

    // Argon2's ceiling on this machine: cores ÷ the time of one hash (the server's parameters).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Three untimed first: the first hashes also pay for faulting in their 19 MiB.
    let mut hashes = vec![];
    for i in 0..13 {
        let t = Instant::now();
        account_core::crypto::hash_password(PASSWORD, &account_core::clock::OsEntropy)?;
        if i >= 3 {
            hashes.push(t.elapsed());
        }
    }
    let hash_ms = pct(&mut hashes, 0.5);

    let http: Http = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let api = std::sync::Arc::new(Api {
        http,
        base: a[0].trim_end_matches('/').to_owned(),
        project: a[1].clone(),
    });
    let (cpu0, emu0) = (cpu_secs(server), emulator.map(cpu_secs));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                user_loop(&api, i, deadline, &mut tally).await;
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        for (op, v) in t.latencies {
            all.latencies.entry(op).or_default().extend(v);
        }
        for (e, n) in t.errors {
            *all.errors.entry(e).or_default() += n;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (cpu, emu) = (
        cpu_secs(server) - cpu0,
        emulator.zip(emu0).map(|(p, c0)| cpu_secs(p) - c0),
    );

    let total: usize = all.latencies.values().map(Vec::len).sum();
    let mut every: Vec<Duration> = all.latencies.values().flatten().copied().collect();
    println!(
        "{connections} connections, {wall:.1} s: {total} requests, {:.1} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
        total as f64 / wall,
        pct(&mut every, 0.5),
        pct(&mut every, 0.99),
        all.errors.values().sum::<u64>()
    );
    println!(
        "{:<14} {:>7} {:>9} {:>9}",
        "operation", "count", "p50 ms", "p99 ms"
    );
    for (op, v) in all.latencies.iter_mut() {
        println!(
            "{op:<14} {:>7} {:>9.1} {:>9.1}",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99)
        );
    }
    for (e, n) in &all.errors {
        println!("error: {e} ×{n}");
    }
    let hashed = all.latencies.get("sign-up").map_or(0, Vec::len)
        + all.latencies.get("login").map_or(0, Vec::len);
    let ceiling = cores as f64 * 1000.0 / hash_ms;
    println!(
        "server: {:.2} ms CPU per request, peak RSS {:.1} MB",
        cpu * 1000.0 / total.max(1) as f64,
        peak_rss_mb(server)
    );
    if let Some(e) = emu {
        println!(
            "emulator: {:.2} ms CPU per request",
            e * 1000.0 / total.max(1) as f64
        );
    }
    println!(
        "argon2: {hash_ms:.1} ms per hash, ceiling {ceiling:.1} hashes/s on {cores} cores; \
         {:.1} hashes/s here = {:.0}% of the ceiling, {:.0}% of the server's CPU",
        hashed as f64 / wall,
        100.0 * hashed as f64 / wall / ceiling,
        100.0 * hashed as f64 * hash_ms / 1000.0 / cpu.max(1e-9)
    );
    Ok(())
}
