/*
 * Capture at a Samba AD domain controller, end to end with the real processes: a change made on
 * the DC (an administrator's LDAPS reset, the user's own change, samba-tool), captured by
 * syncpasswords under the agent's supervision, handed over by pwsync-samba-hook, queued, delivered
 * to the server, and written to a private OpenLDAP (the new password binds) and to an application
 * file (the new password verifies). Scope by the DC's groups; the agent stopped while passwords
 * change (nothing lost: syncpasswords resumes from its cursor); a password Samba takes and
 * OpenLDAP's policy refuses (6927 there, the file still gets it, capture goes on); syncpasswords
 * killed (restarted by the agent, 7049). Needs root and Samba (scripts/test.sh installs it).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertNoPasswords, eventually } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';
import { createSambaCaptureWorld, freshPassword, initialPassword, type SambaCaptureWorld } from '../support/samba-capture-world.ts';
import { EVENT } from '../../src/core/events.ts';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

describe('Samba AD DC → syncpasswords → agent → server → OpenLDAP and a file', () => {
  let world: SambaCaptureWorld;
  let agent: CliProcess;
  const current = new Map(USERS.map((u) => [u, initialPassword(u)]));

  /** Waits until both targets take `password` for `login`. */
  const arrives = async (login: string, password: string, ms = 20_000): Promise<void> => {
    await eventually(async () => (await world.ldapBinds(login, password)) && (await world.appsHold(login, password)), ms, `${login}'s new password on OpenLDAP and in the file`);
    current.set(login, password);
  };

  before(async () => {
    world = await createSambaCaptureWorld({ users: USERS, include: USERS.filter((u) => u !== 'grace'), exclude: ['heidi'] });
    await world.startServer();
    agent = await world.startAgent();
    // The cursor is new: its first pass reports every account, and none of them is a change.
    await eventually(async () => (await readFile(join(world.dir, 'agent.log'), 'utf8')).includes('wake-up chosen'), 30_000, 'the first pass');
  });

  after(async () => {
    await world.close();
    await assertNoPasswords(world.dir, world.passwords, world.outputs, 'after the Samba capture run').catch((e: unknown) => {
      // The directory is gone by now; the outputs were checked.
      if (!(e instanceof Error && /ENOENT/.test(e.message))) throw e;
    });
  });

  test("Samba's single-process model is seen: syncpasswords waits on its notification", async () => {
    assert.match(await readFile(join(world.dir, 'agent.log'), 'utf8'), /"sambaModel":"single","wake":"notify"/);
  });

  test('passwords set before the agent started are not forwarded', async () => {
    const events = await world.serverEvents();
    assert.equal(events.filter((e) => e.code === EVENT.CHANGE_ACCEPTED).length, 0, JSON.stringify(events.slice(0, 5)));
    assert.equal(await world.ldapBinds('alice', initialPassword('alice')), true);
  });

  test("an administrator's LDAPS reset, with a non-ASCII password, reaches OpenLDAP and the file", async () => {
    const password = 'Ålice-Nÿ-Pässwörd-1';
    await world.reset('alice', password);
    await arrives('alice', password);
    // By objectGUID: the server found the account by the anchor the agent sent.
    const routed = (await world.serverEvents()).filter((e) => e.code === EVENT.CHANGE_ACCEPTED && e.system === 'ad');
    assert.equal(routed.at(-1)?.anchor, world.users.get('alice')?.guid);
  });

  test("the user's own change reaches both targets", async () => {
    const password = freshPassword('Bob');
    await world.selfChange('bob', current.get('bob') ?? '', password);
    await arrives('bob', password);
  });

  test('samba-tool user setpassword reaches both targets', async () => {
    const password = freshPassword('Carol');
    await world.sambaTool('carol', password);
    await arrives('carol', password);
  });

  test('scope: a user outside the include group and a member of the exclude group are not forwarded', async () => {
    const outside = freshPassword('Grace');
    const excluded = freshPassword('Heidi');
    await world.reset('grace', outside);
    await world.reset('heidi', excluded);
    const marker = freshPassword('Dave');
    await world.reset('dave', marker);
    await arrives('dave', marker);
    await eventually(async () => (await world.agentEvents()).filter((e) => e.code === EVENT.OUT_OF_SCOPE).length >= 2, 10_000, 'two 7040 events');
    const outOfScope = (await world.agentEvents()).filter((e) => e.code === EVENT.OUT_OF_SCOPE).map((e) => e.anchor);
    assert.deepEqual(outOfScope.sort(), ['grace', 'heidi']);
    assert.equal(await world.ldapBinds('grace', outside), false);
    assert.equal(await world.ldapBinds('heidi', excluded), false);
    assert.equal(await world.appsHold('heidi', excluded), false);
  });

  test('a password Samba takes and OpenLDAP refuses: 6927 for OpenLDAP, the file gets it, capture goes on', async () => {
    const short = 'Ab1-xyz'; // 7 characters: Samba's minimum; OpenLDAP's policy asks for 8
    await world.reset('erin', short);
    await eventually(async () => world.appsHold('erin', short), 20_000, "erin's short password in the file");
    await eventually(async () => (await world.serverEvents()).some((e) => e.code === EVENT.POLICY_REFUSED && e.system === 'directory'), 20_000, 'a 6927 event for the directory');
    assert.equal(await world.ldapBinds('erin', initialPassword('erin')), true);
    const next = freshPassword('Frank');
    await world.reset('frank', next);
    await arrives('frank', next);
  });

  test('agent stopped while passwords change: everything arrives once it is back, the newest password of two quick changes wins', async () => {
    assert.equal(await agent.stop('SIGTERM'), 0);
    const first = freshPassword('AliceA');
    const second = freshPassword('AliceB');
    const bobs = freshPassword('BobC');
    await world.reset('alice', first);
    await world.reset('alice', second);
    await world.reset('bob', bobs);
    agent = await world.startAgent();
    await arrives('alice', second);
    await arrives('bob', bobs);
    assert.equal(await world.ldapBinds('alice', first), false);
  });

  test('syncpasswords killed: the agent starts it again (7049) from its cursor', async () => {
    const pidFile = join(world.dir, 'agent-data', 'samba-syncpasswords.ldb.pid');
    const pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
    assert.ok(pid > 1, `a pid in ${pidFile}`);
    process.kill(pid, 'SIGKILL');
    await eventually(async () => (await world.agentEvents()).some((e) => e.code === EVENT.CAPTURE_FEED_RESTARTED && /signal SIGKILL/.test(e.message)), 10_000, 'a 7049 event');
    const password = freshPassword('Dave2');
    await world.reset('dave', password);
    await arrives('dave', password);
  });

  test('the agent killed with SIGKILL: the new agent takes over the cursor, nothing is lost', async () => {
    await agent.stop('SIGKILL');
    const password = freshPassword('Carol2');
    await world.reset('carol', password);
    agent = await world.startAgent();
    await arrives('carol', password);
  });
});

describe("Samba's default process model (prefork): changes are picked up without its 5-second timer", () => {
  let world: SambaCaptureWorld;

  before(async () => {
    world = await createSambaCaptureWorld({ users: ['ivan', 'judy'], later: ['kim'], processModel: 'prefork' });
    await world.startServer();
    await world.startAgent();
    await eventually(async () => (await readFile(join(world.dir, 'agent.log'), 'utf8')).includes('wake-up chosen'), 30_000, 'the first pass');
  });

  after(() => world.close());

  test('the agent chose to poll the directory, and a reset and a samba-tool change arrive', async () => {
    const log = await readFile(join(world.dir, 'agent.log'), 'utf8');
    assert.match(log, /"sambaModel":"multi","wake":"poll","pollIntervalMs":200/);
    const reset = freshPassword('Ivan');
    await world.reset('ivan', reset);
    const tool = freshPassword('Judy');
    await world.sambaTool('judy', tool);
    await eventually(async () => (await world.ldapBinds('ivan', reset)) && (await world.ldapBinds('judy', tool)), 20_000, 'both passwords on OpenLDAP');
  });

  test('an account created at the DC after the import: its change is held, the account looked up and imported, and its latest password reaches OpenLDAP and the file', async () => {
    // kim's OpenLDAP and file accounts were imported with the rest; the DC account is new.
    const created = freshPassword('KimA');
    const kim = await world.createUser('kim', created);
    const reset = freshPassword('KimB');
    await world.reset('kim', reset);
    // Samba may report the create and the reset as one change: the latest password is what counts.
    await eventually(async () => (await world.ldapBinds('kim', reset)) && (await world.appsHold('kim', reset)), 30_000, "kim's latest password on OpenLDAP and in the file");
    assert.equal(await world.ldapBinds('kim', created), false);
    const events = await world.serverEvents();
    // Oldest first: the lookup, the import, the routing of kim's latest change, its delivery to OpenLDAP.
    const lookedUp = events.findIndex((e) => e.code === EVENT.ARRIVAL_LOOKED_UP && e.system === 'ad' && e.anchor === kim.guid);
    const imported = events.findIndex((e) => e.code === EVENT.ARRIVAL_IMPORTED && e.system === 'ad' && e.anchor === kim.guid);
    const routed = events.findLastIndex((e) => e.code === EVENT.CHANGE_ACCEPTED && e.anchor === kim.guid);
    const delivered = events.findLastIndex((e) => e.code === EVENT.PASSWORD_SET && e.system === 'directory' && e.changeId === events[routed]?.changeId);
    const shown = JSON.stringify(events.slice(lookedUp));
    assert.ok(lookedUp >= 0 && imported >= 0 && routed >= 0 && delivered >= 0, shown);
    assert.ok(lookedUp < imported && imported < routed && routed < delivered, shown);
    assert.match(events[imported]?.message ?? '', /projected; 2 account/);
    // Looked up once: a second change finds kim in the store.
    assert.equal(events.filter((e) => e.code === EVENT.ARRIVAL_LOOKED_UP).length, 1);
    assert.equal(events.some((e) => e.code === EVENT.UNKNOWN_SOURCE_ACCOUNT), false);
  });
});
