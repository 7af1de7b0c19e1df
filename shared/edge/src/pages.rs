//! The pages behind the default URLs (`PUBLIC_URL/auth/...`): where a magic link without `url`
//! and an OAuth2 sign-in without `success` or `failure` land, as Appwrite's console pages do.
//!
//! Each page is static HTML with one inline script, allowed by its hash alone (no other script,
//! no frame, no referrer: the URL carries a secret). The script reads the query with
//! `URLSearchParams` and writes with `textContent`: nothing from the URL becomes markup. A secret
//! is exchanged for a session only when the user presses the button (a mail scanner that opens
//! the link, even one that runs scripts, spends nothing), by `POST /v1/account/sessions/token`
//! on this origin, which sets the session cookie here; then the secret leaves the address bar.

use crate::routes::RouteId;
use base64::Engine;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}";

/// Exchanges `userId` + `secret` for a session when the button is pressed (magic URL, and
/// OAuth2 token mode), or shows the sign-in result (OAuth2 success and failure).
const SCRIPT: &str = r#"(function () {
  var q = new URLSearchParams(location.search);
  var say = function (t) { document.getElementById('status').textContent = t; };
  var page = document.body.getAttribute('data-page');
  if (page === 'failure') {
    var e = null;
    try { e = JSON.parse(q.get('error') || '{}'); } catch (_) {}
    e = e || {};
    say('Sign-in failed: ' + (e.message || 'unknown error') + (e.type ? ' (' + e.type + ')' : ''));
    return;
  }
  var userId = q.get('userId'), secret = q.get('secret'), project = q.get('project');
  // The secret leaves the address bar (and the history) at once; the button uses the copy.
  if (secret) history.replaceState(null, '', location.pathname);
  // The API is beside these pages, whatever path PUBLIC_URL has.
  var api = location.pathname.replace(/\/auth\/.*$/, '') + '/v1';
  if (!userId || !secret) {
    say(page === 'success' ? 'You are signed in. You can close this window.' : 'This link is incomplete: request a new one.');
    return;
  }
  var button = document.getElementById('go');
  button.hidden = false;
  say('Press the button to finish signing in.');
  button.addEventListener('click', function () {
    button.disabled = true;
    var headers = { 'content-type': 'application/json' };
    if (project) headers['x-appwrite-project'] = project;
    var json = function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b || {} }; }); };
    fetch(api + '/account/sessions/token', {
      method: 'POST', credentials: 'include', headers: headers,
      body: JSON.stringify({ userId: userId, secret: secret })
    }).then(json).then(function (r) {
      button.hidden = true;
      if (!r.ok) return say('Sign-in failed: ' + (r.body.message || 'unknown error'));
      // Say whose account this browser is now in: a link someone else sent signs in as them.
      return fetch(api + '/account', { credentials: 'include', headers: headers }).then(json).then(function (me) {
        if (!me.ok) return say('You are signed in. The app will ask for your second factor.');
        var who = me.body.email || me.body.phone || me.body.name || me.body.$id;
        say('You are signed in as ' + who + '. If that is not you, sign out. You can close this window.');
      });
    }).catch(function () { button.disabled = false; say('The server could not be reached. Try again.'); });
  });
})();"#;

/// The page a route serves: `(title, data-page)`.
fn page(id: RouteId) -> Option<(&'static str, &'static str)> {
    match id {
        RouteId::MagicUrlPage => Some(("Sign in", "magic-url")),
        RouteId::OAuth2SuccessPage => Some(("Signed in", "success")),
        RouteId::OAuth2FailurePage => Some(("Sign-in failed", "failure")),
        _ => None,
    }
}

/// `(headers, body)` of the page `id` serves, if it is a page route.
pub fn render(id: RouteId) -> Option<(Vec<(String, String)>, String)> {
    let (title, name) = page(id)?;
    let hash = |s: &str| {
        let digest = hex::decode(account_core::crypto::sha256_hex(s)).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(digest)
    };
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title><style>{STYLE}</style></head><body data-page="{name}"><h1>{title}</h1><p id="status" role="status">Loading…</p><button id="go" type="button" hidden>Continue signing in</button><script>{SCRIPT}</script></body></html>"#
    );
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(SCRIPT),
        hash(STYLE)
    );
    let headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .chain(std::iter::once(("Content-Security-Policy".to_owned(), csp)))
    .collect();
    Some((headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_allow_only_their_own_script_and_style() {
        for id in [
            RouteId::MagicUrlPage,
            RouteId::OAuth2SuccessPage,
            RouteId::OAuth2FailurePage,
        ] {
            let (headers, body) = render(id).unwrap();
            let csp = &headers
                .iter()
                .find(|(k, _)| k == "Content-Security-Policy")
                .unwrap()
                .1;
            assert!(
                csp.starts_with("default-src 'none'; script-src 'sha256-"),
                "{csp}"
            );
            assert_eq!(body.matches("<script>").count(), 1);
            // The page never interpolates anything but its own constants.
            assert!(!body.contains("{title}") && !body.contains("innerHTML"));
        }
        assert!(render(RouteId::GetAccount).is_none());
    }
}
