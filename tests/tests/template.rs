//! The route table, the Lambda routers, the local server and `template.yaml` must agree.

use account_edge::routes::{Function, ROUTES};
use std::collections::BTreeSet;

type Triple = (String, String, String); // (resource, method, path)

/// `(resource, method, path)` of every HttpApi event in the template (our template's fixed shape:
/// `Method:` then `Path:` inside each event's `Properties`).
fn template_routes() -> BTreeSet<Triple> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let mut out = BTreeSet::new();
    let (mut in_resources, mut resource, mut method) = (false, String::new(), String::new());
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if in_resources && indent == 2 && t.ends_with(':') {
            resource = t.trim_end_matches(':').to_string();
        } else if let Some(m) = t.strip_prefix("Method: ") {
            method = m.trim().to_string();
        } else if let Some(p) = t.strip_prefix("Path: ") {
            out.insert((resource.clone(), method.clone(), p.trim().to_string()));
        }
    }
    out
}

fn expected() -> BTreeSet<Triple> {
    let mut set: BTreeSet<Triple> = ROUTES
        .iter()
        .flat_map(|r| {
            r.paths.iter().map(move |p| {
                (
                    r.id.function().resource().to_string(),
                    r.method.to_string(),
                    p.to_string(),
                )
            })
        })
        .collect();
    // The catch-all: CORS preflight and unknown routes answer from the account function.
    set.insert((
        Function::Account.resource().into(),
        "ANY".into(),
        "/{proxy+}".into(),
    ));
    set
}

#[test]
fn template_routes_match_route_table() {
    let (have, want) = (template_routes(), expected());
    if have != want {
        let missing: Vec<_> = want.difference(&have).collect();
        let extra: Vec<_> = have.difference(&want).collect();
        let blocks: String = Function::ALL
            .iter()
            .map(|f| {
                format!(
                    "# {}\n{}",
                    f.resource(),
                    account_edge::routes::sam_events(*f)
                )
            })
            .collect();
        panic!("template.yaml disagrees with account_edge::routes::ROUTES (run scripts/sync-template.py)\nmissing: {missing:#?}\nextra: {extra:#?}\nexpected events:\n{blocks}");
    }
}

/// The template holds exactly the blocks `sam_events` generates (names and order too), so
/// `scripts/sync-template.py` is the only way the events change.
#[test]
fn template_events_are_the_generated_blocks() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    for f in Function::ALL {
        let block = account_edge::routes::sam_events(*f);
        assert!(
            text.contains(&block),
            "{}: run scripts/sync-template.py",
            f.resource()
        );
    }
}

#[test]
fn every_function_has_a_lambda_crate_and_a_local_handler() {
    for f in Function::ALL {
        let manifest = format!(
            "{}/../functions/{}/Cargo.toml",
            env!("CARGO_MANIFEST_DIR"),
            f.name()
        );
        assert!(std::path::Path::new(&manifest).exists(), "{manifest}");
        assert!(devserver::handler_for(*f).is_some());
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .unwrap();
        assert!(
            template.contains(&format!("Binary: {}", f.name())),
            "template builds binary {}",
            f.name()
        );
    }
}
