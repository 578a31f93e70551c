import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CliProcess, runCli } from '../support/cli.ts';
import { EVENT } from '../../src/core/events.ts';

/**
 * The agent's scope through the CLI, on this host's real groups (Linux NSS): the reference's known
 * failure — a missing exclusion group that silently filtered every change — is an error at start.
 */
describe('agent scope through the CLI', () => {
  let dir = '';
  const config = async (name: string, scope: readonly string[]): Promise<string> => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, ['dataDir: ./data-' + name, 'sources: [corp]', 'log: { level: warn, file: ./agent.log }', ...scope, ''].join('\n'));
    return file;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwsync-scope-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a missing exclude group stops the agent at start, naming the group; exit code 2', async () => {
    const file = await config('missing', ['scope:', '  include: [root]', '  exclude: [no-such-group-pwsync]', '  directory: { unix: {} }']);
    const r = await runCli(['agent', '--config', file], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no-such-group-pwsync/);
    assert.match(r.stderr, /exclude/);
  });

  test('a change of an account outside the include groups is answered "out of scope" and not queued', async () => {
    const file = await config('scoped', ['scope:', '  include: [root]', '  directory: { unix: {} }']);
    const agent = new CliProcess(['agent', '--config', file]);
    try {
      await agent.waitFor('agent listening on', 60_000);
      const out = await runCli(['capture', '--account', 'nobody', '--config', file], { input: 'Scope-Pw-nobody-1\n' });
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /out of scope: not a member of any include group \(root\)/);
      const ok = await runCli(['capture', '--account', 'root', '--config', file], { input: 'Scope-Pw-root-1\n' });
      assert.match(ok.stdout, /^queued /);
      const status = await runCli(['agent', 'status', '--json', '--config', file]);
      const parsed = JSON.parse(status.stdout) as { running: boolean; queue: { length: number }; events: { code: number; anchor: string }[] };
      assert.equal(parsed.running, true);
      assert.equal(parsed.queue.length, 1);
      assert.deepEqual(parsed.events.map((e) => [e.code, e.anchor]), [[EVENT.OUT_OF_SCOPE, 'nobody']]);
      const second = await runCli(['agent', '--config', file], { timeoutMs: 30_000 });
      assert.equal(second.code, 2);
      assert.match(second.stderr, /another pwsync agent is running/);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output);
    }
    const stopped = JSON.parse((await runCli(['agent', 'status', '--json', '--config', file])).stdout) as { running: boolean; queue: { length: number } };
    assert.deepEqual([stopped.running, stopped.queue.length], [false, 1], 'a stopped agent keeps its queue');
  });
});
