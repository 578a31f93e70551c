import type pg from 'pg';
import type { SqlValue } from './driver.ts';

/*
 * A write that must change exactly one row, in two round trips instead of BEGIN, the statement and
 * COMMIT (three). It relies on the extended query protocol's implicit transaction: everything
 * executed before a Sync is one transaction, committed by the Sync when nothing failed.
 *
 *   → Parse, Bind, Execute, Flush       ← ParseComplete, BindComplete, CommandComplete "UPDATE n"
 *   n = 1: → Sync                       ← ReadyForQuery (committed; a deferred constraint's error
 *                                          would come before it, and nothing would be kept)
 *   n ≠ 1: → ROLLBACK, Sync             ← a WARNING notice, ReadyForQuery (the implicit transaction
 *                                          is aborted with the statement's changes: PostgreSQL's
 *                                          UserAbortTransactionBlock, TBLOCK_STARTED)
 *
 * The server keeps the statement's row locks for the one round trip between. A node-postgres
 * "submittable" (as pg-cursor is one): the client hands it the connection when it is its turn and
 * passes it the backend's messages until ReadyForQuery.
 */

/** What the protocol carries: text, or NULL. */
function wireValue(value: SqlValue): string | null {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'number' ? String(value) : value;
}

/** The row count at the end of a command tag: `UPDATE 3`, `INSERT 0 1`, `SELECT 1`; none (`CALL`) is 0. */
export function tagRowCount(tag: string): number {
  const match = / (\d+)$/.exec(tag);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

export class ExactlyOneWrite implements pg.Submittable {
  readonly #text: string;
  readonly #values: readonly SqlValue[];
  readonly #settle: (error: Error | undefined, affected: number) => void;
  #connection: pg.Connection | undefined;
  #affected = 0;
  /** Sync sent: the server answers with ReadyForQuery and skips nothing more. */
  #synced = false;
  #settled = false;

  constructor(text: string, values: readonly SqlValue[], settle: (error: Error | undefined, affected: number) => void) {
    this.#text = text;
    this.#values = values;
    this.#settle = settle;
  }

  /** Runs `text` with `values` on `client`; resolves with the rows it changed, committed only when that is 1. */
  static run(client: pg.ClientBase, text: string, values: readonly SqlValue[]): Promise<number> {
    return new Promise((resolve, reject) => {
      client.query(new ExactlyOneWrite(text, values, (error, affected) => (error === undefined ? resolve(affected) : reject(error))));
    });
  }

  submit(connection: pg.Connection): void {
    this.#connection = connection;
    // One write to the socket for the four messages, as node-postgres does for its own queries.
    const { stream } = connection;
    stream.cork();
    try {
      connection.parse({ name: '', text: this.#text, types: [] }, true);
      connection.bind({ values: this.#values.map(wireValue) }, true);
      connection.execute({}, true);
      connection.flush();
    } finally {
      stream.uncork();
    }
  }

  handleCommandComplete(message: { text: string }): void {
    const connection = this.#connection;
    // After a Sync, the only command that can complete is our own ROLLBACK.
    if (connection === undefined || this.#synced) return;
    this.#affected = tagRowCount(message.text);
    if (this.#affected !== 1) {
      connection.parse({ name: '', text: 'ROLLBACK', types: [] }, true);
      connection.bind({ values: [] }, true);
      connection.execute({}, true);
    }
    this.#sync();
  }

  /** The backend sent an error; it skips everything until a Sync (sent here if not yet). */
  handleError(error: Error): void {
    this.#sync();
    this.#finish(error);
  }

  handleReadyForQuery(): void {
    this.#finish(undefined);
  }

  // Rows of a statement with RETURNING, or a function's result: the count is what matters.
  handleRowDescription(): void {}
  handleDataRow(): void {}

  handleEmptyQuery(): void {
    this.#affected = 0;
    this.#sync();
  }

  handlePortalSuspended(): void {
    // Never asked for: Execute without a row limit runs the portal to completion.
    this.#sync();
  }

  #sync(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.#connection?.sync();
  }

  #finish(error: Error | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settle(error, this.#affected);
  }
}
