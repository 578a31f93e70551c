import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../core/errors.ts';
import { guard, type Sqlite } from './db.ts';

/** How long a statement waits for another process's lock before failing with a StoreError. */
export const BUSY_TIMEOUT_MS = 5000;

/** The path that opens a private, throwaway in-memory database (for unit tests of other modules). */
export const MEMORY = ':memory:';

export interface PrivateDatabaseOptions {
  /** For messages: "the store", "the agent queue". */
  readonly what: string;
  readonly cacheKib: number;
  readonly migrate: (db: Database.Database, now: number) => void;
  /** SQL functions and the like, before migrations run. */
  readonly prepare?: (db: Database.Database) => void;
}

/**
 * A SQLite file that holds sealed secrets, opened the one way pwsync opens them (the server's store
 * and the agent's queue alike): private file modes, WAL, fsync on every commit, deleted content
 * overwritten, migrations applied. Anything SQLite refuses (not a database, locked too long) is a
 * StoreError.
 */
export function openPrivateDatabase(path: string, now: number, options: PrivateDatabaseOptions): Database.Database {
  if (path !== MEMORY) createPrivateFile(path, options.what);
  let db: Database.Database | undefined;
  try {
    db = guard(() => new Database(path, { timeout: BUSY_TIMEOUT_MS }));
    const conn = db;
    guard(() => {
      applyPragmas(conn, path === MEMORY, options);
      options.prepare?.(conn);
      options.migrate(conn, now);
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
function createPrivateFile(path: string, what: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
  } catch (e) {
    throw new StoreError(`cannot create ${what} file ${path}`, { cause: e });
  }
}

function applyPragmas(db: Database.Database, memory: boolean, options: PrivateDatabaseOptions): void {
  // First, so that switching to WAL below waits for another process instead of failing.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (!memory && mode !== 'wal') throw new StoreError(`${options.what} cannot use write-ahead logging (journal mode stays ${String(mode)})`);
  // FULL: a commit is on disk before it is acknowledged (the server's 202, the agent's answer to a
  // hook); WAL alone would only be durable against a process crash, not a power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Deleted content (a wiped sealed secret) is overwritten with zeros, not left in free space.
  db.pragma('secure_delete = ON');
  // Sorts and temporary indexes stay in memory rather than in temporary files.
  db.pragma('temp_store = MEMORY');
  // After a checkpoint the WAL is cut back instead of keeping old frames (old page images).
  db.pragma('journal_size_limit = 0');
  db.pragma(`cache_size = -${options.cacheKib}`);
}

/** The connection settings that matter, as SQLite reports them (for tests and `status` commands). */
export interface SqlitePragmas {
  readonly journalMode: string;
  /** 2 is FULL. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly secureDelete: boolean;
  readonly busyTimeoutMs: number;
}

/** The settings in force on `sql`'s connection. */
export function readPragmas(sql: Sqlite): SqlitePragmas {
  return guard(() => {
    const db = sql.raw;
    return {
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      foreignKeys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
      secureDelete: Number(db.pragma('secure_delete', { simple: true })) === 1,
      busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
    };
  });
}
