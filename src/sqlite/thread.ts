import type { Worker } from 'node:worker_threads';
import { StoreError } from '../core/errors.ts';
import { startTsWorker } from '../util/ts-worker.ts';
import { fromWireError, unshared, type ThreadReply, type ThreadRequest } from './wire.ts';

export interface SqliteThreadOptions {
  /** Names the thread in errors: "the store thread". */
  readonly thread: string;
  /** What a call after close is refused with: "the store is closed". */
  readonly closed: string;
  /**
   * Called once if the thread stops other than by {@link SqliteThread.close} (a fault in it): every
   * call from then on fails, so the owner should stop rather than limp on.
   */
  readonly onFailure?: ((error: Error) => void) | undefined;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (e: Error) => void;
}

/**
 * Starts a worker thread on `entry` (a module that calls `serveThread`) and resolves with it once
 * its database is open; rejects with what the opening failed with.
 */
export function startSqliteThread(entry: URL, data: unknown, thread: string): Promise<Worker> {
  const worker = startTsWorker(entry, data);
  return new Promise((resolve, reject) => {
    const early = (e: Error): void => reject(new StoreError(`${thread} failed to start: ${e.message}`, { cause: e }));
    worker.once('error', early);
    worker.once('message', (reply: ThreadReply) => {
      worker.off('error', early);
      if (reply.kind === 'ready') {
        resolve(worker);
        return;
      }
      reject(reply.kind === 'fatal' ? fromWireError(reply.error) : new StoreError(`${thread} answered "${reply.kind}" before it was ready`));
      void worker.terminate();
    });
  });
}

/**
 * The owner's side of a thread that runs SQLite (see thread-worker.ts): calls of kind `C` go over
 * in the order they are made and are answered by id. The thread keeps the process alive only while
 * a call is out or a close is under way. Once the thread fails or stops, every pending and later
 * call fails with why; the owner decodes each answer (its Buffers, its errors).
 *
 * A thread may be given before it said it is ready ({@link startSqliteThread} waits for that): an
 * opening that fails then fails the calls instead.
 */
export class SqliteThread<C> {
  readonly #worker: Worker;
  readonly #closed: string;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  /** Why the thread stopped when nobody asked it to. */
  #fault: Error | undefined;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;

  constructor(worker: Worker, options: SqliteThreadOptions) {
    this.#worker = worker;
    this.#closed = options.closed;
    worker.unref();
    worker.on('message', (reply: ThreadReply) => this.#receive(reply));
    worker.on('error', (e) => {
      this.#fault ??= new StoreError(`${options.thread} failed: ${e.message}`, { cause: e });
      this.#fail(this.#fault);
    });
    this.#exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        // Stopping without being asked to is a fault too (a thread's code never exits by itself).
        if (this.#fault === undefined && this.#closing === undefined) this.#fault = new StoreError(`${options.thread} stopped (exit code ${code})`);
        this.#fail(this.#fault ?? new StoreError(options.closed));
        if (this.#fault !== undefined) options.onFailure?.(this.#fault);
        resolve();
      });
    });
  }

  /** Sends one call; resolves with the thread's answer as it crossed. */
  call(call: C): Promise<unknown> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closing !== undefined) return Promise.reject(new StoreError(this.#closed));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      // Referenced while a call is out, so that the process waits for its answer.
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      // unshared: a Buffer sliced from Node's pool would carry the whole pool across.
      this.#worker.postMessage({ kind: 'call', id, call: unshared(call) } satisfies ThreadRequest<C>);
    });
  }

  /** Lets the thread answer the calls it has, close its database and stop. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#failure === undefined) this.#worker.postMessage({ kind: 'close' } satisfies ThreadRequest<C>);
      this.#worker.ref();
      await this.#exited;
    })();
    return this.#closing;
  }

  #receive(reply: ThreadReply): void {
    if (reply.kind === 'fatal') {
      this.#fault ??= fromWireError(reply.error);
      this.#fail(this.#fault);
      return;
    }
    if (reply.kind === 'ready') return;
    const p = this.#pending.get(reply.id);
    if (p === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0 && this.#closing === undefined) this.#worker.unref();
    if (reply.kind === 'done') p.resolve(reply.value);
    else p.reject(fromWireError(reply.error));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
