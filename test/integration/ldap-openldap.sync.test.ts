/*
 * A source (a file) → pwsync → a private OpenLDAP with TLS and ppolicy, through the runtime the
 * server runs (configuration file, registry, store thread, workers): import and join, set,
 * policy refusal (6927), a deleted account (6923), the directory stopped mid-run (retried, then
 * delivered), plain LDAP refused when a secure connection is required (7005), delta import.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change } from 'ldapts';
import { EVENT, type EventCode } from '../../src/core/events.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import { importSystem } from '../../src/sync/importer.ts';
import { PEOPLE, SERVICE_DN, startOpenLdapWorld, type OpenLdapWorld } from '../support/connectors/ldap.ts';
import { runCli } from '../support/cli.ts';
import { assertNoPasswords } from '../support/leaks.ts';
import { RuntimeChanges } from '../support/runtime-changes.ts';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
const passwords: string[] = [];

describe('file source → pwsync → OpenLDAP (ppolicy, TLS)', () => {
  let world: OpenLdapWorld;
  let dir = '';
  let rt: Runtime;
  const dns = new Map<string, string>();
  const uuids = new Map<string, string>();

  const yaml = (ldapExtra: string): string => `
dataDir: ./data
server: { workers: 4, pollInterval: 20ms }
log: { level: debug, file: ./pwsync.log }
systems:
  - name: hr
    connector: file
    file: { path: hr.csv }
    source: { accountAttribute: login }
    import: { anchor: id, map: { login: login } }
  - name: directory
    connector: ldap
    ldap:
      url: ${world.slapd.url}
      bindDn: "${SERVICE_DN}"
      bindPassword: \${PWSYNC_TEST_LDAP_PW}
      baseDns: ["${PEOPLE}"]
      tls: { ca: ${world.slapd.caFile ?? ''} }
${ldapExtra}
    import: { anchor: entryUUID, map: { login: uid, mail: mail } }
    join: [{ person: login, account: login }]
    password: { sync: true, retry: { count: 20, interval: 250ms } }
`;

  const changes = new RuntimeChanges(() => rt, 'hr', 'directory', passwords);
  const change = (login: string, password: string): Promise<string> => changes.change(login, password);
  const finalEvent = (changeId: string, codes: readonly EventCode[]): Promise<EventCode> => changes.finalEvent(changeId, codes, 20_000);

  before(async () => {
    world = await startOpenLdapWorld();
    process.env.PWSYNC_TEST_LDAP_PW = world.servicePassword;
    dir = await mkdtemp(join(tmpdir(), 'pwsync-ldap-sync-'));
    await writeFile(join(dir, 'hr.csv'), `id,login\n${USERS.map((u, i) => `${i + 1},${u}`).join('\n')}\n`);
    for (const u of USERS) {
      const { dn, uuid } = await world.addUser(u, `${u}-Initial-Pw1`, { mail: `${u}@example.test` });
      dns.set(u, dn);
      uuids.set(u, uuid);
    }
    await writeFile(join(dir, 'pwsync.yaml'), yaml(''));
    await Keyring.create(join(dir, 'data', 'store.key'));
    rt = await openRuntime(join(dir, 'pwsync.yaml'), { workers: true, storeThread: true });
  });

  after(async () => {
    await rt.close();
    delete process.env.PWSYNC_TEST_LDAP_PW;
    await assertNoPasswords(dir, passwords, [], 'after the LDAP sync run');
    await rm(dir, { recursive: true, force: true });
    await world.stop();
  });

  test('pwsync config check --connect binds over TLS and reads the base DN; a wrong password is reported', async () => {
    const config = join(dir, 'pwsync.yaml');
    const good = await runCli(['config', 'check', config, '--connect', '--json'], { env: { PWSYNC_TEST_LDAP_PW: world.servicePassword } });
    assert.equal(good.code, 0, good.stderr);
    const report = JSON.parse(good.stdout) as { ok: boolean; connections: { system: string; ok: boolean; secure: boolean; identity: string }[] };
    assert.equal(report.ok, true);
    assert.deepEqual(report.connections.map((c) => [c.system, c.ok, c.secure]), [['hr', true, true], ['directory', true, true]]);
    assert.equal(report.connections[1]?.identity, SERVICE_DN);
    const bad = await runCli(['config', 'check', config, '--connect'], { env: { PWSYNC_TEST_LDAP_PW: 'not-the-password' } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /directory \(ldap\): FAILED.*ERR_SERVICE_CREDENTIALS/);
  });

  test('import projects persons from the source and joins every directory account by login', async () => {
    await importSystem(rt.ctx, 'hr');
    const report = await importSystem(rt.ctx, 'directory');
    assert.equal(report.read, USERS.length);
    assert.equal(report.joined, USERS.length);
  });

  test('a change reaches the directory and the new password binds (non-ASCII too)', async () => {
    const id = await change('alice', 'Ålice-Nÿ-Pässwörd-1');
    assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.POLICY_REFUSED, EVENT.ACCOUNT_NOT_FOUND]), EVENT.PASSWORD_SET);
    assert.equal(await world.binds(dns.get('alice') ?? '', 'Ålice-Nÿ-Pässwörd-1'), true);
  });

  test('a password the directory policy refuses ends in 6927 and changes nothing', async () => {
    const id = await change('bob', 'short');
    assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.POLICY_REFUSED]), EVENT.POLICY_REFUSED);
    assert.equal(await world.binds(dns.get('bob') ?? '', 'bob-Initial-Pw1'), true);
  });

  test('an account deleted in the directory ends in 6923', async () => {
    await world.admin((client) => client.del(dns.get('dave') ?? ''));
    const id = await change('dave', 'Dave-Gone-Passw0rd');
    assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.ACCOUNT_NOT_FOUND]), EVENT.ACCOUNT_NOT_FOUND);
  });

  test('the directory stopped mid-run: retried (7003), delivered once it is back', async () => {
    await world.slapd.kill();
    const id = await change('carol', 'Carol-Back-Again-1');
    await finalEvent(id, [EVENT.RETRY_SCHEDULED]);
    await world.slapd.restart();
    assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED]), EVENT.PASSWORD_SET);
    assert.equal(await world.binds(dns.get('carol') ?? '', 'Carol-Back-Again-1'), true);
  });

  test('delta import reads only what changed since the last import', async () => {
    await world.admin((client) => client.modify(dns.get('erin') ?? '', new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: ['erin.new@example.test'] }) })));
    const report = await importSystem(rt.ctx, 'directory', () => undefined, { mode: 'delta' });
    assert.equal(report.mode, 'delta');
    // The overlap (10 min by default) reads the recent changes again: at least erin, never dave.
    assert.ok(report.read >= 1 && report.read < USERS.length, `read ${report.read}`);
    const erin = await rt.ctx.store.getAccount('directory', uuids.get('erin') ?? '');
    assert.equal(erin?.attributes.mail, 'erin.new@example.test');
  });

  test('plain LDAP to a system that requires a secure connection: 7005, nothing sent', async () => {
    await rt.close();
    await writeFile(join(dir, 'pwsync.yaml'), yaml('      insecurePlaintext: true'));
    rt = await openRuntime(join(dir, 'pwsync.yaml'), { workers: true, storeThread: true });
    const id = await change('erin', 'Erin-Plain-Passw0rd');
    assert.equal(await finalEvent(id, [EVENT.PASSWORD_SET, EVENT.RETRIES_EXHAUSTED, EVENT.DELIVERY_FAILED, EVENT.INSECURE_CONNECTION]), EVENT.INSECURE_CONNECTION);
    assert.equal(await world.binds(dns.get('erin') ?? '', 'erin-Initial-Pw1'), true);
  });
});
