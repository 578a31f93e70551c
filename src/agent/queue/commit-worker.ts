// The commit thread's entry (see commit-thread.ts): its own connection to the queue file, one
// transaction per batch. Only sealed secrets cross the thread boundary.
import { parentPort, workerData } from 'node:worker_threads';
import { Sqlite } from '../../store/sqlite/db.ts';
import { toWireError, type WireError } from '../../store/sqlite/thread/wire.ts';
import { enqueueSealed } from './captures.ts';
import { openAgentDatabase } from './open.ts';
import type { CommitReply, CommitRequest, CommitWorkerData, WireOutcome } from './commit-wire.ts';
import type { SealedCapture } from './types.ts';

const port = parentPort;
if (port === null) throw new Error('commit-worker.ts runs as a worker thread only');
const { path, maxLength } = workerData as CommitWorkerData;

const toWire = (e: unknown): WireError => toWireError(e, 'the commit thread');

let sql: Sqlite | undefined;
try {
  sql = new Sqlite(openAgentDatabase(path, Date.now()));
  port.postMessage({ kind: 'ready' } satisfies CommitReply);
} catch (e) {
  port.postMessage({ kind: 'fatal', error: toWire(e) } satisfies CommitReply);
}

port.on('message', (request: CommitRequest) => {
  if (request.kind === 'close') {
    sql?.close();
    port.close();
    return;
  }
  let reply: CommitReply;
  try {
    if (sql === undefined) throw new Error('the queue file could not be opened');
    const conn = sql;
    const now = request.now;
    // Structured cloning turns each Buffer into a Uint8Array; SQLite binds Buffers only.
    const captures: SealedCapture[] = request.captures.map((c) => ({
      ...c,
      sealed: { keyId: c.sealed.keyId, blob: Buffer.from(c.sealed.blob.buffer, c.sealed.blob.byteOffset, c.sealed.blob.byteLength) },
    }));
    const outcomes = enqueueSealed({ sql: conn, now: () => now, wiped: () => undefined, maxLength }, captures);
    reply = { kind: 'done', id: request.id, outcomes: outcomes.map((o): WireOutcome => (o.ok ? o : { ok: false })) };
  } catch (e) {
    reply = { kind: 'failed', id: request.id, error: toWire(e) };
  }
  port.postMessage(reply);
});
