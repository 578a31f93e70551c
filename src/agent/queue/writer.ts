import { StoreError } from '../../core/errors.ts';
import { GroupCommit } from '../../util/group-commit.ts';
import { MEMORY } from '../../sqlite/open.ts';
import { CommitThread } from './commit-thread.ts';
import type { AgentStore } from './store.ts';
import type { EnqueueOutcome, NewCapture, QueuedCapture, SealedCapture } from './types.ts';

/** One capture waiting for its commit; the flush fills in the result. */
interface Slot {
  readonly sealed: SealedCapture;
  item?: QueuedCapture;
}

export interface QueueWriterOptions {
  /**
   * Commit on a worker thread with its own connection (default), so that the main thread keeps
   * accepting hooks during an fsync; false commits on the main thread through the store (for an
   * in-memory store, and to compare).
   */
  readonly thread?: boolean;
}

export interface QueueWriterStats {
  /** Transactions committed. */
  readonly commits: number;
  /** Captures those transactions carried (queued or refused). */
  readonly captures: number;
  readonly largestBatch: number;
}

/**
 * The queue's group-commit front for capture hooks. Each `add` seals its secret at once and
 * resolves only after the transaction holding its capture is committed (fsynced); adds that arrive
 * while a commit is running share the next one. A lone change pays one fsync; under load the
 * batches grow by themselves, so the fsyncs per second stay bounded while captures per second grow.
 *
 * Close the writer before its store.
 */
export class QueueWriter {
  readonly #store: AgentStore;
  readonly #thread: CommitThread | undefined;
  readonly #commit: GroupCommit<Slot>;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;
  #commits = 0;
  #captures = 0;
  #largest = 0;

  constructor(store: AgentStore, options: QueueWriterOptions = {}) {
    this.#store = store;
    const thread = (options.thread ?? true) && store.path !== MEMORY;
    this.#thread = thread ? new CommitThread(store.path, store.maxLength) : undefined;
    this.#commit = new GroupCommit<Slot>(async (slots) => {
      const outcomes = await this.#flush(slots.map((s) => s.sealed));
      this.#commits++;
      this.#captures += slots.length;
      this.#largest = Math.max(this.#largest, slots.length);
      return outcomes.map((outcome, i) => {
        if (!outcome.ok) return outcome.error;
        const slot = slots[i];
        if (slot !== undefined) slot.item = outcome.item;
        return undefined;
      });
    });
  }

  /**
   * Queues one capture. The secret is sealed before this returns (the caller may dispose it then);
   * the promise resolves with the queued capture once it is committed, and rejects with
   * QueueFullError when the length limit refused it, InvalidInputError when it is malformed, or
   * the StoreError that failed its batch. Only a resolved add may be acknowledged to the hook.
   */
  add(capture: NewCapture): Promise<QueuedCapture> {
    if (this.#closed) return Promise.reject(new StoreError('the queue writer is closed'));
    let slot: Slot;
    try {
      slot = { sealed: this.#store.seal(capture) };
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new StoreError('sealing a capture failed', { cause: e }));
    }
    const done = this.#commit.submit(slot).then(() => {
      if (slot.item === undefined) throw new StoreError(`capture ${slot.sealed.id} was committed without a result`);
      return slot.item;
    });
    const tracked = done.catch(() => undefined).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    return done;
  }

  get stats(): QueueWriterStats {
    return { commits: this.#commits, captures: this.#captures, largestBatch: this.#largest };
  }

  /** Refuses new adds, waits until every add already made is settled, and stops the commit thread. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#thread?.close();
  }

  #flush(sealed: readonly SealedCapture[]): Promise<EnqueueOutcome[]> {
    return this.#thread === undefined ? this.#store.enqueueSealed(sealed) : this.#thread.enqueue(sealed, this.#store.now());
  }
}
