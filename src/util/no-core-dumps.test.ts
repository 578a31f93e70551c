/*
 * preventCoreDumps in processes of their own, read from outside through /proc as the kernel shows
 * them. Whether a process is dumpable shows in who owns its /proc/PID entries: its own user while
 * it is dumpable, root once it is not. That is visible only for a process that does not run as root,
 * so the checks run the process as nobody (65534), started by prlimit with core dumps allowed
 * (unlimited), so that a limit of 0 afterwards can only come from the code under test.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NO_DUMP_ADDON, type CoreDumpProtection } from './no-core-dumps.ts';
import { makeRootOnlyDir, removeRootOnlyDir } from '../../test/support/root-only-dir.ts';

const FIXTURE = fileURLToPath(new URL('./no-core-dumps.fixture.ts', import.meta.url));
const NOBODY = 65534;

interface Running {
  readonly pid: number;
  readonly result: CoreDumpProtection | null;
  /** Owner of /proc/PID/status: the process's user while it is dumpable, root once it is not. */
  procOwner(): Promise<number>;
  /** "Max core file size", soft/hard. */
  coreLimit(): Promise<string>;
  end(): Promise<void>;
}

/** The fixture as `user` (root or nobody), its core limit first raised to unlimited. */
async function start(user: 'root' | 'nobody', args: readonly string[]): Promise<Running> {
  const drop = user === 'nobody' ? ['setpriv', `--reuid=${String(NOBODY)}`, `--regid=${String(NOBODY)}`, '--clear-groups', '--'] : [];
  const child: ChildProcessWithoutNullStreams = spawn('prlimit', ['--core=unlimited:unlimited', '--', ...drop, process.execPath, '--import', 'tsx', FIXTURE, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // The checkout's tsx, found from the fixture's directory; its cache in a directory nobody can write.
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    env: { ...process.env, TMPDIR: '/tmp' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`the fixture exited (${String(code)}): ${err}`)));
  });
  const pid = child.pid;
  assert.ok(pid !== undefined);
  // prlimit and setpriv exec: the pid is the node process's own.
  return {
    pid,
    result: JSON.parse(line) as CoreDumpProtection | null,
    procOwner: async () => (await stat(`/proc/${String(pid)}/status`)).uid,
    coreLimit: async () => {
      const limits = await readFile(`/proc/${String(pid)}/limits`, 'utf8');
      const row = limits.split('\n').find((l) => l.startsWith('Max core file size')) ?? '';
      return row.slice('Max core file size'.length).trim().split(/\s+/).slice(0, 2).join('/');
    },
    end: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

void describe('preventCoreDumps, seen from outside the process', () => {
  assert.equal(process.getuid?.(), 0, 'processes are started as nobody: run as root');
  let dir = '';
  before(async () => {
    await assert.doesNotReject(stat(NO_DUMP_ADDON), 'the helper is built by make -C native (npm test builds it)');
    dir = await makeRootOnlyDir('no-core-dumps-');
  });
  after(() => removeRootOnlyDir(dir));

  void test('unprotected (the control): dumpable, /proc/PID owned by its user, core files allowed', async () => {
    const p = await start('nobody', ['', 'unprotected']);
    try {
      assert.equal(await p.procOwner(), NOBODY);
      assert.equal(await p.coreLimit(), 'unlimited/unlimited');
    } finally {
      await p.end();
    }
  });

  void test('with the native helper: core limit 0/0 and not dumpable (/proc/PID owned by root)', async () => {
    const p = await start('nobody', []);
    try {
      // JSON leaves out what is undefined: the helper was used, prlimit not needed.
      assert.deepEqual(p.result, { method: 'prctl', coreLimit: '0/0', dumpable: false });
      assert.equal(await p.coreLimit(), '0/0');
      assert.equal(await p.procOwner(), 0);
    } finally {
      await p.end();
    }
  });

  void test('without the helper (not built): prlimit sets the limit to 0/0 and the result says why the helper was not used', async () => {
    const p = await start('nobody', [join(dir, 'missing.node')]);
    try {
      assert.equal(p.result?.method, 'prlimit');
      assert.match(p.result.helperUnused ?? '', /not built/);
      assert.equal(p.result.dumpable, undefined);
      assert.equal(await p.coreLimit(), '0/0');
    } finally {
      await p.end();
    }
  });

  void test('as root, a helper others can write is not loaded: prlimit instead, and the reason names the file', async () => {
    const writable = join(dir, 'writable.node');
    await copyFile(NO_DUMP_ADDON, writable);
    await chmod(writable, 0o775);
    const p = await start('root', [writable]);
    try {
      assert.equal(p.result?.method, 'prlimit');
      assert.ok((p.result.helperUnused ?? '').includes(writable) && (p.result.helperUnused ?? '').includes('writable by its group'), p.result.helperUnused);
      assert.equal(await p.coreLimit(), '0/0');
    } finally {
      await p.end();
    }
    await chmod(writable, 0o755);
    const q = await start('root', [writable]);
    try {
      assert.equal(q.result?.method, 'prctl');
      assert.equal(await q.coreLimit(), '0/0');
    } finally {
      await q.end();
    }
  });
});
