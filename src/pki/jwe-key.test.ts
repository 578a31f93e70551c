import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';
import { JWE_ALG } from '../crypto/jwe.ts';
import { createJweKeyPair, loadJwePrivateKey, loadJwePublicKey } from './jwe-key.ts';
import { addAgent, initPki } from './setup.ts';
import { openssl, tempDir } from './test-support.ts';

async function encrypt(text: string, publicFile: string): Promise<string> {
  const pub = await loadJwePublicKey(publicFile);
  return new CompactEncrypt(new TextEncoder().encode(text)).setProtectedHeader({ alg: JWE_ALG, enc: 'A256GCM', kid: pub.kid }).encrypt(pub.key);
}

test('JWE round trip: encrypt to the public file, decrypt with the private file', async () => {
  const t = await tempDir();
  try {
    const files = await createJweKeyPair(t.dir);
    const jwe = await encrypt('Pässwörd-密码', files.publicFile);
    assert.equal(jwe.split('.').length, 5);
    assert.equal(decodeProtectedHeader(jwe).kid, files.kid);
    const priv = await loadJwePrivateKey(files.privateFile);
    assert.equal(priv.kid, files.kid);
    const { plaintext, protectedHeader } = await compactDecrypt(jwe, priv.key, { keyManagementAlgorithms: [JWE_ALG], contentEncryptionAlgorithms: ['A256GCM'] });
    assert.equal(new TextDecoder().decode(plaintext), 'Pässwörd-密码');
    assert.equal(protectedHeader.alg, 'ECDH-ES');
    // Every message has its own ephemeral key: two encryptions of one text differ.
    assert.notEqual(await encrypt('same', files.publicFile), await encrypt('same', files.publicFile));
  } finally {
    await t.cleanup();
  }
});

test('every key pair made loads again: "d" is always 32 bytes, also when it starts with zero bytes (about 1 in 256)', async () => {
  const t = await tempDir();
  try {
    for (let i = 0; i < 600; i++) {
      const dir = join(t.dir, String(i));
      await mkdir(dir);
      const files = await createJweKeyPair(dir);
      const priv = await loadJwePrivateKey(files.privateFile);
      const pub = await loadJwePublicKey(files.publicFile);
      assert.equal(priv.kid, pub.kid);
      // The two files are one key: the private key's own public part is the public file's.
      assert.deepEqual(createPublicKey(priv.key).export({ format: 'jwk' }), pub.key.export({ format: 'jwk' }));
    }
  } finally {
    await t.cleanup();
  }
});

test('a different key pair cannot decrypt', async () => {
  const t = await tempDir();
  try {
    const ours = await createJweKeyPair(join(t.dir, 'ours'));
    const theirs = await createJweKeyPair(join(t.dir, 'theirs'));
    assert.notEqual(ours.kid, theirs.kid);
    const jwe = await encrypt('secret', ours.publicFile);
    const wrong = await loadJwePrivateKey(theirs.privateFile);
    await assert.rejects(compactDecrypt(jwe, wrong.key), { code: 'ERR_JWE_DECRYPTION_FAILED' });
  } finally {
    await t.cleanup();
  }
});

test('the files: private 0600 with "d", public without, same RFC 7638 kid; openssl reads the key', async () => {
  const t = await tempDir();
  try {
    const files = await createJweKeyPair(t.dir);
    assert.equal((await stat(files.privateFile)).mode & 0o777, 0o600);
    const priv = JSON.parse(await readFile(files.privateFile, 'utf8')) as Record<string, string>;
    const pub = JSON.parse(await readFile(files.publicFile, 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(pub).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.deepEqual(Object.keys(priv).sort(), ['alg', 'crv', 'd', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(pub['alg'], 'ECDH-ES');
    assert.equal(pub['use'], 'enc');
    assert.equal(pub['kid'], priv['kid']);
    assert.equal(pub['kid'], await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: pub['x'] ?? '', y: pub['y'] ?? '' }, 'sha256'));
    // The private key is a valid P-256 key to an independent implementation too.
    const pem = (await loadJwePrivateKey(files.privateFile)).key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pemFile = join(t.dir, 'check.pem');
    await writeFile(pemFile, pem, { mode: 0o600 });
    assert.match(await openssl('ec', '-check', '-noout', '-in', pemFile), /EC Key valid/);
    await assert.rejects(createJweKeyPair(t.dir), { code: 'ERR_INVALID_INPUT' });
  } finally {
    await t.cleanup();
  }
});

test('a private key file readable by others is refused', async () => {
  const t = await tempDir();
  try {
    const files = await createJweKeyPair(t.dir);
    await chmod(files.privateFile, 0o644);
    await assert.rejects(loadJwePrivateKey(files.privateFile), (e: unknown) => {
      assert.ok(e instanceof Error && 'code' in e && e.code === 'ERR_KEY');
      assert.ok(e.message.includes(files.privateFile));
      return true;
    });
  } finally {
    await t.cleanup();
  }
});

test('a "public" file holding the private key is refused, and never copied to an agent', async () => {
  const t = await tempDir();
  try {
    const pki = join(t.dir, 'pki');
    await initPki(pki, { hosts: ['localhost'] });
    const publicFile = join(pki, 'server-jwe.pub.json');
    await writeFile(publicFile, await readFile(join(pki, 'server-jwe.key')));
    await assert.rejects(loadJwePublicKey(publicFile), (e: unknown) => {
      assert.ok(e instanceof Error && 'code' in e && e.code === 'ERR_KEY');
      assert.match(e.message, /"d"/);
      return true;
    });
    await assert.rejects(addAgent(pki, 'dc1'), { code: 'ERR_KEY' });
    assert.equal((await readdir(pki)).includes('agents'), false);
  } finally {
    await t.cleanup();
  }
});

test('malformed, mismatched and edited key files are refused without quoting key material', async () => {
  const t = await tempDir();
  try {
    const a = await createJweKeyPair(join(t.dir, 'a'));
    const b = await createJweKeyPair(join(t.dir, 'b'));
    const privA = JSON.parse(await readFile(a.privateFile, 'utf8')) as Record<string, string>;
    const privB = JSON.parse(await readFile(b.privateFile, 'utf8')) as Record<string, string>;
    const file = join(t.dir, 'bad.key');
    const cases: unknown[] = [
      `{"kty":"EC","d":"${privA['d'] ?? ''}"`, // truncated JSON
      { ...privA, kid: 'edited' },
      { ...privA, d: privB['d'] }, // another key's private part
      { ...privA, crv: 'P-384' },
      { ...privA, alg: 'RSA-OAEP' },
      { ...privA, extra: 1 },
    ];
    for (const content of cases) {
      await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
      await assert.rejects(loadJwePrivateKey(file), (e: unknown) => {
        assert.ok(e instanceof Error && 'code' in e && e.code === 'ERR_KEY', String(e));
        assert.ok(!e.message.includes(privA['d'] ?? '?') && !e.message.includes(privB['d'] ?? '?'));
        return true;
      });
    }
    const pub = JSON.parse(await readFile(a.publicFile, 'utf8')) as Record<string, string>;
    await writeFile(file, JSON.stringify({ ...pub, kid: 'edited' }));
    await assert.rejects(loadJwePublicKey(file), { code: 'ERR_KEY' });
    await assert.rejects(loadJwePublicKey(join(t.dir, 'absent.json')), { code: 'ERR_KEY' });
  } finally {
    await t.cleanup();
  }
});
