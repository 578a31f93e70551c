import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { Secret } from '../../core/secret.ts';
import { hashSecret, hashSpecSchema, verifySecret } from './index.ts';
import { derivationsAtOnce, threadPoolSize } from './thread-pool.ts';

test("the thread pool's size is UV_THREADPOOL_SIZE, or libuv's 4", () => {
  assert.equal(threadPoolSize({}), 4);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '16' }), 16);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '0' }), 4);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'many' }), 4);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024);
});

test('derivations at once: the cores, one thread of the pool always left free, never none', () => {
  assert.equal(derivationsAtOnce(4, 2), 2);
  assert.equal(derivationsAtOnce(4, 8), 3);
  assert.equal(derivationsAtOnce(16, 8), 8);
  assert.equal(derivationsAtOnce(1, 2), 1);
  assert.equal(derivationsAtOnce(2, 1), 1);
});

test('many bcrypt hashes at once leave the thread pool to other work (a SCRAM derivation, a file read)', async () => {
  const spec = hashSpecSchema.parse({ format: 'bcrypt', bcryptCost: 10 });
  const secrets = Array.from({ length: 24 }, (_, i) => Secret.fromString(`Queued-Passw0rd-${i}`));
  let finished = 0;
  const started = performance.now();
  const hashes = secrets.map((s) => hashSecret(spec, s).then((h) => (finished++, h)));
  // What node-postgres does on the pool when it opens a connection, queued behind all of them.
  const other = await new Promise<number>((resolve, reject) => {
    pbkdf2('password', 'salt', 4096, 32, 'sha256', (e) => (e ? reject(e) : resolve(performance.now() - started)));
  });
  const finishedBefore = finished;
  const encoded = await Promise.all(hashes);
  const all = performance.now() - started;
  // Unlimited, 24 tasks on four threads would run ahead of it, about six hashes' time.
  assert.ok(finishedBefore <= secrets.length / 4, `the other task waited for ${finishedBefore} of ${secrets.length} hashes`);
  assert.ok(other < all / 3, `the other task took ${other.toFixed(0)} ms of the hashes' ${all.toFixed(0)} ms`);
  // Every hash still made and correct.
  assert.equal(await verifySecret(encoded[7] ?? '', secrets[7] ?? Secret.fromString('')), true);
  for (const s of secrets) s.dispose();
});
