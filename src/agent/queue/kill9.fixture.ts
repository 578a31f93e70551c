// Child process of durability.test.ts (not a test itself): queues captures as fast as it can and
// prints each id after its commit, until it is killed. Arguments: queue file, key file, "thread"
// or "main" (where the writer commits), number of concurrent producers.
import { Secret } from '../../core/secret.ts';
import { Keyring } from '../../crypto/keyring.ts';
import { openAgentStore, QueueWriter } from './index.ts';

const [path, keyFile, mode = 'thread', producers = '4'] = process.argv.slice(2);
if (path === undefined || keyFile === undefined) throw new Error('usage: kill9.fixture.ts QUEUE_FILE KEY_FILE [thread|main] [PRODUCERS]');

const store = await openAgentStore(path, { keyring: await Keyring.load(keyFile) });
const writer = new QueueWriter(store, { thread: mode === 'thread' });

async function produce(producer: number): Promise<never> {
  for (let n = 0; ; n++) {
    const secret = Secret.fromString(`Pässwörd-${producer}-${n}`);
    const item = await writer.add({ source: 'corp', account: `user${producer}`, changedAt: Date.now(), capturedAt: Date.now(), secret });
    secret.dispose();
    // Synchronous on a pipe (Linux): once written, the parent can read it even after a SIGKILL.
    process.stdout.write(`${item.id}\n`);
  }
}

await Promise.all(Array.from({ length: Number(producers) }, (_, i) => produce(i)));
