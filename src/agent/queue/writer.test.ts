import assert from 'node:assert/strict';
import { once } from 'node:events';
import { statfsSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { Secret } from '../../core/secret.ts';
import { QueueFullError, QueueWriter, type QueuedCapture } from './index.ts';
import { capture, withStore } from './test-support.ts';
import { EVENT } from '../../core/events.ts';

/** Whether a second connection sees the capture: it is committed, not only queued in memory. */
function committedIds(path: string): (id: string) => boolean {
  const db = new Database(path, { readonly: true });
  const find = db.prepare<[string]>('SELECT 1 FROM captures WHERE id = ?');
  return (id) => find.get(id) !== undefined;
}

const TMPFS_MAGIC = 0x01021994;

function onTmpfs(path: string): boolean {
  return statfsSync(path).type === TMPFS_MAGIC;
}

/** One hook: connect, send the account, answer with what the agent said. */
function hook(socketPath: string, account: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const client = createConnection(socketPath, () => client.write(`${account}\n`));
    let text = '';
    client.on('data', (d) => (text += d.toString('utf8')));
    client.on('end', () => resolve(text.trim()));
    client.on('error', reject);
  });
}

void describe('QueueWriter (group commit)', () => {
  /**
   * Hooks connect, send one capture and wait for the answer, as pam_exec helpers do. Node accepts
   * about one connection per turn of the event loop, so with the commit on the main thread each
   * turn waits for one fsync and batches hardly form; on the commit thread they do.
   */
  for (const thread of [true, false]) {
    void test(`200 hooks over a socket, commit ${thread ? 'on a worker thread: batches form' : 'on the main thread (measured only)'}; each hook is answered after its own commit`, (t) =>
      withStore(async (store, { path, root }) => {
        const writer = new QueueWriter(store, { thread });
        await writer.add(capture('warm-up', 'pw'));
        const seen = committedIds(path);
        const notCommitted: string[] = [];
        const server = createServer((socket: Socket) => {
          socket.once('data', (line) => {
            const account = line.toString('utf8').trim();
            const secret = Secret.fromString(`pw-for-${account}`);
            writer.add({ source: 'corp', account, changedAt: 1, capturedAt: 2, secret }).then(
              (item) => {
                if (!seen(item.id)) notCommitted.push(item.id);
                socket.end(`ok ${item.id}\n`);
              },
              () => socket.end('error\n'),
            );
            secret.dispose();
          });
        });
        const socketPath = join(root, 'hook.sock');
        server.listen(socketPath);
        await once(server, 'listening');
        try {
          const hooks = 200;
          const started = performance.now();
          const answers = await Promise.all(Array.from({ length: hooks }, (_, i) => hook(socketPath, `user${i}`)));
          const seconds = (performance.now() - started) / 1000;
          assert.ok(answers.every((a) => a.startsWith('ok ')), 'every hook was acknowledged');
          assert.deepEqual(notCommitted, [], 'no hook was answered before its commit');
          const commits = writer.stats.commits - 1;
          t.diagnostic(`${hooks} hooks: ${commits} transactions (largest ${writer.stats.largestBatch}) in ${seconds.toFixed(2)} s, ${Math.round(hooks / seconds)} captures/s`);
          // Batches form while a commit waits for the disk, so how large they grow depends on the
          // disk (on tmpfs an fsync costs nothing); that they form at all does not.
          if (thread && !onTmpfs(path)) assert.ok(writer.stats.largestBatch > 1 && commits < hooks, `${hooks} captures took ${commits} transactions`);
          assert.equal((await store.stats()).length, hooks + 1);
        } finally {
          server.close();
          await writer.close();
        }
      }));
  }

  void test('2,000 captures from 50 hooks adding one after another: batches form by themselves (throughput reported)', (t) =>
    withStore(async (store) => {
      const writer = new QueueWriter(store);
      await writer.add(capture('warm-up', 'pw'));
      const hooks = 50;
      const each = 40;
      const started = performance.now();
      const perHook = await Promise.all(
        Array.from({ length: hooks }, async (_, h) => {
          const ids: QueuedCapture[] = [];
          for (let k = 0; k < each; k++) {
            const c = capture(`user${h}`, `pw-${h}-${k}`, { changedAt: k });
            ids.push(await writer.add(c));
            c.secret.dispose();
          }
          return ids;
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const { largestBatch } = writer.stats;
      const commits = writer.stats.commits - 1;
      const captures = writer.stats.captures - 1;
      t.diagnostic(`${captures} captures in ${commits} fsynced transactions (largest ${largestBatch}) in ${seconds.toFixed(2)} s: ${Math.round(captures / seconds)} captures/s`);
      assert.equal(captures, hooks * each);
      assert.ok(commits <= (hooks * each) / 10, `${commits} transactions`);
      // Per account (hook), the queue keeps the order in which the hook's captures were acknowledged.
      const queue = await store.peek(hooks * each + 1);
      for (const ids of perHook) {
        const account = ids[0]?.account;
        assert.deepEqual(queue.filter((c) => c.account === account).map((c) => c.id), ids.map((c) => c.id));
      }
      await writer.close();
    }));

  void test('items submitted in one turn share one transaction', () =>
    withStore(async (store) => {
      const writer = new QueueWriter(store);
      const items = await Promise.all(Array.from({ length: 200 }, (_, i) => writer.add(capture(`u${i}`, `pw-${i}`))));
      assert.equal(writer.stats.commits, 1);
      assert.deepEqual(items.map((c) => c.account), Array.from({ length: 200 }, (_, i) => `u${i}`));
      await writer.close();
    }));

  void test('the secret is sealed when add returns: the caller may dispose it at once', () =>
    withStore(async (store) => {
      const writer = new QueueWriter(store);
      const c = capture('alice', 'Pässwörd-Ω-12345');
      const pending = writer.add(c);
      c.secret.dispose();
      const item = await pending;
      const opened = await store.openSecret(item);
      assert.equal(opened.useSync((b) => b.toString('utf8')), 'Pässwörd-Ω-12345');
      opened.dispose();
      await writer.close();
    }));

  void test('per-item outcomes: the length limit refuses only the captures beyond it, a malformed one fails alone', () =>
    withStore(
      async (store) => {
        const writer = new QueueWriter(store);
        const results = await Promise.allSettled([
          ...Array.from({ length: 7 }, (_, i) => writer.add(capture(`u${i}`, `pw-${i}`))),
          writer.add({ ...capture('bad', 'pw'), capturedAt: -1 }),
        ]);
        assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
        for (const r of results.slice(5, 7)) assert.ok(r.status === 'rejected' && r.reason instanceof QueueFullError);
        const bad = results[7];
        assert.ok(bad?.status === 'rejected');
        assert.equal((bad.reason as { code: string }).code, 'ERR_INVALID_INPUT');
        assert.equal((await store.listEvents({ limit: 10, codes: [EVENT.QUEUE_FULL] })).length, 2);
        await writer.close();
      },
      { maxLength: 5 },
    ));

  void test('close waits for the adds in flight and refuses new ones; a failed batch rejects its adds', () =>
    withStore(async (store) => {
      for (const thread of [true, false]) {
        const writer = new QueueWriter(store, { thread });
        const inFlight = writer.add(capture('a', 'pw-a'));
        await writer.close();
        assert.equal((await inFlight).account, 'a');
        await assert.rejects(writer.add(capture('b', 'pw-b')), { code: 'ERR_STORE' });
      }
      assert.equal((await store.stats()).length, 2);

      const second = new QueueWriter(store, { thread: false });
      const doomed = second.add(capture('c', 'pw-c'));
      await store.close();
      await assert.rejects(doomed, { code: 'ERR_STORE' });
      await second.close();
    }));
});
