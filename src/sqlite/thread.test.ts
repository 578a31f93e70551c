import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidInputError, StoreError } from '../core/errors.ts';
import { startTsWorker } from '../util/ts-worker.ts';
import type { EchoCall } from './echo-worker.fixture.ts';
import { StoreSchemaTooNewError } from './errors.ts';
import { SqliteThread, startSqliteThread } from './thread.ts';
import { asBuffer } from './wire.ts';

const ENTRY = new URL('./echo-worker.fixture.ts', import.meta.url);
const OPTIONS = { thread: 'the echo thread', closed: 'the echo is closed' };

void describe('sqlite thread', () => {
  void test('answers each call; Buffers come back over the same bytes; refusals stay typed; close is final', async () => {
    const thread = new SqliteThread<EchoCall>(await startSqliteThread(ENTRY, { failOpen: false }, OPTIONS.thread), OPTIONS);
    const sent = Buffer.from('sealed bytes');
    const answers = await Promise.all([thread.call({ kind: 'echo', bytes: sent }), thread.call({ kind: 'echo', bytes: Buffer.alloc(0) })]);
    assert.ok(answers.every((a) => a instanceof Uint8Array && !Buffer.isBuffer(a)), 'structured cloning gives Uint8Arrays');
    assert.ok(asBuffer(answers[0] as Uint8Array).equals(sent));
    await assert.rejects(thread.call({ kind: 'refuse' }), (e: unknown) => e instanceof InvalidInputError && e.message === 'refused on request');
    await thread.close();
    await assert.rejects(thread.call({ kind: 'refuse' }), (e: unknown) => e instanceof StoreError && !(e instanceof InvalidInputError));
    await thread.close();
  });

  void test("a Buffer sliced from Node's pool crosses alone, never with the rest of the pool (a password beside it)", async () => {
    const thread = new SqliteThread<EchoCall>(await startSqliteThread(ENTRY, { failOpen: false }, OPTIONS.thread), OPTIONS);
    try {
      // Two small Buffers from strings are slices of the same 8 KiB pool, side by side.
      const beside = Buffer.from('Pool-Neighbour-Password-71c3');
      const sent = Buffer.from('sealed bytes');
      assert.equal(sent.buffer, beside.buffer, 'both in the pool');
      const crossed = (await thread.call({ kind: 'backing', bytes: sent })) as Uint8Array;
      assert.equal(Buffer.from(crossed).includes(beside), false, 'the password beside the sealed bytes crossed to the thread');
      assert.deepEqual(Buffer.from(crossed), sent);
      // Nested in records and arrays too, as the store's calls carry them.
      const nested = (await thread.call({ kind: 'echo', bytes: { list: [{ blob: sent }] } as unknown as Buffer })) as { list: [{ blob: Uint8Array }] };
      assert.equal(nested.list[0].blob.buffer.byteLength, sent.length);
    } finally {
      await thread.close();
    }
  });

  void test('an opening that fails rejects the start with its typed error', async () => {
    await assert.rejects(startSqliteThread(ENTRY, { failOpen: true }, OPTIONS.thread), (e: unknown) => e instanceof StoreSchemaTooNewError && e.found === 9 && e.supported === 2);
  });

  void test('a thread not waited for fails its calls with why its opening failed, and tells its owner', async () => {
    const failures: Error[] = [];
    const thread = new SqliteThread<EchoCall>(startTsWorker(ENTRY, { failOpen: true }), { ...OPTIONS, onFailure: (e) => failures.push(e) });
    await assert.rejects(thread.call({ kind: 'echo', bytes: Buffer.from('x') }), (e: unknown) => e instanceof StoreSchemaTooNewError);
    await thread.close();
    await assert.rejects(thread.call({ kind: 'refuse' }), (e: unknown) => e instanceof StoreSchemaTooNewError);
    assert.equal(failures.length, 1);
  });
});
