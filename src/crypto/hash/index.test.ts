import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { HASH_FORMATS, type HashFormat, detectFormat, hashSecret, hashSpecSchema, verifySecret } from './index.ts';

/** Cheap cost parameters: tests only. */
const CHEAP = { memoryKiB: 64, timeCost: 1, bcryptCost: 4, scryptLogN: 4, pbkdf2Iterations: 1000, cryptRounds: 1000 };

function cheap(format: HashFormat, extra: Record<string, number> = {}) {
  return hashSpecSchema.parse({ format, ...CHEAP, ...extra });
}

const PASSWORDS = ['correct horse battery staple', 'Pässwörd-密码-🔑', 'x', ' leading and trailing spaces ', 'quote"back\\slash$dollar:colon'];

for (const format of HASH_FORMATS) {
  void test(`${format}: hash then verify, for ASCII and non-ASCII passwords`, async () => {
    for (const text of PASSWORDS) {
      using secret = Secret.fromString(text);
      const encoded = await hashSecret(cheap(format), secret);
      assert.equal(detectFormat(encoded), format);
      assert.equal(await verifySecret(encoded, secret), true, text);
      if (text.length > 4) assert.ok(!encoded.includes(text), 'the clear password does not appear in the encoding');
    }
  });

  void test(`${format}: a wrong password does not verify`, async () => {
    using right = Secret.fromString('Pässwörd-密码-🔑');
    const encoded = await hashSecret(cheap(format), right);
    for (const wrong of ['Pässwörd-密码-🔐', 'Passwort-密码-🔑', 'Pässwörd-密码-🔑 ', '', 'pässwörd-密码-🔑']) {
      using secret = Secret.fromString(wrong);
      assert.equal(await verifySecret(encoded, secret), false, wrong);
    }
  });

  void test(`${format}: every hash has a fresh salt`, async () => {
    using secret = Secret.fromString('same password');
    const a = await hashSecret(cheap(format), secret);
    const b = await hashSecret(cheap(format), secret);
    assert.notEqual(a, b);
  });
}

void test('the secret is lent, not consumed: it stays usable after hashing and verifying', async () => {
  using secret = Secret.fromString('still here');
  const encoded = await hashSecret(cheap('argon2id'), secret);
  await verifySecret(encoded, secret);
  assert.equal(secret.disposed, false);
  assert.equal(await verifySecret(encoded, secret), true);
});

void test('detectFormat recognises each prefix and nothing else', () => {
  const cases: [string, HashFormat | undefined][] = [
    ['$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', 'argon2id'],
    ['$2b$04$abc', 'bcrypt'],
    ['$2a$04$abc', 'bcrypt'],
    ['$2y$04$abc', 'bcrypt'],
    ['$scrypt$ln=4,r=8,p=1$a$b', 'scrypt'],
    ['$pbkdf2-sha256$1000$a$b', 'pbkdf2-sha256'],
    ['$pbkdf2-sha512$1000$a$b', 'pbkdf2-sha512'],
    ['$6$salt$x', 'sha512-crypt'],
    ['{SSHA}abc', '{SSHA}'],
    ['{ssha}abc', '{SSHA}'],
    ['{SSHA512}abc', '{SSHA512}'],
    ['{CRYPT}$6$salt$x', '{CRYPT}'],
    ['{crypt}$6$salt$x', '{CRYPT}'],
    ['{ARGON2}$argon2id$x', '{ARGON2}'],
    ['{PBKDF2-SHA512}1000$a$b', '{PBKDF2-SHA512}'],
    ['{pbkdf2-sha512}1000$a$b', '{PBKDF2-SHA512}'],
    // Not ours: other crypt methods, other schemes, bare argon2i, plain text.
    ['$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$x', undefined],
    ['$1$salt$hash', undefined],
    ['$5$salt$hash', undefined],
    ['$y$j9T$salt$hash', undefined],
    ['$2x$04$abc', undefined],
    ['{SHA}abc', undefined],
    ['{SSHA256}abc', undefined],
    ['{PBKDF2-SHA256}1000$a$b', undefined],
    ['$pbkdf2$1000$a$b', undefined],
    ['secret', undefined],
    ['', undefined],
    [' $6$salt$x', undefined],
  ];
  for (const [encoded, format] of cases) assert.equal(detectFormat(encoded), format, encoded);
});

void test('an encoding of no supported format is an UnsupportedHashError', async () => {
  using secret = Secret.fromString('secret');
  for (const encoded of ['secret', '', '$1$salt$hash', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=', '$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$abcd']) {
    await assert.rejects(verifySecret(encoded, secret), { code: 'ERR_UNSUPPORTED_HASH', retryable: false }, encoded);
  }
});

void test('an error never carries the password or the stored hash', async () => {
  using secret = Secret.fromString('Pässwörd-密码-🔑');
  const stored = '$pbkdf2-sha256$1000$c2FsdHNhbHQ$tooShortChecksum';
  await assert.rejects(verifySecret(stored, secret), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.ok(!e.message.includes('Pässwörd') && !e.message.includes('tooShortChecksum'), e.message);
    return true;
  });
});

void test('a hand-built spec with parameters out of range is a ConfigError', async () => {
  using secret = Secret.fromString('secret');
  const spec = { format: 'argon2id', params: { ...cheap('argon2id').params, memoryKiB: 1 } } as const;
  await assert.rejects(hashSecret(spec, secret), { code: 'ERR_CONFIG' });
  const unknown = { format: 'md5', params: cheap('argon2id').params } as unknown as ReturnType<typeof cheap>;
  await assert.rejects(hashSecret(unknown, secret), { code: 'ERR_CONFIG' });
});

void test('the spec schema takes a bare format name and fills in the recommended defaults', () => {
  const spec = hashSpecSchema.parse('argon2id');
  assert.deepEqual([spec.format, spec.params.memoryKiB, spec.params.timeCost, spec.params.parallelism], ['argon2id', 19_456, 2, 1]);
});
