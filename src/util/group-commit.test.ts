import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPwsyncError } from '../core/errors.ts';
import { GroupCommit } from './group-commit.ts';

/** A promise to settle from outside, to hold a flush in flight. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

void describe('GroupCommit', () => {
  void test('a lone item is flushed at once; items that arrive during a flush go together in the next', async () => {
    const batches: string[][] = [];
    const gate = deferred();
    const commit = new GroupCommit<string>(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await gate.promise;
      return items.map(() => undefined);
    });
    const first = commit.submit('a');
    // Let the first flush start before the others arrive.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [['a']]);
    const rest = ['b', 'c', 'd'].map((x) => commit.submit(x));
    assert.equal(commit.waiting, 3);
    gate.resolve();
    await Promise.all([first, ...rest]);
    assert.deepEqual(batches, [['a'], ['b', 'c', 'd']]);
    assert.equal(commit.waiting, 0);
  });

  void test('items submitted in one turn of the event loop share the first flush', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit<number>((items) => {
      batches.push([...items]);
      return Promise.resolve(items.map(() => undefined));
    });
    await Promise.all([1, 2, 3].map((n) => commit.submit(n)));
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  void test('one item failing fails only that item', async () => {
    const commit = new GroupCommit<string>((items) => Promise.resolve(items.map((x) => (x === 'bad' ? new RangeError(`no ${x}`) : undefined))));
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((x) => commit.submit(x)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    const rejected = results[1];
    assert.ok(rejected?.status === 'rejected' && rejected.reason instanceof RangeError);
  });

  void test('a flush that throws fails its whole batch, and the next batch is still flushed', async () => {
    let calls = 0;
    const gate = deferred();
    const commit = new GroupCommit<string>(async (items) => {
      calls++;
      if (calls === 1) {
        await gate.promise;
        throw new Error('disk full');
      }
      return items.map(() => undefined);
    });
    const first = commit.submit('a');
    await new Promise((r) => setImmediate(r));
    const second = commit.submit('b');
    gate.resolve();
    await assert.rejects(first, /disk full/);
    await second;
    assert.equal(calls, 2);
    // Idle again: a later item starts a flush of its own.
    await commit.submit('c');
    assert.equal(calls, 3);
  });

  void test('a flush that answers the wrong number of outcomes fails every item of its batch as transient', async () => {
    const commit = new GroupCommit<string>(() => Promise.resolve([undefined]));
    const results = await Promise.allSettled(['a', 'b'].map((x) => commit.submit(x)));
    for (const r of results) assert.ok(r.status === 'rejected' && isPwsyncError(r.reason) && r.reason.retryable);
  });
});
