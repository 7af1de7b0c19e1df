// Messages in the caller's language through node-appwrite 27.1.0 (`client.setLocale`, which
// sends X-Appwrite-Locale): region → language → the project's default (docs/contract.md §1.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ID, Client, Account } from 'node-appwrite';
import { endpoint, project, uniqueEmail, uniquePhone, lastEmail, lastSms } from './helpers.mjs';

const catalog = (code) =>
  JSON.parse(readFileSync(new URL(`../../shared/core/locales/${code}.json`, import.meta.url)));

// A template as a pattern: placeholders match any text, everything else literally.
function pattern(template) {
  const parts = template.split(/\{[a-z]+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[\\s\\S]+')}$`);
}

function account(locale) {
  const client = new Client().setEndpoint(endpoint).setProject(project).setLocale(locale);
  return new Account(client);
}

async function otpSubject(locale) {
  const email = uniqueEmail();
  await account(locale).createEmailToken({ userId: ID.unique(), email });
  return (await lastEmail(email)).subject;
}

test('setLocale("de") gets the German email code and SMS', async () => {
  const de = catalog('de');
  const email = uniqueEmail();
  await account('de').createEmailToken({ userId: ID.unique(), email });
  const { subject, body } = await lastEmail(email);
  assert.match(subject, pattern(de['emailOtp.subject']));
  assert.doesNotMatch(subject, pattern(catalog('en')['emailOtp.subject']));
  assert.match(body, /lang="de"/);

  const phone = uniquePhone();
  await account('de').createPhoneToken({ userId: ID.unique(), phone });
  const sms = await lastSms(phone);
  assert.match(sms, pattern(de['sms.otp']));
  assert.match(sms.split(/\s/)[0], /^\d{6}$/);
});

test('a region falls back to its language, an unknown locale to the default', async () => {
  assert.match(await otpSubject('pt-BR'), pattern(catalog('pt')['emailOtp.subject']));
  assert.match(await otpSubject('de-AT'), pattern(catalog('de')['emailOtp.subject']));
  assert.match(await otpSubject('zh-TW'), pattern(catalog('zh-tw')['emailOtp.subject']));
  assert.match(await otpSubject('xx-YY'), pattern(catalog('en')['emailOtp.subject']));
});

test('Arabic mail is written right to left', async () => {
  const email = uniqueEmail();
  await account('ar').createMagicURLToken({ userId: ID.unique(), email, url: 'http://localhost:3000/magic' });
  const { subject, body } = await lastEmail(email);
  assert.match(subject, pattern(catalog('ar')['magicSession.subject']));
  assert.match(body, /<html lang="ar" dir="rtl">/);
});

// `admin templates set` while the server runs: the next send uses it (TEMPLATE_CACHE_SECONDS=0
// in the lanes that set ADMIN_TABLE; the fault lane, whose reads may fail, does not run it).
const admin = (args) =>
  execFileSync(process.env.ADMIN_BIN ?? '../../target/debug/admin', ['templates', ...args], {
    env: { ...process.env, TABLE_NAME: process.env.ADMIN_TABLE },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

test('a template set with admin templates is used by the next send', { skip: !process.env.ADMIN_TABLE && 'ADMIN_TABLE unset' }, async () => {
  const where = ['--locale', 'nl'];
  admin(['set', '--channel', 'email', '--type', 'otpSession', ...where,
    '--subject', 'Sjabloon van de beheerder voor {project}', '--text', 'Uw code: {otp}']);
  admin(['set', '--channel', 'sms', '--type', 'login', ...where, '--message', '{otp} (sjabloon) {project}']);
  try {
    assert.match(await otpSubject('nl-BE'), /^Sjabloon van de beheerder voor .+$/);
    const phone = uniquePhone();
    await account('nl').createPhoneToken({ userId: ID.unique(), phone });
    assert.match(await lastSms(phone), /^\d{6} \(sjabloon\) .+$/);
    // A bad template is refused, naming the placeholder, and nothing changes.
    assert.throws(
      () => admin(['set', '--channel', 'sms', '--type', 'login', ...where, '--message', 'code {secret}']),
      /unknown placeholder \{secret\}/,
    );
    assert.match(admin(['preview', '--channel', 'sms', '--type', 'login', ...where]), /\(sjabloon\)/);
  } finally {
    admin(['delete', '--channel', 'email', '--type', 'otpSession', ...where]);
    admin(['delete', '--channel', 'sms', '--type', 'login', ...where]);
  }
  assert.match(await otpSubject('nl'), pattern(catalog('nl')['emailOtp.subject']));
});
