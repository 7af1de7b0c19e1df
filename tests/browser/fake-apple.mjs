// An Apple-shaped OpenID provider for the browser lane (the integration tests have their own,
// tests/src/fake_apple.rs): its authorize page answers with a form that posts itself to the
// callback (`response_mode=form_post`), from another site than the API's, as Apple's does; its
// token endpoint checks the ES256 client secret the server signs with the team key; its ID tokens
// are ES256. Node's own crypto, no dependency.
// usage: node fake-apple.mjs <port> <file to write the team secret JSON to>
// POST /test/next {sub, email, first, last} picks the person of the next authorization.
import http from 'node:http';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [port, secretFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const clientId = 'com.example.browser';
const team = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signing = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
writeFileSync(secretFile, JSON.stringify({
  keyID: 'BROWSERKEY', teamID: 'BROWSERTEAM',
  p8: team.privateKey.export({ type: 'pkcs8', format: 'pem' }),
}));

const b64 = (b) => Buffer.from(b).toString('base64url');
const jwt = (claims) => {
  const head = b64(JSON.stringify({ alg: 'ES256', kid: 'browser-apple' }));
  const body = b64(JSON.stringify(claims));
  const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), { key: signing.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64(sig)}`;
};
// Apple's checks of a client secret: ES256 by the team key, its claims.
const clientSecretOk = (token) => {
  const [head, body, sig] = (token ?? '').split('.');
  if (!sig) return false;
  const ok = crypto.verify('sha256', Buffer.from(`${head}.${body}`),
    { key: team.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
  const h = JSON.parse(Buffer.from(head, 'base64url'));
  const c = JSON.parse(Buffer.from(body, 'base64url'));
  const now = Date.now() / 1000;
  return ok && h.kid === 'BROWSERKEY' && c.iss === 'BROWSERTEAM' && c.sub === clientId
    && c.aud === issuer && c.exp > now && c.iat <= now + 60;
};

let next;
const codes = new Map();
const seen = new Set();
const html = (s) => String(s).replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');

http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  let body = '';
  for await (const chunk of req) body += chunk;
  const json = (status, value) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(value)); };
  if (url.pathname === '/test/next') { next = JSON.parse(body); return json(200, {}); }
  if (url.pathname === '/.well-known/openid-configuration') {
    return json(200, {
      issuer, authorization_endpoint: `${issuer}/auth/authorize`, token_endpoint: `${issuer}/auth/token`,
      jwks_uri: `${issuer}/auth/keys`, response_types_supported: ['code'],
      response_modes_supported: ['query', 'fragment', 'form_post'], subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['ES256'], scopes_supported: ['openid', 'email', 'name'],
      token_endpoint_auth_methods_supported: ['client_secret_post'],
    });
  }
  if (url.pathname === '/auth/keys') {
    return json(200, { keys: [{ ...signing.publicKey.export({ format: 'jwk' }), kid: 'browser-apple', use: 'sig', alg: 'ES256' }] });
  }
  if (url.pathname === '/auth/authorize') {
    const q = url.searchParams;
    if (q.get('response_mode') !== 'form_post' || q.get('client_id') !== clientId) return json(400, { error: 'invalid_request' });
    const code = crypto.randomUUID();
    codes.set(code, { person: next, nonce: q.get('nonce'), redirect: q.get('redirect_uri') });
    const fields = { state: q.get('state'), code };
    if (!seen.has(next.sub)) {
      seen.add(next.sub);
      fields.user = JSON.stringify({ name: { firstName: next.first, lastName: next.last }, email: next.email });
    }
    const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${html(v)}">`).join('');
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(`<!doctype html><body onload="document.forms[0].submit()"><form method="post" action="${html(q.get('redirect_uri'))}">${inputs}</form></body>`);
  }
  if (url.pathname === '/auth/token') {
    const f = new URLSearchParams(body);
    const grant = codes.get(f.get('code'));
    codes.delete(f.get('code'));
    if (req.headers.authorization || f.get('client_id') !== clientId || !clientSecretOk(f.get('client_secret'))) return json(400, { error: 'invalid_client' });
    if (!grant || f.get('redirect_uri') !== grant.redirect) return json(400, { error: 'invalid_grant' });
    const now = Math.floor(Date.now() / 1000);
    return json(200, {
      access_token: crypto.randomUUID(), token_type: 'Bearer', expires_in: 3600, refresh_token: crypto.randomUUID(),
      id_token: jwt({
        iss: issuer, aud: clientId, exp: now + 600, iat: now, sub: grant.person.sub, nonce: grant.nonce,
        email: grant.person.email, email_verified: 'true', is_private_email: 'true', auth_time: now,
      }),
    });
  }
  json(404, { error: 'not_found' });
}).listen(Number(port), '127.0.0.1', () => console.log(`fake Apple on ${issuer}`));
