import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliProcess, runCli } from '../support/cli.ts';

test('the main job creates the demo, imports it, serves, and a change reaches both targets', async () => {
  const cwd = await mkdtemp(join(tmpdir(), 'pwsync-main-'));
  const demo = new CliProcess(['demo'], { cwd });
  try {
    await demo.waitFor('Stop with Ctrl-C.', 60_000);
    assert.match(demo.output, /imported directory: 5 accounts, 5 projected/);
    assert.match(demo.output, /imported webapp: 5 accounts, 0 projected, 4 joined, 1 unmatched/);
    assert.match(demo.output, /change alice --config demo\/pwsync\.yaml/);
    const change = await runCli(['change', 'dave', '--stdin', '--wait', '30', '--config', 'demo/pwsync.yaml'], { cwd, input: 'Dave-main-job-1\n' });
    assert.equal(change.code, 0, change.stderr);
    assert.match(change.stdout, /legacy\s+503\s+done/);
    assert.match(change.stdout, /not queued|1 target/);
    assert.match(await readFile(join(cwd, 'demo', 'targets', 'legacy.tsv'), 'utf8'), /^503\tdave\t\/bin\/sh\t\$6\$/m);
  } finally {
    assert.equal(await demo.stop('SIGINT'), 0, demo.output);
  }
  // A second start keeps the demo as the user left it and starts again.
  const again = new CliProcess(['demo'], { cwd });
  try {
    await again.waitFor('Stop with Ctrl-C.', 60_000);
    assert.match(await readFile(join(cwd, 'demo', 'targets', 'legacy.tsv'), 'utf8'), /^503\tdave\t\/bin\/sh\t\$6\$/m);
  } finally {
    await again.stop('SIGINT');
    await rm(cwd, { recursive: true, force: true });
  }
});
