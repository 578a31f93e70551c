import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway directory for PKI tests; `cleanup` removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-pki-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs the real openssl; resolves with its standard output, rejects with its standard error. */
export async function openssl(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('openssl', args, { encoding: 'utf8' });
    return stdout + stderr;
  } catch (e) {
    const detail = e instanceof Error && 'stderr' in e && typeof e.stderr === 'string' ? e.stderr : String(e);
    throw new Error(`openssl ${args.join(' ')} failed: ${detail}`, { cause: e });
  }
}
