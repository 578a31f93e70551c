import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sendCapture } from '../../src/agent/capture/client.ts';
import { Secret } from '../../src/core/secret.ts';
import { assertNoPasswords, createAgentWorld, eventually, type AgentWorld } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';
import { EVENT } from '../../src/core/events.ts';

/** Jobs committed but not finished, read straight from the store (the CLI is too slow to poll with). */
function openJobs(store: string): number {
  const db = new Database(store, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT count(*) FROM jobs WHERE state IN ('pending', 'in_progress', 'retry_scheduled')").pluck().get() as number;
  } finally {
    db.close();
  }
}

async function untilJobsOpen(store: string, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = openJobs(store);
    if (open > 0) return open;
    if (Date.now() > deadline) throw new Error('no job was ever open');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const FIRST_PW = 'Agent-e2e-First-7c1d9e-e2e-9f2a';
const HTTP_PW = 'Agent-e2e-Http-Ünïcode-密码-3b8f-e2e-9f2a';
const TOKEN = 'hook-token-e2e-0123456789abcdef0123456789';

/** A password no other byte sequence in the run could contain by chance. */
const pw = (account: string, n: number): string => `Pw-${account}-${String(n).padStart(4, '0')}-e2e-9f2a`;

describe('agent → server → file target, through the CLI-started processes', () => {
  let world: AgentWorld;
  const passwords: string[] = [FIRST_PW, HTTP_PW];
  const socket = (): string => join(world.dir, 'agent-data', 'capture.sock');
  const capture = async (account: string, password: string, changedAt?: number): Promise<string> => {
    passwords.push(password);
    const secret = Secret.fromString(password);
    try {
      const answer = await sendCapture(socket(), { account, secret, ...(changedAt === undefined ? {} : { changedAt }) });
      assert.ok(answer.ok && answer.status === 'queued', JSON.stringify(answer));
      return answer.id;
    } finally {
      secret.dispose();
    }
  };

  before(async () => {
    world = await createAgentWorld({
      accounts: 120,
      agentYaml: ['capture:', '  http: { listen: "127.0.0.1:0", token: file:hook.token }'],
      files: { 'hook.token': `${TOKEN}\n` },
    });
  });
  after(async () => {
    await world.close();
  });

  test('a change from the capture hook reaches the target; the socket is 0600', async () => {
    const server = await world.startServer();
    const agent = await world.startAgent();
    try {
      assert.equal((await stat(socket())).mode & 0o777, 0o600);
      const r = await world.agentCli(['capture', '--account', 'u001'], `${FIRST_PW}\n`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^queued [0-9a-f-]{36}$/m);
      await eventually(() => world.holds('u001', FIRST_PW), 30_000, 'u001 to hold the new password');

      const url = /and (http:\/\/127\.0\.0\.1:\d+\/v1\/capture)/.exec(agent.output)?.[1];
      assert.ok(url, agent.output);
      const refused = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' }, body: JSON.stringify({ account: 'u002', password: 'x' }) });
      assert.equal(refused.status, 401);
      const ok = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ account: 'u002', password: HTTP_PW }) });
      assert.equal(ok.status, 202, await ok.text());
      await eventually(() => world.holds('u002', HTTP_PW), 30_000, 'u002 to hold the password from the HTTP hook');
    } finally {
      await agent.stop();
      await server.stop();
    }
  });

  test('with the server down, changes queue at the agent and all arrive, in order, when it returns', async () => {
    const agent = await world.startAgent();
    try {
      const t0 = Date.now() - 60_000;
      for (let n = 0; n < 5; n++) for (const account of ['u003', 'u004', 'u005']) await capture(account, pw(account, n), t0 + n * 1000);
      await eventually(async () => (await world.agentStatus()).targets[0]?.state.consecutiveFailures !== 0, 15_000, 'the agent to notice the server is down');
      const status = await world.agentStatus();
      assert.equal(status.queue.length, 15);
      assert.ok(status.events.some((e) => e.code === EVENT.TARGET_UNAVAILABLE), 'target unavailable is an event');
      const server = await world.startServer();
      try {
        await eventually(async () => (await world.agentStatus()).queue.length === 0, 30_000, 'the queue to drain');
        for (const account of ['u003', 'u004', 'u005']) assert.equal(await world.holds(account, pw(account, 4)), true, `${account} holds the newest password`);
        assert.ok((await world.agentStatus()).events.some((e) => e.code === EVENT.TARGET_AVAILABLE), 'target available again is an event');
      } finally {
        await server.stop();
      }
    } finally {
      await agent.stop();
    }
  });

  test('kill -9 of the agent with 1,000 changes queued: after restart all arrive, the newest wins everywhere', async () => {
    const accounts = world.logins.slice(6, 16);
    const ids = new Map<string, string>();
    let agent = await world.startAgent();
    const t0 = Date.now() - 600_000;
    // Hooks run concurrently, as on a busy domain controller; each account's changes in order.
    await Promise.all(
      accounts.map(async (account, a) => {
        for (let n = 0; n < 100; n++) ids.set(await capture(account, pw(account, n), t0 + n * 1000 + a), `${account}/${n}`);
      }),
    );
    assert.equal(ids.size, 1000);
    await agent.stop('SIGKILL');
    agent = await world.startAgent();
    const server = await world.startServer();
    try {
      await eventually(async () => (await world.agentStatus()).queue.length === 0, 60_000, 'the queue to drain');
      await eventually(async () => {
        const open = JSON.parse((await world.cli(['queue', '--json', '--state', 'open'])).stdout) as unknown[];
        return open.length === 0;
      }, 60_000, 'the server to finish its jobs');
      for (const account of accounts) assert.equal(await world.holds(account, pw(account, 99)), true, `${account} holds its newest password`);
      const seen = new Set((await world.serverEvents()).map((e) => e.changeId));
      const lost = [...ids.keys()].filter((id) => !seen.has(id));
      assert.deepEqual(lost, [], 'every captured change reached the server');
    } finally {
      await server.stop();
      await agent.stop();
    }
  });

  test('kill -9 of the server with jobs in flight: after restart every account holds its newest password', async () => {
    const accounts = world.logins.slice(20, 120);
    // 1,000 changes wait at the agent while the server is down, then arrive in batches.
    const agent = await world.startAgent();
    let server: CliProcess | undefined;
    try {
      const t0 = Date.now() - 300_000;
      await Promise.all(
        accounts.map(async (account, a) => {
          for (let n = 0; n < 10; n++) await capture(account, pw(account, 100 + n), t0 + n * 1000 + a);
        }),
      );
      server = await world.startServer();
      // Kill it the moment the store holds committed jobs that are not done yet.
      const inFlight = await untilJobsOpen(join(world.dir, 'data', 'pwsync.db'), 30_000);
      await server.stop('SIGKILL');
      assert.ok(inFlight > 0);
      server = await world.startServer();
      await eventually(async () => (await world.agentStatus()).queue.length === 0, 60_000, 'the queue to drain');
      await eventually(() => Promise.resolve(openJobs(join(world.dir, 'data', 'pwsync.db')) === 0), 60_000, 'the server to finish its jobs');
      for (const account of accounts) assert.equal(await world.holds(account, pw(account, 109)), true, `${account} holds its newest password`);
      const events = await world.serverEvents();
      const recovered = events.filter((e) => e.code === EVENT.JOB_RECOVERED).length;
      const superseded = events.filter((e) => e.code === EVENT.SUPERSEDED || e.code === EVENT.TIMESTAMP_OUT_OF_DATE).length;
      assert.ok(recovered + superseded > 0, 'the restart found work the killed server left');
    } finally {
      await server?.stop();
      await agent.stop();
    }
  });

  test('a Latin-1 password at the HTTP hook is refused 400 and nothing is set; the next change goes through', async () => {
    const server = await world.startServer();
    const agent = await world.startAgent();
    try {
      const url = /and (http:\/\/127\.0\.0\.1:\d+\/v1\/capture)/.exec(agent.output)?.[1];
      assert.ok(url, agent.output);
      const post = (body: Buffer) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
      // caf\xE9-…: an application with a Latin-1 form. It used to be set as caf\uFFFD-…, a password nobody chose.
      const latin1 = await post(Buffer.from('{"account":"u017","password":"caf\xe9-Latin1-e2e-9f2a"}', 'latin1'));
      assert.equal(latin1.status, 400);
      assert.equal(((await latin1.json()) as { error: string }).error, 'malformed');
      const next = `caf\u00e9-Utf8-e2e-9f2a`;
      passwords.push(next);
      assert.equal((await post(Buffer.from(JSON.stringify({ account: 'u018', password: next }), 'utf8'))).status, 202);
      await eventually(() => world.holds('u018', next), 30_000, 'u018 to hold the change sent after the refused one');
      assert.equal(await world.targetHash('u017'), '', 'nothing was set for the refused change');
    } finally {
      await agent.stop();
      await server.stop();
    }
  });

  test('no test password appears in any file, log or output afterwards', async () => {
    // Every password ends in the same marker; the full set of encodings is checked on a sample.
    const sample = passwords.filter((_, i) => i < 4 || i % 50 === 0);
    await assertNoPasswords(world.dir, ['-e2e-9f2a', ...sample], world.outputs, 'after the run');
  });
});
