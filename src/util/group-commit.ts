import { TransientError } from '../core/errors.ts';

/**
 * Group commit: while one flush is in flight, the items submitted meanwhile wait and go to the
 * next flush together. The first item after a quiet spell is flushed at once (no waiting for
 * company), so a lone change pays nothing; under load the batches grow by themselves until one
 * flush carries everything that arrived during the previous one.
 *
 * Each caller is settled on its own: `flush` answers one outcome per item (undefined = applied, an
 * error = this item failed), so one bad item never fails the others. A flush that throws fails
 * every item of its batch, and the next batch is still flushed.
 */
export class GroupCommit<I> {
  readonly #flush: (items: readonly I[]) => Promise<readonly (Error | undefined)[]>;
  #pending: { readonly item: I; readonly resolve: () => void; readonly reject: (err: unknown) => void }[] = [];
  #running = false;

  constructor(flush: (items: readonly I[]) => Promise<readonly (Error | undefined)[]>) {
    this.#flush = flush;
  }

  /** Resolves when `item` is applied; rejects with its own error, or with its batch's. */
  submit(item: I): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  /** How many items wait for the next flush (for tests). */
  get waiting(): number {
    return this.#pending.length;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      // Items submitted in the same turn of the event loop as the first one join its batch.
      await Promise.resolve();
      // Ends when a flush finds nothing new waiting: every item is taken by exactly one flush.
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        let outcomes: readonly (Error | undefined)[];
        try {
          outcomes = await this.#flush(batch.map((p) => p.item));
        } catch (err) {
          for (const p of batch) p.reject(err);
          continue;
        }
        if (outcomes.length !== batch.length) {
          // A flush that lost count cannot say which items it applied; trying them again is safe.
          const err = new TransientError(`a write batch of ${batch.length} answered ${outcomes.length} outcomes`);
          for (const p of batch) p.reject(err);
          continue;
        }
        batch.forEach((p, i) => {
          const outcome = outcomes[i];
          if (outcome === undefined) p.resolve();
          else p.reject(outcome);
        });
      }
    } finally {
      this.#running = false;
    }
  }
}
