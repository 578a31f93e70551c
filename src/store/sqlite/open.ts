import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../../core/errors.ts';
import { guard } from './db.ts';
import { migrate } from './migrations.ts';
import { matchKey } from '../../core/join.ts';

/** How long a statement waits for another process's lock before failing with a StoreError. */
export const BUSY_TIMEOUT_MS = 5000;

/** The path that opens a private, throwaway in-memory store (for unit tests of other modules). */
export const MEMORY = ':memory:';

/**
 * Opens (creating when missing) the database file, sets the connection's pragmas and brings the
 * schema up to date. Anything SQLite refuses (not a database, locked too long) is a StoreError.
 */
export function openDatabase(path: string, now: number): Database.Database {
  if (path !== MEMORY) createPrivateFile(path);
  let db: Database.Database | undefined;
  try {
    db = guard(() => new Database(path, { timeout: BUSY_TIMEOUT_MS }));
    const conn = db;
    guard(() => {
      applyPragmas(conn, path === MEMORY);
      migrate(conn, now);
    });
    return conn;
  } catch (e) {
    db?.close();
    throw e;
  }
}

/**
 * Creates the parent directory (private to the owner) and an empty database file with mode 0600
 * before SQLite opens it: SQLite gives the -wal and -shm files the permissions of the database file,
 * so all three stay private. An existing file keeps the mode an administrator gave it.
 */
function createPrivateFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
  } catch (e) {
    throw new StoreError(`cannot create the store file ${path}`, { cause: e });
  }
}

function applyPragmas(db: Database.Database, memory: boolean): void {
  // First, so that switching to WAL below waits for another process instead of failing.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (!memory && mode !== 'wal') throw new StoreError(`the store cannot use write-ahead logging (journal mode stays ${String(mode)})`);
  // FULL: a commit is on disk before the server answers 202; WAL alone would only be durable
  // against a process crash, not a power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Deleted content (a wiped sealed secret) is overwritten with zeros, not left in free space.
  db.pragma('secure_delete = ON');
  // Sorts and temporary indexes stay in memory rather than in temporary files.
  db.pragma('temp_store = MEMORY');
  // After a checkpoint the WAL is cut back instead of keeping old frames (old page images).
  db.pragma('journal_size_limit = 0');
  db.pragma('cache_size = -32000');
  // The case-insensitive match key as an SQL function, for searches over stored JSON.
  db.function('pw_fold', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? matchKey(value, 'caseInsensitive') : null));
}
