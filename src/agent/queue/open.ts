import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../../core/errors.ts';
import { guard } from '../../store/sqlite/db.ts';
import { BUSY_TIMEOUT_MS, MEMORY } from '../../store/sqlite/open.ts';
import { migrateAgent } from './migrations.ts';

/**
 * Opens (creating when missing) the agent's database with the server store's settings and brings
 * its schema up to date. Anything SQLite refuses is a StoreError.
 */
export function openAgentDatabase(path: string, now: number): Database.Database {
  if (path !== MEMORY) createPrivateFile(path);
  let db: Database.Database | undefined;
  try {
    db = guard(() => new Database(path, { timeout: BUSY_TIMEOUT_MS }));
    const conn = db;
    guard(() => {
      applyPragmas(conn, path === MEMORY);
      migrateAgent(conn, now);
    });
    return conn;
  } catch (e) {
    db?.close();
    throw e;
  }
}

// The two functions below repeat the server store's private ones in src/store/sqlite/open.ts
// (createPrivateFile, applyPragmas without its SQL function); they should be exported there and
// shared.

/**
 * The directory (0700) and an empty file (0600) exist before SQLite opens it: SQLite gives the
 * -wal and -shm files the database file's permissions, so all three stay private.
 */
function createPrivateFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
  } catch (e) {
    throw new StoreError(`cannot create the agent queue file ${path}`, { cause: e });
  }
}

function applyPragmas(db: Database.Database, memory: boolean): void {
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (!memory && mode !== 'wal') throw new StoreError(`the agent queue cannot use write-ahead logging (journal mode stays ${String(mode)})`);
  // FULL: a hook is acknowledged only after its change survives a power loss, not only a crash.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // A removed change's sealed secret is overwritten with zeros, not left in free space.
  db.pragma('secure_delete = ON');
  db.pragma('temp_store = MEMORY');
  // After a checkpoint the WAL is cut back instead of keeping old page images.
  db.pragma('journal_size_limit = 0');
  db.pragma('cache_size = -8000');
}
