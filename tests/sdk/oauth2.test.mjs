// OAuth2 through the official node SDK against a real OpenID Provider (tests/oidc, started by
// scripts/test): the server-side token flow, as an SSR app runs it. The app's server calls
// createOAuth2Token, the user's browser follows the URL through the provider's login and back,
// and the app's server exchanges the secret the success URL received with createSession.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OAuthProvider } from 'node-appwrite';
import { guest, uniqueEmail, rejects } from './helpers.mjs';

const issuer = process.env.OIDC_ISSUER;
assert.ok(issuer, 'OIDC_ISSUER is not set: run through scripts/test, which starts the OpenID provider');

// The user's browser: follows redirects by hand, with a cookie jar per origin.
async function browse(url) {
  const jars = new Map();
  for (let i = 0; i < 15; i++) {
    const u = new URL(url);
    if (u.hostname === 'localhost') return u; // the app's success or failure page
    const jar = jars.get(u.origin) ?? new Map();
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const at = pair.indexOf('=');
      const [k, v] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      if (attrs.some((a) => a.trim().toLowerCase() === 'max-age=0')) jar.delete(k);
      else jar.set(k, v);
    }
    jars.set(u.origin, jar);
    const location = res.headers.get('location');
    assert.ok(res.status >= 300 && res.status < 400 && location, `stopped at ${url}: ${res.status}`);
    url = new URL(location, url).toString();
  }
  throw new Error('too many redirects');
}

async function nextLogin(sub, email, verified) {
  const res = await fetch(`${issuer}/test/next`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, email, email_verified: verified, name: 'SDK OIDC' }),
  });
  assert.equal(res.status, 204);
}

test('OAuth2 token mode: createOAuth2Token, the provider login, createSession', async () => {
  const email = uniqueEmail();
  await nextLogin(`sdk-${Date.now()}`, email, true);
  const { account } = guest();
  const start = await account.createOAuth2Token({
    provider: OAuthProvider.Oidc,
    success: 'http://localhost/ok',
    failure: 'http://localhost/fail',
  });
  assert.ok(start.startsWith(`${issuer}/`), start);
  const landed = await browse(start);
  assert.equal(landed.pathname, '/ok', landed.toString());
  const userId = landed.searchParams.get('userId');
  const secret = landed.searchParams.get('secret');
  const session = await account.createSession({ userId, secret });
  assert.equal(session.provider, 'oidc');
  assert.equal(session.userId, userId);
  // The secret is single-use.
  await rejects(account.createSession({ userId, secret }), 401, 'user_invalid_token');
});

test('OAuth2: the same provider account signs in to the same user', async () => {
  const sub = `sdk-again-${Date.now()}`;
  const email = uniqueEmail();
  const { account } = guest();
  const start = () =>
    account.createOAuth2Token({ provider: OAuthProvider.Oidc, success: 'http://localhost/ok' });
  await nextLogin(sub, email, true);
  const first = await browse(await start());
  await nextLogin(sub, email, true);
  const second = await browse(await start());
  assert.equal(second.searchParams.get('userId'), first.searchParams.get('userId'));
  assert.notEqual(second.searchParams.get('secret'), first.searchParams.get('secret'));
});
