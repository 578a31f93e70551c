import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configSchema, type SystemConfig } from '../../config/schema.ts';
import type { Capability, Connector, GroupMembers, Members, MembersQuery } from '../../connectors/types.ts';
import { TransientError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';
import type { NewEvent } from '../../core/model.ts';
import { withSecretContext } from '../../fields/secret-ref.ts';
import { silentLogger } from '../../log/logger.ts';
import type { AccountWithLink } from '../../store/port.ts';
import { SourceProtection } from './protection.ts';

/*
 * The cost and the failures of the server's protection, with a connector of our own that counts
 * the resolutions and can be made to fail (the real directory is in
 * test/e2e/intake-protection.e2e.test.ts and test/integration/ldap-samba-ad-protect.test.ts).
 */

const REFRESH = 10_000;

function systems(): SystemConfig[] {
  const ldap = { url: 'ldaps://dc.example', flavor: 'ad', bindDn: 'cn=svc', bindPassword: '${PW}', baseDns: ['dc=example'] };
  return withSecretContext({ env: { PW: 'placeholder' }, baseDir: '/', created: [] }, () => configSchema.parse({
    systems: [
      { name: 'ad', connector: 'ldap', ldap, source: { accountAttribute: 'login', protect: { accounts: ['Root'], groups: ['Tier0'], refresh: `${REFRESH}ms` } }, import: { anchor: 'objectGUID', map: { login: 'sAMAccountName' } } },
      { name: 'hr', connector: 'file', file: { path: 'hr.csv' }, source: { accountAttribute: 'login', protect: { accounts: ['boss'], anchors: ['42'] } }, import: { anchor: 'id', map: { login: 'login' } } },
      { name: 'plain', connector: 'file', file: { path: 'p.csv' }, source: { accountAttribute: 'login' }, import: { anchor: 'id' } },
    ],
  })).systems;
}

class Directory implements Connector, GroupMembers {
  readonly kind = 'ldap';
  readonly capabilities = new Set<Capability>(['groupMembers']);
  resolutions = 0;
  down = false;
  gate: Promise<void> | undefined;
  queries: MembersQuery[] = [];

  async membersOf(query: MembersQuery): Promise<Members> {
    this.resolutions++;
    this.queries.push(query);
    await this.gate;
    if (this.down) throw new TransientError('the directory cannot be reached');
    return { anchors: new Map([['guid-admin', 'member of protected group "Tier0"']]), problems: [], searches: 3 };
  }

  testConnection(): never {
    throw new Error('not used');
  }

  isSecure(): boolean {
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function world(maxWaitMs?: number) {
  let now = 1_000_000;
  const directory = new Directory();
  const events: NewEvent[] = [];
  const all = systems();
  const protection = new SourceProtection({
    systems: all,
    connector: () => directory,
    log: silentLogger(),
    now: () => now,
    ...(maxWaitMs === undefined ? {} : { maxWaitMs }),
    appendEvents: (e) => {
      events.push(...e);
      return Promise.resolve();
    },
  });
  const system = (name: string): SystemConfig => {
    const found = all.find((s) => s.name === name);
    assert.ok(found);
    return found;
  };
  return { protection, directory, events, system, advance: (ms: number) => (now += ms) };
}

const account = (anchor: string, login: string): AccountWithLink => ({ id: 1, system: 'x', anchor, attributes: { login }, lastAppliedAt: null, importedAt: 0, personId: 'p' });

describe('the server\'s protection of sources', () => {
  test('judges the account the store resolved: by anchor, or by its stored login in the source\'s match mode; a source without protect is never asked', async () => {
    const { protection, directory, system } = world();
    const { guard, unavailable } = await protection.prepare(['ad', 'hr', 'plain']);
    assert.deepEqual([...unavailable], []);
    assert.equal(guard(system('ad'), account('guid-admin', 'alice')), 'member of protected group "Tier0"');
    assert.equal(guard(system('ad'), account('guid-other', 'ROOT')), 'protected account "Root"');
    assert.equal(guard(system('ad'), account('guid-other', 'alice')), undefined);
    assert.equal(guard(system('hr'), account('42', 'anyone')), 'protected anchor "42"');
    assert.equal(guard(system('hr'), account('7', 'Boss')), 'protected account "boss"');
    assert.equal(guard(system('plain'), account('guid-admin', 'root')), undefined);
    assert.equal(directory.resolutions, 1, 'only the source with groups asks its directory');
    assert.deepEqual(directory.queries[0], { groups: ['Tier0'], accounts: ['Root'], accountAttribute: 'sAMAccountName', marked: true });
  });

  test('one resolution per refresh: concurrent batches share it, a batch after half of it starts the next in the background', async () => {
    const { protection, directory, advance } = world();
    let open: () => void = () => undefined;
    directory.gate = new Promise((r) => (open = r));
    const waiting = [protection.prepare(['ad']), protection.prepare(['ad']), protection.prepare(['ad'])];
    open();
    await Promise.all(waiting);
    assert.equal(directory.resolutions, 1);
    directory.gate = undefined;
    for (let i = 0; i < 50; i++) await protection.prepare(['ad']);
    assert.equal(directory.resolutions, 1, 'a fresh resolution serves every batch');
    advance(REFRESH / 2);
    await protection.prepare(['ad']);
    await protection.prepare(['ad']);
    assert.equal(directory.resolutions, 2, 'one background resolution after half the refresh');
  });

  test('the directory gone: the last resolution serves until it is refresh old, then the source\'s notifications wait (retry), 7018 once, the directory asked at most every 5 s; back again, taken again', async () => {
    const { protection, directory, events, advance } = world();
    await protection.prepare(['ad']);
    directory.down = true;
    advance(REFRESH / 2);
    const stillServed = await protection.prepare(['ad']);
    assert.deepEqual([...stillServed.unavailable], [], 'the last resolution is not yet refresh old');
    advance(REFRESH / 2);
    const held = await protection.prepare(['ad', 'hr']);
    assert.deepEqual([...held.unavailable.keys()], ['ad'], 'only the source whose directory is gone waits');
    // The background resolution failed 5 s ago (or just now): at most one more ask, then none for 5 s.
    await protection.prepare(['ad']);
    const asked = directory.resolutions;
    for (let i = 0; i < 20; i++) assert.ok((await protection.prepare(['ad'])).unavailable.has('ad'));
    assert.equal(directory.resolutions, asked, 'not asked again within 5 s');
    advance(5000);
    await protection.prepare(['ad']);
    assert.equal(directory.resolutions, asked + 1);
    assert.deepEqual(events.map((e) => [e.code, e.system]), [[EVENT.PROTECTION_UNAVAILABLE, 'ad']], 'one 7018 for the outage');
    directory.down = false;
    advance(5000);
    assert.deepEqual([...(await protection.prepare(['ad'])).unavailable], []);
  });

  test('a protected group that does not exist: nothing guessed, the source waits, naming the group', async () => {
    const { protection, directory } = world();
    directory.membersOf = (query) => {
      directory.resolutions++;
      return Promise.resolve({ anchors: new Map(), problems: [`protected group "${query.groups[0] ?? ''}" does not exist`], searches: 1 });
    };
    const { unavailable } = await protection.prepare(['ad']);
    assert.match(unavailable.get('ad') ?? '', /protected group "Tier0" does not exist/);
  });

  test('a directory that does not answer holds a batch for maxWaitMs at most (retry); the resolution goes on and serves the next batch', async () => {
    const { protection, directory } = world(50);
    let open: () => void = () => undefined;
    directory.gate = new Promise((r) => (open = r));
    const started = performance.now();
    const { unavailable } = await protection.prepare(['ad']);
    assert.ok(performance.now() - started < 1000);
    assert.match(unavailable.get('ad') ?? '', /did not answer within 0.05 s/);
    open();
    await new Promise((r) => setImmediate(r));
    const next = await protection.prepare(['ad']);
    assert.deepEqual([...next.unavailable], []);
    assert.equal(directory.resolutions, 1, 'the same resolution, not a second one');
  });
});
