import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../core/errors.ts';
import { StoreSchemaTooNewError } from './errors.ts';
import { migrate, schemaVersion, type Migration } from './migrations.ts';

const MIGRATIONS: readonly Migration[] = [
  { version: 1, sql: 'CREATE TABLE a (x INTEGER)' },
  { version: 2, sql: 'CREATE TABLE b (y INTEGER)' },
];

const recorded = (db: Database.Database): unknown[] => db.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').raw().all();

void describe('migrations', () => {
  void test('each runs once and is recorded with its time; a later list only adds what is new', () => {
    const db = new Database(':memory:');
    migrate(db, MIGRATIONS.slice(0, 1), 10);
    migrate(db, MIGRATIONS, 20);
    migrate(db, MIGRATIONS, 30);
    assert.deepEqual(recorded(db), [[1, 10], [2, 20]]);
    assert.equal(schemaVersion(MIGRATIONS), 2);
    db.close();
  });

  void test('a file from a newer program is refused with both versions, and left as it is', () => {
    const db = new Database(':memory:');
    migrate(db, MIGRATIONS, 10);
    assert.throws(() => migrate(db, MIGRATIONS.slice(0, 1), 20), (e: unknown) => e instanceof StoreSchemaTooNewError && e.found === 2 && e.supported === 1);
    assert.deepEqual(recorded(db), [[1, 10], [2, 10]]);
    db.close();
  });

  void test('the check runs first, in the same transaction: a refusal leaves the file untouched', () => {
    const db = new Database(':memory:');
    const refuse = (): void => {
      throw new StoreError('not ours');
    };
    assert.throws(() => migrate(db, MIGRATIONS, 10, refuse), { code: 'ERR_STORE' });
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get(), 0);
    db.close();
  });
});
