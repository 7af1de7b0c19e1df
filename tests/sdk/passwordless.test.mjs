// Passwordless logins, verification and recovery through node-appwrite 27.1.0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ID } from 'node-appwrite';
import {
  guest, login, signUp, rejects, uniqueEmail, uniquePhone, lastEmail, lastSms, linkParams, clientFromLastResponse,
} from './helpers.mjs';

test('email OTP login', async () => {
  const { account } = guest();
  const email = uniqueEmail();
  const token = await account.createEmailToken({ userId: ID.unique(), email });
  assert.equal(token.secret, '');
  const { subject, body } = await lastEmail(email);
  assert.match(subject, /^OTP for .* Login$/);
  const code = body.match(/Use OTP (\d{6})/)[1];
  const session = await account.createSession({ userId: token.userId, secret: code });
  assert.equal(session.userId, token.userId);
  const me = await clientFromLastResponse().account.get();
  assert.equal(me.emailVerification, true);
  await rejects(account.createSession({ userId: token.userId, secret: code }), 401, 'user_invalid_token');
});

test('magic URL login', async () => {
  const { account } = guest();
  const email = uniqueEmail();
  const token = await account.createMagicURLToken({ userId: ID.unique(), email, url: 'http://localhost:3000/magic' });
  const params = linkParams((await lastEmail(email)).body);
  assert.equal(params.get('userId'), token.userId);
  assert.equal(params.get('secret').length, 64);
  const session = await account.updateMagicURLSession({ userId: params.get('userId'), secret: params.get('secret') });
  assert.equal(session.provider, 'magic-url');
  assert.equal((await clientFromLastResponse().account.get()).email, email);
  await rejects(
    account.createMagicURLToken({ userId: ID.unique(), email, url: 'https://evil.example/magic' }),
    400,
    'general_argument_invalid',
  );
});

test('phone login', async () => {
  const { account } = guest();
  const phone = uniquePhone();
  const token = await account.createPhoneToken({ userId: ID.unique(), phone });
  const code = (await lastSms(phone)).split(/\s/)[0];
  await rejects(account.updatePhoneSession({ userId: token.userId, secret: '000000x' }), 401, 'user_invalid_token');
  const session = await account.updatePhoneSession({ userId: token.userId, secret: code });
  assert.equal(session.provider, 'phone');
  const me = await clientFromLastResponse().account.get();
  assert.equal(me.phone, phone);
  assert.equal(me.phoneVerification, true);
});

test('email verification', async () => {
  const { user, email, password } = await signUp('Vera');
  const { account } = await login(email, password);
  const token = await account.createEmailVerification({ url: 'http://localhost/verify' });
  assert.equal(token.secret, '');
  const { subject, body } = await lastEmail(email);
  assert.match(subject, /^Account Verification for /);
  const params = linkParams(body);
  assert.equal(params.get('expire'), token.expire);
  await rejects(guest().account.updateEmailVerification({ userId: user.$id, secret: 'wrong' }), 401, 'user_invalid_token');
  await guest().account.updateEmailVerification({ userId: user.$id, secret: params.get('secret') });
  assert.equal((await account.get()).emailVerification, true);
});

test('phone verification', async () => {
  const { user, email, password } = await signUp();
  const { account } = await login(email, password);
  const phone = uniquePhone();
  await account.updatePhone({ phone, password });
  const token = await account.createPhoneVerification();
  // A 6-digit code lives 15 minutes (README "Where we differ": Appwrite gives this one an hour).
  assert.equal(Date.parse(token.expire) - Date.parse(token.$createdAt), 15 * 60 * 1000);
  const code = (await lastSms(phone)).split(/\s/)[0];
  await guest().account.updatePhoneVerification({ userId: user.$id, secret: code });
  assert.equal((await account.get()).phoneVerification, true);
});

test('password recovery, then login with the new password', async () => {
  const { user, email, password } = await signUp();
  const { account } = guest();
  const token = await account.createRecovery({ email, url: 'http://localhost/reset' });
  assert.equal(token.secret, '');
  const params = linkParams((await lastEmail(email)).body);
  const secret = params.get('secret');
  await account.updateRecovery({ userId: user.$id, secret, password: 'recovered-pass-1' });
  await rejects(guest().account.createEmailPasswordSession({ email, password }), 401, 'user_invalid_credentials');
  await login(email, 'recovered-pass-1');
  await rejects(account.updateRecovery({ userId: user.$id, secret, password: 'again-pass-22' }), 401, 'user_invalid_token');
  await rejects(account.createRecovery({ email: uniqueEmail(), url: 'http://localhost/reset' }), 404, 'user_not_found');
});
