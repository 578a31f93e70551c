import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { decodeBase64 } from './codec.ts';
import { type HashFormat, hashSecret, hashSpecSchema, verifySecret } from './index.ts';

/** Cheap cost parameters: tests only. */
function cheap(format: HashFormat, extra: Record<string, number> = {}) {
  return hashSpecSchema.parse({ format, memoryKiB: 64, timeCost: 1, bcryptCost: 4, scryptLogN: 4, pbkdf2Iterations: 1000, cryptRounds: 1000, ...extra });
}

async function hashed(format: HashFormat, extra: Record<string, number> = {}): Promise<string> {
  using secret = Secret.fromString('Pässwörd-密码-🔑');
  const encoded = await hashSecret(cheap(format, extra), secret);
  assert.equal(await verifySecret(encoded, secret), true);
  return encoded;
}

function ab64(text: string): Buffer {
  const bytes = decodeBase64(text, 'adapted');
  assert.ok(bytes !== undefined, text);
  return bytes;
}

void test('argon2id and {ARGON2} write the configured m, t, p, a saltBytes salt and a 32-byte hash', async () => {
  for (const [format, prefix] of [['argon2id', ''], ['{ARGON2}', '{ARGON2}']] as const) {
    const encoded = await hashed(format, { memoryKiB: 256, timeCost: 3, parallelism: 2, saltBytes: 24 });
    const match = /^(.*)\$argon2id\$v=19\$m=256,t=3,p=2\$([^$]+)\$([^$]+)$/.exec(encoded);
    assert.ok(match, encoded);
    assert.equal(match[1], prefix);
    assert.equal(decodeBase64(match[2] ?? '', 'standard')?.length, 24);
    assert.equal(decodeBase64(match[3] ?? '', 'standard')?.length, 32);
  }
});

void test('bcrypt writes $2b$ and the configured cost', async () => {
  assert.match(await hashed('bcrypt', { bcryptCost: 5 }), /^\$2b\$05\$[./A-Za-z0-9]{53}$/);
});

void test('scrypt writes ln, r, p in passlib order, standard base64, a 32-byte checksum', async () => {
  const encoded = await hashed('scrypt', { scryptLogN: 5, scryptR: 4, scryptP: 2, saltBytes: 20 });
  const match = /^\$scrypt\$ln=5,r=4,p=2\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(encoded);
  assert.ok(match, encoded);
  assert.equal(decodeBase64(match[1] ?? '', 'standard')?.length, 20);
  assert.equal(decodeBase64(match[2] ?? '', 'standard')?.length, 32);
});

void test('pbkdf2-* write the configured rounds, adapted base64 and a digest-long checksum', async () => {
  for (const [format, size] of [['pbkdf2-sha256', 32], ['pbkdf2-sha512', 64]] as const) {
    const encoded = await hashed(format, { pbkdf2Iterations: 1234, saltBytes: 24 });
    const match = new RegExp(`^\\$${format}\\$1234\\$([./A-Za-z0-9]+)\\$([./A-Za-z0-9]+)$`).exec(encoded);
    assert.ok(match, encoded);
    assert.equal(ab64(match[1] ?? '').length, 24);
    assert.equal(ab64(match[2] ?? '').length, size);
  }
});

void test('{PBKDF2-SHA512} writes the rounds and always a 16-byte salt, which slapd requires', async () => {
  const encoded = await hashed('{PBKDF2-SHA512}', { pbkdf2Iterations: 1500, saltBytes: 32 });
  const match = /^\{PBKDF2-SHA512\}1500\$([./A-Za-z0-9]+)\$([./A-Za-z0-9]+)$/.exec(encoded);
  assert.ok(match, encoded);
  assert.equal(ab64(match[1] ?? '').length, 16);
  assert.equal(ab64(match[2] ?? '').length, 64);
});

void test('sha512-crypt and {CRYPT} write rounds= unless it is 5000, and a 16-character salt', async () => {
  for (const [format, prefix] of [['sha512-crypt', ''], ['{CRYPT}', '{CRYPT}']] as const) {
    assert.match(await hashed(format, { cryptRounds: 1000 }), /^(?:\{CRYPT\})?\$6\$rounds=1000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    const plain = await hashed(format, { cryptRounds: 5000 });
    assert.ok(plain.startsWith(`${prefix}$6$`), plain);
    assert.match(plain, /^(?:\{CRYPT\})?\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  }
});

void test('{SSHA} and {SSHA512} append a saltBytes salt to the digest', async () => {
  for (const [format, digest] of [['{SSHA}', 20], ['{SSHA512}', 64]] as const) {
    const encoded = await hashed(format, { saltBytes: 12 });
    assert.equal(decodeBase64(encoded.slice(format.length), 'standard')?.length, digest + 12);
  }
});

void test('a stored hash with costs beyond the schema limits is refused before any work', async () => {
  using secret = Secret.fromString('secret');
  const salt = 'c29tZXNhbHRzb21lc2FsdA';
  const hash = 'CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
  const dk512 = Buffer.alloc(64, 7).toString('base64').replace(/=+$/, '');
  for (const encoded of [
    `$argon2id$v=19$m=8388608,t=1,p=1$${salt}$${hash}`,
    `$argon2id$v=19$m=65536,t=1000,p=1$${salt}$${hash}`,
    `{ARGON2}$argon2i$v=19$m=65536,t=2,p=255$${salt}$${hash}`,
    `$scrypt$ln=30,r=8,p=1$${salt}$${hash}`,
    `$scrypt$ln=4,r=1024,p=1$${salt}$${hash}`,
    `$pbkdf2-sha256$99999999$${salt}$${hash}`,
    `{PBKDF2-SHA512}0$${salt}$${dk512}`,
    `{PBKDF2-SHA512}10000001$${salt}$${dk512}`,
    '$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW',
    '$2b$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW',
  ]) {
    await assert.rejects(verifySecret(encoded, secret), { code: 'ERR_UNSUPPORTED_HASH' }, encoded);
  }
});

void test('a malformed body after a known prefix is a MalformedHashError naming the format', async () => {
  using secret = Secret.fromString('secret');
  const cases: [string, string][] = [
    ['$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$abcd', 'argon2id'],
    ['$argon2id$v=19$m=64,t=1,p=1$!!!!$abcdabcd', 'argon2id'],
    ['$argon2id$v=19$m=64,t=1,p=1$c2FsdA$abcdabcd', 'argon2id'], // salt under 8 bytes
    ['$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$', 'argon2id'],
    ['$argon2id$v=019$m=64,t=1,p=1$c29tZXNhbHQ$abcdabcd', 'argon2id'],
    ['$argon2id$v=19$m=64,t=1,p=1,keyid=abc$c29tZXNhbHQ$abcdabcd', 'argon2id'],
    ['$2b$04$short', 'bcrypt'],
    ['$2b$4$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', 'bcrypt'],
    ['$2b$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW!', 'bcrypt'],
    ['$scrypt$ln=4,r=8$c2FsdA$abcd', 'scrypt'],
    ['$scrypt$ln=4,r=8,p=1$c2FsdA$abcd', 'scrypt'], // checksum too short
    ['$scrypt$ln=4,r=8,p=1$c2F=sdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', 'scrypt'],
    ['$pbkdf2-sha256$abc$c2FsdA$abcd', 'pbkdf2-sha256'],
    ['$pbkdf2-sha256$1000$c2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc0', 'pbkdf2-sha256'],
    ['$pbkdf2-sha512$1000$c2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', 'pbkdf2-sha512'],
    ['$pbkdf2-sha256$01000$c2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', 'pbkdf2-sha256'],
    ['$6$salt$tooshort', 'sha512-crypt'],
    ['$6$rounds=abc$salt$' + 'a'.repeat(86), 'sha512-crypt'],
    ['$6$saltsaltsaltsalt1$' + 'a'.repeat(86), 'sha512-crypt'], // 17-character salt
    ['{SSHA}not base64!', '{SSHA}'],
    ['{SSHA}' + Buffer.alloc(20).toString('base64'), '{SSHA}'], // a digest and no salt
    ['{SSHA512}' + Buffer.alloc(64).toString('base64'), '{SSHA512}'],
    ['{CRYPT}$6$bad', '{CRYPT}'],
    ['{CRYPT}$2b$04$short', '{CRYPT}'],
    ['{ARGON2}not-phc', '{ARGON2}'],
    ['{PBKDF2-SHA512}10000$c2FsdA', '{PBKDF2-SHA512}'],
    ['{PBKDF2-SHA512}10000$c2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', '{PBKDF2-SHA512}'],
  ];
  for (const [encoded, format] of cases) {
    await assert.rejects(verifySecret(encoded, secret), { code: 'ERR_MALFORMED_HASH', format, retryable: false }, encoded);
  }
});

void test('{CRYPT} and {ARGON2} refuse inner methods pwsync does not implement', async () => {
  using secret = Secret.fromString('secret');
  for (const encoded of ['{CRYPT}$1$salt$hash', '{CRYPT}$5$salt$hash', '{CRYPT}$y$j9T$salt$hash', '{CRYPT}abJnggxhB/yWI', '{ARGON2}$argon2x$v=19$m=64,t=1,p=1$c29tZXNhbHQ$abcd']) {
    await assert.rejects(verifySecret(encoded, secret), { code: 'ERR_UNSUPPORTED_HASH' }, encoded);
  }
});
