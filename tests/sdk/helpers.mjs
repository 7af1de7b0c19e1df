// Shared fixtures for the SDK black-box tests. The server under test is scripts/test's local
// server: APPWRITE_ENDPOINT and APPWRITE_PROJECT say where it is.
import { Agent, setGlobalDispatcher } from 'undici';
import { Client, Account, ID } from 'node-appwrite';

export const endpoint = process.env.APPWRITE_ENDPOINT ?? 'http://127.0.0.1:8787/v1';
export const project = process.env.APPWRITE_PROJECT ?? 'local';

// node-appwrite uses undici's fetch; record the headers of the last response so a test can read
// what the Web SDK would (the X-Fallback-Cookies session credential) without changing the SDK.
let lastHeaders = {};
setGlobalDispatcher(
  new Agent().compose((dispatch) => (opts, handler) =>
    dispatch(
      opts,
      new Proxy(handler, {
        get(target, prop) {
          if (prop === 'onHeaders') {
            return (status, raw, resume, text) => {
              const h = {};
              for (let i = 0; i + 1 < raw.length; i += 2) {
                const k = raw[i].toString().toLowerCase();
                h[k] = h[k] ? [].concat(h[k], raw[i + 1].toString()) : raw[i + 1].toString();
              }
              lastHeaders = h;
              return target.onHeaders(status, raw, resume, text);
            };
          }
          const v = Reflect.get(target, prop);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    ),
  ),
);

export const last = () => lastHeaders;

export function guest() {
  const client = new Client().setEndpoint(endpoint).setProject(project);
  return { client, account: new Account(client) };
}

let n = 0;
export function uniqueEmail() {
  n += 1;
  return `sdk${Date.now()}${process.pid}x${n}@example.com`;
}

// Log in through the SDK and return an SDK client bound to that session (setSession), the way a
// server-side app forwards a user's credential.
export async function login(email, password) {
  const { account } = guest();
  const session = await account.createEmailPasswordSession({ email, password });
  const fallback = JSON.parse(last()['x-fallback-cookies']);
  const credential = fallback[`a_session_${project}`];
  const client = new Client().setEndpoint(endpoint).setProject(project).setSession(credential);
  return { session, credential, client, account: new Account(client) };
}

export async function signUp(name = 'SDK User') {
  const email = uniqueEmail();
  const password = 'sdk-password-1';
  const { account } = guest();
  const user = await account.create({ userId: ID.unique(), email, password, name });
  return { user, email, password };
}

// Await a promise that must reject with an AppwriteException of `code` and `type`.
export async function rejects(promise, code, type) {
  try {
    await promise;
  } catch (e) {
    if (e.code !== code || e.type !== type) {
      throw new Error(`expected ${code} ${type}, got ${e.code} ${e.type}: ${e.message}`);
    }
    return e;
  }
  throw new Error(`expected ${code} ${type}, but the call succeeded`);
}

// Mail and SMS the emulator accepted (scripts/moto_server.py's outbox.json), for codes and links.
const moto = process.env.MOTO_URL ?? process.env.AWS_ENDPOINT_URL;

async function motoData() {
  const res = await fetch(`${moto}/moto-api/outbox.json`);
  return JSON.parse(await res.text());
}

export async function lastEmail(to) {
  const data = await motoData();
  const msgs = (data.ses?.Message ?? []).filter((m) => (m.destinations?.ToAddresses ?? []).some((a) => a.includes(to)));
  const m = msgs.at(-1);
  return m ? { subject: m.subject, body: m.body.replaceAll('&amp;', '&') } : undefined;
}

export async function lastSms(phone) {
  const data = await motoData();
  return (data.sns?.SMS ?? []).filter((m) => m.phone_number === phone).at(-1)?.message;
}

export function linkParams(body) {
  const url = body.match(/https?:\/\/[^\s"<]+/)[0];
  return new URL(url).searchParams;
}

export function uniquePhone() {
  n += 1;
  return `+1415${String((Date.now() * 7 + n * 7919) % 10_000_000).padStart(7, '0')}`;
}

// A client bound to the credential the last response carried (X-Fallback-Cookies).
export function clientFromLastResponse() {
  const fallback = JSON.parse(last()['x-fallback-cookies']);
  const credential = fallback[`a_session_${project}`];
  const client = new Client().setEndpoint(endpoint).setProject(project).setSession(credential);
  return { client, account: new Account(client) };
}
