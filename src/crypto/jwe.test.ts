import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { decryptCompact, encryptCompact, JweError } from './jwe.ts';

const pair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PASSWORD = Buffer.from('Jwe-Pässwörd-密码-1', 'utf8');

/** jose is the independent implementation: ours must agree with it in both directions. */
describe('JWE ECDH-ES + A256GCM', () => {
  test('what jose encrypts, ours decrypts, with the protected header intact', async () => {
    const { publicKey, privateKey } = pair();
    const compact = await new CompactEncrypt(PASSWORD).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: 'k1', 'pwsync.nid': 'n-1' }).encrypt(publicKey);
    const { header, plaintext } = decryptCompact(compact, privateKey);
    assert.deepEqual(plaintext, PASSWORD);
    assert.equal(header['kid'], 'k1');
    assert.equal(header['pwsync.nid'], 'n-1');
  });

  test('what ours encrypts, jose decrypts', async () => {
    const { publicKey, privateKey } = pair();
    const compact = encryptCompact(PASSWORD, { kid: 'k2', key: publicKey }, { 'pwsync.acct': 'alice' });
    const { plaintext, protectedHeader } = await compactDecrypt(compact, privateKey, { keyManagementAlgorithms: ['ECDH-ES'], contentEncryptionAlgorithms: ['A256GCM'] });
    assert.deepEqual(Buffer.from(plaintext), PASSWORD);
    assert.equal(protectedHeader.kid, 'k2');
    assert.equal(protectedHeader['pwsync.acct'], 'alice');
    assert.notEqual(encryptCompact(PASSWORD, { kid: 'k2', key: publicKey }), encryptCompact(PASSWORD, { kid: 'k2', key: publicKey }), 'a fresh ephemeral key and IV each time');
  });

  test('another key, an altered header, ciphertext or tag: decryption fails', () => {
    const { publicKey, privateKey } = pair();
    const compact = encryptCompact(PASSWORD, { kid: 'k', key: publicKey }, { 'pwsync.nid': 'n-1' });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof JweError ? e.code : 'other';
      }
      return 'none';
    };
    assert.equal(code(() => decryptCompact(compact, pair().privateKey)), 'ERR_JWE_DECRYPTION_FAILED');
    const [h = '', , iv = '', ct = '', tag = ''] = compact.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const moved = Buffer.from(JSON.stringify({ ...header, 'pwsync.nid': 'n-2' })).toString('base64url');
    assert.equal(code(() => decryptCompact(`${moved}..${iv}.${ct}.${tag}`, privateKey)), 'ERR_JWE_DECRYPTION_FAILED', 'the header is authenticated');
    const flipped = Buffer.from(ct, 'base64url');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    assert.equal(code(() => decryptCompact(`${h}..${iv}.${flipped.toString('base64url')}.${tag}`, privateKey)), 'ERR_JWE_DECRYPTION_FAILED');
    assert.equal(code(() => decryptCompact(`${h}..${iv}.${ct}.${Buffer.alloc(16).toString('base64url')}`, privateKey)), 'ERR_JWE_DECRYPTION_FAILED');
  });

  test('anything but ECDH-ES/A256GCM, compression, an encrypted key, a point off the curve or of the wrong size: refused as invalid', async () => {
    const { publicKey, privateKey } = pair();
    const compact = encryptCompact(PASSWORD, { kid: 'k', key: publicKey });
    const [h = '', , iv = '', ct = '', tag = ''] = compact.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { epk: Record<string, string> } & Record<string, unknown>;
    const withHeader = (extra: Record<string, unknown>) => `${Buffer.from(JSON.stringify({ ...header, ...extra })).toString('base64url')}..${iv}.${ct}.${tag}`;
    const invalid = (jwe: string) => assert.throws(() => decryptCompact(jwe, privateKey), { code: 'ERR_JWE_INVALID' });
    invalid(withHeader({ alg: 'ECDH-ES+A256KW' }));
    invalid(withHeader({ enc: 'A128GCM' }));
    invalid(withHeader({ zip: 'DEF' }));
    invalid(withHeader({ crit: ['exp'] }));
    invalid(withHeader({ epk: { ...header.epk, y: header.epk['x'] } }));
    // Coordinates of the wrong length: a point must be two 32-byte values, not shifted bytes.
    invalid(withHeader({ epk: { ...header.epk, x: (header.epk['x'] ?? '').slice(0, 40) } }));
    invalid(withHeader({ epk: { ...header.epk, y: `${header.epk['y'] ?? ''}AAAA` } }));
    invalid(`${h}.AAAA.${iv}.${ct}.${tag}`);
    invalid('a.b.c');
    invalid(`${h}..${Buffer.alloc(8).toString('base64url')}.${ct}.${tag}`);
    const rsa = await new CompactEncrypt(PASSWORD).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' }).encrypt(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    invalid(rsa);
  });
});

void test('40,000 encryptions in a row finish: no deadlock in the ephemeral key (generateKeyPairSync + a JWK export hung here 6 runs in 6)', async () => {
  const fixture = fileURLToPath(new URL('./encrypt-loop.fixture.ts', import.meta.url));
  // Its own process, bounded: a deadlocked thread cannot be interrupted from inside. A 1 MiB young
  // generation makes garbage collections frequent, so a collection during a key export, which
  // deadlocked, is all but certain to come (see encryptCompact).
  const args = ['--max-semi-space-size=1', '--import', 'tsx', fixture, '40000'];
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 120_000 });
  assert.equal(stdout, 'done\n');
});
