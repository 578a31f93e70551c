import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { openAgentStore } from './index.ts';
import { withDir } from './test-support.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./kill9.fixture.ts', import.meta.url));

/** Runs the fixture until it has printed `count` ids, kills it with SIGKILL, answers the ids printed. */
async function runAndKill(args: readonly string[], count: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the fixture printed too little in time: ${err}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.split('\n').length > count) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`the fixture stopped before it was killed: ${err}`));
    });
  });
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL', `killed, not exited (${String(code)})`);
  // The last line may be cut short by the kill: only complete lines count as printed.
  return out.split('\n').slice(0, -1);
}

void describe('agent queue durability', () => {
  for (const mode of ['thread', 'main'] as const) {
    void test(`kill -9 mid-stream (commits on the ${mode === 'thread' ? 'worker' : 'main'} thread): every id printed after its commit is there, in order`, () =>
      withDir(async ({ path, keyFile, keyring }) => {
        const printed = await runAndKill([path, keyFile, mode, '4'], 300);
        assert.ok(printed.length >= 300);
        const store = await openAgentStore(path, { keyring });
        try {
          const queue = await store.peek(1_000_000);
          const position = new Map(queue.map((c, i) => [c.id, i]));
          const missing = printed.filter((id) => !position.has(id));
          assert.deepEqual(missing, [], 'acknowledged captures survive');
          const order = printed.map((id) => position.get(id) ?? -1);
          assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in the order they were acknowledged');
          // Committed but not yet printed when killed: there too, never half-written.
          assert.ok(queue.length >= printed.length);
          const last = queue.at(-1);
          assert.ok(last);
          const secret = await store.openSecret(last);
          assert.match(secret.useSync((b) => b.toString('utf8')), /^Pässwörd-\d-\d+$/u);
          secret.dispose();
        } finally {
          await store.close();
        }
      }));
  }
});
