import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { BCRYPT_MAX_BYTES, hashSecret, hashSpecSchema, verifySecret } from './index.ts';
import { EVENT } from '../../core/events.ts';

const spec = hashSpecSchema.parse({ format: 'bcrypt', bcryptCost: 4 });

void test('bcrypt takes a password of exactly 72 bytes, counted in bytes not characters', async () => {
  using ascii = Secret.fromString('a'.repeat(BCRYPT_MAX_BYTES));
  assert.equal(await verifySecret(await hashSecret(spec, ascii), ascii), true);
  using multibyte = Secret.fromString('密'.repeat(24)); // 24 characters, 72 bytes
  assert.equal(await verifySecret(await hashSecret(spec, multibyte), multibyte), true);
});

void test('bcrypt refuses a password longer than 72 bytes with a PolicyError instead of truncating it', async () => {
  for (const text of ['a'.repeat(73), '密'.repeat(25), 'Pässwörd-密码-🔑'.repeat(4)]) {
    using secret = Secret.fromString(text);
    await assert.rejects(hashSecret(spec, secret), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal((e as { code?: unknown }).code, 'ERR_POLICY');
      assert.equal((e as { event?: unknown }).event, EVENT.POLICY_REFUSED);
      assert.ok(!e.message.includes(text.slice(0, 8)), 'the message does not carry the password');
      return true;
    });
  }
});

void test('bcrypt: a longer password never verifies against the hash of its first 72 bytes', async () => {
  using first72 = Secret.fromString('a'.repeat(72));
  const encoded = await hashSecret(spec, first72);
  using longer = Secret.fromString('a'.repeat(73));
  assert.equal(await verifySecret(encoded, longer), false);
});

void test('bcrypt refuses a password containing NUL, which C implementations cut at', async () => {
  using secret = Secret.fromBytes(Buffer.from('before\0after'));
  await assert.rejects(hashSecret(spec, secret), { code: 'ERR_POLICY' });
});

void test('bcrypt verifies the published $2a$ vector and the $2b$/$2y$ spellings of the same hash', async () => {
  // From the crypt_blowfish test vectors (Openwall), also used by OpenBSD and libxcrypt.
  const vector = '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
  using right = Secret.fromString('U*U');
  using wrong = Secret.fromString('U*V');
  for (const version of ['2a', '2b', '2y']) {
    const encoded = vector.replace('2a', version);
    assert.equal(await verifySecret(encoded, right), true, encoded);
    assert.equal(await verifySecret(encoded, wrong), false, encoded);
  }
});

void test('bcrypt: a salt with non-canonical trailing bits is malformed', async () => {
  using secret = Secret.fromString('U*U');
  // The 22nd salt character carries 4 unused bits; 'D' sets one of them.
  await assert.rejects(
    verifySecret('$2a$05$CCCCCCCCCCCCCCCCCCCCCDE5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', secret),
    { code: 'ERR_MALFORMED_HASH' },
  );
});
