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
