// The commit thread's entry (see commit-thread.ts): its own connection to the queue file, one
// transaction per batch. Only sealed secrets cross the thread boundary.
import { workerData } from 'node:worker_threads';
import { Sqlite } from '../../sqlite/db.ts';
import { serveThread } from '../../sqlite/thread-worker.ts';
import { revivedSecret } from '../../sqlite/wire.ts';
import { enqueueSealed } from './captures.ts';
import type { CommitCall, CommitWorkerData, WireOutcome } from './commit-wire.ts';
import { openAgentDatabase } from './open.ts';

const { path, maxLength } = workerData as CommitWorkerData;

await serveThread<CommitCall>('the commit thread', () => {
  const sql = new Sqlite(openAgentDatabase(path, Date.now()));
  return {
    answer: ({ now, captures }): WireOutcome[] => {
      const revived = captures.map((c) => ({ ...c, sealed: revivedSecret(c.sealed) }));
      return enqueueSealed({ sql, now: () => now, wiped: () => undefined, maxLength }, revived).map((o): WireOutcome => (o.ok ? o : { ok: false }));
    },
    close: () => sql.close(),
  };
});
