import type Database from 'better-sqlite3';
import { isPwsyncError, StoreError } from '../core/errors.ts';

/** A value SQLite binds: better-sqlite3 refuses `undefined` and booleans, so neither is allowed. */
export type Param = string | number | bigint | Buffer | null;

export type Statement<R> = Database.Statement<Param[], R>;

/**
 * One connection to a private SQLite database (the server's store, the agent's queue), with a
 * statement cache and transaction helpers.
 *
 * Every write runs in an IMMEDIATE transaction: it takes the write lock at BEGIN, so a transaction
 * that reads and then writes never fails half-way with SQLITE_BUSY when another process (the CLI)
 * writes at the same time; it waits up to the busy timeout instead.
 */
export class Sqlite {
  #db: Database.Database | undefined;
  readonly #statements = new Map<string, Statement<unknown>>();
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#transaction = db.transaction((fn: () => unknown) => fn());
  }

  get open(): boolean {
    return this.#db !== undefined;
  }

  /** The raw connection, for pragmas and the few calls the helpers do not cover. */
  get raw(): Database.Database {
    const db = this.#db;
    if (db === undefined) throw new StoreError('the store is closed');
    return db;
  }

  /** A prepared statement, compiled once per connection and reused. */
  prepare<R = unknown>(sql: string): Statement<R> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.raw.prepare<Param[]>(sql);
      this.#statements.set(sql, statement);
    }
    return statement as Statement<R>;
  }

  /** Runs `fn` in one write transaction (a savepoint when already inside one). */
  write<T>(fn: () => T): T {
    this.#ensureOpen();
    return guard(() => this.#transaction.immediate(fn) as T);
  }

  /**
   * Like {@link write}, but the commit does not wait for the disk (`synchronous = NORMAL` for this
   * transaction; the connection stays FULL otherwise). In WAL mode the database stays consistent
   * whatever happens; a crash of the process loses nothing (the operating system holds the log), and
   * a power loss may undo the last such commits — until the next ordinary commit, which makes every
   * earlier one durable too. Only for writes whose loss the owner recovers from by itself (the
   * server's claims and outcomes of deliveries: a delivery undone is made again; the agent's marks).
   */
  writeWithoutSync<T>(fn: () => T): T {
    this.#ensureOpen();
    const db = this.raw;
    // The setting applies to a whole transaction: inside one, this is a savepoint of the outer one.
    if (db.inTransaction) return this.write(fn);
    // Prepared once (db.pragma() compiles its statement on every call: 2% of the store's thread).
    this.prepare('PRAGMA synchronous = NORMAL').run();
    try {
      return this.write(fn);
    } finally {
      this.prepare('PRAGMA synchronous = FULL').run();
    }
  }

  /** Runs `fn` in one read transaction, so several queries see one snapshot. */
  read<T>(fn: () => T): T {
    this.#ensureOpen();
    return guard(() => this.#transaction.deferred(fn) as T);
  }

  /** A closed store fails with StoreError, not with better-sqlite3's TypeError. */
  #ensureOpen(): void {
    if (this.#db === undefined) throw new StoreError('the store is closed');
  }

  close(): void {
    const db = this.#db;
    if (db === undefined) return;
    this.#statements.clear();
    this.#db = undefined;
    db.close();
  }
}

/**
 * Runs `fn` and turns SQLite's own errors into {@link StoreError} (keeping the original as the
 * cause), so callers see our typed errors only. Our errors pass through untouched.
 */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isPwsyncError(e)) throw e;
    if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('SQLITE_')) {
      const busy = e.code.startsWith('SQLITE_BUSY') || e.code.startsWith('SQLITE_LOCKED');
      throw new StoreError(busy ? `the store stayed locked by another process (${e.code})` : `SQLite failed: ${e.code}`, { cause: e });
    }
    throw e;
  }
}
