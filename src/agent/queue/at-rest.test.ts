import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { AgentStore, EnqueueOutcome, QueuedCapture } from './index.ts';
import { capture, withStore } from './test-support.ts';

const PASSWORDS = ['Pässwörd-Ω-12345', 'Zebra!Quartz#7781-distinctive', '密码-Пароль-كلمة'];

/** The database, WAL and shared-memory files as they are on disk now (missing ones are empty). */
function onDisk(path: string): { file: string; bytes: Buffer }[] {
  return [path, `${path}-wal`, `${path}-shm`].map((file) => ({ file, bytes: existsSync(file) ? readFileSync(file) : Buffer.alloc(0) }));
}

function filesHolding(path: string, needle: Buffer): string[] {
  return onDisk(path)
    .filter(({ bytes }) => bytes.includes(needle))
    .map(({ file }) => file);
}

/** A sealed blob as stored, read by a second connection. */
function sealedBlob(path: string, id: string): Buffer {
  const db = new Database(path, { readonly: true });
  try {
    const blob = db.prepare<[string], Buffer>('SELECT secret FROM captures WHERE id = ?').pluck().get(id);
    assert.ok(Buffer.isBuffer(blob) && blob.length > 16);
    return blob;
  } finally {
    db.close();
  }
}

function items(outcomes: readonly EnqueueOutcome[]): QueuedCapture[] {
  return outcomes.map((o) => {
    assert.ok(o.ok);
    return o.item;
  });
}

/** Waits up to two seconds for the scheduled scrub to finish; answers whether it did. */
async function scrubbed(store: AgentStore): Promise<boolean> {
  for (let i = 0; i < 200 && store.scrubPending; i++) await sleep(10);
  return !store.scrubPending;
}

async function enqueueAll(store: AgentStore): Promise<QueuedCapture[]> {
  const list = PASSWORDS.map((pw, i) => capture(`user${i}`, pw));
  const queued = items(await store.enqueue(list));
  for (const c of list) c.secret.dispose();
  return queued;
}

void describe('agent queue at rest', () => {
  void test('no password is written in clear, in UTF-8 or UTF-16, to the database, WAL or shm file', () =>
    withStore(async (store, { path }) => {
      await enqueueAll(store);
      assert.ok(readFileSync(`${path}-wal`).length > 0, 'the commit is in the WAL');
      for (const pw of PASSWORDS) {
        for (const encoding of ['utf8', 'utf16le'] as const) {
          assert.deepEqual(filesHolding(path, Buffer.from(pw, encoding)), [], `${encoding} bytes of a password`);
        }
      }
      assert.equal(store.checkpoint(), true);
      for (const pw of PASSWORDS) assert.deepEqual(filesHolding(path, Buffer.from(pw, 'utf8')), []);
    }));

  void test('after remove and the scrub, the sealed blob is on no file either; the others stay', () =>
    withStore(async (store, { path }) => {
      const [gone, kept, alsoGone] = await enqueueAll(store);
      assert.ok(gone && kept && alsoGone);
      const goneBlob = sealedBlob(path, gone.id);
      const keptBlob = sealedBlob(path, kept.id);
      const alsoGoneBlob = sealedBlob(path, alsoGone.id);
      // Into the database file first, so that the removal has to overwrite it there.
      assert.equal(store.checkpoint(), true);
      assert.deepEqual(filesHolding(path, goneBlob), [path], 'the search finds a stored blob');

      await store.remove([gone.id]);
      await store.setScope(alsoGone.id, 'out');
      assert.ok(store.scrubPending);
      assert.ok(filesHolding(path, keptBlob).length > 0, 'the one still queued is there');
      assert.equal(store.checkpoint(), true);
      assert.equal(readFileSync(`${path}-wal`).length, 0, 'the WAL is truncated');
      assert.deepEqual(filesHolding(path, goneBlob), []);
      assert.deepEqual(filesHolding(path, alsoGoneBlob), []);
      assert.deepEqual(filesHolding(path, keptBlob), [path]);
    }));

  void test('the scrub runs by itself shortly after a removal, also after expire', () =>
    withStore(
      async (store, { path }) => {
        const queued = await enqueueAll(store);
        const blobs = queued.map((c) => sealedBlob(path, c.id));
        const [first] = queued;
        assert.ok(first);
        await store.remove([first.id]);
        await store.expire(Number.MAX_SAFE_INTEGER);
        assert.equal((await store.stats()).length, 0);
        assert.equal(await scrubbed(store), true);
        for (const blob of blobs) assert.deepEqual(filesHolding(path, blob), []);
      },
      { scrubDelayMs: 20 },
    ));

  void test('a reader in another connection holds the scrub back; it is retried until it succeeds', () =>
    withStore(
      async (store, { path }) => {
        const [item] = await enqueueAll(store);
        assert.ok(item);
        const blob = sealedBlob(path, item.id);
        const reader = new Database(path, { readonly: true });
        try {
          // An open read transaction pins the WAL: a TRUNCATE checkpoint cannot complete under it.
          reader.prepare('BEGIN').run();
          reader.prepare('SELECT count(*) FROM captures').get();
          await store.remove([item.id]);
          await sleep(100);
          assert.equal(store.scrubPending, true, 'still trying');
          reader.prepare('COMMIT').run();
        } finally {
          reader.close();
        }
        assert.equal(await scrubbed(store), true);
        assert.deepEqual(filesHolding(path, blob), []);
      },
      { scrubDelayMs: 20 },
    ));
});
