import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settleLater } from './settle.ts';

void test('a call is done at once and settled on a later turn, after I/O and timers already due', async () => {
  const order: string[] = [];
  setImmediate(() => order.push('turn'));
  const answer = settleLater(() => {
    order.push('work');
    return 42;
  }, 'a test call');
  order.push('returned');
  assert.equal(await answer, 42);
  assert.deepEqual(order, ['work', 'returned', 'turn']);
});

void test('SQLite errors and throws of non-errors reject with StoreError; ours pass through', async () => {
  const sqliteError = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
  await assert.rejects(
    settleLater(() => {
      throw sqliteError;
    }, 'a test call'),
    (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_STORE' && e.cause === sqliteError,
  );
  await assert.rejects(
    settleLater(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the case under test
      throw 'text';
    }, 'a test call'),
    { code: 'ERR_STORE' },
  );
  const refused = new RangeError('not ours, not SQLite');
  await assert.rejects(
    settleLater(() => {
      throw refused;
    }, 'a test call'),
    (e: unknown) => e === refused,
  );
});
