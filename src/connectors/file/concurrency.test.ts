import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { isPwsyncError } from '../../core/errors.ts';
import { dialectByte } from './csv.ts';
import { FileConnector } from './index.ts';
import { csvConnector, setTo, strays, tempDir, verifies, CHEAP_HASH, type TempDir } from '../../../test/support/connectors/file.ts';
import { hashSpecSchema } from '../../crypto/hash/spec.ts';

let tmp: TempDir;
before(async () => (tmp = await tempDir()));
after(async () => tmp.remove());

/** A connector that gives up on a held lock after a few short waits (a lock that is 5 s old is stale). */
function quickLockConnector(path: string, retries: number, maxWaitMs: number): FileConnector {
  return new FileConnector({
    system: 'csv',
    path,
    dialect: { delimiter: dialectByte(',', 'utf8', 'delimiter'), quote: dialectByte('"', 'utf8', 'quote'), encoding: 'utf8' },
    columns: { anchor: 'id', password: 'password' },
    hash: hashSpecSchema.parse(CHEAP_HASH),
    lockTimings: { staleMs: 5000, retries, minWaitMs: 5, maxWaitMs },
  });
}

function csvOf(anchors: readonly string[]): string {
  return ['id,login,password', ...anchors.map((a) => `${a},login-${a},`)].join('\n') + '\n';
}

const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

void describe('concurrent writers', () => {
  void test('50 concurrent setPassword calls in one process: every row verifies with its own password', async () => {
    const anchors = range('u', 50);
    const { connector, path } = await csvConnector(tmp.dir, 'fifty.csv', csvOf(anchors));
    // Readers run alongside and must never see a half-written file.
    let reading = true;
    const reader = (async () => {
      let reads = 0;
      while (reading) {
        assert.equal(await verifies(connector, 'u0', 'nope'), false);
        reads++;
      }
      return reads;
    })();
    await Promise.all(anchors.map((a) => setTo(connector, a, `pw-${a}`)));
    reading = false;
    assert.ok((await reader) > 0);
    for (const a of anchors) assert.equal(await verifies(connector, a, `pw-${a}`), true, a);
    // Every other byte as it was: the logins are all still there, in order.
    const text = await readFile(path, 'utf8');
    assert.deepEqual([...text.matchAll(/^(u\d+),login-\1,/gm)].map((m) => m[1]), anchors);
    assert.deepEqual(await strays(tmp.dir, ['fifty.csv']), []);
  });

  void test('two processes writing different rows at once lose no update', async () => {
    const first = range('a', 25);
    const second = range('b', 25);
    const interleaved = first.flatMap((a, i) => [a, second[i] ?? '']);
    const { connector } = await csvConnector(tmp.dir, 'two.csv', csvOf(interleaved));
    const script = fileURLToPath(new URL('../../../test/support/connectors/file-writer.ts', import.meta.url));
    const children = [
      ['one', first],
      ['two', second],
    ].map(([prefix, anchors]) => spawn(process.execPath, ['--import', 'tsx', script, tmp.dir, 'two.csv', String(prefix), ...(anchors as string[])], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const said = children.map((child) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<void>((resolve, reject) => {
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}: ${err}`))));
      });
      const ready = new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (out.includes('ready')) {
            clearInterval(poll);
            resolve();
          }
        }, 5);
      });
      return { ready, exited, out: () => out };
    });
    await Promise.all(said.map((s) => s.ready));
    for (const child of children) child.stdin.end('go\n');
    await Promise.all(said.map((s) => s.exited));
    for (const s of said) assert.match(s.out(), /done/);
    for (const a of first) assert.equal(await verifies(connector, a, `one-${a}`), true, a);
    for (const b of second) assert.equal(await verifies(connector, b, `two-${b}`), true, b);
    assert.deepEqual(await strays(tmp.dir, ['fifty.csv', 'two.csv']), []);
  });

  void test('sets that wait for a write in flight are written together: a row gone meanwhile fails alone, the later of two sets of one row is kept, every other byte stays', async () => {
    const anchors = range('g', 30);
    const { connector, path } = await csvConnector(tmp.dir, 'group.csv', csvOf(anchors));
    // Hold the cross-process lock, so that the first write waits and every other set queues behind it.
    await mkdir(`${path}.lock`);
    const sets = new Map<string, Promise<void>>();
    for (const a of anchors) sets.set(a, setTo(connector, a, `pw-${a}`));
    await sleep(100);
    const later = setTo(connector, 'g3', 'pw-g3-later');
    // While they wait, the holder of the lock removes the account of g7 from the file.
    await writeFile(`${path}.other`, csvOf(anchors.filter((a) => a !== 'g7')));
    await rename(`${path}.other`, path);
    await sleep(100);
    await rm(`${path}.lock`, { recursive: true });

    const outcomes = await Promise.allSettled([...sets.values(), later]);
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [[anchors[i] ?? 'later', isPwsyncError(o.reason) ? o.reason.code : String(o.reason)]] : []));
    assert.deepEqual(failed, [['g7', 'ERR_ACCOUNT_NOT_FOUND']]);
    for (const a of anchors) if (a !== 'g7' && a !== 'g3') assert.equal(await verifies(connector, a, `pw-${a}`), true, a);
    assert.equal(await verifies(connector, 'g3', 'pw-g3-later'), true);
    // Byte for byte the file as it was, but for the password fields (quoted: argon2 hashes hold commas).
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.equal(lines.shift(), 'id,login,password');
    assert.equal(lines.pop(), '');
    const rows = lines.map((line) => /^(g\d+),login-\1,("\$argon2id\$[^"\n]+")$/.exec(line)?.[1]);
    assert.deepEqual(rows, anchors.filter((a) => a !== 'g7'));
    assert.deepEqual(await strays(tmp.dir, ['fifty.csv', 'two.csv', 'group.csv']), []);
  });

  void test('a batch that cannot be written fails each of its callers, leaves the file as it was, and later sets go through', async () => {
    const anchors = range('f', 10);
    const { path } = await csvConnector(tmp.dir, 'fails.csv', csvOf(anchors));
    const connector = quickLockConnector(path, 2, 10);
    await mkdir(`${path}.lock`);
    const original = await readFile(path);
    const outcomes = await Promise.allSettled(anchors.map((a) => setTo(connector, a, `pw-${a}`)));
    for (const o of outcomes) assert.ok(o.status === 'rejected' && isPwsyncError(o.reason) && o.reason.code === 'ERR_TRANSIENT' && o.reason.retryable);
    assert.ok((await readFile(path)).equals(original));
    await rm(`${path}.lock`, { recursive: true });
    await Promise.all(anchors.map((a) => setTo(connector, a, `pw-${a}`)));
    for (const a of anchors) assert.equal(await verifies(connector, a, `pw-${a}`), true, a);
  });

  void test('a lock held elsewhere for too long is a transient error; a stale one is taken over', async () => {
    const { path } = await csvConnector(tmp.dir, 'locked.csv', csvOf(['u1']));
    const connector = quickLockConnector(path, 3, 20);
    await mkdir(`${path}.lock`);
    const original = await readFile(path);
    await assert.rejects(setTo(connector, 'u1', 'pw'), (err: unknown) => isPwsyncError(err) && err.code === 'ERR_TRANSIENT' && err.retryable);
    assert.ok((await readFile(path)).equals(original));
    // The lock of a process that died long ago.
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    await setTo(connector, 'u1', 'pw');
    assert.equal(await verifies(connector, 'u1', 'pw'), true);
  });
});
