import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { access, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AccessDeniedError } from '../../core/errors.ts';

/** The temp-file name for `file`: hidden, in the same directory (so rename is atomic), unique. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.pwsync-tmp`);
}

/** Whether `name` is one of our temp files, for tests and clean-up tools. */
export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.pwsync-tmp');
}

/**
/**
 * Refuses to replace `file` (whose stats are `original`) when the new file could not keep its owner,
 * group and mode, or when this process could not have written the file in place: a rename needs
 * only the directory's write permission, so without this check a read-only or root-owned file in a
 * writable directory would silently become the writing user's. Root may do both (it writes any file
 * and chowns to any owner). The error is final: a person must change the file or who runs pwsync;
 * never a non-atomic write instead.
 */
export async function assertReplaceable(file: string, original: BigIntStats): Promise<void> {
  const uid = process.geteuid?.();
  if (uid === undefined || uid === 0) return;
  const owner = Number(original.uid);
  const group = Number(original.gid);
  if (owner !== uid) {
    throw new AccessDeniedError(
      `${file} is owned by uid ${owner}; pwsync runs as uid ${uid} and cannot keep that owner (replacing the file would make it uid ${uid}'s): run pwsync as the file's owner or as root`,
    );
  }
  const groups = new Set([process.getegid?.(), ...(process.getgroups?.() ?? [])]);
  if (!groups.has(group)) {
    throw new AccessDeniedError(`${file} belongs to group ${group}, which uid ${uid} is not a member of: pwsync cannot keep that group; run pwsync in that group or as root`);
  }
  try {
    await access(file, constants.W_OK);
  } catch (e) {
    throw new AccessDeniedError(`${file} is read-only for uid ${uid} (no write permission on the file itself): pwsync does not replace a file it could not write in place; give the file write permission for its owner`, { cause: e });
  }
}

/**
 * Replaces `file` with `data` so that a reader or a crash sees either the old or the new content:
 * write a temp file in the same directory, fsync it, rename it over the original, fsync the
 * directory so the rename itself is durable. The new file gets the original's owner, group and
 * permission bits, and a file whose owner or group cannot be kept, or that could not be written in
 * place, is refused first ({@link assertReplaceable}). The temp file is removed on every failure
 * before the rename.
 *
 * `beforeRename` runs last before the rename and may throw to abandon the write (a lost lock).
 * Returns the stats of the file as written, taken from the open handle after the rename, so
 * they describe our file even if someone replaces the path right after.
 */
export async function replaceFileAtomically(file: string, data: Uint8Array, original: BigIntStats, beforeRename: () => void): Promise<BigIntStats> {
  await assertReplaceable(file, original);
  const temp = tempPathFor(file);
  // 0o600 until the data is in: never broader than the original while partly written.
  const fh = await open(temp, 'wx', 0o600);
  let renamed = false;
  let written: BigIntStats;
  try {
    // Root may give any owner; anyone else only their own uid and one of their groups, which
    // assertReplaceable checked. The temp file may have got another group (a set-gid directory).
    await fh.chown(Number(original.uid), Number(original.gid));
    // After chown, which clears set-id bits; umask does not apply to chmod.
    await fh.chmod(Number(original.mode & 0o7777n));
    await fh.writeFile(data);
    await fh.sync();
    beforeRename();
    await rename(temp, file);
    renamed = true;
    written = await fh.stat({ bigint: true });
  } catch (err) {
    if (!renamed) await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await fh.close();
  }
  await syncDirectory(dirname(file));
  return written;
}

async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
