import Database from 'better-sqlite3';
import { InvalidInputError } from '../core/errors.ts';

export interface ProcessLock {
  release(): void;
}

/**
 * An exclusive lock held for as long as this process runs, and released by the kernel the moment
 * it dies, even by `kill -9`: a file-based lock with a staleness timeout would refuse a restart
 * after a crash until the timeout passed (or, shorter, let two processes run). The lock is SQLite's
 * own (a POSIX record lock taken by an EXCLUSIVE transaction on a small file beside the store),
 * because better-sqlite3 is already here and Node has no flock.
 *
 * `busy` names what holds the lock in the error, e.g. "another pwsync server is running on …".
 */
export function acquireProcessLock(path: string, busy: string): ProcessLock {
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS held_by (pid INTEGER)');
    db.exec('BEGIN EXCLUSIVE');
    db.prepare('DELETE FROM held_by').run();
    db.prepare('INSERT INTO held_by (pid) VALUES (?)').run(process.pid);
  } catch (e) {
    db.close();
    if (e instanceof Error && 'code' in e && (e.code === 'SQLITE_BUSY' || e.code === 'SQLITE_LOCKED')) throw new InvalidInputError(busy);
    throw e;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

