import type { Sqlite } from './db.ts';

/** What every part of the SQLite store works with. */
export interface Ctx {
  readonly sql: Sqlite;
  /** The clock for times the caller does not give (import stamps, job creation, event defaults). */
  readonly now: () => number;
  /** Called when a transaction set a sealed secret to NULL, so the WAL can be scrubbed soon. */
  readonly wiped: () => void;
}
