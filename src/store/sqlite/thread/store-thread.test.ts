import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { InvalidInputError, StoreError } from '../../../core/errors.ts';
import { runStoreConformance } from '../../conformance.ts';
import { SUITE_LOOKUPS } from '../../conformance/fixtures.ts';
import { StoreSchemaTooNewError } from '../../errors.ts';
import { openSqliteStore, SCHEMA_VERSION } from '../index.ts';
import { SqliteStoreThread } from './store-thread.ts';

async function withPath(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-store-thread-'));
  try {
    await fn(join(dir, 'data', 'pwsync.db'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// The very suite the SQLite store passes on the main thread: the thread changes where the work is
// done, never what a call means.
runStoreConformance('sqlite on its own thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-store-thread-'));
  const store = await SqliteStoreThread.open(join(dir, 'data', 'pwsync.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store thread', () => {
  test('refused input arrives as InvalidInputError, as on the main thread', () =>
    withPath(async (path) => {
      const store = await SqliteStoreThread.open(path);
      try {
        await assert.rejects(store.findAccountsByKey('corp', 'undeclared', 'exact', 'x'), (e: unknown) => e instanceof InvalidInputError);
        await store.declareLookups(SUITE_LOOKUPS);
        // The store is still usable after a refusal.
        assert.deepEqual(await store.findAccountsByKey('corp', 'uid', 'exact', 'nobody'), []);
      } finally {
        await store.close();
      }
    }));

  test('a store written by a newer pwsync is refused with both versions, across the thread', () =>
    withPath(async (path) => {
      await (await openSqliteStore(path)).close();
      const db = new Database(path);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 3);
      db.close();
      await assert.rejects(SqliteStoreThread.open(path), (e: unknown) => {
        assert.ok(e instanceof StoreSchemaTooNewError);
        assert.equal(e.found, SCHEMA_VERSION + 3);
        assert.equal(e.supported, SCHEMA_VERSION);
        return true;
      });
    }));

  test('a file that is not a database is a StoreError at open', () =>
    withPath(async (path) => {
      await (await openSqliteStore(path)).close();
      await writeFile(path, 'not a database, not at all; just text long enough to look like a header');
      await assert.rejects(SqliteStoreThread.open(path), (e: unknown) => e instanceof StoreError);
    }));

  test('calls after close are refused with StoreError, and close can be called twice', () =>
    withPath(async (path) => {
      const store = await SqliteStoreThread.open(path);
      // A call made before close is answered before the thread stops.
      const counted = store.counts();
      await store.close();
      assert.equal((await counted).accounts, 0);
      await assert.rejects(store.counts(), (e: unknown) => e instanceof StoreError);
      await store.close();
    }));

  test('a thread that dies fails the pending call and every later one, and tells its owner once', () =>
    withPath(async (path) => {
      const failures: Error[] = [];
      const store = await SqliteStoreThread.open(path, { entry: new URL('./failing-worker.fixture.ts', import.meta.url), onFailure: (e) => failures.push(e) });
      await assert.rejects(store.counts(), (e: unknown) => e instanceof StoreError && /a fault in the store thread/u.test(e.message));
      await assert.rejects(store.dataVersion(), (e: unknown) => e instanceof StoreError);
      await store.close();
      assert.equal(failures.length, 1);
      assert.match(failures[0]?.message ?? '', /the store thread failed: a fault in the store thread/u);
    }));

  test('a close is not a failure', () =>
    withPath(async (path) => {
      const failures: Error[] = [];
      const store = await SqliteStoreThread.open(path, { onFailure: (e) => failures.push(e) });
      await store.counts();
      await store.close();
      assert.deepEqual(failures, []);
    }));

  test('an idle store thread does not keep the process alive', () =>
    withPath(async (path) => {
      // The test process itself would hang at its end if the thread stayed referenced; here the
      // store is left open on purpose for a moment, then closed.
      const store = await SqliteStoreThread.open(path);
      await store.counts();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.close();
    }));
});
