import type { EpochMs } from '../../core/model.ts';
import type { Secret } from '../../core/secret.ts';
import type { Keyring } from '../../crypto/keyring.ts';
import type { Sqlite } from '../../sqlite/db.ts';
import { MEMORY, readPragmas, type SqlitePragmas } from '../../sqlite/open.ts';
import { checkpointTruncate, WalScrubber } from '../../sqlite/scrub.ts';
import { settleLater } from '../../sqlite/settle.ts';
import * as captures from './captures.ts';
import { eventLog } from './events.ts';
import * as marks from './marks.ts';
import * as targets from './targets.ts';
import type {
  AgentEvent, AgentEventFilter, EnqueueOutcome, NewAgentEvent, NewCapture, NewTarget, QueuedCapture, QueueStats, SealedCapture, Target,
} from './types.ts';

/** Defaults of the limits: a change is kept at most 72 hours, and at most 100,000 changes wait. */
export const DEFAULT_MAX_QUEUE_AGE_MS = 72 * 3_600_000;
export const DEFAULT_MAX_QUEUE_LENGTH = 100_000;

/** How soon after a removal the WAL is checkpointed and truncated, and how often retried while busy. */
export const DEFAULT_SCRUB_DELAY_MS = 1000;
const SCRUB_ATTEMPTS = 60;

export interface AgentStoreOptions {
  /** Seals every queued secret; bound to the capture id. */
  readonly keyring: Keyring;
  /** The clock for times the caller does not give (events, `addedAt`). Default `Date.now`. */
  readonly now?: () => EpochMs;
  readonly maxLength?: number;
  readonly maxAgeMs?: number;
  /** Delay before the WAL is scrubbed after a removal; tests shorten it. */
  readonly scrubDelayMs?: number;
}

export interface AgentStoreSettings {
  readonly path: string;
  readonly keyring: Keyring;
  readonly now: () => EpochMs;
  readonly maxLength: number;
  readonly maxAgeMs: number;
  readonly scrubDelayMs: number;
}

/**
 * The agent's database: the queue of captured changes, the targets and the event log, in one
 * SQLite file. One connection; every method is one transaction, done whole when the call returns
 * (better-sqlite3 is synchronous) and answered on a later turn of the event loop
 * ({@link settleLater}), so that a caller polling in a loop still lets I/O run.
 *
 * The agent and `pwsync agent …` commands open the same file at once: every write is an IMMEDIATE
 * transaction that waits for the other's lock, and nothing is cached across calls.
 */
export class AgentStore {
  readonly path: string;
  readonly maxLength: number;
  readonly maxAgeMs: number;
  /** The store's clock. */
  readonly now: () => EpochMs;
  readonly #sql: Sqlite;
  readonly #ctx: captures.QueueCtx;
  readonly #scrubber: WalScrubber;

  constructor(sql: Sqlite, settings: AgentStoreSettings) {
    this.#sql = sql;
    this.path = settings.path;
    this.maxLength = settings.maxLength;
    this.maxAgeMs = settings.maxAgeMs;
    this.now = settings.now;
    this.#scrubber = new WalScrubber(sql, { delayMs: settings.scrubDelayMs, attempts: SCRUB_ATTEMPTS });
    this.#ctx = {
      sql,
      now: settings.now,
      wiped: () => (settings.path === MEMORY ? undefined : this.#scrubber.schedule()),
      keyring: settings.keyring,
      maxLength: settings.maxLength,
      maxAgeMs: settings.maxAgeMs,
    };
  }

  close(): Promise<void> {
    return this.#run(() => {
      this.#scrubber.cancel();
      // The last connection to close checkpoints the WAL and deletes it.
      this.#sql.close();
    });
  }

  // Queue ------------------------------------------------------------------------------------

  /**
   * Checks a capture, gives it its id (UUIDv7) and seals its secret, synchronously: the caller may
   * dispose the Secret as soon as this returns. Throws InvalidInputError for a malformed capture.
   */
  seal(capture: NewCapture): SealedCapture {
    return captures.sealCapture(this.#ctx.keyring, capture);
  }

  /**
   * Seals and commits the captures in ONE transaction (fsynced before the promise settles). The
   * outcomes follow the input order: captures beyond the length limit are refused with
   * QueueFullError and event 7042, the others are queued. The caller keeps the Secrets.
   * A malformed capture rejects the whole call before anything is written.
   */
  enqueue(list: readonly NewCapture[]): Promise<EnqueueOutcome[]> {
    return this.#run(() => captures.enqueueSealed(this.#ctx, list.map((c) => captures.sealCapture(this.#ctx.keyring, c))));
  }

  /** As {@link enqueue}, for captures sealed with {@link seal} (the group-commit writer's path). */
  enqueueSealed(list: readonly SealedCapture[]): Promise<EnqueueOutcome[]> {
    return this.#run(() => captures.enqueueSealed(this.#ctx, list));
  }

  /** The highest mark recorded for a source account (see marks.ts); undefined when none. */
  getMark(source: string, accountKey: string): Promise<number | undefined> {
    return this.#run(() => marks.getMark(this.#ctx, source, accountKey));
  }

  /** Records a source account's mark unless a higher one is recorded already. */
  setMark(source: string, accountKey: string, mark: number): Promise<void> {
    return this.#run(() => marks.setMark(this.#ctx, source, accountKey, mark, this.now()));
  }

  /** The oldest queued changes, in delivery order (after `afterSeq` when given); no secrets. */
  peek(limit: number, afterSeq?: number): Promise<QueuedCapture[]> {
    return this.#run(() => captures.peek(this.#ctx, limit, afterSeq));
  }

  /** Unseals one queued change's secret; the caller disposes it. CaptureNotFoundError when gone. */
  openSecret(item: Pick<QueuedCapture, 'id'>): Promise<Secret> {
    return captures.openSecret(this.#ctx, item.id);
  }

  /**
   * Deletes delivered or finally refused changes; answers how many were still queued. Their bytes
   * are overwritten in the database at once (secure_delete) and leave the WAL at the next scrub.
   */
  remove(ids: readonly string[]): Promise<number> {
    return this.#run(() => captures.remove(this.#ctx, ids));
  }

  /** Drops changes older than the age limit at `now`, one 7041 event each; answers them. */
  expire(now: EpochMs): Promise<QueuedCapture[]> {
    return this.#run(() => captures.expire(this.#ctx, now));
  }

  /**
   * Settles a pending scope check: `in` keeps the change, `out` removes it with event 7040.
   * False when the change is no longer queued.
   */
  setScope(id: string, scope: 'in' | 'out', reason?: string): Promise<boolean> {
    return this.#run(() => captures.setScope(this.#ctx, id, scope, this.#ctx.now(), reason));
  }

  /** Counts a delivery attempt on each change, with why it failed (never a secret). */
  recordAttempt(ids: readonly string[], attempt: { readonly at: EpochMs; readonly error: string | null }): Promise<number> {
    return this.#run(() => captures.recordAttempt(this.#ctx, ids, attempt));
  }

  stats(): Promise<QueueStats> {
    return this.#run(() => captures.stats(this.#ctx));
  }

  // Targets ----------------------------------------------------------------------------------

  addTarget(target: NewTarget): Promise<Target> {
    return this.#run(() => targets.addTarget(this.#ctx, target, this.#ctx.now()));
  }

  /** TargetNotFoundError when there is none of that name. */
  removeTarget(name: string): Promise<void> {
    return this.#run(() => targets.removeTarget(this.#ctx, name));
  }

  setTargetEnabled(name: string, enabled: boolean): Promise<Target> {
    return this.#run(() => targets.setTargetEnabled(this.#ctx, name, enabled));
  }

  setTargetRetryInterval(name: string, retryIntervalMs: number): Promise<Target> {
    return this.#run(() => targets.setTargetRetryInterval(this.#ctx, name, retryIntervalMs));
  }

  /** Moves a target to `position` (1 is tried first); the others keep their relative order. */
  moveTarget(name: string, position: number): Promise<Target> {
    return this.#run(() => targets.moveTarget(this.#ctx, name, position));
  }

  /** Every target in failover order, read anew (the CLI may have changed them). */
  listTargets(): Promise<Target[]> {
    return this.#run(() => targets.listTargets(this.#ctx));
  }

  getTarget(name: string): Promise<Target | undefined> {
    return this.#run(() => targets.getTarget(this.#ctx, name));
  }

  recordTargetSuccess(name: string, at: EpochMs): Promise<{ target: Target; recovered: boolean } | undefined> {
    return this.#run(() => targets.recordTargetSuccess(this.#ctx, name, at));
  }

  recordTargetFailure(name: string, at: EpochMs, error: string, nextAttemptAt: EpochMs): Promise<{ target: Target; firstFailure: boolean } | undefined> {
    return this.#run(() => targets.recordTargetFailure(this.#ctx, name, at, error, nextAttemptAt));
  }

  // Events -----------------------------------------------------------------------------------

  appendEvents(list: readonly NewAgentEvent[]): Promise<void> {
    return this.#run(() => eventLog.append(this.#ctx, list));
  }

  /** The newest `limit` events (of `codes` when given), in the order they happened. */
  listEvents(filter: AgentEventFilter): Promise<AgentEvent[]> {
    return this.#run(() => eventLog.list(this.#ctx, filter));
  }

  /** Forgets events older than `before`; answers how many. */
  pruneEvents(before: EpochMs): Promise<number> {
    return this.#run(() => eventLog.prune(this.#ctx, before));
  }

  // SQLite only ------------------------------------------------------------------------------

  /** The connection settings in force, as SQLite reports them (for tests and `pwsync agent status`). */
  pragmas(): SqlitePragmas {
    return readPragmas(this.#sql);
  }

  /** Changes when another connection (a CLI command) committed: a cheap "re-read the targets?". */
  dataVersion(): Promise<number> {
    return this.#run(() => this.#sql.prepare<{ data_version: number }>('PRAGMA data_version').get()?.data_version ?? 0);
  }

  /**
   * Copies the WAL into the database file and truncates it (see {@link checkpointTruncate}), so
   * that a removed change's sealed secret leaves the disk; false when another connection kept it
   * from completing.
   */
  checkpoint(): boolean {
    if (this.path === MEMORY) return true;
    return checkpointTruncate(this.#sql);
  }

  /** True while a scrub is scheduled (a removal's page images may still be in the WAL). */
  get scrubPending(): boolean {
    return this.#scrubber.pending;
  }

  /** Runs one call (see {@link settleLater}). */
  #run<T>(fn: () => T): Promise<T> {
    return settleLater(fn, 'an agent queue call');
  }
}
