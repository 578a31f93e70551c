import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { KeyError } from '../core/errors.ts';

/** The keyring file: the first key encrypts, every key decrypts. JSON, mode 0600. */
const keyFileSchema = z.strictObject({
  version: z.literal(1),
  keys: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
        created: z.string(),
        key: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 encoded 32-byte key'),
      }),
    )
    .min(1),
});

export type KeyFileContent = z.infer<typeof keyFileSchema>;
export type KeyEntry = KeyFileContent['keys'][number];

/** Permission bits that must be clear on a key file: nothing for group or others. */
const TOO_OPEN = 0o077;

/**
 * Reads and checks a key file. Refuses a file readable or writable by group or others, as ssh does
 * with private keys: a store key anyone on the host can read protects nothing.
 */
export async function readKeyFile(file: string): Promise<KeyFileContent> {
  let info;
  try {
    info = await stat(file);
  } catch (e) {
    throw new KeyError(`store key file ${file} cannot be read (${errnoOf(e)}); run "pwsync init" to create one`, { cause: e });
  }
  if (!info.isFile()) throw new KeyError(`store key file ${file} is not a regular file`);
  if ((info.mode & TOO_OPEN) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new KeyError(`store key file ${file} has mode ${mode}: it must not be accessible to group or others; fix with "chmod 600 ${file}"`);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new KeyError(`store key file ${file} cannot be read (${errnoOf(e)})`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content, which is key material: do not keep it.
    throw new KeyError(`store key file ${file} is not valid JSON`);
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => i.path.join('.') || '(top)').join(', ');
    throw new KeyError(`store key file ${file} is malformed at ${where}`);
  }
  const ids = new Set<string>();
  for (const k of parsed.data.keys) {
    if (ids.has(k.id)) throw new KeyError(`store key file ${file} has key id ${k.id} twice`);
    ids.add(k.id);
  }
  return parsed.data;
}

/**
 * Writes a key file atomically with mode 0600: temporary file, fsync, rename, fsync of the
 * directory. A crash leaves either the old file or the new one, never a torn key.
 */
export async function writeKeyFile(file: string, content: KeyFileContent): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.key.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** A new key entry: 32 random bytes and an id that sorts by creation time. */
export function newKeyEntry(now: Date = new Date()): KeyEntry {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return {
    id: `k${stamp}-${randomBytes(3).toString('hex')}`,
    created: now.toISOString(),
    key: randomBytes(32).toString('base64'),
  };
}

function errnoOf(e: unknown): string {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'unknown error';
}
