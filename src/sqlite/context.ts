import type { Sqlite } from './db.ts';

/** What every part of a SQLite database's code works with (the server's store, the agent's queue). */
export interface Ctx {
  readonly sql: Sqlite;
  /** The clock for times the caller does not give (import stamps, job creation, event defaults). */
  readonly now: () => number;
  /** Called when a transaction removed or set to NULL a sealed secret, so the WAL can be scrubbed soon. */
  readonly wiped: () => void;
}
