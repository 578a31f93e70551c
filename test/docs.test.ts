import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.ts';
import { EVENT_CODES } from '../src/core/events.ts';
import { ERROR_CODES } from '../src/core/errors.ts';
import { configSchema } from '../src/config/schema.ts';
import { allowedKeys } from '../src/config/schema-walk.ts';
import { checkConfig } from '../src/config/index.ts';
import type { PathSegment } from '../src/config/problems.ts';
import { HASH_FORMATS, hashParamsSchema } from '../src/crypto/hash/spec.ts';
import { agentConfigSchema, checkAgentConfig } from '../src/agent/config.ts';

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

test('docs/events.md lists every error code, and no other', async () => {
  const text = section(await doc('events.md'), 'Error codes');
  for (const code of ERROR_CODES) assert.match(text, new RegExp(`^\\| \`${code}\` +\\|`, 'm'), `docs/events.md does not list ${code}`);
  const listed = [...text.matchAll(/^\| `(ERR_[A-Z0-9_]+)`/gm)].map((m) => m[1]);
  assert.deepEqual(listed.filter((c) => !(ERROR_CODES as readonly (string | undefined)[]).includes(c)), [], 'docs/events.md lists codes the code does not have');
});

/**
 * Every fixed-shape mapping a schema allows, found by walking it from the top: the keys of each
 * mapping, then each key's own mapping (or, for a list, its items'). A block added to a schema is
 * therefore checked without this test being told about it.
 */
function mappings(schema: Parameters<typeof allowedKeys>[0], sample: unknown, path: PathSegment[] = []): { path: PathSegment[]; keys: string[] }[] {
  const keys = allowedKeys(schema, sample, path);
  if (keys.length === 0) return [];
  return [{ path, keys }, ...keys.flatMap((key) => [[...path, key], [...path, key, 0]].flatMap((next) => mappings(schema, sample, next)))];
}

const shown = (path: readonly PathSegment[]): string => path.join('.') || 'top level';

/** The part of `text` from the heading `## <title>` to the next `## ` heading. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `no section "## ${title}"`);
  const next = text.indexOf('\n## ', start + 1);
  return text.slice(start, next === -1 ? undefined : next);
}

test('docs/configuration.md names every configuration key and hash format', async () => {
  const text = await doc('configuration.md');
  const sample = { agents: [{}], systems: [{ connector: 'file', join: [{}] }] };
  // The file block has its own page (checked below).
  const found = mappings(configSchema, sample).filter(({ path }) => shown(path) !== 'systems.0.file');
  // The walk must reach what it is meant to; a walk that found nothing would pass everything.
  for (const expected of ['top level', 'server', 'server.tls', 'server.intake', 'agents.0', 'systems.0.source', 'systems.0.password.retry']) {
    assert.ok(found.some(({ path }) => shown(path) === expected), `the schema walk did not reach ${expected}`);
  }
  for (const { path, keys } of found) {
    for (const key of keys) assert.ok(text.includes(`\`${key}\``), `docs/configuration.md does not name "${key}" (at ${shown(path)})`);
  }
  for (const format of HASH_FORMATS) assert.ok(text.includes(`\`${format}\``), `docs/configuration.md does not name hash format ${format}`);
  for (const param of Object.keys(hashParamsSchema.shape)) assert.ok(text.includes(`\`${param}\``), `docs/configuration.md does not name hash parameter ${param}`);
});

test("docs/configuration.md names every key of the agent's configuration in its own section", async () => {
  const text = section(await doc('configuration.md'), "The agent's configuration file");
  const found = mappings(agentConfigSchema, {});
  for (const expected of ['top level', 'capture.http', 'scope', 'scope.directory', 'scope.directory.ldap', 'scope.directory.ldap.tls', 'queue', 'delivery', 'log']) {
    assert.ok(found.some(({ path }) => shown(path) === expected), `the schema walk did not reach ${expected}`);
  }
  for (const { path, keys } of found) {
    for (const key of keys) assert.ok(text.includes(`\`${key}\``), `docs/configuration.md (agent section) does not name "${key}" (at ${shown(path)})`);
  }
});

test('docs/connectors/ldap.md names every key of the ldap block', async () => {
  const text = await doc('connectors/ldap.md');
  const found = mappings(configSchema, { systems: [{ connector: 'ldap' }] }, ['systems', 0, 'ldap']);
  for (const expected of ['systems.0.ldap', 'systems.0.ldap.tls']) {
    assert.ok(found.some(({ path }) => shown(path) === expected), `the schema walk did not reach ${expected}`);
  }
  for (const { path, keys } of found) {
    for (const key of keys) assert.ok(text.includes(`\`${key}\``), `docs/connectors/ldap.md does not name "${key}" (at ${shown(path)})`);
  }
});

test('docs/connectors/sql.md names every key of the sql block', async () => {
  const text = await doc('connectors/sql.md');
  const found = mappings(configSchema, { systems: [{ connector: 'sql', sql: { dialect: 'postgres', setPassword: {} } }] }, ['systems', 0, 'sql']);
  for (const expected of ['systems.0.sql', 'systems.0.sql.tls', 'systems.0.sql.setPassword']) {
    assert.ok(found.some(({ path }) => shown(path) === expected), `the schema walk did not reach ${expected}`);
  }
  for (const { path, keys } of found) {
    for (const key of keys) assert.ok(text.includes(`\`${key}\``), `docs/connectors/sql.md does not name "${key}" (at ${shown(path)})`);
  }
});

test('docs/connectors/file.md names every key of the file block', async () => {
  const text = await doc('connectors/file.md');
  for (const key of allowedKeys(configSchema, { systems: [{ connector: 'file' }] }, ['systems', 0, 'file'])) {
    assert.ok(text.includes(`\`${key}\``), `docs/connectors/file.md does not name "${key}"`);
  }
});

/**
 * The only environment the examples are checked with: the variables their secret references name
 * (each example's header says so), set to placeholders. Nothing of the machine's environment is
 * seen, so an example that needs anything else fails here.
 */
const EXAMPLE_ENV: Readonly<Record<string, string>> = {
  PWSYNC_HOOK_TOKEN: 'a-placeholder-token-of-at-least-32-bytes',
  PWSYNC_SCOPE_BIND: 'a-placeholder-bind-password',
  PWSYNC_LDAP_BIND: 'a-placeholder-bind-password',
  PWSYNC_INVOICING_DB: 'a-placeholder-database-password',
};

test('every example configuration passes its check without a problem or a warning', async () => {
  const files = (await readdir(`${root}examples`)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('pwsync.yaml') && files.includes('pwsync-agent.yaml'), 'the server and agent examples exist');
  const env = { ...EXAMPLE_ENV };
  for (const f of files) {
    const file = `${root}examples/${f}`;
    // Agent configurations are named pwsync-agent*.yaml, as the agent's default file is.
    const result = f.startsWith('pwsync-agent') ? await checkAgentConfig(file, { env }) : await checkConfig(file, { env });
    assert.deepEqual(result.problems, [], `examples/${f}`);
    assert.deepEqual(result.warnings, [], `examples/${f}`);
  }
});

test('every page the README links to exists', async () => {
  const readme = await readFile(`${root}README.md`, 'utf8');
  const links = [...readme.matchAll(/\]\((docs\/[^)#]+)\)/g)].map((m) => m[1] ?? '');
  assert.ok(links.length > 5);
  for (const link of links) await readFile(`${root}${link}`);
});

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}_\- ]/gu, '').replaceAll(' ', '-');
}

/** The anchors of a Markdown text's headings, a repeated one numbered as GitHub numbers it. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutCode(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${String(n)}`);
  }
  return out;
}

/** The text without fenced code blocks (a `# comment` in a shell block is not a heading). */
function withoutCode(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

test('every link between the README, the docs and the examples resolves, anchors included', async () => {
  const pages = ['README.md', ...(await readdir(`${root}docs`, { recursive: true })).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  let checked = 0;
  for (const page of pages) {
    const text = withoutCode(await readFile(`${root}${page}`, 'utf8'));
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1] ?? '';
      if (/^[a-z]+:/.test(link)) continue;
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? page : join(dirname(page), path);
      const content = await readFile(`${root}${target}`, 'utf8').catch(() => undefined);
      assert.ok(content !== undefined, `${page}: the link ${link} points to ${target}, which does not exist`);
      if (anchor !== undefined && target.endsWith('.md')) assert.ok(anchors(content).has(anchor), `${page}: the link ${link}: ${target} has no heading with the anchor #${anchor}`);
      checked++;
    }
  }
  assert.ok(checked > 50, `only ${String(checked)} links found`);
});
