// MFA through node-appwrite 27.1.0: TOTP authenticator, recovery codes, challenges, factors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { AuthenticatorType, AuthenticationFactor } from 'node-appwrite';
import { login, signUp, rejects } from './helpers.mjs';

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// RFC 6238 TOTP: SHA-1, 6 digits, 30 s.
function totp(secret, time = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(time / 1000 / 30)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

test('TOTP authenticator and recovery-code challenge', async () => {
  const { email, password } = await signUp();
  const { account } = await login(email, password);
  assert.equal((await account.listMFAFactors()).totp, false);
  const { secret, uri } = await account.createMFAAuthenticator({ type: AuthenticatorType.Totp });
  assert.ok(uri.startsWith('otpauth://totp/'));
  await rejects(account.updateMFAAuthenticator({ type: AuthenticatorType.Totp, otp: '000000' }), 401, 'user_invalid_token');
  await account.updateMFAAuthenticator({ type: AuthenticatorType.Totp, otp: totp(secret) });
  assert.equal((await account.listMFAFactors()).totp, true);
  await rejects(account.createMFAAuthenticator({ type: AuthenticatorType.Totp }), 409, 'user_authenticator_already_verified');

  const { recoveryCodes } = await account.createMFARecoveryCodes();
  assert.equal(recoveryCodes.length, 6);
  await rejects(account.getMFARecoveryCodes(), 401, 'user_challenge_required');
  const challenge = await account.createMFAChallenge({ factor: AuthenticationFactor.Recoverycode });
  const session = await account.updateMFAChallenge({ challengeId: challenge.$id, otp: recoveryCodes[0] });
  assert.ok(session.factors.includes('recoveryCode'));
  assert.notEqual(session.mfaUpdatedAt, '');
  assert.equal((await account.getMFARecoveryCodes()).recoveryCodes.length, 5);
  const user = await account.updateMFA({ mfa: true });
  assert.equal(user.mfa, true);
  await account.deleteMFAAuthenticator({ type: AuthenticatorType.Totp });
  assert.equal((await account.listMFAFactors()).totp, false);
});
