//! The fault lane's passkey flows (scripts/test `run_faults`): while scripts/fault_proxy.py
//! injects DynamoDB faults, each user signs up, signs in, registers a passkey, signs in with it
//! (token, then session), renames it and deletes it. Every answer is judged as
//! scripts/fault_drive.py judges its own: in mode `clean` everything must succeed (the faults
//! are absorbed by safe resends); in mode `any` a failure must be Appwrite's envelope with 500
//! or 503. Afterwards `admin table check` finds any half-written passkey or claim.
//!
//! usage: passkey_drive API_URL PROJECT USERS MODE(clean|any) MIN_OK

use integration_tests::passkey::{Key, ORIGIN};
use serde_json::{json, Value};
use std::process::ExitCode;

struct Drive {
    http: reqwest::Client,
    api: String,
    project: String,
    clean: bool,
    requests: usize,
    ok: usize,
    /// Requests of the passkey flow itself (the floor is theirs: sign-up and password login are
    /// fault_drive.py's to judge, and their clean failures only restart a flow here).
    passkey_requests: usize,
    passkey_ok: usize,
    violations: Vec<String>,
}

impl Drive {
    /// One request; `None` when it failed (cleanly, or a violation was recorded).
    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        session: Option<&str>,
        body: Value,
    ) -> Option<(Value, Option<String>)> {
        self.requests += 1;
        let passkey_step = path.contains("passkey") || path == "/account/sessions/token";
        self.passkey_requests += usize::from(passkey_step);
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .header("X-Appwrite-Project", &self.project)
            .json(&body);
        if let Some(s) = session {
            req = req.header("X-Appwrite-Session", s);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.violations
                    .push(format!("{method} {path}: no answer: {e}"));
                return None;
            }
        };
        let status = res.status().as_u16();
        let session = res
            .headers()
            .get("x-fallback-cookies")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .and_then(|v| v.as_object()?.values().next()?.as_str().map(str::to_owned));
        let json: Value = res.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            self.ok += 1;
            self.passkey_ok += usize::from(passkey_step);
            return Some((json, session));
        }
        let envelope = json["code"] == status
            && json["type"].is_string()
            && json["message"].is_string()
            && json["version"].is_string();
        if self.clean || !matches!(status, 500 | 503) || !envelope {
            self.violations
                .push(format!("{method} {path}: {status} {json}"));
        }
        None
    }

    /// The authenticator's answer; its failure (options it could not use) is a violation.
    fn authenticator(&mut self, answer: Result<Value, String>) -> Option<Value> {
        match answer {
            Ok(v) => Some(v),
            Err(e) => {
                self.violations
                    .push(format!("the authenticator refused the options: {e}"));
                None
            }
        }
    }

    /// One user's flows; stops at the first failure (the next step needs it).
    async fn user(&mut self, n: usize, attempt: usize) -> Option<()> {
        use reqwest::Method as M;
        let email = format!(
            "passkey-drive-{}-{n}-{attempt}@example.com",
            std::process::id()
        );
        let password = "fault-lane-password-1";
        self.call(
            M::POST,
            "/account",
            None,
            json!({"userId": "unique()", "email": email, "password": password}),
        )
        .await?;
        let (_, session) = self
            .call(
                M::POST,
                "/account/sessions/email",
                None,
                json!({"email": email, "password": password}),
            )
            .await?;
        let session = session?;
        let s = Some(session.as_str());
        let mut key = Key::synced();
        let (c, _) = self
            .call(M::POST, "/account/passkeys/registration", s, json!({}))
            .await?;
        let cred = self.authenticator(key.create(&c["options"], ORIGIN).await)?;
        let (p, _) = self
            .call(
                M::PUT,
                "/account/passkeys/registration",
                s,
                json!({"challengeId": c["$id"], "credential": cred}),
            )
            .await?;
        let (c, _) = self
            .call(M::POST, "/account/tokens/passkey", None, json!({}))
            .await?;
        let answer = self.authenticator(key.get(&c["options"], ORIGIN).await)?;
        let (t, _) = self
            .call(
                M::PUT,
                "/account/tokens/passkey",
                None,
                json!({"challengeId": c["$id"], "credential": answer}),
            )
            .await?;
        self.call(
            M::POST,
            "/account/sessions/token",
            None,
            json!({"userId": t["userId"], "secret": t["secret"]}),
        )
        .await?;
        let path = format!("/account/passkeys/{}", p["$id"].as_str()?);
        self.call(M::PATCH, &path, s, json!({"name": "Renamed"}))
            .await?;
        self.call(M::DELETE, &path, s, json!({})).await?;
        Some(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, api, project, users, mode, min_ok] = args.as_slice() else {
        eprintln!("usage: passkey_drive API_URL PROJECT USERS MODE(clean|any) MIN_OK");
        return ExitCode::FAILURE;
    };
    let (users, min_ok): (usize, f64) = match (users.parse(), min_ok.parse()) {
        (Ok(u), Ok(m)) => (u, m),
        _ => {
            eprintln!("USERS and MIN_OK are numbers");
            return ExitCode::FAILURE;
        }
    };
    let mut d = Drive {
        http: reqwest::Client::new(),
        api: api.clone(),
        project: project.clone(),
        clean: mode == "clean",
        requests: 0,
        ok: 0,
        passkey_requests: 0,
        passkey_ok: 0,
        violations: vec![],
    };
    // A flow that met a clean failure (mode `any`) starts again with a new user, as a client
    // retries after a 503: a single fault must not hide the steps after it.
    for n in 0..users {
        for attempt in 0..3 {
            if d.user(n, attempt).await.is_some() || d.clean {
                break;
            }
        }
    }
    let rate = d.passkey_ok as f64 / d.passkey_requests.max(1) as f64;
    println!(
        "passkey drive ({mode}): {} passkey requests, {} ok ({:.0}%); {} requests in all, {} ok; {} violations",
        d.passkey_requests,
        d.passkey_ok,
        rate * 100.0,
        d.requests,
        d.ok,
        d.violations.len()
    );
    for v in &d.violations {
        println!("  violation: {v}");
    }
    if !d.violations.is_empty() || rate < min_ok || d.passkey_requests == 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
