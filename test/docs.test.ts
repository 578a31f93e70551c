import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.ts';
import { EVENT_CODES } from '../src/core/events.ts';
import { configSchema } from '../src/config/schema.ts';
import { allowedKeys } from '../src/config/schema-walk.ts';
import { checkConfig } from '../src/config/index.ts';
import { HASH_FORMATS, hashParamsSchema } from '../src/crypto/hash/spec.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const doc = (name: string): Promise<string> => readFile(`${root}docs/${name}`, 'utf8');

/** Every command path in the CLI with its long options. */
function commands(cmd: Command, prefix: string[] = []): { path: string; options: string[] }[] {
  return cmd.commands
    .filter((c) => c.name() !== 'help')
    .flatMap((c) => {
      const path = [...prefix, c.name()];
      const own = { path: path.join(' '), options: c.options.map((o) => o.long ?? '').filter((l) => l !== '') };
      return c.commands.length > 0 ? commands(c, path) : [own];
    });
}

test('docs/cli.md documents every command and every option', async () => {
  const text = await doc('cli.md');
  for (const { path, options } of commands(buildProgram())) {
    const heading = new RegExp(`^## pwsync ${path}\\b`, 'm');
    assert.match(text, heading, `docs/cli.md has no section "## pwsync ${path}"`);
    const start = text.search(heading);
    const next = text.indexOf('\n## ', start + 1);
    const section = text.slice(start, next === -1 ? undefined : next);
    for (const option of options) assert.ok(section.includes(option), `docs/cli.md: "pwsync ${path}" does not document ${option}`);
  }
});

test('docs/events.md lists every event code', async () => {
  const text = await doc('events.md');
  for (const code of EVENT_CODES) assert.match(text, new RegExp(`^\\| ${code} +\\|`, 'm'), `docs/events.md does not list ${code}`);
});

test('docs/configuration.md names every configuration key and hash format', async () => {
  const text = await doc('configuration.md');
  const sample = { systems: [{ connector: 'file', join: [{}] }] };
  const paths: (string | number)[][] = [[], ['server'], ['log'], ['systems', 0], ['systems', 0, 'source'], ['systems', 0, 'import'], ['systems', 0, 'join', 0], ['systems', 0, 'password'], ['systems', 0, 'password', 'retry']];
  for (const path of paths) {
    const keys = allowedKeys(configSchema, sample, path);
    assert.ok(keys.length > 0, `no keys found at ${path.join('.')}`);
    for (const key of keys) assert.ok(text.includes(`\`${key}\``), `docs/configuration.md does not name "${key}" (at ${path.join('.') || 'top level'})`);
  }
  for (const format of HASH_FORMATS) assert.ok(text.includes(`\`${format}\``), `docs/configuration.md does not name hash format ${format}`);
  for (const param of Object.keys(hashParamsSchema.shape)) assert.ok(text.includes(`\`${param}\``), `docs/configuration.md does not name hash parameter ${param}`);
});

test('docs/connectors/file.md names every key of the file block', async () => {
  const text = await doc('connectors/file.md');
  for (const key of allowedKeys(configSchema, { systems: [{ connector: 'file' }] }, ['systems', 0, 'file'])) {
    assert.ok(text.includes(`\`${key}\``), `docs/connectors/file.md does not name "${key}"`);
  }
});

test('every example configuration passes config check', async () => {
  const files = (await readdir(`${root}examples`)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const result = await checkConfig(`${root}examples/${f}`);
    assert.deepEqual(result.problems, [], `examples/${f}`);
  }
});

test('every page the README links to exists', async () => {
  const readme = await readFile(`${root}README.md`, 'utf8');
  const links = [...readme.matchAll(/\]\((docs\/[^)#]+)\)/g)].map((m) => m[1] ?? '');
  assert.ok(links.length > 5);
  for (const link of links) await readFile(`${root}${link}`);
});
