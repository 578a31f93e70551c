import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemSchema } from '../../../src/config/schema.ts';
import { Secret } from '../../../src/core/secret.ts';
import { createFileConnector, type FileConnector, type FileSystemConfig } from '../../../src/connectors/file/index.ts';

/** Helpers for the file connector's tests: temp directories, CSV files, cheap hashes. */

/** argon2id at the smallest cost: tests only. */
export const CHEAP_HASH = { format: 'argon2id', memoryKiB: 64, timeCost: 1 } as const;

export interface TempDir {
  readonly dir: string;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-file-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface CsvSystemOptions {
  readonly anchor?: string;
  readonly passwordColumn?: string | null;
  readonly delimiter?: string;
  readonly quote?: string;
  readonly encoding?: 'utf8' | 'latin1';
  readonly hash?: unknown;
}

/** A validated `file` system configuration, as the config loader would produce it. */
export function fileSystem(path: string, options: CsvSystemOptions = {}): FileSystemConfig {
  const file: Record<string, unknown> = { path };
  if (options.passwordColumn !== null) file.passwordColumn = options.passwordColumn ?? 'password';
  if (options.delimiter !== undefined) file.delimiter = options.delimiter;
  if (options.quote !== undefined) file.quote = options.quote;
  if (options.encoding !== undefined) file.encoding = options.encoding;
  const password: Record<string, unknown> = { sync: true };
  if (options.hash !== null) password.hash = options.hash ?? CHEAP_HASH;
  const system = systemSchema.parse({ name: 'csv', connector: 'file', file, import: { anchor: options.anchor ?? 'id' }, password });
  if (!('file' in system)) throw new Error('not a file system');
  return system;
}

/** Writes `content` to `name` in `dir` and returns a connector for it. */
export async function csvConnector(dir: string, name: string, content: string | Buffer, options: CsvSystemOptions = {}): Promise<{ connector: FileConnector; path: string }> {
  const path = join(dir, name);
  await writeFile(path, content);
  return { connector: createFileConnector(fileSystem(name, options), { system: 'csv', baseDir: dir }), path };
}

export async function verifies(connector: FileConnector, anchor: string, password: string): Promise<boolean> {
  const secret = Secret.fromString(password);
  try {
    return await connector.verifyPassword(anchor, secret);
  } finally {
    secret.dispose();
  }
}

export async function setTo(connector: FileConnector, anchor: string, password: string): Promise<void> {
  const secret = Secret.fromString(password);
  try {
    await connector.setPassword(anchor, secret, {});
  } finally {
    secret.dispose();
  }
}

/** Files in `dir` other than `keep`: temp files or lock directories left behind. */
export async function strays(dir: string, keep: readonly string[]): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !keep.includes(n));
}

/** A CSV of `rows` accounts with columns id,login,mail,dept,password (empty passwords). */
export function bigCsv(rows: number, eol = '\n'): string {
  const lines = ['id,login,mail,dept,password'];
  for (let i = 0; i < rows; i++) lines.push(`u${i},user${i},user${i}@example.test,dept-${i % 17},`);
  return lines.join(eol) + eol;
}
