// OAuth2 through the official node SDK against a real OpenID Provider (tests/oidc, started by
// scripts/test): the server-side token flow, as an SSR app runs it. The app's server calls
// createOAuth2Token, the user's browser follows the URL through the provider's login and back,
// and the app's server exchanges the secret the success URL received with createSession.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Account, Client, OAuthProvider, Query } from 'node-appwrite';
import { guest, uniqueEmail, rejects, last, endpoint, project } from './helpers.mjs';

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

test('OAuth2: identities answer every filter method Appwrite accepts, grouped or not', async () => {
  const email = uniqueEmail();
  await nextLogin(`sdk-q-${Date.now()}`, email, true);
  const { account: g } = guest();
  const landed = await browse(await g.createOAuth2Token({ provider: OAuthProvider.Oidc, success: 'http://localhost/ok' }));
  await g.createSession({ userId: landed.searchParams.get('userId'), secret: landed.searchParams.get('secret') });
  const credential = JSON.parse(last()['x-fallback-cookies'])[`a_session_${project}`];
  const account = new Account(new Client().setEndpoint(endpoint).setProject(project).setSession(credential));
  const [local, domain] = email.split('@');
  const total = async (...queries) => (await account.listIdentities({ queries })).total;
  const past = '2000-01-01T00:00:00.000+00:00';
  const future = '2999-01-01T00:00:00.000+00:00';
  assert.equal(await total(Query.between('$createdAt', past, future)), 1);
  assert.equal(await total(Query.between('$createdAt', future, future)), 0);
  assert.equal(await total(Query.notBetween('$createdAt', future, future)), 1);
  assert.equal(await total(Query.contains('providerEmail', [domain])), 1);
  assert.equal(await total(Query.contains('providerEmail', ['nobody.example'])), 0);
  assert.equal(await total(Query.notContains('providerEmail', [domain])), 0);
  assert.equal(await total(Query.search('providerEmail', local)), 1);
  assert.equal(await total(Query.search('providerEmail', 'zzzz')), 0);
  assert.equal(await total(Query.notStartsWith('provider', 'oi'), Query.notEndsWith('provider', 'x')), 0);
  assert.equal(await total(Query.or([Query.equal('provider', ['github']), Query.equal('provider', ['oidc'])])), 1);
  assert.equal(await total(Query.or([Query.equal('provider', ['github']), Query.equal('provider', ['google'])])), 0);
  assert.equal(
    await total(Query.and([Query.equal('provider', ['oidc']), Query.or([Query.startsWith('providerEmail', local), Query.isNull('providerUid')])])),
    1,
  );
  assert.equal(await total(Query.and([Query.equal('provider', ['oidc']), Query.equal('providerEmail', ['x@y.z'])])), 0);
  // A group of one, a group holding a page query, an attribute outside the schema, a token.
  await rejects(account.listIdentities({ queries: [Query.or([Query.equal('provider', ['oidc'])])] }), 400, 'general_query_invalid');
  await rejects(account.listIdentities({ queries: [Query.and([Query.limit(1), Query.equal('provider', ['oidc'])])] }), 400, 'general_query_invalid');
  await rejects(account.listIdentities({ queries: [Query.or([Query.equal('secret', ['x']), Query.equal('provider', ['oidc'])])] }), 400, 'general_query_invalid');
  await rejects(account.listIdentities({ queries: [Query.contains('providerAccessToken', ['a'])] }), 400, 'general_query_invalid');
  // Appwrite's cap on one query string: 4096 characters.
  const long = Query.equal('provider', ['x'.repeat(4096)]);
  await rejects(account.listIdentities({ queries: [long] }), 400, 'general_argument_invalid');
  const fits = Query.equal('provider', ['x'.repeat(4096 - Query.equal('provider', ['']).length)]);
  assert.equal(fits.length, 4096);
  assert.equal(await total(fits), 0);
});
