// The official node-appwrite 27.1.0 SDK against the local server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppwriteException } from 'node-appwrite';
import { guest, login, signUp, rejects, last, project, uniqueEmail, clientFromLastResponse } from './helpers.mjs';

// node-appwrite parses with json-bigint (null-prototype objects): compare plain copies.
const plain = (x) => JSON.parse(JSON.stringify(x));

test('sign up, log in, get account', async () => {
  const { user, email, password } = await signUp('Ada');
  assert.equal(user.email, email);
  assert.equal(user.name, 'Ada');
  assert.deepEqual(plain(user.labels), []);
  assert.deepEqual(plain(user.prefs), {});
  assert.equal(user.targets[0].identifier, email);

  const { session, account } = await login(email, password);
  assert.equal(session.userId, user.$id);
  assert.equal(session.current, true);
  assert.equal(session.secret, '');
  assert.equal(session.provider, 'email');
  const cookies = [].concat(last()['set-cookie']);
  assert.equal(cookies.length, 2);
  assert.ok(cookies.some((c) => c.startsWith(`a_session_${project}=`)));

  const me = await account.get();
  assert.equal(me.$id, user.$id);
  assert.equal(me.email, email);
  assert.equal(typeof me.emailIsFree, 'boolean');
});

test('guest gets 401 general_unauthorized_scope', async () => {
  const { account } = guest();
  const e = await rejects(account.get(), 401, 'general_unauthorized_scope');
  assert.ok(e instanceof AppwriteException);
  assert.match(e.message, /missing scopes/);
});

test('wrong password and duplicate sign-up', async () => {
  const { email, password } = await signUp();
  const { account } = guest();
  await rejects(account.createEmailPasswordSession({ email, password: 'not-the-password' }), 401, 'user_invalid_credentials');
  await rejects(account.create({ userId: 'unique()', email, password }), 409, 'user_already_exists');
  await rejects(account.create({ userId: 'bad$id', email: 'x@example.com', password }), 400, 'general_argument_invalid');
});

test('update name, prefs and password', async () => {
  const { email, password } = await signUp();
  const { account } = await login(email, password);
  assert.equal((await account.updateName({ name: 'Renamed' })).name, 'Renamed');
  const prefs = { theme: 'dark', n: 3, nested: { a: [1, 2] } };
  assert.deepEqual(plain((await account.updatePrefs({ prefs })).prefs), prefs);
  assert.equal(JSON.stringify((await account.getPrefs())), JSON.stringify(prefs), 'key order preserved');
  assert.deepEqual(plain(await account.getPrefs()), prefs);

  await rejects(account.updatePassword({ password: 'brand-new-pass' }), 401, 'user_invalid_credentials');
  // Appwrite validates a given oldPassword as a password: a short one is the parameter error.
  await rejects(account.updatePassword({ password: 'brand-new-pass', oldPassword: 'short' }), 400, 'general_argument_invalid');
  await account.updatePassword({ password: 'brand-new-pass', oldPassword: password });
  await rejects(guest().account.createEmailPasswordSession({ email, password }), 401, 'user_invalid_credentials');
  const again = await login(email, 'brand-new-pass');
  assert.equal((await again.account.get()).name, 'Renamed');
});

test('list, get and delete sessions', async () => {
  const { email, password } = await signUp();
  const a = await login(email, password);
  const b = await login(email, password);
  const list = await a.account.listSessions();
  assert.equal(list.total, 2);
  assert.equal(list.sessions.filter((s) => s.current).length, 1);
  assert.equal((await a.account.getSession({ sessionId: 'current' })).$id, a.session.$id);
  assert.equal((await a.account.getSession({ sessionId: b.session.$id })).current, false);
  await rejects(a.account.getSession({ sessionId: 'doesnotexist' }), 404, 'user_session_not_found');

  await a.account.deleteSession({ sessionId: b.session.$id });
  await rejects(b.account.get(), 401, 'general_unauthorized_scope');
  const extended = await a.account.updateSession({ sessionId: 'current' });
  assert.ok(extended.expire >= a.session.expire);
  await a.account.deleteSessions();
  await rejects(a.account.get(), 401, 'general_unauthorized_scope');
});

test('the eleventh session evicts the oldest', async () => {
  const { email, password } = await signUp();
  const sessions = [];
  for (let i = 0; i < 11; i += 1) sessions.push(await login(email, password));
  await rejects(sessions[0].account.get(), 401, 'general_unauthorized_scope');
  assert.equal((await sessions[10].account.listSessions()).total, 10);
  await sessions[1].account.get();
});

test('blocked account', async () => {
  const { email, password } = await signUp();
  const { account } = await login(email, password);
  const blocked = await account.updateStatus();
  assert.equal(blocked.status, false);
  assert.equal(last()['x-fallback-cookies'], '[]');
  await rejects(account.get(), 403, 'user_blocked');
  await rejects(guest().account.createEmailPasswordSession({ email, password }), 403, 'user_blocked');
});

test('anonymous session', async () => {
  const { account } = guest();
  const session = await account.createAnonymousSession();
  assert.equal(session.provider, 'anonymous');
  assert.equal(session.secret, '');
});

test('an anonymous account converts under the password policy (this server: the dictionary)', async () => {
  await guest().account.createAnonymousSession();
  const { account } = clientFromLastResponse();
  const email = uniqueEmail();
  await rejects(account.updateEmail({ email, password: 'password1234' }), 400, 'general_argument_invalid');
  const user = await account.updateEmail({ email, password: 'sdk-password-1' });
  assert.equal(user.email, email);
});

test('sessions and security logs name the country of the client address (GeoIP)', async () => {
  const { client, account: g } = guest();
  client.addHeader('X-Forwarded-For', '8.8.8.8');
  const session = await g.createAnonymousSession();
  assert.equal(session.countryCode, 'us');
  assert.equal(session.countryName, 'United States');
  const { client: c2, account } = clientFromLastResponse();
  c2.addHeader('X-Forwarded-For', '8.8.8.8');
  const logs = await account.listLogs();
  assert.equal(logs.logs[0].countryCode, 'us');
  // A private address is unknown, as in Appwrite.
  const { client: c3, account: g3 } = guest();
  c3.addHeader('X-Forwarded-For', '10.1.2.3');
  const local = await g3.createAnonymousSession();
  assert.equal(local.countryCode, '--');
  assert.equal(local.countryName, 'Unknown');
});

test('unknown route is a JSON 404 the SDK understands', async () => {
  const { client } = guest();
  const e = await rejects(
    client.call('get', new URL(`${client.config.endpoint}/account/not-a-route`), { 'content-type': 'application/json' }),
    404,
    'general_route_not_found',
  );
  assert.ok(e.response.includes('general_route_not_found'));
});

test('security logs', async () => {
  const { email, password } = await signUp();
  const { account } = await login(email, password);
  const logs = await account.listLogs();
  assert.equal(logs.logs[0].event, 'session.create');
  assert.equal(logs.logs[1].event, 'user.create');
  assert.equal(logs.logs[0].countryCode, '--');
  const { Query } = await import('node-appwrite');
  const one = await account.listLogs({ queries: [Query.limit(1)] });
  assert.equal(one.logs.length, 1);
  assert.equal(one.logs[0].time, logs.logs[0].time);
  const none = await account.listLogs({ total: false });
  assert.equal(none.total, 0);
  // Appwrite's limit goes up to 5000, not 100: a page of 500 holds all 112 entries.
  for (let i = 0; i < 110; i++) await account.updateName({ name: `n${i}` });
  const big = await account.listLogs({ queries: [Query.limit(500)] });
  assert.equal(big.logs.length, 112);
  assert.equal(big.total, 112);
  assert.equal(big.logs[0].event, 'user.update');
  assert.equal(big.logs[111].event, 'user.create');
  await rejects(account.listLogs({ queries: [Query.limit(5001)] }), 400, 'general_argument_invalid');
  await rejects(guest().account.listLogs(), 401, 'general_unauthorized_scope');
});

test('JWT from a session authenticates the SDK', async () => {
  const { Client, Account } = await import('node-appwrite');
  const { user, email, password } = await signUp();
  const { account } = await login(email, password);
  const { jwt } = await account.createJWT();
  const viaJwt = new Account(new Client().setEndpoint(process.env.APPWRITE_ENDPOINT ?? 'http://127.0.0.1:8787/v1').setProject(process.env.APPWRITE_PROJECT ?? 'local').setJWT(jwt));
  assert.equal((await viaJwt.get()).$id, user.$id);
  await rejects(viaJwt.createJWT(), 403, 'user_jwt_creation_denied');
});

test('server-side rendering: setKey creates the session, setSession uses it', async () => {
  // Required, not skipped: a missing variable must not turn this test into a no-op.
  assert.ok(process.env.APPWRITE_KEY, 'APPWRITE_KEY is not set: run through scripts/test, which creates one with the admin CLI');
  const { Client, Account } = await import('node-appwrite');
  const endpoint = process.env.APPWRITE_ENDPOINT;
  const project = process.env.APPWRITE_PROJECT;
  const { user, email, password } = await signUp();
  const admin = new Account(new Client().setEndpoint(endpoint).setProject(project).setKey(process.env.APPWRITE_KEY));
  const session = await admin.createEmailPasswordSession({ email, password });
  assert.ok(session.secret.length > 0, 'servers receive the session secret');
  const asUser = new Account(new Client().setEndpoint(endpoint).setProject(project).setSession(session.secret));
  assert.equal((await asUser.get()).$id, user.$id);
  await rejects(admin.get(), 401, 'general_unauthorized_scope');
});

test('identities: none without OAuth2', async () => {
  const { email, password } = await signUp();
  const { account } = await login(email, password);
  const list = await account.listIdentities();
  assert.equal(list.total, 0);
  assert.equal(list.identities.length, 0);
  await rejects(account.deleteIdentity({ identityId: 'missing' }), 404, 'user_identity_not_found');
});

test('OAuth2: providers report disabled, as Appwrite does for a provider not enabled', async () => {
  const { OAuthProvider } = await import('node-appwrite');
  const { account } = guest();
  try {
    await account.createOAuth2Token({ provider: OAuthProvider.Github, success: 'http://localhost/ok', failure: 'http://localhost/fail' });
    assert.fail('expected an exception');
  } catch (e) {
    assert.equal(e.code, 412);
  }
});
