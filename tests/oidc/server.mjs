// A real OpenID Provider for the OAuth2 tests: the certified `oidc-provider` package, with
// dynamic client registration (each test server registers its own callback URL), accounts the
// test chooses (`POST /test/next` with the claims of the next login), and a consent-free login.
// `POST /test/tamper` makes the next token response carry a broken ID token (`{"what":
// "signature"}`: signed by another key under the same key ID; `"aud"`: issued for another client;
// `"nonce"`: another nonce), so the tests can show the relying party refuses it.
// Usage: OIDC_PORT=<port> node server.mjs
import http from 'node:http';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 9090);
const issuer = `http://127.0.0.1:${port}`;

// sub -> claims; the next login signs in as `next`.
const accounts = new Map();
let next = null;
let tamper = null;

// Our own signing key (so a tampered token can be re-signed), and a stranger's.
const signing = await jose.generateKeyPair('RS256', { extractable: true });
const stranger = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(signing.privateKey)), kid: 'test-key', use: 'sig', alg: 'RS256' };

async function broken(idToken, what) {
  const header = jose.decodeProtectedHeader(idToken);
  const claims = jose.decodeJwt(idToken);
  const key = what === 'signature' ? stranger.privateKey : signing.privateKey;
  if (what === 'aud') claims.aud = 'another-client';
  if (what === 'nonce') claims.nonce = 'another-nonce';
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
}

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  features: {
    registration: { enabled: true },
    devInteractions: { enabled: false },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    // Autodesk's profile scope, which carries the address and the name there
    // (aps.autodesk.com/en/docs/oauth/v2/developers_guide/scopes).
    'user-profile:read': ['email', 'email_verified', 'name'],
  },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  cookies: { keys: ['oidc-test-cookie-key'] },
});
// Plain http on loopback is fine for a test provider.
provider.proxy = false;

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (!next) {
    res.writeHead(500).end('no account chosen for this login (POST /test/next)');
    return;
  }
  const grant = new provider.Grant({ accountId: next, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: next }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const callback = provider.callback();
http
  .createServer(async (req, res) => {
    try {
      if (req.method === 'POST' && req.url === '/test/next') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const claims = JSON.parse(body);
        const sub = claims.sub;
        delete claims.sub;
        accounts.set(sub, claims);
        next = sub;
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'POST' && req.url === '/test/tamper') {
        let body = '';
        for await (const chunk of req) body += chunk;
        tamper = JSON.parse(body).what;
        res.writeHead(204).end();
        return;
      }
      if (tamper && req.method === 'POST' && req.url === '/token') {
        // Let the provider answer, then break the ID token in its answer.
        const what = tamper;
        tamper = null;
        const chunks = [];
        const write = res.write.bind(res);
        const end = res.end.bind(res);
        res.write = (chunk) => { chunks.push(Buffer.from(chunk)); return true; };
        res.end = (chunk) => {
          if (chunk) chunks.push(Buffer.from(chunk));
          const body = JSON.parse(Buffer.concat(chunks).toString());
          broken(body.id_token, what).then((token) => {
            body.id_token = token;
            const out = Buffer.from(JSON.stringify(body));
            res.setHeader('content-length', out.length);
            write(out);
            end();
          });
          return res;
        };
        callback(req, res);
        return;
      }
      if (req.url.startsWith('/interaction/')) {
        await interaction(req, res);
        return;
      }
      callback(req, res);
    } catch (e) {
      console.error(e);
      if (!res.headersSent) res.writeHead(500).end(String(e));
    }
  })
  .listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
