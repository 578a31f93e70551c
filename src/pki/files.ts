import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { InvalidInputError, KeyError } from '../core/errors.ts';
import { pathExists } from '../util/files.ts';

/** Mode of private key files. */
export const PRIVATE_MODE = 0o600;
/** Mode of certificates and public keys: nothing in them is secret. */
export const PUBLIC_MODE = 0o644;
/** Permission bits that must be clear on a private key file: nothing for group or others. */
const TOO_OPEN = 0o077;

/**
 * Refuses when any of `files` exists, before anything is written: a command that writes several
 * files either writes them all or stops before the first, so a half-made PKI never appears.
 */
export async function assertAbsent(files: readonly string[]): Promise<void> {
  for (const file of files) {
    if (await pathExists(file)) {
      throw new InvalidInputError(`${file} already exists; refusing to overwrite key material (remove it deliberately first if you mean to replace it)`);
    }
  }
}

/**
 * Writes a new file atomically: a temporary file in the same directory (created with `mode`, so a
 * private key is never readable by others, not even for a moment), fsync, then a hard link to the
 * final name, which fails when that name exists, where a rename would silently replace it.
 * Directories made on the way get mode 0700.
 */
export async function writeNewFile(file: string, content: string, mode: number): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await publish(tmp, file);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(dir);
}

async function publish(tmp: string, file: string): Promise<void> {
  try {
    await link(tmp, file);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'EEXIST') throw new InvalidInputError(`${file} already exists; refusing to overwrite key material (remove it deliberately first if you mean to replace it)`, { cause: e });
    // Some file systems have no hard links; fall back to a checked rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    await assertAbsent([file]);
    await rename(tmp, file);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a private key file after checking it is a regular file that group and others cannot
 * touch, as ssh does: a key anyone on the host can read protects nothing. `what` names the key
 * in messages ("CA key", "JWE private key").
 */
export async function readPrivateFile(file: string, what: string): Promise<string> {
  let info;
  try {
    info = await stat(file);
  } catch (e) {
    throw new KeyError(`${what} file ${file} cannot be read (${errnoOf(e)})`, { cause: e });
  }
  if (!info.isFile()) throw new KeyError(`${what} file ${file} is not a regular file`);
  if ((info.mode & TOO_OPEN) !== 0) {
    const shown = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new KeyError(`${what} file ${file} has mode ${shown}: it must not be accessible to group or others; fix with "chmod 600 ${file}"`);
  }
  return readText(file, what);
}

/** Reads a file that holds nothing secret (a certificate, a public key). */
export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new KeyError(`${what} file ${file} cannot be read (${errnoOf(e)})`, { cause: e });
  }
}

export function errnoOf(e: unknown): string {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'unknown error';
}
