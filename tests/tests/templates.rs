//! Messages in the caller's language and on the operator's own templates (issue 21): the
//! locale precedence of contract §1.3 over HTTP, a template in the table used by the next send,
//! user values escaped in its HTML, its sender, and a template that cannot be used falling back
//! to the built-in text without failing the send.

use account_core::custom_templates::{self, Channel, TemplateItem, TEMPLATES_PK};
use account_core::store::Templates;
use integration_tests::*;
use reqwest::Method;
use serde_json::json;

/// A server on a table of its own (templates are table-wide: another test's must not show),
/// reading the templates before every send (`TEMPLATE_CACHE_SECONDS=0`).
async fn server() -> Server {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Server::with_config(|c| {
        c.template_cache_secs = 0;
        c.table_name = format!("{}-tpl{}-{n}", c.table_name, std::process::id());
    })
    .await
}

fn template(channel: Channel, kind: &str, locale: &str) -> TemplateItem {
    let k = custom_templates::kind(channel, kind).expect("kind");
    TemplateItem {
        pk: TEMPLATES_PK.into(),
        sk: custom_templates::template_sk(k, locale),
        channel: channel.as_str().into(),
        kind: k.name.into(),
        locale: locale.into(),
        version: 1,
        updated: 1,
        ..TemplateItem::default()
    }
}

async fn email_token(s: &Server, email: &str, locale: Option<&str>, body_locale: Option<&str>) {
    let mut body = json!({"userId": "unique()", "email": email});
    if let Some(l) = body_locale {
        body["locale"] = json!(l);
    }
    let mut r = s.req(Method::POST, "/account/tokens/email").json(&body);
    if let Some(l) = locale {
        r = r.header("X-Appwrite-Locale", l);
    }
    let r = Reply::read(r.send().await.unwrap()).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn last_source(to: &str) -> String {
    sent()
        .await
        .emails
        .iter()
        .rev()
        .find(|m| m["destinations"]["ToAddresses"].to_string().contains(to))
        .and_then(|m| m["source"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_locale_parameter_wins_over_the_header_and_regions_fall_back() {
    let s = server().await;
    let cases = [
        (Some("de"), None, "de"),
        (Some("de"), Some("fr"), "fr"),
        (Some("pt-BR"), None, "pt"),
        (Some("xx-YY"), None, "en"),
        (Some("de"), Some("xx"), "de"),
        (None, Some("ja"), "ja"),
    ];
    for (header, param, want) in cases {
        let email = unique_email();
        email_token(&s, &email, header, param).await;
        let (subject, html) = last_email(&email).await.expect("email");
        let expected = account_core::templates::render(
            want,
            "emailOtp.subject",
            &[("project", "Integration")],
        );
        assert_eq!(subject, expected, "{header:?} {param:?}");
        assert!(html.contains(&format!("lang=\"{want}\"")), "{html}");
    }
}

#[tokio::test]
async fn an_operator_template_is_used_by_the_next_send_and_escapes_names() {
    let s = server().await;
    let email = unique_email();
    // A user whose name is markup.
    let r = s
        .post(
            "/account",
            json!({"userId": "unique()", "email": email, "password": "correct horse battery", "name": "<i>Ada</i>"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Built-in German first.
    email_token(&s, &email, Some("de"), None).await;
    let (subject, _) = last_email(&email).await.unwrap();
    assert_eq!(
        subject,
        account_core::templates::render("de", "emailOtp.subject", &[("project", "Integration")])
    );

    let mut t = template(Channel::Email, "otpSession", "de");
    t.subject = "Ihr Code für {project}".into();
    t.text = "Hallo {name}, Ihr Code: {otp}".into();
    t.html = "<p>Hallo {name}</p><p><b>{otp}</b></p>".into();
    t.sender_name = "Team Beispiel".into();
    t.reply_to = "hilfe@example.com".into();
    custom_templates::validate(
        custom_templates::kind(Channel::Email, "otpSession").unwrap(),
        &t,
    )
    .unwrap();
    assert!(s.dynamo.put_template(&t, 0).await.unwrap());
    // A second writer that read "no template" loses the race; one that read version 1 wins.
    let mut late = t.clone();
    late.updated = 2;
    assert!(!s.dynamo.put_template(&late, 0).await.unwrap());
    late.version = 2;
    assert!(s.dynamo.put_template(&late, 1).await.unwrap());

    email_token(&s, &email, Some("de-AT"), None).await;
    let (subject, html) = last_email(&email).await.unwrap();
    assert_eq!(subject, "Ihr Code für Integration");
    let code = six_digits(&html).expect("code");
    assert!(html.contains(&format!("<b>{code}</b>")), "{html}");
    assert_eq!(
        last_source(&email).await,
        "\"Team Beispiel\" <noreply@example.com>"
    );

    // A recovery template greets by name: the name is escaped, the link is the server's.
    let mut r = template(Channel::Email, "recovery", "de");
    r.subject = "Neues Passwort".into();
    r.text = "{link}".into();
    r.html = "<p>Hallo {name}</p><p><a href=\"{link}\">Link</a></p>".into();
    assert!(s.dynamo.put_template(&r, 0).await.unwrap());
    let res = s
        .req(Method::POST, "/account/recovery")
        .header("X-Appwrite-Locale", "de")
        .json(&json!({"email": email, "url": "http://localhost/reset"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (subject, html) = last_email(&email).await.unwrap();
    assert_eq!(subject, "Neues Passwort");
    assert!(
        html.contains("<p>Hallo &lt;i&gt;Ada&lt;/i&gt;</p>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"http://localhost/reset?userId="),
        "{html}"
    );

    // English requests keep the built-in text; the template is per locale.
    let other = unique_email();
    email_token(&s, &other, Some("en"), None).await;
    assert_eq!(
        last_email(&other).await.unwrap().0,
        "OTP for Integration Login"
    );

    // Deleted: the next send is built-in again.
    assert!(s.dynamo.delete_template(&t.sk).await.unwrap());
    email_token(&s, &email, Some("de"), None).await;
    assert_ne!(
        last_email(&email).await.unwrap().0,
        "Ihr Code für Integration"
    );
}

#[tokio::test]
async fn a_sender_outside_mail_senders_is_not_used() {
    let s = server().await;
    let mut t = template(Channel::Email, "magicSession", "en");
    t.subject = "Sign in".into();
    t.text = "{link}".into();
    t.sender_email = "ceo@evil.example".into();
    assert!(s.dynamo.put_template(&t, 0).await.unwrap());
    let email = unique_email();
    let r = s
        .post(
            "/account/tokens/magic-url",
            json!({"userId": "unique()", "email": email, "url": "http://localhost/magic"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(last_email(&email).await.unwrap().0, "Sign in");
    assert_eq!(
        last_source(&email).await,
        "\"Integration\" <noreply@example.com>"
    );
    s.dynamo.delete_template(&t.sk).await.unwrap();
}

#[tokio::test]
async fn an_sms_template_and_an_unreadable_one_never_fail_the_send() {
    let s = server().await;
    let mut t = template(Channel::Sms, "login", "en");
    t.message = "{otp} - your code for {project}".into();
    assert!(s.dynamo.put_template(&t, 0).await.unwrap());
    let phone = unique_phone();
    let r = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": phone}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sms = last_sms(&phone).await.unwrap();
    assert!(sms.ends_with(" - your code for Integration"), "{sms}");
    s.dynamo.delete_template(&t.sk).await.unwrap();

    // An item that does not read as a template: the built-in text, and the send succeeds.
    use aws_sdk_dynamodb::types::AttributeValue as A;
    s.dynamo
        .client()
        .put_item()
        .table_name(s.dynamo.table())
        .item("PK", A::S(TEMPLATES_PK.into()))
        .item("SK", A::S("sms.login#en".into()))
        .item("version", A::S("not a number".into()))
        .send()
        .await
        .unwrap();
    let phone = unique_phone();
    let r = s
        .post(
            "/account/tokens/phone",
            json!({"userId": "unique()", "phone": phone}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sms = last_sms(&phone).await.unwrap();
    assert!(
        sms.ends_with(" is your Integration verification code."),
        "{sms}"
    );
    s.dynamo.delete_template("sms.login#en").await.unwrap();
}
