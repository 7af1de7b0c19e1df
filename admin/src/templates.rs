//! `admin templates`: the operator's message templates (`account_core::custom_templates`).
//!
//! ```text
//! admin templates list
//! admin templates get     --channel email|sms --type TYPE --locale LOCALE
//! admin templates set     --channel email|sms --type TYPE --locale LOCALE [--subject S]
//!                         [--text T | --text-file F] [--html-file F] [--sender-name N]
//!                         [--sender-email E] [--reply-to R] [--message M]
//! admin templates delete  --channel email|sms --type TYPE --locale LOCALE
//! admin templates preview --channel email|sms --type TYPE --locale LOCALE [--out FILE.html]
//! ```
//!
//! `set` replaces the stored template's fields it is given and keeps the others; it refuses a
//! template whose placeholders are unknown or lack the code or link, and a write that lost a
//! race with another (`version`).

use account_adapters::dynamo::DynamoStore;
use account_core::clock::{Clock, SystemClock};
use account_core::custom_templates::{self, Channel, Kind, TemplateItem, TEMPLATES_PK};
use account_core::store::Templates;
use account_core::{Error, Result};

struct Args {
    kind: &'static Kind,
    locale: String,
    fields: Vec<(String, String)>,
    out: Option<String>,
}

fn usage(msg: &str) -> Error {
    Error::internal(format!(
        "{msg} (see admin/src/templates.rs for the options)"
    ))
}

fn parse(rest: &[&str]) -> Result<Args> {
    let (mut channel, mut kind, mut locale, mut fields, mut out) = (None, None, None, vec![], None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
        match *flag {
            "--channel" => {
                channel = Some(match *value {
                    "email" => Channel::Email,
                    "sms" => Channel::Sms,
                    _ => return Err(usage("--channel is email or sms")),
                })
            }
            "--type" => kind = Some(value.to_string()),
            "--locale" => locale = Some(value.to_ascii_lowercase()),
            "--out" => out = Some(value.to_string()),
            "--text-file" | "--html-file" => {
                let text = std::fs::read_to_string(value)
                    .map_err(|e| usage(&format!("{flag} {value}: {e}")))?;
                let field = flag.trim_start_matches("--").trim_end_matches("-file");
                fields.push((field.to_owned(), text));
            }
            "--subject" | "--text" | "--sender-name" | "--sender-email" | "--reply-to"
            | "--message" => {
                fields.push((flag.trim_start_matches("--").to_owned(), value.to_string()))
            }
            other => return Err(usage(&format!("unknown option {other}"))),
        }
    }
    let channel = channel.ok_or_else(|| usage("--channel is required"))?;
    let name = kind.ok_or_else(|| usage("--type is required"))?;
    let kind = custom_templates::kind(channel, &name).ok_or_else(|| {
        let names: Vec<_> = custom_templates::KINDS
            .iter()
            .filter(|k| k.channel == channel)
            .map(|k| k.name)
            .collect();
        usage(&format!(
            "unknown {} type {name}; one of {}",
            channel.as_str(),
            names.join(", ")
        ))
    })?;
    let locale = locale.ok_or_else(|| usage("--locale is required"))?;
    Ok(Args {
        kind,
        locale,
        fields,
        out,
    })
}

async fn stored(store: &DynamoStore, sk: &str) -> Result<Option<TemplateItem>> {
    Ok(store
        .list_templates()
        .await?
        .into_iter()
        .find(|t| t.sk == sk))
}

pub async fn run(store: &DynamoStore, words: &[&str]) -> Result<()> {
    match words {
        ["list"] => {
            for t in store.list_templates().await? {
                println!(
                    "{}  version {}  updated {}",
                    t.sk,
                    t.version,
                    account_core::dates::format(t.updated)
                );
            }
            Ok(())
        }
        ["get", rest @ ..] => {
            let a = parse(rest)?;
            let sk = custom_templates::template_sk(a.kind, &a.locale);
            match stored(store, &sk).await? {
                Some(t) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&t).map_err(Error::internal)?
                    );
                    Ok(())
                }
                None => Err(Error::internal(format!("no template {sk}"))),
            }
        }
        ["set", rest @ ..] => set(store, parse(rest)?).await,
        ["delete", rest @ ..] => {
            let a = parse(rest)?;
            let sk = custom_templates::template_sk(a.kind, &a.locale);
            match store.delete_template(&sk).await? {
                true => println!("deleted {sk}"),
                false => println!("no template {sk}"),
            }
            Ok(())
        }
        ["preview", rest @ ..] => {
            let a = parse(rest)?;
            let sk = custom_templates::template_sk(a.kind, &a.locale);
            let custom = stored(store, &sk).await?;
            let locale = account_core::templates::resolve(Some(&a.locale), "en");
            let (subject, text, html) =
                account_core::messages::preview(a.kind, locale, custom.as_ref());
            let source = match custom {
                Some(t) => format!("template {sk} version {}", t.version),
                None => format!("built-in text ({locale})"),
            };
            println!("{source}");
            if a.kind.channel == Channel::Sms {
                let (encoding, segments) = account_core::templates::sms_segments(&text);
                println!("{text}\n({encoding:?}, {segments} segment(s))");
                return Ok(());
            }
            println!("Subject: {subject}\n\n{text}");
            if let Some(out) = a.out {
                std::fs::write(&out, html).map_err(Error::internal)?;
                println!("\nHTML written to {out}");
            }
            Ok(())
        }
        _ => Err(usage("unknown templates command")),
    }
}

async fn set(store: &DynamoStore, a: Args) -> Result<()> {
    let sk = custom_templates::template_sk(a.kind, &a.locale);
    let old = stored(store, &sk).await?;
    let replaces = old.as_ref().map_or(0, |t| t.version);
    let mut t = old.unwrap_or_else(|| TemplateItem {
        pk: TEMPLATES_PK.to_owned(),
        sk: sk.clone(),
        channel: a.kind.channel.as_str().to_owned(),
        kind: a.kind.name.to_owned(),
        locale: a.locale.clone(),
        ..TemplateItem::default()
    });
    for (field, value) in a.fields {
        let slot = match field.as_str() {
            "subject" => &mut t.subject,
            "text" => &mut t.text,
            "html" => &mut t.html,
            "sender-name" => &mut t.sender_name,
            "sender-email" => &mut t.sender_email,
            "reply-to" => &mut t.reply_to,
            _ => &mut t.message,
        };
        *slot = value;
    }
    for address in [&mut t.sender_email, &mut t.reply_to] {
        if let Some(normal) = account_core::address::email(address) {
            *address = normal;
        }
    }
    custom_templates::validate(a.kind, &t)?;
    t.version = replaces + 1;
    t.updated = SystemClock.now_ms();
    if !store.put_template(&t, replaces).await? {
        return Err(Error::internal(format!(
            "{sk} changed while this was written (another set or delete); nothing written, run it again"
        )));
    }
    println!("set {sk} version {}", t.version);
    Ok(())
}
