import { parentPort } from 'node:worker_threads';
import { toWireError, type ThreadReply, type ThreadRequest } from './wire.ts';

/** What a SQLite thread serves (the server's store, the agent's commits). */
export interface ThreadService<C> {
  /** The answer to one call, or its promise; what it throws or rejects with crosses as a WireError. */
  answer(call: C): unknown;
  /** Closes the database; the thread ends once it has. */
  close(): unknown;
}

/**
 * The thread's side of {@link SqliteThread} (thread.ts), for a worker's entry module: opens the
 * service, says it is ready (or why not, and ends), then starts each call as it arrives, so calls
 * run in the order they were made, each one transaction as on the main thread. A close starts after
 * the calls sent before it, which settle first.
 */
export async function serveThread<C>(thread: string, open: () => ThreadService<C> | Promise<ThreadService<C>>): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error(`${thread} runs as a worker thread only`);
  let service: ThreadService<C>;
  try {
    service = await open();
  } catch (e) {
    port.postMessage({ kind: 'fatal', error: toWireError(e, thread) } satisfies ThreadReply);
    port.close();
    return;
  }
  port.postMessage({ kind: 'ready' } satisfies ThreadReply);
  port.on('message', (request: ThreadRequest<C>) => {
    if (request.kind === 'close') {
      void started(() => service.close())
        .catch(() => undefined)
        .finally(() => port.close());
      return;
    }
    const { id } = request;
    started(() => service.answer(request.call)).then(
      (value) => port.postMessage({ kind: 'done', id, value } satisfies ThreadReply),
      (e: unknown) => port.postMessage({ kind: 'failed', id, error: toWireError(e, thread) } satisfies ThreadReply),
    );
  });
}

/** `fn` run now, its result or its throw as a promise. */
function started(fn: () => unknown): Promise<unknown> {
  return new Promise((resolve) => resolve(fn()));
}
