import { isPwsyncError, TargetDataError, TransientError, type PwsyncError } from '../../core/errors.ts';

/**
 * Native file-system errors → our typed errors. The engine retries on `retryable` alone, so the
 * line drawn here decides what is retried:
 *
 * - Transient: the system is busy or out of a resource that frees itself (EBUSY, EAGAIN, EMFILE,
 *   ENFILE, ENOSPC, EDQUOT, EINTR, ETIMEDOUT, EIO, ESTALE on network file systems), and our own
 *   cross-process lock held by another writer for too long (ELOCKED).
 * - ENOENT is transient too, deliberately. The file's existence is checked when the system is
 *   tested at start and by `pwsync config check`, so a path that never existed is caught there. A
 *   file that disappears at run time is an operations event — a tool replacing it without an
 *   atomic rename, a network mount that is briefly gone, a restore in progress — that someone
 *   fixes. Retrying costs a few bounded attempts (the system's `password.retry`) and ends in
 *   "retries exhausted" naming the path if it stays missing; a final error instead would drop the
 *   person's password change for this account the moment the file blinked, with nothing to
 *   re-deliver it later.
 * - Everything else (EACCES, EPERM, EROFS, EISDIR, ENOTDIR, ELOOP, …) needs a person to change
 *   permissions or configuration and is not retried.
 */
const TRANSIENT = new Set(['EBUSY', 'EAGAIN', 'EWOULDBLOCK', 'EMFILE', 'ENFILE', 'ENOSPC', 'EDQUOT', 'EINTR', 'ETIMEDOUT', 'EIO', 'ESTALE', 'ENOENT', 'ELOCKED']);

/** The `code` of a Node.js system error, if `err` is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/**
 * Maps `err`, raised while doing `action` on `file`, to a {@link PwsyncError}; our own errors pass
 * through unchanged. The message names the file and the errno code, never data from the file.
 */
export function mapFileError(err: unknown, file: string, action: string): PwsyncError {
  if (isPwsyncError(err)) return err;
  const code = errnoCode(err);
  if (code === 'ELOCKED') {
    return new TransientError(`${file}: another writer held the file's lock for too long while ${action}`, { cause: err });
  }
  const what = code ?? (err instanceof Error ? err.name : 'unknown error');
  const message = `${file}: ${action} failed (${what})`;
  return code !== undefined && TRANSIENT.has(code) ? new TransientError(message, { cause: err }) : new TargetDataError(message, { cause: err });
}
