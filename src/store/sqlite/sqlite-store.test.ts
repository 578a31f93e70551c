import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isPwsyncError, StoreError } from '../../core/errors.ts';
import type { Change } from '../../core/model.ts';
import { runStoreConformance } from '../conformance.ts';
import { SUITE_LOOKUPS } from '../conformance/fixtures.ts';
import { StoreSchemaTooNewError } from '../errors.ts';
import { MEMORY, openSqliteStore, SCHEMA_VERSION, type SqliteStore } from './index.ts';
import { applyMigrations } from '../../sqlite/migrations.ts';
import { recordedMigrations } from '../../../test/support/sqlite.ts';
import { MIGRATIONS } from './migrations.ts';
import { EVENT } from '../../core/events.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pwsync-store-'));
}

/** Runs `fn` with the path of a store file in a fresh temporary directory, removed afterwards. */
async function withPath(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(join(dir, 'data', 'pwsync.db'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function withStore(fn: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  await withPath(async (path) => {
    const store = await openSqliteStore(path);
    try {
      await fn(store, path);
    } finally {
      await store.close();
    }
  });
}

function change(id: string, personId: string, changedAt: number): Change {
  return { id, sourceSystem: 'corp', sourceAnchor: 'c', personId, changedAt, receivedAt: changedAt, origin: 'source', actor: 'test' };
}

runStoreConformance('sqlite', async () => {
  const dir = await tempDir();
  const store = await openSqliteStore(join(dir, 'data', 'pwsync.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store', () => {
  test('sets WAL, synchronous FULL, foreign keys, secure_delete and a busy timeout', () =>
    withStore((store) => {
      assert.deepEqual(store.pragmas(), { journalMode: 'wal', synchronous: 2, foreignKeys: true, secureDelete: true, busyTimeoutMs: 5000 });
      assert.match(store.description, /^sqlite:.*pwsync\.db$/u);
      return Promise.resolve();
    }));

  test('creates its directory and files private to the owner', () =>
    withStore(async (store, path) => {
      await store.upsertAccounts('corp', 'r', [{ anchor: 'a', attributes: { login: 'a' } }]);
      assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        assert.ok(existsSync(file), `${file} exists`);
        assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is 0600`);
      }
    }));

  test('a store reopened after close keeps everything', () =>
    withPath(async (path) => {
      const first = await openSqliteStore(path);
      await first.declareLookups(SUITE_LOOKUPS);
      const [account, target] = await first.upsertAccounts('corp', 'r', [
        { anchor: 'a', attributes: { login: 'Zoë' } },
        { anchor: 'b', attributes: { login: 'zoe' } },
      ]);
      assert.ok(account && target);
      const [person] = await first.applyLinks([{ kind: 'project', accountId: account.id }], 1);
      assert.ok(person);
      await first.link(target.id, person.id, { kind: 'manual' }, 2);
      await first.commitChange(change('c1', person.id, 10), { keyId: 'k1', blob: Buffer.from('sealed') }, [{ accountId: target.id }], [{ code: EVENT.CHANGE_ACCEPTED, message: 'ok' }]);
      assert.equal(await first.rememberNotification('n1', 10, 0), true);
      await first.close();

      const second = await openSqliteStore(path);
      try {
        assert.deepEqual(await second.getAccount('corp', 'a'), { ...account, personId: person.id });
        assert.deepEqual((await second.getPerson(person.id))?.accounts.map((a) => a.id), [account.id, target.id]);
        assert.deepEqual(await second.findPersonsByKey('login', 'normalized', 'zoe', 5), [person.id]);
        assert.deepEqual((await second.listJobs({ limit: 5 })).map((j) => j.state.kind), ['pending']);
        assert.deepEqual(await second.sealedSecrets(), [{ changeId: 'c1', secret: { keyId: 'k1', blob: Buffer.from('sealed') } }]);
        assert.equal((await second.listEvents({ limit: 5 })).length, 1);
        assert.equal(await second.rememberNotification('n1', 20, 0), false);
      } finally {
        await second.close();
      }
      assert.deepEqual(recordedMigrations(path), MIGRATIONS.map((m) => m.version), 'migrations ran once');
    }));

  test('a store written at schema 1 gains the import watermarks and keeps its accounts', () =>
    withPath(async (path) => {
      await (await openSqliteStore(path)).close();
      const db = new Database(path);
      db.exec('DROP TABLE import_watermarks; DROP TABLE removed_links; DELETE FROM schema_migrations WHERE version > 1');
      applyMigrations(db, MIGRATIONS.filter((m) => m.version === 1), 0);
      db.prepare("INSERT INTO accounts (system, anchor, attributes, import_run, imported_at) VALUES ('corp', 'a', '{}', 'r', 0)").run();
      db.close();
      const store = await openSqliteStore(path);
      try {
        assert.ok(await store.getAccount('corp', 'a'));
        await store.setImportWatermark('corp', 'w1', 10);
        assert.deepEqual(await store.getImportWatermark('corp'), { watermark: 'w1', at: 10 });
      } finally {
        await store.close();
      }
      assert.deepEqual(recordedMigrations(path), MIGRATIONS.map((m) => m.version));
    }));

  test('a store written at schema 2 gains the remembered links of removed accounts and keeps its links', () =>
    withPath(async (path) => {
      await (await openSqliteStore(path)).close();
      const db = new Database(path);
      db.exec('DROP TABLE removed_links; DELETE FROM schema_migrations WHERE version > 2');
      db.prepare("INSERT INTO persons (id, attributes, created_at) VALUES ('p1', '{}', 0)").run();
      db.prepare("INSERT INTO accounts (system, anchor, attributes, import_run, imported_at, person_seq, link_kind, linked_at) VALUES ('corp', 'a', '{}', 'r', 0, 1, 'manual', 0)").run();
      db.close();
      const store = await openSqliteStore(path);
      try {
        assert.equal((await store.getAccount('corp', 'a'))?.personId, 'p1');
        await store.removeAccounts('corp', ['a'], 10);
        assert.deepEqual(await store.rememberedLinks('corp', ['a'], 0), [{ anchor: 'a', personId: 'p1', reason: { kind: 'manual' }, removedAt: 10 }]);
      } finally {
        await store.close();
      }
      assert.deepEqual(recordedMigrations(path), MIGRATIONS.map((m) => m.version));
    }));

  test('refuses a store whose schema is newer than this program, naming both versions', () =>
    withPath(async (path) => {
      await (await openSqliteStore(path)).close();
      const db = new Database(path);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 7);
      db.close();
      await assert.rejects(openSqliteStore(path), (e: unknown) => {
        assert.ok(e instanceof StoreSchemaTooNewError);
        assert.ok(e instanceof StoreError);
        assert.equal(e.code, 'ERR_STORE');
        assert.equal(e.found, SCHEMA_VERSION + 7);
        assert.equal(e.supported, SCHEMA_VERSION);
        return true;
      });
    }));

  test('refuses a file that is not a database with a store error', () =>
    withPath(async (path) => {
      await (await openSqliteStore(path)).close();
      writeFileSync(path, Buffer.alloc(8192, 0x41));
      await assert.rejects(openSqliteStore(path), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_STORE');
    }));

  test('dataVersion changes when another connection commits', () =>
    withStore(async (store, path) => {
      const other = await openSqliteStore(path);
      try {
        const before = await store.dataVersion();
        await store.appendEvents([{ code: EVENT.IMPORT_COMPLETED, message: 'own write' }]);
        assert.equal(await store.dataVersion(), before, 'its own commits do not count');
        await other.appendEvents([{ code: EVENT.IMPORT_COMPLETED, message: 'other write' }]);
        assert.notEqual(await store.dataVersion(), before);
      } finally {
        await other.close();
      }
    }));

  test('two connections on one file never claim the same job or two of one account', () =>
    withStore(async (store, path) => {
      const other = await openSqliteStore(path);
      try {
        const accounts = await store.upsertAccounts('apps', 'r', Array.from({ length: 20 }, (_, i) => ({ anchor: `a${i}`, attributes: {} })));
        const sealedBytes = { keyId: 'k', blob: Buffer.from('s') };
        // Two open jobs per account: the second committed while the first was in progress, then
        // both queued again as after a crash.
        for (const [i, account] of accounts.entries()) await store.commitChange(change(`c${i}-1`, 'p', i), sealedBytes, [{ accountId: account.id }], []);
        assert.equal((await store.claimJobs('setup', 0, 100)).length, 20);
        for (const [i, account] of accounts.entries()) await store.commitChange(change(`c${i}-2`, 'p', 100 + i), sealedBytes, [{ accountId: account.id }], []);
        assert.equal(await store.recoverInProgress(1), 20);
        assert.equal((await store.listJobs({ states: ['pending'], limit: 100 })).length, 40);
        const claimed = [...(await store.claimJobs('w1', 1000, 7)), ...(await other.claimJobs('w2', 1000, 100))];
        assert.equal(claimed.length, 20, 'one per account');
        assert.equal(new Set(claimed.map((j) => j.accountId)).size, 20);
        assert.ok(claimed.every((j) => j.changeId.endsWith('-1')), 'the older change of each account first');
        assert.deepEqual(await store.claimJobs('w1', 1000, 100), []);
      } finally {
        await other.close();
      }
    }));

  test('an in-memory store works for unit tests elsewhere', async () => {
    const store = await openSqliteStore(MEMORY);
    try {
      await store.upsertAccounts('corp', 'r', [{ anchor: 'a', attributes: {} }]);
      assert.equal((await store.counts()).accounts, 1);
      assert.equal(store.checkpoint(), true);
    } finally {
      await store.close();
    }
  });
});

/** A recognisable 32-byte pattern: what the scan of the raw files looks for. */
const PATTERN = Buffer.from('PWSYNC-SECRET-PATTERN-0123456789');

function sealedPattern(i: number): { keyId: string; blob: Buffer } {
  const blob = Buffer.alloc(PATTERN.length + 4);
  PATTERN.copy(blob);
  blob.writeUInt32BE(i, PATTERN.length);
  return { keyId: 'k1', blob };
}

/** Whether the pattern is anywhere in the database file or its WAL, byte for byte. */
function onDisk(path: string): boolean {
  return [path, `${path}-wal`].some((file) => existsSync(file) && readFileSync(file).includes(PATTERN));
}

describe('sqlite store: wiped secrets leave the disk', () => {
  test('the bytes of secrets wiped by done, superseded and removed-account jobs are gone from the db and WAL', () =>
    withStore(async (store, path) => {
      const n = 90; // enough rows for page splits and moved cells
      const accounts = await store.upsertAccounts('apps', 'r1', Array.from({ length: n }, (_, i) => ({ anchor: `a${i}`, attributes: { login: `u${i}` } })));
      for (const [i, account] of accounts.entries()) {
        await store.commitChange(change(`old-${i}`, 'p', 1000 + i), sealedPattern(i), [{ accountId: account.id }], []);
      }
      store.checkpoint();
      assert.ok(onDisk(path), 'the test can see a sealed secret on disk before the wipe');

      // A third superseded by a newer change (then done), a third done, a third removed with their account.
      for (const [i, account] of accounts.slice(0, n / 3).entries()) {
        await store.commitChange(change(`new-${i}`, 'p', 5000 + i), sealedPattern(10_000 + i), [{ accountId: account.id }], []);
      }
      await store.upsertAccounts('apps', 'r2', accounts.slice(0, (2 * n) / 3).map((a) => ({ anchor: a.anchor, attributes: a.attributes })));
      const kept = new Set(accounts.slice(0, (2 * n) / 3).map((a) => a.id));
      for (const job of await store.claimJobs('w', 10_000, n)) {
        if (kept.has(job.accountId)) await store.finishJob(job.id, { kind: 'done', at: 10_001 }, { code: EVENT.PASSWORD_SET, message: 'set' });
      }
      assert.equal(await store.recoverInProgress(10_001), n / 3);
      await store.removeAccountsNotIn('apps', 'r2', 10_002);
      assert.deepEqual(await store.sealedSecrets(), []);
      const counts = (await store.counts()).jobsByState;
      assert.deepEqual([counts.superseded, counts.done, counts.failed], [n / 3, (2 * n) / 3, n / 3]);

      assert.equal(store.checkpoint(), true);
      assert.equal(onDisk(path), false, 'no wiped secret is left in the db file or the WAL');
    }));

  test('the WAL is scrubbed on its own shortly after a wipe', () =>
    withStore(async (store, path) => {
      const [account] = await store.upsertAccounts('apps', 'r', [{ anchor: 'a', attributes: {} }]);
      assert.ok(account);
      await store.commitChange(change('c1', 'p', 1), sealedPattern(1), [{ accountId: account.id }], []);
      const job = await store.claimJobs('w', 2, 1).then((jobs) => jobs[0]);
      assert.ok(job);
      await store.finishJob(job.id, { kind: 'done', at: 3 }, { code: EVENT.PASSWORD_SET, message: 'set' });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(statSync(`${path}-wal`).size, 0);
      assert.equal(onDisk(path), false);
    }));
});

describe('sqlite store: performance', () => {
  test('upserts 100,000 accounts in batches of 2,000 (target well under 5 s)', async (t) => {
    await withStore(async (store) => {
      const total = 100_000;
      const batch = 2000;
      const attributes = (i: number): Record<string, string> => ({
        login: `User.${i}`,
        mail: `user.${i}@example.org`,
        displayName: `Zoë Ämberg ${i}`,
        employeeId: String(100_000 + i),
        department: `Dept ${i % 50}`,
      });
      // The batches are built first, so that only the store's work is timed.
      const batches = Array.from({ length: total / batch }, (_, b) =>
        Array.from({ length: batch }, (_, j) => ({ anchor: `uid-${b * batch + j}`, attributes: attributes(b * batch + j) })),
      );
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (const accounts of batches) await store.upsertAccounts('corp', 'run-1', accounts);
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      t.diagnostic(`upsertAccounts: ${total} accounts with 5 attributes in batches of ${batch}: ${ms.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU`);
      assert.equal((await store.counts()).accounts, total);
      // The target is well under 5 s on a 2-core machine (the figure is in the diagnostic). The test
      // fails only on a clear regression, and on CPU time, so that other work on a shared machine
      // cannot fail it.
      assert.ok(cpuMs < 10_000, `took ${cpuMs.toFixed(0)} ms of CPU`);
    });
  });
});
