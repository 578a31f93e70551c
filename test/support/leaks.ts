import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Fails when any needle (with its UTF-16, hex and base64 forms) is in any file under `root` or in `extra`. */
export async function assertNoPasswords(root: string, passwords: readonly string[], extra: readonly Buffer[], when: string): Promise<void> {
  const files = await listFiles(root);
  const blobs: [string, Buffer][] = [...(await Promise.all(files.map(async (f) => [f, await readFile(f)] as [string, Buffer]))), ...extra.map((b, i) => [`output ${i}`, b] as [string, Buffer])];
  for (const pw of passwords) {
    const utf8 = Buffer.from(pw, 'utf8');
    const needles = [utf8, Buffer.from(pw, 'utf16le'), Buffer.from(utf8.toString('base64').slice(0, 16)), Buffer.from(utf8.toString('base64url').slice(0, 16)), Buffer.from(utf8.toString('hex'))];
    for (const [name, blob] of blobs) for (const needle of needles) assert.equal(blob.includes(needle), false, `a test password appears in ${name} ${when}`);
  }
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
