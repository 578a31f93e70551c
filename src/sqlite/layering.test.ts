import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The toolkit sits below both of its users: the server's store and the agent's queue share it and
// never reach into each other (the house rule: a part imports only what sits below it).

const src = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The part of src/ each of a folder's modules imports from: "core", "sqlite", "main.ts"… */
function importedParts(folder: string): { file: string; part: string }[] {
  const found: { file: string; part: string }[] = [];
  for (const entry of readdirSync(join(src, folder), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']*)'/gu)) {
      const [part = ''] = relative(src, resolve(dirname(file), specifier)).split('/');
      found.push({ file: relative(src, file), part });
    }
  }
  return found;
}

test('the SQLite toolkit imports only core, util and log of ours', () => {
  const outside = importedParts('sqlite').filter(({ part }) => !['sqlite', 'core', 'util', 'log'].includes(part));
  assert.deepEqual(outside, []);
});

test('the agent imports nothing of the store, and the store nothing of the agent', () => {
  assert.deepEqual(importedParts('agent').filter(({ part }) => part === 'store'), []);
  assert.deepEqual(importedParts('store').filter(({ part }) => part === 'agent'), []);
});
