import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The temp-file name for `file`: hidden, in the same directory (so rename is atomic), unique. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.pwsync-tmp`);
}

/** Whether `name` is one of our temp files, for tests and clean-up tools. */
export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.pwsync-tmp');
}

/**
 * Replaces `file` with `data` so that a reader or a crash sees either the old or the new content:
 * write a temp file in the same directory, fsync it, rename it over the original, fsync the
 * directory so the rename itself is durable. The new file gets the original's permission bits
 * (and owner and group when running as root, the only case where that is allowed). The temp file
 * is removed on every failure before the rename.
 *
 * `beforeRename` runs last before the rename and may throw to abandon the write (a lost lock).
 * Returns the stats of the file as written, taken from the open handle after the rename, so
 * they describe our file even if someone replaces the path right after.
 */
export async function replaceFileAtomically(file: string, data: Uint8Array, original: BigIntStats, beforeRename: () => void): Promise<BigIntStats> {
  const temp = tempPathFor(file);
  // 0o600 until the data is in: never broader than the original while partly written.
  const fh = await open(temp, 'wx', 0o600);
  let renamed = false;
  let written: BigIntStats;
  try {
    if (process.getuid?.() === 0) await fh.chown(Number(original.uid), Number(original.gid));
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
