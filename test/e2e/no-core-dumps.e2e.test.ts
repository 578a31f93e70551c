/*
 * `pwsync server` and `pwsync agent`, started as a user starts them, switch core dumps off and
 * make themselves non-dumpable before anything else, and say so in their logs. This test process
 * first allows core dumps (unlimited, soft and hard) so that both inherit that: a limit of 0 in
 * their /proc/PID/limits can then only come from pwsync itself. Whether they are dumpable cannot be
 * seen from outside for a process that runs as root (its /proc entries are root's either way):
 * their logs carry what prctl(PR_GET_DUMPABLE) answered; src/util/no-core-dumps.test.ts proves the
 * same code from outside, in a process that runs as nobody.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAgentWorld, type AgentWorld } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';

async function coreLimit(pid: number): Promise<string> {
  const limits = await readFile(`/proc/${String(pid)}/limits`, 'utf8');
  const row = limits.split('\n').find((l) => l.startsWith('Max core file size')) ?? '';
  return row.slice('Max core file size'.length).trim().split(/\s+/).slice(0, 2).join('/');
}

/** The log line about core dumps, parsed. */
async function coreDumpsLine(file: string): Promise<{ msg: string; coreDumps: { method: string; coreLimit: string; dumpable: boolean } }> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.includes('"coreDumps"'));
  assert.equal(lines.length, 1, `one line about core dumps in ${file}`);
  return JSON.parse(lines[0] ?? '') as { msg: string; coreDumps: { method: string; coreLimit: string; dumpable: boolean } };
}

void describe('server and agent run without core dumps', () => {
  let world: AgentWorld;
  let server: CliProcess;
  let agent: CliProcess;
  before(async () => {
    // The processes below inherit this: core dumps allowed, unless pwsync switches them off.
    execFileSync('prlimit', ['--pid', String(process.pid), '--core=unlimited:unlimited']);
    assert.equal(await coreLimit(process.pid), 'unlimited/unlimited');
    world = await createAgentWorld({ accounts: 2 });
    server = await world.startServer();
    agent = await world.startAgent();
  });
  after(() => world.close());

  for (const which of ['server', 'agent'] as const) {
    void test(`${which}: core limit 0 (soft and hard), not dumpable, said in its log`, async () => {
      const p = which === 'server' ? server : agent;
      const pid = p.child.pid;
      assert.ok(pid !== undefined);
      assert.equal(await coreLimit(pid), '0/0');
      const line = await coreDumpsLine(join(world.dir, `${which}.log`));
      assert.deepEqual({ method: line.coreDumps.method, coreLimit: line.coreDumps.coreLimit, dumpable: line.coreDumps.dumpable }, { method: 'prctl', coreLimit: '0/0', dumpable: false });
      assert.match(line.msg, /core dumps off and this process not dumpable/);
    });
  }
});
