import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DnCache } from './dn-cache.ts';

async function* entries(n: number, reads: { count: number }): AsyncGenerator<readonly [string, string]> {
  reads.count++;
  await Promise.resolve();
  for (let i = 0; i < n; i++) yield [`a${i}`, `uid=u${i},dc=x`];
}

test('refill reads once per interval, and callers that arrive meanwhile share the reading', async () => {
  let t = 0;
  const cache = new DnCache(100, 60_000, () => t);
  const reads = { count: 0 };
  const failed: unknown[] = [];
  await Promise.all([1, 2, 3].map(() => cache.refill(() => entries(10, reads), (e) => failed.push(e))));
  assert.equal(reads.count, 1);
  assert.equal(cache.get('a7'), 'uid=u7,dc=x');
  await cache.refill(() => entries(10, reads), (e) => failed.push(e));
  assert.equal(reads.count, 1, 'not again within the interval');
  t += 60_000;
  await cache.refill(() => entries(10, reads), (e) => failed.push(e));
  assert.equal(reads.count, 2);
  assert.deepEqual(failed, []);
});

test('capacity: the reading stops there, and the least recently used go first', async () => {
  const cache = new DnCache(3, 1000, () => 0);
  await cache.refill(() => entries(10, { count: 0 }), () => undefined);
  assert.equal(cache.size, 3);
  assert.ok(cache.get('a0') !== undefined);
  cache.remember('new', 'uid=new,dc=x');
  assert.equal(cache.get('a1'), undefined, 'a1 was the least recently used');
  assert.equal(cache.get('a0'), 'uid=u0,dc=x');
  cache.forget('a0');
  assert.equal(cache.get('a0'), undefined);
});

test('a failed reading is reported and counts as done (no storm of readings)', async () => {
  const cache = new DnCache(10, 1000, () => 0);
  const failed: unknown[] = [];
  let calls = 0;
  const broken = (): AsyncIterable<readonly [string, string]> => {
    calls++;
    return (async function* () {
      await Promise.resolve();
      yield ['a', 'uid=a'] as const;
      throw new Error('connection lost');
    })();
  };
  await cache.refill(broken, (e) => failed.push(e));
  await cache.refill(broken, (e) => failed.push(e));
  assert.equal(calls, 1);
  assert.equal(failed.length, 1);
  assert.equal(cache.get('a'), 'uid=a', 'what was read before the failure is kept');
});
