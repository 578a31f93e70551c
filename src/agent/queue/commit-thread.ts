import { SqliteThread } from '../../sqlite/thread.ts';
import { startTsWorker } from '../../util/ts-worker.ts';
import type { CommitCall, CommitWorkerData, WireOutcome } from './commit-wire.ts';
import { QueueFullError } from './errors.ts';
import type { EnqueueOutcome, SealedCapture } from './types.ts';

/**
 * Commits batches of sealed captures on a worker thread with its own connection, so that the
 * fsync of a commit (milliseconds) does not stop the main thread: the hooks that connect meanwhile
 * are accepted and read, and join the next batch. With the commit on the main thread, Node accepts
 * about one connection per turn of the event loop and each turn waits for one fsync, so every
 * capture would pay its own fsync (measured in writer.test.ts).
 *
 * The thread is not waited for: a batch sent while it opens waits for it, and an opening that
 * fails fails the batches.
 */
export class CommitThread {
  readonly #thread: SqliteThread<CommitCall>;
  readonly #maxLength: number;

  constructor(path: string, maxLength: number) {
    this.#maxLength = maxLength;
    const worker = startTsWorker(new URL('./commit-worker.ts', import.meta.url), { path, maxLength } satisfies CommitWorkerData);
    this.#thread = new SqliteThread<CommitCall>(worker, { thread: 'the queue commit thread', closed: 'the queue writer is closed' });
  }

  /** Commits one batch in one transaction, as AgentStore.enqueueSealed does on the main thread. */
  async enqueue(captures: readonly SealedCapture[], now: number): Promise<EnqueueOutcome[]> {
    const outcomes = (await this.#thread.call({ now, captures })) as readonly WireOutcome[];
    return outcomes.map((o) => (o.ok ? o : { ok: false, error: new QueueFullError(this.#maxLength) }));
  }

  /** Lets the thread finish the batch it has, close its connection and stop. */
  close(): Promise<void> {
    return this.#thread.close();
  }
}
