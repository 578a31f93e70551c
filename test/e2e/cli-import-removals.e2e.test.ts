import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.ts';

// Issue 17, item 2, as an administrator met it on the demo: a source export cut down to its
// header row gave "REMOVED 5", and once restored the re-import projected five duplicate persons.
describe('pwsync import: a header-only export, a broken one, and the export restored', () => {
  let dir = '';
  let config = '';
  let directory = '';
  let full: Buffer;
  const cli = (args: string[]): Promise<CliResult> => runCli([...args, '--config', config]);
  const personIds = async (): Promise<string[]> => {
    const r = await cli(['persons', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { id: string }[]).map((p) => p.id).sort();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-e2e-removals-'));
    const init = await runCli(['init', '--demo', dir]);
    assert.equal(init.code, 0, init.stderr);
    config = join(dir, 'pwsync.yaml');
    directory = join(dir, 'directory.csv');
    full = await readFile(directory);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the header-only export is refused with nothing removed; restored, every account finds its person again', async () => {
    assert.equal((await cli(['import'])).code, 0);
    const persons = await personIds();
    assert.equal(persons.length, 5);

    const header = full.subarray(0, full.indexOf(0x0a) + 1);
    await writeFile(directory, header);
    const refused = await cli(['import', 'directory']);
    assert.equal(refused.code, 1, refused.stderr);
    for (const part of ['"directory"', '5 of its 5', 'nothing was removed', '--allow-removals']) assert.ok(refused.stderr.includes(part), refused.stderr);
    const events = await cli(['events', '--code', '7026', '--json']);
    const stopped = events.stdout.trim().split('\n').map((line) => JSON.parse(line) as { system: string });
    assert.deepEqual(stopped.map((e) => e.system), ['directory']);
    assert.deepEqual(await personIds(), persons);

    // A broken last record: the import of that file stops, naming the line, with nothing applied.
    await writeFile(directory, full);
    await appendFile(directory, 'u9,"carla\n');
    const broken = await cli(['import', 'directory']);
    assert.notEqual(broken.code, 0);
    assert.match(broken.stderr, /directory\.csv, line 7: unterminated quoted field/);

    // Passed on purpose: the accounts go, their persons stay; restored, they are linked again.
    await writeFile(directory, header);
    const allowed = await cli(['import', 'directory', '--allow-removals', '--json']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((JSON.parse(allowed.stdout) as { removed: number }[])[0]?.removed, 5);
    await writeFile(directory, full);
    const restored = await cli(['import', 'directory', '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    const [report] = JSON.parse(restored.stdout) as { projected: number; relinked: number }[];
    assert.deepEqual([report?.projected, report?.relinked], [0, 5]);
    assert.deepEqual(await personIds(), persons, 'the same five persons, no duplicate');
  });
});
