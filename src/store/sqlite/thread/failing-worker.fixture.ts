// A store thread that opens, then fails at its first call the way a fault of ours would: an
// exception nothing catches. For store-thread.test.ts only.
import { parentPort } from 'node:worker_threads';
import type { ThreadReply } from '../../../sqlite/wire.ts';

const port = parentPort;
if (port === null) throw new Error('failing-worker.fixture.ts runs as a worker thread only');
port.postMessage({ kind: 'ready' } satisfies ThreadReply);
port.on('message', () => {
  throw new Error('a fault in the store thread');
});
