import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { sendCapture } from '../../src/agent/capture/client.ts';
import { Secret } from '../../src/core/secret.ts';
import { EVENT } from '../../src/core/events.ts';
import { assertNoPasswords, createAgentWorld, eventually, type AgentWorld } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';
import { startLdapProxy, type LdapProxy } from '../support/ldap-proxy.ts';
import { startSlapd, type Slapd } from '../support/slapd.ts';

/*
 * Issue 16, findings 1 and 2: one capture must never stall an agent's whole queue. The agent's
 * scope is a real slapd behind a proxy of ours that can make the directory refuse (busy) every
 * question about one account while it answers all others; the agent, the server and the file
 * target are the CLI-started processes.
 */

const BASE = 'dc=pwsync,dc=test';
const PEOPLE = `ou=people,${BASE}`;
const TOKEN = 'hook-token-stall-0123456789abcdef0123456789';
const DOLLAR = 'x$`';
const LOGINS = [...Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(3, '0')}`), DOLLAR];

const pw = (account: string, n: number): string => `Stall-${account.replace(/[^a-z0-9]/g, () => '_')}-${n}-e2e-51c7`;

/** The accounts in the agent's queue and their scope, read straight from its database (the CLI is too slow to poll with). */
function queued(world: AgentWorld): { account: string; scope: string }[] {
  const db = new Database(join(world.dir, 'agent-data', 'agent.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT account, scope FROM captures ORDER BY seq').all() as { account: string; scope: string }[];
  } finally {
    db.close();
  }
}

async function within(ms: number, check: () => boolean, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

describe('one capture never stalls the agent\'s queue', () => {
  let slapd: Slapd;
  let proxy: LdapProxy;
  let world: AgentWorld;
  let agent: CliProcess;
  let hook = '';
  const passwords: string[] = [];

  const capture = async (account: string, password: string): Promise<void> => {
    passwords.push(password);
    const secret = Secret.fromString(password);
    try {
      const answer = await sendCapture(join(world.dir, 'agent-data', 'capture.sock'), { account, secret });
      assert.ok(answer.ok && answer.status === 'queued', `${account}: ${JSON.stringify(answer)}`);
    } finally {
      secret.dispose();
    }
  };
  const post = (body: string): Promise<Response> => fetch(hook, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });

  before(async () => {
    slapd = await startSlapd({
      baseDn: BASE,
      ldif: [
        `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
        ...LOGINS.map((u) => `dn: uid=${u},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${u}\ncn: ${u}\nsn: ${u}\n`),
        `dn: cn=staff,${BASE}\nobjectClass: groupOfNames\ncn: staff\n${LOGINS.map((u) => `member: uid=${u},${PEOPLE}`).join('\n')}\n`,
      ],
    });
    proxy = await startLdapProxy(slapd.url);
    world = await createAgentWorld({
      logins: LOGINS,
      agentYaml: [
        'capture:',
        '  http: { listen: "127.0.0.1:0", token: file:hook.token }',
        'scope:',
        '  include: [staff]',
        '  directory:',
        `    ldap: { url: "${proxy.url}", bindDn: "${slapd.adminDn}", bindPassword: file:scope.pw, baseDn: "${BASE}", insecurePlaintext: true, cacheTtl: 0, timeout: 3s }`,
      ],
      files: { 'hook.token': `${TOKEN}\n`, 'scope.pw': `${slapd.adminPassword}\n` },
    });
    await world.startServer();
    agent = await world.startAgent();
    hook = /and (http:\/\/127\.0\.0\.1:\d+\/v1\/capture)/.exec(agent.output)?.[1] ?? '';
    assert.ok(hook, agent.output);
  });
  after(async () => {
    await world.close();
    await proxy.close();
    await slapd.stop();
  });

  test('a capture for the account x$` and then a normal change: both delivered within seconds, no reconnect storm', async () => {
    const connections = proxy.connections;
    await capture(DOLLAR, pw(DOLLAR, 1));
    await capture('u001', pw('u001', 1));
    const ms = await within(5000, () => queued(world).length === 0, 'the queue to empty');
    assert.ok(ms < 5000);
    await eventually(() => world.holds('u001', pw('u001', 1)), 30_000, 'u001 to hold its password');
    await eventually(() => world.holds(DOLLAR, pw(DOLLAR, 1)), 30_000, `${DOLLAR} to hold its password`);
    assert.ok(proxy.connections - connections <= 1, `${proxy.connections - connections} new connections to the directory`);
  });

  test('a directory that answers for every account but one: the others are delivered within 2 s, with at most one reconnect', async () => {
    const connections = proxy.connections;
    proxy.poison = Buffer.from('u003');
    try {
      await capture('u003', pw('u003', 1));
      assert.deepEqual(queued(world), [{ account: 'u003', scope: 'pending' }]);
      await capture('u004', pw('u004', 1));
      await capture('u005', pw('u005', 1));
      await capture('u003', pw('u003', 2));
      await within(2000, () => queued(world).every((c) => c.account === 'u003'), 'u004 and u005 to leave the queue');
      // Later changes of the undecided account wait behind it, in order.
      assert.deepEqual(queued(world).map((c) => c.account), ['u003', 'u003']);
      await eventually(async () => (await world.holds('u004', pw('u004', 1))) && (await world.holds('u005', pw('u005', 1))), 30_000, 'u004 and u005 to hold their passwords');
      assert.ok(proxy.refused > 0, 'the proxy refused the questions about u003');
      assert.ok(proxy.connections - connections <= 1, `${proxy.connections - connections} new connections to the directory`);
    } finally {
      proxy.poison = undefined;
    }
    // Once the directory answers for it, the account's changes follow, the newest last.
    await within(30_000, () => queued(world).length === 0, 'u003 to be delivered');
    await eventually(() => world.holds('u003', pw('u003', 2)), 30_000, 'u003 to hold its newest password');
  });

  test('a change time of 1970 at the HTTP hook is refused there (400 malformed); the next change is delivered', async () => {
    for (const changedAt of ['"1970-01-01T00:00:00Z"', '0', '-5', '8640000000000001', '1e300', '"275760-09-13T00:00:00.001Z"']) {
      const r = await post(`{"account":"u006","password":"${pw('u006', 1)}","changedAt":${changedAt}}`);
      assert.equal(r.status, 400, `changedAt ${changedAt}: ${r.status}`);
      assert.equal(((await r.json()) as { error: string }).error, 'malformed', `changedAt ${changedAt}`);
    }
    passwords.push(pw('u006', 1));
    assert.deepEqual(queued(world), [], 'nothing refused was queued');
    const ok = await post(JSON.stringify({ account: 'u007', password: pw('u007', 1) }));
    assert.equal(ok.status, 202);
    passwords.push(pw('u007', 1));
    await within(5000, () => queued(world).length === 0, 'u007 to leave the queue');
    await eventually(() => world.holds('u007', pw('u007', 1)), 30_000, 'u007 to hold its password');
    const status = await world.agentStatus();
    assert.equal(status.events.filter((e) => e.code === EVENT.DELIVERY_REJECTED).length, 0);
  });

  test('no test password appears in any file, log or output', async () => {
    await assertNoPasswords(world.dir, ['-e2e-51c7', ...passwords], world.outputs, 'after the run');
  });
});
