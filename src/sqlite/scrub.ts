import { guard, type Sqlite } from './db.ts';
import { BUSY_TIMEOUT_MS } from './open.ts';

/**
 * Copies the WAL into the database file and truncates the WAL to zero bytes, so that old page
 * images (a wiped secret's among them) leave the disk. Returns false when another connection kept
 * it from completing; never waits for one.
 */
export function checkpointTruncate(sql: Sqlite): boolean {
  return guard(() => {
    const db = sql.raw;
    db.pragma('busy_timeout = 0');
    try {
      const rows = db.pragma('wal_checkpoint(TRUNCATE)', { simple: false }) as { busy: number }[];
      return rows[0]?.busy === 0;
    } catch {
      return false;
    } finally {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  });
}

/**
 * A wiped secret's bytes are zeroed in the database page at once (secure_delete), but the WAL still
 * holds the page image from when the secret was written until a checkpoint truncates it. One
 * checkpoint shortly after a burst of wipes bounds that to about `delayMs`, without an fsync of the
 * whole database on every wipe; it is tried again while another connection (a CLI command) holds
 * it back. Used by the server's store and the agent's queue alike.
 */
export class WalScrubber {
  #timer: NodeJS.Timeout | undefined;
  #attempts = 0;

  constructor(
    private readonly sql: Sqlite,
    private readonly options: { readonly delayMs: number; readonly attempts: number },
  ) {}

  /** True while a scrub is scheduled (page images of a wipe may still be in the WAL). */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  schedule(): void {
    if (this.#timer !== undefined) return;
    this.#attempts = 0;
    this.#arm();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.sql.open) return;
      let done: boolean;
      try {
        done = checkpointTruncate(this.sql);
      } catch {
        // Not the caller's error: the next wipe schedules another attempt.
        done = true;
      }
      if (!done && ++this.#attempts < this.options.attempts) this.#arm();
    }, this.options.delayMs);
    this.#timer.unref();
  }
}
