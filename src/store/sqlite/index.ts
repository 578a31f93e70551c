import { Sqlite } from '../../sqlite/db.ts';
import { openDatabase } from './open.ts';
import { SqliteStore } from './store.ts';

export { MEMORY, type SqlitePragmas } from '../../sqlite/open.ts';
export { SCHEMA_VERSION } from './migrations.ts';
export { SqliteStore } from './store.ts';

export interface SqliteStoreOptions {
  /** The clock for times the caller does not pass (import stamps, job creation). Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Opens the SQLite store at `path`, creating the file (mode 0600) and its directory when missing
 * and migrating the schema. `":memory:"` opens a private in-memory store for tests.
 *
 * Rejects with StoreError when the file is not a usable store, and with StoreSchemaTooNewError
 * (a StoreError) when a newer pwsync wrote it.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const now = options.now ?? Date.now;
  return new Promise((resolve) => resolve(new SqliteStore(new Sqlite(openDatabase(path, now())), path, now)));
}
