import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';
import type { HashFormat } from './spec.ts';

/*
 * The key-derivation functions (argon2, bcrypt, scrypt, PBKDF2) run on libuv's thread pool, the
 * same four threads that serve the file system, DNS look-ups and WebCrypto — node-postgres derives
 * its SCRAM proof there when it opens a connection. Thirty-two workers hashing bcrypt at cost 12
 * queue eight seconds of work ahead of such a call, and a connection timed out in its handshake
 * (found by bench:sql). At most this many derivations run at once; the rest wait here, in order,
 * and one thread of the pool is always left for the rest of the process. With as many at once as
 * there are cores, the hashes still use every core.
 */

/** Formats whose work runs on libuv's thread pool (the others are a digest or two on the caller's thread). */
export const THREAD_POOL_FORMATS: ReadonlySet<HashFormat> = new Set<HashFormat>(['argon2id', 'bcrypt', 'scrypt', 'pbkdf2-sha256', 'pbkdf2-sha512', '{ARGON2}', '{PBKDF2-SHA512}']);

/** libuv's thread pool: `UV_THREADPOOL_SIZE` (libuv caps it at 1024), 4 when unset or not a positive integer. */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env['UV_THREADPOOL_SIZE']);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

/** Derivations at once: the cores, leaving one thread of the pool free; at least one. */
export function derivationsAtOnce(pool: number = threadPoolSize(), cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(cores, pool - 1));
}

const limit = pLimit(derivationsAtOnce());

/** Runs `work` (a hash or verification in `format`) within the limit when the format uses the thread pool. */
export function onThreadPool<T>(format: HashFormat, work: () => Promise<T>): Promise<T> {
  return THREAD_POOL_FORMATS.has(format) ? limit(work) : work();
}
