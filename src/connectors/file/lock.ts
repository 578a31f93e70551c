import { lock } from 'proper-lockfile';
import { TransientError } from '../../core/errors.ts';

/**
 * Writers of one file are serialised twice: in this process by an async mutex per path (so
 * concurrent jobs queue in order instead of polling a lock file), and across processes by a lock
 * directory next to the file (`<file>.lock`, proper-lockfile), which every pwsync process uses.
 * Readers take no lock: writes replace the file by rename, so a reader sees the old or the new
 * file, never a mix.
 */

/** Tail of the promise chain per path; a waiter runs when the one before it settles. */
const tails = new Map<string, Promise<void>>();

async function withMutex<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = before.then(() => mine);
  tails.set(key, tail);
  await before;
  try {
    return await fn();
  } finally {
    release();
    // The last one out removes the entry, so the map does not grow with every file ever written.
    if (tails.get(key) === tail) tails.delete(key);
  }
}

export interface LockTimings {
  /** A lock directory not refreshed for this long belongs to a dead process and is taken over. */
  readonly staleMs: number;
  /** How many times to try for a held lock before giving up with a transient error. */
  readonly retries: number;
  readonly minWaitMs: number;
  readonly maxWaitMs: number;
}

/** About ten seconds of waiting in all: a writer rewrites the file in milliseconds. */
export const DEFAULT_LOCK_TIMINGS: LockTimings = { staleMs: 10_000, retries: 50, minWaitMs: 5, maxWaitMs: 250 };

/** What the work under the lock can ask: whether the lock is still ours. */
export interface HeldLock {
  /** Throws a {@link TransientError} when the lock was lost (another process took it over as stale). */
  assertHeld(): void;
}

/**
 * Runs `fn` holding both locks on `file` (a real, absolute path). A lock held elsewhere past the
 * retries rejects with proper-lockfile's `ELOCKED` error, which `mapFileError` makes transient.
 */
export async function withFileLock<T>(file: string, fn: (held: HeldLock) => Promise<T>, timings: LockTimings = DEFAULT_LOCK_TIMINGS): Promise<T> {
  return withMutex(file, async () => {
    let compromised: Error | undefined;
    const release = await lock(file, {
      realpath: false,
      stale: timings.staleMs,
      retries: { retries: timings.retries, factor: 1.5, minTimeout: timings.minWaitMs, maxTimeout: timings.maxWaitMs, randomize: true },
      // The default handler throws from a timer and would crash the process; remember it instead
      // and refuse to rename while the lock is not ours.
      onCompromised: (err) => {
        compromised = err;
      },
    });
    const held: HeldLock = {
      assertHeld() {
        if (compromised !== undefined) {
          throw new TransientError(`${file}: the write lock was lost while writing`, { cause: compromised });
        }
      },
    };
    try {
      return await fn(held);
    } finally {
      // Releasing a compromised lock fails with ERELEASED/ECOMPROMISED; nothing more to undo.
      await release().catch(() => undefined);
    }
  });
}
