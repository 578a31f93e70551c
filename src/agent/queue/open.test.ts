import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../../core/errors.ts';
import { StoreSchemaTooNewError } from '../../sqlite/errors.ts';
import { migrate } from '../../sqlite/migrations.ts';
import { openPrivateDatabase } from '../../sqlite/open.ts';
import { recordedMigrations } from '../../../test/support/sqlite.ts';
import { AGENT_MIGRATIONS, AGENT_SCHEMA_VERSION, openAgentStore } from './index.ts';
import { capture, withDir, withStore } from './test-support.ts';
import { EVENT } from '../../core/events.ts';

void describe('agent queue file', () => {
  void test('uses WAL, synchronous FULL, secure_delete and a busy timeout', () =>
    withStore((store) => {
      assert.deepEqual(store.pragmas(), { journalMode: 'wal', synchronous: 2, foreignKeys: true, secureDelete: true, busyTimeoutMs: 5000 });
      return Promise.resolve();
    }));

  void test('creates its directory 0700 and its files 0600', () =>
    withStore(async (store, { path }) => {
      await store.enqueue([capture('a', 'pw')]);
      assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        assert.ok(existsSync(file), `${file} exists`);
        assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is 0600`);
      }
    }));

  void test('a store reopened after close keeps the queue, its order, the targets and the events', () =>
    withDir(async ({ path, keyring }) => {
      const first = await openAgentStore(path, { keyring });
      const [a] = await first.enqueue([capture('a', 'Pässwörd-Ω-12345'), capture('b', 'pw-b')]);
      assert.ok(a?.ok);
      await first.recordAttempt([a.item.id], { at: 5, error: 'down' });
      await first.addTarget({ name: 'primary', url: 'https://sync1.corp.test:8443' });
      await first.addTarget({ name: 'standby', url: 'https://sync2.corp.test:8443', enabled: false });
      await first.appendEvents([{ code: EVENT.TARGET_UNAVAILABLE, at: 7 }]);
      const queue = await first.peek(10);
      const targets = await first.listTargets();
      const events = await first.listEvents({ limit: 10 });
      await first.close();

      const second = await openAgentStore(path, { keyring });
      try {
        assert.deepEqual(await second.peek(10), queue);
        assert.deepEqual(await second.listTargets(), targets);
        assert.deepEqual(await second.listEvents({ limit: 10 }), events);
        const [item] = queue;
        assert.ok(item);
        const secret = await second.openSecret(item);
        assert.equal(secret.useSync((c) => c.toString('utf8')), 'Pässwörd-Ω-12345');
        secret.dispose();
        // A sequence number is never reused, even when the newest rows are gone.
        await second.remove(queue.map((c) => c.id));
        const [next] = await second.enqueue([capture('c', 'pw-c')]);
        assert.ok(next?.ok);
        assert.ok(next.item.seq > (queue[1]?.seq ?? Infinity));
      } finally {
        await second.close();
      }
      assert.deepEqual(recordedMigrations(path), AGENT_MIGRATIONS.map((m) => m.version), 'migrations ran once');
    }));

  void test('refuses a file whose schema is newer than this program', () =>
    withDir(async ({ path, keyring }) => {
      await (await openAgentStore(path, { keyring })).close();
      const db = new Database(path);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(AGENT_SCHEMA_VERSION + 3);
      db.close();
      await assert.rejects(openAgentStore(path, { keyring }), (e: unknown) => {
        assert.ok(e instanceof StoreSchemaTooNewError);
        assert.equal(e.code, 'ERR_STORE');
        assert.equal(e.found, AGENT_SCHEMA_VERSION + 3);
        assert.equal(e.supported, AGENT_SCHEMA_VERSION);
        return true;
      });
    }));

  void test('refuses the server store, another SQLite file, and a file that is not SQLite', () =>
    withDir(async ({ root, keyring }) => {
      // Made as the server's store is: opened by the same toolkit, migrated to a version the agent
      // has too, and with no application id of its own.
      const serverPath = join(root, 'server', 'pwsync.db');
      const migrations = [{ version: 1, sql: 'CREATE TABLE persons (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE)' }];
      openPrivateDatabase(serverPath, 0, { what: 'the store', cacheKib: 1000, migrate: (db, now) => migrate(db, migrations, now) }).close();
      await assert.rejects(openAgentStore(serverPath, { keyring }), (e: unknown) => e instanceof StoreError);

      const otherPath = join(root, 'other.db');
      const other = new Database(otherPath);
      other.pragma('application_id = 42');
      other.close();
      await assert.rejects(openAgentStore(otherPath, { keyring }), { code: 'ERR_STORE' });

      const textPath = join(root, 'notes.txt');
      writeFileSync(textPath, 'this is not a database, just some text that is long enough to be read as a header\n'.repeat(20), { mode: 0o600 });
      await assert.rejects(openAgentStore(textPath, { keyring }), { code: 'ERR_STORE' });
    }));

  void test('refuses limits that are not positive whole numbers', () =>
    withDir(async ({ path, keyring }) => {
      await assert.rejects(openAgentStore(path, { keyring, maxLength: 0 }), { code: 'ERR_INVALID_INPUT' });
      await assert.rejects(openAgentStore(path, { keyring, maxAgeMs: 1.5 }), { code: 'ERR_INVALID_INPUT' });
    }));
});
