import type { Worker } from 'node:worker_threads';
import { StoreError } from '../../core/errors.ts';
import { fromWireError } from '../../store/sqlite/thread/wire.ts';
import { startTsWorker } from '../../util/ts-worker.ts';
import type { CommitReply, CommitRequest, CommitWorkerData } from './commit-wire.ts';
import { QueueFullError } from './errors.ts';
import type { EnqueueOutcome, SealedCapture } from './types.ts';

/**
 * Commits batches of sealed captures on a worker thread with its own connection, so that the
 * fsync of a commit (milliseconds) does not stop the main thread: the hooks that connect meanwhile
 * are accepted and read, and join the next batch. With the commit on the main thread, Node accepts
 * about one connection per turn of the event loop and each turn waits for one fsync, so every
 * capture would pay its own fsync (measured in writer.test.ts).
 */
export class CommitThread {
  readonly #worker: Worker;
  readonly #maxLength: number;
  readonly #pending = new Map<number, { readonly resolve: (o: EnqueueOutcome[]) => void; readonly reject: (e: Error) => void }>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  #failure: Error | undefined;

  constructor(path: string, maxLength: number) {
    this.#maxLength = maxLength;
    const data: CommitWorkerData = { path, maxLength };
    this.#worker = startTsWorker(new URL('./commit-worker.ts', import.meta.url), data);
    this.#worker.unref();
    this.#worker.on('message', (reply: CommitReply) => this.#receive(reply));
    this.#worker.on('error', (e) => this.#fail(new StoreError('the queue commit thread failed', { cause: e })));
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', () => {
        this.#fail(new StoreError('the queue commit thread has stopped'));
        resolve();
      });
    });
  }

  /** Commits one batch in one transaction, as AgentStore.enqueueSealed does on the main thread. */
  enqueue(captures: readonly SealedCapture[], now: number): Promise<EnqueueOutcome[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      // Referenced while a commit is out, so that the process waits for its answer.
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ kind: 'enqueue', id, now, captures } satisfies CommitRequest);
    });
  }

  /** Lets the thread finish the batch it has, close its connection and stop. */
  async close(): Promise<void> {
    if (this.#failure === undefined) this.#worker.postMessage({ kind: 'close' } satisfies CommitRequest);
    this.#worker.ref();
    await this.#exited;
  }

  #receive(reply: CommitReply): void {
    switch (reply.kind) {
      case 'ready':
        return;
      case 'fatal':
        this.#fail(fromWireError(reply.error));
        return;
      case 'done':
        this.#settle(reply.id, (p) => p.resolve(reply.outcomes.map((o) => (o.ok ? o : { ok: false, error: new QueueFullError(this.#maxLength) }))));
        return;
      case 'failed':
        this.#settle(reply.id, (p) => p.reject(fromWireError(reply.error)));
        return;
    }
  }

  #settle(id: number, fn: (p: { resolve: (o: EnqueueOutcome[]) => void; reject: (e: Error) => void }) => void): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    fn(p);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
