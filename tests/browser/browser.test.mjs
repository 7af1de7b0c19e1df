// The browser lane: Debian's chromium (executable path, no download), driven by playwright-core,
// on a page served from another origin that uses the official Web SDK as a web developer would.
// Env (set by scripts/test): API_ENDPOINT (http://localhost:<port>/v1), API_PROJECT, OIDC_ISSUER,
// CHROMIUM (the browser's executable).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const { API_ENDPOINT, API_PROJECT, OIDC_ISSUER, CHROMIUM } = process.env;
assert.ok(API_ENDPOINT && API_PROJECT && OIDC_ISSUER && CHROMIUM, 'run through scripts/test');

let browser;
let server;
let page0;

before(async () => {
  server = await serve(0, API_ENDPOINT, API_PROJECT);
  page0 = `http://localhost:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

const signedInAs = (page) => page.locator('#user').textContent();

async function waitForUser(page, expected) {
  await page.waitForFunction(
    (want) => document.getElementById('user').textContent.startsWith(want),
    expected,
    { timeout: 15000 },
  );
}

test('OAuth2 cookie mode: provider login, back on the page, account.get() with the browser\'s cookies', async () => {
  const email = `browser-${Date.now()}@example.com`;
  const res = await fetch(`${OIDC_ISSUER}/test/next`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: `browser-${Date.now()}`, email, email_verified: true, name: 'Browser User' }),
  });
  assert.equal(res.status, 204);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${page0}/`);
  await waitForUser(page, 'guest');
  await page.click('#oauth');
  await page.waitForURL(`${page0}/?signed-in`, { timeout: 15000 });
  await waitForUser(page, email);
  // The session cookie is HttpOnly, on the API's host only, and the binding cookie is gone.
  const api = new URL(API_ENDPOINT);
  const cookies = await context.cookies(api.origin);
  const session = cookies.find((c) => c.name === `a_session_${API_PROJECT}_legacy`);
  assert.ok(session, JSON.stringify(cookies));
  assert.equal(session.httpOnly, true);
  assert.equal(session.domain, 'localhost');
  assert.ok(!cookies.some((c) => c.name === `a_oauth2_${API_PROJECT}`), 'binding cookie cleared');
  assert.ok(!cookies.some((c) => c.value.includes('@')), 'no email in cookies');
  await context.close();
});

test('email/password sign-up, sign-in and sign-out from the page (CORS with credentials)', async () => {
  const email = `browser-pw-${Date.now()}@example.com`;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${page0}/`);
  await waitForUser(page, 'guest');
  await page.fill('#email', email);
  await page.fill('#password', 'browser pass 1234');
  await page.click('#login button[type=submit]');
  await waitForUser(page, email);
  assert.equal(await signedInAs(page), email);
  await page.click('#logout');
  await waitForUser(page, 'guest (general_unauthorized_scope)');
  await context.close();
});

test('a passkey registered and used on the page, through Chromium\'s virtual authenticator (CDP WebAuthn)', async () => {
  const email = `browser-passkey-${Date.now()}@example.com`;
  const context = await browser.newContext();
  const page = await context.newPage();
  // A platform authenticator with resident keys and user verification (a phone, a laptop).
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  await page.goto(`${page0}/`);
  await waitForUser(page, 'guest');
  await page.fill('#email', email);
  await page.fill('#password', 'browser pass 1234');
  await page.click('#login button[type=submit]');
  await waitForUser(page, email);
  await page.click('#passkey-register');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('passkey'), null, { timeout: 15000 });
  assert.equal(await page.locator('#status').textContent(), 'passkey registered: This browser');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true);
  assert.equal(credentials[0].rpId, 'localhost');
  // Signed out, then in again with the passkey alone: no email, no password.
  await page.click('#logout');
  await waitForUser(page, 'guest (general_unauthorized_scope)');
  await page.click('#passkey-sign-in');
  await waitForUser(page, email);
  assert.equal(await page.locator('#status').textContent(), 'signed in with a passkey');
  // The browser's own cookies carry the new session: provider `passkey`.
  const session = await page.evaluate(async ({ endpoint, project }) => {
    const r = await fetch(`${endpoint}/account/sessions/current`, { credentials: 'include', headers: { 'x-appwrite-project': project } });
    return r.json();
  }, { endpoint: API_ENDPOINT, project: API_PROJECT });
  assert.equal(session.provider, 'passkey');
  const list = await page.evaluate(async ({ endpoint, project }) => {
    const r = await fetch(`${endpoint}/account/passkeys`, { credentials: 'include', headers: { 'x-appwrite-project': project } });
    return r.json();
  }, { endpoint: API_ENDPOINT, project: API_PROJECT });
  assert.equal(list.total, 1);
  assert.equal(list.passkeys[0].name, 'This browser');
  assert.ok(list.passkeys[0].lastUsedAt, JSON.stringify(list));
  // The authenticator's counter moved with the sign-in (it is not a synced passkey).
  const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.ok(after.credentials[0].signCount >= 1, JSON.stringify(after.credentials[0]));
  await context.close();
});

// The pages behind the default URLs (shared/src/pages.rs), on the API's own origin.
const { MOTO_URL } = process.env;

async function lastLink(to) {
  const data = JSON.parse(await (await fetch(`${MOTO_URL}/moto-api/outbox.json`)).text());
  const m = (data.ses?.Message ?? []).filter((x) => (x.destinations?.ToAddresses ?? []).some((a) => a.includes(to))).at(-1);
  assert.ok(m, `no mail to ${to}`);
  return m.body.replaceAll('&amp;', '&').match(/https?:\/\/[^\s"<]+/)[0];
}

test('a magic link without url lands on our page, which signs in at the press of its button', async () => {
  assert.ok(MOTO_URL, 'run through scripts/test');
  const email = `browser-magic-${Date.now()}@example.com`;
  const res = await fetch(`${API_ENDPOINT}/account/tokens/magic-url`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-appwrite-project': API_PROJECT },
    body: JSON.stringify({ userId: 'unique()', email }),
  });
  assert.equal(res.status, 201);
  const link = await lastLink(email);
  assert.equal(new URL(link).origin + new URL(link).pathname, `${new URL(API_ENDPOINT).origin}/auth/magic-url`);
  const context = await browser.newContext();
  const page = await context.newPage();
  const opened = await page.goto(link);
  assert.equal(opened.status(), 200);
  assert.match(opened.headers()['content-security-policy'], /^default-src 'none'; script-src 'sha256-/);
  assert.equal(opened.headers()['referrer-policy'], 'no-referrer');
  // Opening the link spends nothing: the secret is spent only by the button.
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Press the button'));
  await page.click('#go');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('You are signed in'), null, { timeout: 15000 });
  assert.equal(new URL(page.url()).search, '', 'the secret left the address bar');
  // The page says whose account this browser is now in (a link someone else sent would be theirs).
  assert.match(await page.locator('#status').textContent(), new RegExp(`signed in as ${email.replace(/[.+]/g, '\\$&')}`));
  const me = await page.evaluate(async ({ endpoint, project }) => {
    const r = await fetch(`${endpoint}/account`, { credentials: 'include', headers: { 'x-appwrite-project': project } });
    return r.json();
  }, { endpoint: API_ENDPOINT, project: API_PROJECT });
  assert.equal(me.email, email);
  // The same link again: spent.
  const again = await (await browser.newContext()).newPage();
  await again.goto(link);
  await again.click('#go');
  await again.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sign-in failed'), null, { timeout: 15000 });
  await context.close();
});

test('OAuth2 without success or failure: token mode finishes on our success page; failures show on our failure page as text', async () => {
  const email = `browser-default-${Date.now()}@example.com`;
  const res = await fetch(`${OIDC_ISSUER}/test/next`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: `browser-default-${Date.now()}`, email, email_verified: true, name: 'Default Pages' }),
  });
  assert.equal(res.status, 204);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${API_ENDPOINT}/account/tokens/oauth2/oidc?project=${API_PROJECT}`);
  await page.waitForURL((u) => u.pathname === '/auth/oauth2/success', { timeout: 15000 });
  await page.click('#go');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('You are signed in'), null, { timeout: 15000 });
  const me = await page.evaluate(async ({ endpoint, project }) => {
    const r = await fetch(`${endpoint}/account`, { credentials: 'include', headers: { 'x-appwrite-project': project } });
    return r.json();
  }, { endpoint: API_ENDPOINT, project: API_PROJECT });
  assert.equal(me.email, email);

  // A failure without a failure URL: our page, the message as text (markup stays inert).
  const error = JSON.stringify({ message: '<img src=x onerror="window.pwned=1">', type: 'user_oauth2_provider_error', code: 424 });
  const failed = await context.newPage();
  await failed.goto(`${new URL(API_ENDPOINT).origin}/auth/oauth2/failure?error=${encodeURIComponent(error)}`);
  await failed.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sign-in failed'));
  assert.equal(await failed.locator('img').count(), 0);
  assert.equal(await failed.evaluate(() => window.pwned), undefined);
  assert.match(await failed.locator('#status').textContent(), /<img src=x/);
  await context.close();
});

test('Sign in with Apple: the provider\'s form post from another site, then the session in this browser', async () => {
  const { APPLE_ISSUER } = process.env;
  assert.ok(APPLE_ISSUER, 'run through scripts/test, which starts tests/browser/fake-apple.mjs');
  const stamp = Date.now();
  const email = `apple-${stamp}@privaterelay.appleid.com`;
  const res = await fetch(`${APPLE_ISSUER}/test/next`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: `000${stamp}.apple`, email, first: 'Ada', last: 'Browser' }),
  });
  assert.equal(res.status, 200);
  const context = await browser.newContext();
  const page = await context.newPage();
  const success = encodeURIComponent(`${page0}/?signed-in`);
  const failure = encodeURIComponent(`${page0}/?failed`);
  // The provider is 127.0.0.1, the API localhost: its form post is a cross-site POST, after
  // which the SameSite=Lax binding cookie must still come back on the relayed GET.
  await page.goto(`${API_ENDPOINT}/account/sessions/oauth2/apple?project=${API_PROJECT}&success=${success}&failure=${failure}`);
  await page.waitForURL(`${page0}/?signed-in`, { timeout: 15000 });
  await waitForUser(page, email);
  const me = await page.evaluate(async ({ endpoint, project }) => {
    const r = await fetch(`${endpoint}/account`, { credentials: 'include', headers: { 'x-appwrite-project': project } });
    return r.json();
  }, { endpoint: API_ENDPOINT, project: API_PROJECT });
  assert.equal(me.name, 'Ada Browser');
  assert.equal(me.emailVerification, true);
  await context.close();
});

test('a signed-in victim who opens an attacker\'s magic link stays in their own account', async () => {
  const stamp = Date.now();
  const attacker = `browser-attacker-${stamp}@example.com`;
  const victim = `browser-victim-${stamp}@example.com`;
  const res = await fetch(`${API_ENDPOINT}/account/tokens/magic-url`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-appwrite-project': API_PROJECT },
    body: JSON.stringify({ userId: 'unique()', email: attacker }),
  });
  assert.equal(res.status, 201);
  const link = await lastLink(attacker);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  // The victim is signed in in this browser (same origin as the page).
  const signedIn = await page.evaluate(async ({ endpoint, project, email }) => {
    const h = { 'content-type': 'application/json', 'x-appwrite-project': project };
    await fetch(`${endpoint}/account`, { method: 'POST', credentials: 'include', headers: h,
      body: JSON.stringify({ userId: 'unique()', email, password: 'victim-pass-1' }) });
    const r = await fetch(`${endpoint}/account/sessions/email`, { method: 'POST', credentials: 'include', headers: h,
      body: JSON.stringify({ email, password: 'victim-pass-1' }) });
    return r.status;
  }, { endpoint: API_ENDPOINT, project: API_PROJECT, email: victim });
  assert.equal(signedIn, 201);
  await page.click('#go');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Sign-in failed'), null, { timeout: 15000 });
  const me = await page.evaluate(async ({ endpoint, project }) => {
    const r = await fetch(`${endpoint}/account`, { credentials: 'include', headers: { 'x-appwrite-project': project } });
    return r.json();
  }, { endpoint: API_ENDPOINT, project: API_PROJECT });
  assert.equal(me.email, victim);
  await context.close();
});

// Built-in mail as `admin templates preview` renders it (MAIL_PREVIEWS, written by scripts/test),
// one per script family: laid out in its direction, its link a link, and a screenshot each
// (mail-latin.png, mail-cjk.png, mail-rtl.png beside the previews).
test('built-in emails render in Latin, CJK and right-to-left scripts', async () => {
  const dir = process.env.MAIL_PREVIEWS;
  assert.ok(dir, 'run through scripts/test');
  const page = await browser.newPage();
  for (const [locale, family, direction] of [['de', 'latin', 'ltr'], ['ja', 'cjk', 'ltr'], ['ar', 'rtl', 'rtl']]) {
    await page.goto(`file://${dir}/mail-${locale}.html`);
    const root = await page.evaluate(() => ({ lang: document.documentElement.lang, dir: document.documentElement.dir }));
    assert.deepEqual(root, { lang: locale, dir: direction });
    const flow = await page.evaluate(() => getComputedStyle(document.querySelector('p')).direction);
    assert.equal(flow, direction);
    assert.match(await page.getAttribute('a', 'href'), /^https:\/\/app\.example\.com\/auth\?/);
    // Text laid out: the first paragraph has a size, and is not the English one.
    const first = page.locator('p').first();
    const box = await first.boundingBox();
    assert.ok(box && box.width > 20 && box.height > 5, JSON.stringify(box));
    if (locale !== 'de') assert.doesNotMatch(await first.textContent(), /^Hello/);
    await page.screenshot({ path: `${dir}/mail-${family}.png`, fullPage: true });
  }
  await page.close();
});
