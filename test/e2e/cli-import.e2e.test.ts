import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.ts';

// The demo's systems use the file connector, which has no delta import: `--delta` falls back to
// full imports for "all systems" and is refused for a named one. The delta path itself runs on
// memory connectors in src/cli/commands/import-run.test.ts.
describe('pwsync import --delta through the CLI, on the demo', () => {
  let dir = '';
  let config = '';
  const cli = (args: string[]): Promise<CliResult> => runCli([...args, '--config', config]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-e2e-import-'));
    const init = await runCli(['init', '--demo', dir]);
    assert.equal(init.code, 0, init.stderr);
    config = join(dir, 'pwsync.yaml');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('naming a system whose connector has no delta import is a usage error, and nothing is imported', async () => {
    const r = await cli(['import', 'directory', '--delta']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"directory"/);
    assert.match(r.stderr, /--delta/);
    const persons = await cli(['persons', '--json']);
    assert.deepEqual(JSON.parse(persons.stdout), []);
  });

  test('for all systems, those without delta import run a full import, with a note', async () => {
    const r = await cli(['import', '--delta', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const reports = JSON.parse(r.stdout) as { system: string; mode: string; read: number; fallback?: string }[];
    assert.deepEqual(
      reports.map((x) => [x.system, x.mode, x.read]),
      [
        ['directory', 'full', 5],
        ['webapp', 'full', 5],
        ['legacy', 'full', 5],
      ],
    );
    assert.ok(reports.every((x) => /file connector has no delta import/.test(x.fallback ?? '')));
    assert.match(r.stderr, /import directory: 5 accounts in [\d.]+ s \(full: /);

    const table = await cli(['import', 'webapp', 'legacy']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SYSTEM +MODE +READ/m);
    assert.match(table.stdout, /^webapp +full +5 /m);
  });
});
