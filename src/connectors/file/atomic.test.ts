import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { replaceFileAtomically } from './atomic.ts';
import { EVENT } from '../../core/events.ts';

// Issue 17: a target file pwsync could not have written in place, or whose owner it cannot keep,
// was replaced through rename by whoever ran pwsync, and became theirs. The writer keeps owner,
// group and mode, or fails with a final error and leaves the file as it was.

const NOBODY = 65534;
const FIXTURE = fileURLToPath(new URL('./atomic-owner.fixture.ts', import.meta.url));
const ORIGINAL = 'id,password\nu1,old\n';

interface Outcome {
  readonly ok: boolean;
  readonly code?: string;
  readonly retryable?: boolean;
  readonly message?: string;
  readonly event?: number;
  readonly tested?: { readonly ok: boolean; readonly detail: string };
}

/** Runs the atomic writer on `file` as nobody (a child process through setpriv). */
function writeAsNobody(file: string, mode: 'atomic' | 'connector' = 'atomic'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, '--import', 'tsx', FIXTURE, file, mode], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`fixture exited ${String(code)}: ${err}`));
      else resolve(JSON.parse(out) as Outcome);
    });
  });
}

// The tests run as root (they make files of other owners and drop to nobody for the others).
describe('the atomic writer keeps owner, group and mode, or fails and leaves the file as it was', () => {
  let dir = '';
  let seq = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-atomic-'));
    // A directory everyone may write: rename would succeed for anyone, which is the mistake.
    await chmod(dir, 0o777);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function file(uid: number, gid: number, mode: number): Promise<string> {
    const path = join(dir, `f${++seq}.csv`);
    await writeFile(path, ORIGINAL);
    await chown(path, uid, gid);
    await chmod(path, mode);
    return path;
  }

  async function assertUntouched(path: string, uid: number, gid: number, mode: number): Promise<void> {
    const st = await stat(path);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [uid, gid, mode]);
    assert.equal(await readFile(path, 'utf8'), ORIGINAL);
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.pwsync-tmp')), []);
  }

  void test('as root: a file of another owner keeps its owner, group and mode', async () => {
    const path = await file(NOBODY, NOBODY, 0o640);
    await replaceFileAtomically(path, Buffer.from('new content\n'), await stat(path, { bigint: true }), () => undefined);
    const st = await stat(path);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [NOBODY, NOBODY, 0o640]);
    assert.equal(await readFile(path, 'utf8'), 'new content\n');
  });

  void test('as root: a read-only file (root may write it in place) is written and stays read-only', async () => {
    const path = await file(0, 0, 0o444);
    await replaceFileAtomically(path, Buffer.from('new content\n'), await stat(path, { bigint: true }), () => undefined);
    const st = await stat(path);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 0, 0o444]);
  });

  void test('not root: a root-owned file (even one anyone may write) fails, final, and is left as it was', async () => {
    const path = await file(0, 0, 0o666);
    const r = await writeAsNobody(path);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ERR_ACCESS_DENIED', r.message);
    assert.equal(r.retryable, false);
    assert.match(r.message ?? '', /owner/);
    await assertUntouched(path, 0, 0, 0o666);
  });

  void test('not root: its own read-only file fails, final, and is left as it was', async () => {
    const path = await file(NOBODY, NOBODY, 0o444);
    const r = await writeAsNobody(path);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ERR_ACCESS_DENIED', r.message);
    assert.match(r.message ?? '', /read-only|write permission/);
    await assertUntouched(path, NOBODY, NOBODY, 0o444);
  });

  void test('not root: its own file in a group it is not in fails, final, and is left as it was', async () => {
    const path = await file(NOBODY, 0, 0o660);
    const r = await writeAsNobody(path);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ERR_ACCESS_DENIED', r.message);
    assert.match(r.message ?? '', /group/);
    await assertUntouched(path, NOBODY, 0, 0o660);
  });

  void test('not root: its own writable file is replaced, owner, group and mode kept', async () => {
    const path = await file(NOBODY, NOBODY, 0o640);
    const r = await writeAsNobody(path);
    assert.equal(r.ok, true, r.message);
    const st = await stat(path);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [NOBODY, NOBODY, 0o640]);
    assert.equal(await readFile(path, 'utf8'), 'new content\n');
  });

  void test('not root, through the file connector: testConnection says why, and the job fails for good (7014) with the file left as it was', async () => {
    const path = await file(0, 0, 0o666);
    const r = await writeAsNobody(path, 'connector');
    assert.ok(r.tested);
    assert.equal(r.tested.ok, false);
    assert.match(r.tested.detail, /owned by uid 0/);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ERR_ACCESS_DENIED', r.message);
    assert.equal(r.retryable, false);
    assert.equal(r.event, EVENT.ACCESS_DENIED);
    await assertUntouched(path, 0, 0, 0o666);
  });
});
