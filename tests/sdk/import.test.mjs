// Users moved in with `admin users import` sign in through node-appwrite 27.1.0 with the
// password they had at the source (issue 22). The fixtures are tests/fixtures/import (Appwrite's
// published test hashes, password "appwrite"). Runs where scripts/test names the lane's table
// (ADMIN_TABLE); the fault lane, whose writes fail on purpose, does not run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { guest } from './helpers.mjs';

const fixtures = fileURLToPath(new URL('../fixtures/import/', import.meta.url));
const admin = (args) =>
  execFileSync(process.env.ADMIN_BIN ?? '../../target/debug/admin', ['users', 'import', ...args], {
    env: { ...process.env, TABLE_NAME: process.env.ADMIN_TABLE },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

test('users imported from Appwrite, Firebase, Supabase and Auth0 sign in with their old passwords', { skip: !process.env.ADMIN_TABLE && 'ADMIN_TABLE unset' }, async () => {
  const report = [
    admin(['--from', 'appwrite', '--file', `${fixtures}appwrite.json`]),
    admin(['--from', 'firebase', '--file', `${fixtures}firebase.json`, '--hash-config', `${fixtures}firebase-hash-config.txt`]),
    admin(['--from', 'supabase', '--file', `${fixtures}supabase.json`]),
    admin(['--from', 'auth0', '--file', `${fixtures}auth0.ndjson`]),
  ].join('');
  const rows = report.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 11, report);
  assert.ok(rows.every((r) => r.outcome === 'created' || r.outcome === 'skipped'), report);
  assert.ok(!report.includes('$2a$') && !report.includes('144fa7ea'), 'no hash in the report');
  for (const [email, id] of [
    ['md5@import.example', 'aw-md5'],
    ['sha@import.example', 'aw-sha'],
    ['phpass@import.example', 'aw-phpass'],
    ['scrypt@import.example', 'aw-scrypt'],
    ['argon2@import.example', 'aw-argon2'],
    ['fire@import.example', 'fbUser1'],
    ['supa@import.example', '5f1c8a3e-2b7d-4c4e-9f1a-0a1b2c3d4e5f'],
    ['zero@import.example', null],
  ]) {
    const { account } = guest();
    const session = await account.createEmailPasswordSession({ email, password: 'appwrite' });
    if (id) assert.equal(session.userId, id, email);
    // And again, on the Argon2id hash the first login left.
    const again = await guest().account.createEmailPasswordSession({ email, password: 'appwrite' });
    assert.equal(again.userId, session.userId);
  }
});
