import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from './keyring.ts';
import { Secret } from '../core/secret.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pwsync-keyring-'));
}

test('create writes a 0600 key file and refuses to overwrite it', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'keys', 'store.key');
    const ring = await Keyring.create(file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(ring.activeKeyId, /^k\d{8}T\d{6}-[0-9a-f]{6}$/);
    await assert.rejects(Keyring.create(file), { code: 'ERR_KEY' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('seal and open round-trip; the context is bound', async () => {
  const dir = await tempDir();
  try {
    const ring = await Keyring.create(join(dir, 'store.key'));
    const sealed = ring.seal(Secret.fromString('Pässwörd-密码'), 'change-1');
    assert.equal(sealed.keyId, ring.activeKeyId);
    assert.equal(sealed.blob.includes(Buffer.from('Pässwörd')), false);
    const opened = await ring.open(sealed, 'change-1');
    assert.equal(opened.useSync((c) => c.toString('utf8')), 'Pässwörd-密码');
    await assert.rejects(ring.open(sealed, 'change-2'), { code: 'ERR_DECRYPT' });
    const tampered = { keyId: sealed.keyId, blob: Buffer.from(sealed.blob) };
    tampered.blob[14] = (tampered.blob[14] ?? 0) ^ 1;
    await assert.rejects(ring.open(tampered, 'change-1'), { code: 'ERR_DECRYPT' });
    await assert.rejects(ring.open({ keyId: 'k-unknown', blob: sealed.blob }, 'change-1'), { code: 'ERR_DECRYPT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('two seals of one secret differ (random nonce)', async () => {
  const dir = await tempDir();
  try {
    const ring = await Keyring.create(join(dir, 'store.key'));
    const s = Secret.fromString('same');
    assert.notDeepEqual(ring.seal(s, 'c').blob, ring.seal(s, 'c').blob);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rotate: the new key encrypts, old keys still decrypt, other processes pick the new key up', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'store.key');
    const ring = await Keyring.create(file);
    const other = await Keyring.load(file);
    const oldSealed = ring.seal(Secret.fromString('before'), 'c1');
    const oldId = ring.activeKeyId;
    const newId = await ring.rotate();
    assert.notEqual(newId, oldId);
    assert.equal(ring.activeKeyId, newId);
    assert.deepEqual(ring.keyIds, [newId, oldId]);
    assert.equal((await ring.open(oldSealed, 'c1')).useSync((c) => c.toString()), 'before');
    const newSealed = ring.seal(Secret.fromString('after'), 'c2');
    assert.equal(newSealed.keyId, newId);
    // `other` loaded before the rotation: it reloads on the unknown key id.
    assert.equal((await other.open(newSealed, 'c2')).useSync((c) => c.toString()), 'after');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a key file readable by group or others is refused, with the fix in the message', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'store.key');
    await Keyring.create(file);
    for (const mode of [0o640, 0o604, 0o660]) {
      await chmod(file, mode);
      await assert.rejects(Keyring.load(file), (e: unknown) => {
        assert.ok(e instanceof Error && 'code' in e && e.code === 'ERR_KEY');
        assert.match(e.message, /chmod 600/);
        return true;
      });
    }
    await chmod(file, 0o400);
    await Keyring.load(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('missing, malformed and duplicate-id key files are refused without quoting key material', async () => {
  const dir = await tempDir();
  try {
    await assert.rejects(Keyring.load(join(dir, 'absent.key')), { code: 'ERR_KEY' });
    const bad = join(dir, 'bad.key');
    await writeFile(bad, '{"version":1,"keys":[{"id":"a","created":"x","key":"c2VjcmV0LWtleS1tYXRlcmlhbA"', { mode: 0o600 });
    await assert.rejects(Keyring.load(bad), (e: unknown) => e instanceof Error && !e.message.includes('c2VjcmV0'));
    const good = join(dir, 'good.key');
    await Keyring.create(good);
    const content = JSON.parse(await readFile(good, 'utf8')) as { version: 1; keys: unknown[] };
    await writeFile(bad, JSON.stringify({ version: 1, keys: [content.keys[0], content.keys[0]] }), { mode: 0o600 });
    await assert.rejects(Keyring.load(bad), { code: 'ERR_KEY' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
