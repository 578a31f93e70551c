import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { mysqlNativePasswordHash, scramSha256Verifier } from './role-verifiers.ts';

test('SCRAM-SHA-256: the RFC 7677 example exchange verifies with the keys computed here', async () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const verifier = await scramSha256Verifier(Buffer.from('pencil'), salt, 4096);
  const match = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
  assert.ok(match, verifier);
  const serverKey = Buffer.from(match[2] ?? '', 'base64');
  // RFC 7677 §3: the server's signature over the example's AuthMessage.
  const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
  assert.equal(createHmac('sha256', serverKey).update(authMessage).digest('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('SCRAM-SHA-256: a fresh salt each time; SASLprep maps what RFC 4013 maps, invalid UTF-8 is used as is', async () => {
  const a = await scramSha256Verifier(Buffer.from('same-password'));
  const b = await scramSha256Verifier(Buffer.from('same-password'));
  assert.notEqual(a, b);
  const salt = Buffer.alloc(16, 7);
  // U+00AD (soft hyphen) maps to nothing and U+00A0 to a space: the same key as without/with them.
  assert.equal(await scramSha256Verifier(Buffer.from('pass\u00adword\u00a0x'), salt), await scramSha256Verifier(Buffer.from('password x'), salt));
  const invalid = Buffer.from([0x70, 0xff, 0x71]);
  assert.match(await scramSha256Verifier(invalid, salt), /^SCRAM-SHA-256\$4096:/);
  assert.deepEqual(invalid, Buffer.from([0x70, 0xff, 0x71]), 'the caller\'s bytes are left as they were');
});

test('mysql_native_password: the well-known hash of "password"', () => {
  assert.equal(mysqlNativePasswordHash(Buffer.from('password')), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
});
