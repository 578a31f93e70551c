import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acquireProcessLock } from './process-lock.ts';

const LOCK_MODULE = fileURLToPath(new URL('./process-lock.ts', import.meta.url));

test('a second holder is refused with the given message; release lets the next one in', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-lock-'));
  try {
    const path = join(dir, 'x.lock');
    const first = acquireProcessLock(path, 'busy: someone runs');
    assert.throws(() => acquireProcessLock(path, 'busy: someone runs'), { code: 'ERR_INVALID_INPUT', message: 'busy: someone runs' });
    first.release();
    first.release();
    acquireProcessLock(path, 'busy').release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the kernel releases the lock of a process killed with SIGKILL: a restart is never refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-lock-'));
  try {
    const path = join(dir, 'x.lock');
    const script = `const { acquireProcessLock } = await import(${JSON.stringify(LOCK_MODULE)}); acquireProcessLock(${JSON.stringify(path)}, 'busy'); console.log('held'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        if (b.toString().includes('held')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`child exited ${String(code)}`)));
    });
    assert.throws(() => acquireProcessLock(path, 'held by the child'), /held by the child/);
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    acquireProcessLock(path, 'busy').release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
