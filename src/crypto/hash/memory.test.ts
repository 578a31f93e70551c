import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { scanProcessMemory } from '../../../test/support/memory-scan.ts';
import { HASH_FORMATS } from './index.ts';

const FIXTURE = fileURLToPath(new URL('./memory.fixture.ts', import.meta.url));

/** Hashed by Node's own asynchronous jobs, whose copy of the password lives until the collector frees the job (docs/security.md). */
const NODE_JOBS: readonly string[] = ['scrypt', 'pbkdf2-sha256', 'pbkdf2-sha512', '{PBKDF2-SHA512}'];

/**
 * Each format hashes a password in a process of its own, which is then read whole through
 * /proc/PID/mem: no clear copy of the password is left. The key-derivation functions run on the
 * thread pool, so the lent copy stays alive across an `await`; a small Buffer on V8's heap was then
 * moved by the garbage collector and its old copy left behind (7 formats of 8 before the fix).
 * Node's own pbkdf2 and scrypt jobs keep a copy of their own until the collector frees the finished
 * job, which wipes it: for those the process first makes garbage, as any busy process does.
 */
test('hashing leaves no clear copy of the password in the process, in any format', async () => {
  for (const format of HASH_FORMATS) {
    const password = Buffer.from(`M${randomBytes(18).toString('base64url')}`.slice(0, 24), 'latin1');
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, format, NODE_JOBS.includes(format) ? 'settle' : 'now'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      child.stdin.end(`${password.toString('hex')}\n`);
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`${format}: the fixture exited (${code})`)));
      });
      const { hits, bytes } = await scanProcessMemory(child.pid ?? 0, { password, utf16le: Buffer.from(password.toString('latin1'), 'utf16le'), control: Buffer.from(FIXTURE) });
      assert.ok(bytes > 16 * 1024 * 1024 && hits.some((h) => h.needle === 'control'), `${format}: the scan sees the process`);
      assert.deepEqual(hits.filter((h) => h.needle !== 'control'), [], `${format} leaves the password in memory`);
    } finally {
      child.kill('SIGKILL');
    }
  }
});
