import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { CompactEncrypt } from 'jose';
import { Agent, request } from 'undici';
import { EVENT } from '../../src/core/events.ts';
import { loadJwePublicKey, type JweKey } from '../../src/pki/jwe-key.ts';
import { JWE_ALG, JWE_ENC, NOTIFICATIONS_PATH, jweBinding } from '../../src/protocol/notifications.ts';
import { assertNoPasswords, createAgentWorld, eventually, type AgentWorld } from '../support/agent-world.ts';
import type { CliProcess } from '../support/cli.ts';
import { startSlapd, type Slapd } from '../support/slapd.ts';

/*
 * The server's own boundary (`source.protect`), with a real directory: a private slapd is the
 * source `directory` (its accounts u000… joined by login to a file target), and the server protects
 * the account U004 (named in another case than the directory's) and the members of group `admins`:
 * u001 directly, u002 through two nested groups. A registered agent that sends changes for them —
 * as root on a taken agent host would, by name, by another spelling, or by the anchor under
 * another account's name — is refused each time with 7017, and nothing is delivered; a change of
 * u003 in the same batch goes through. With the directory gone and the last resolution too old,
 * nothing is guessed: the source's notifications are answered `retry` (7018), and taken again
 * once the directory is back.
 */

const BASE = 'dc=pwsync,dc=test';
const PEOPLE = `ou=people,${BASE}`;
const GROUPS = `ou=groups,${BASE}`;
const LOGINS = ['u000', 'u001', 'u002', 'u003', 'u004', 'u005'];
const person = (uid: string): string => `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n`;
const group = (cn: string, members: readonly string[]): string => `dn: cn=${cn},${GROUPS}\nobjectClass: groupOfNames\ncn: ${cn}\n${members.map((m) => `member: ${m}`).join('\n')}\n`;
const LDIF = [
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  ...LOGINS.map(person),
  group('admins', [`uid=u001,${PEOPLE}`, `cn=tier0,${GROUPS}`]),
  group('tier0', [`cn=ops-leads,${GROUPS}`]),
  group('ops-leads', [`uid=u002,${PEOPLE}`]),
  group('staff', [`uid=u003,${PEOPLE}`, `uid=u005,${PEOPLE}`]),
];
const NEW_PW = 'Protected-Boundary-Pw-e2e-7c41';

interface Result {
  readonly id: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

describe('the server protects accounts no agent may change (source.protect), resolved in the source directory', () => {
  let slapd: Slapd;
  let world: AgentWorld;
  let server: CliProcess;
  let serverKey: JweKey;
  let dc1: Agent;

  const notification = async (account: string, options: { anchor?: string; password?: string } = {}) => {
    const now = Date.now();
    const envelope = { id: randomUUID(), source: 'directory', account, ...(options.anchor === undefined ? {} : { anchor: options.anchor }), changedAt: now - 1000, capturedAt: now };
    const password = await new CompactEncrypt(Buffer.from(options.password ?? NEW_PW))
      .setProtectedHeader({ alg: JWE_ALG, enc: JWE_ENC, kid: serverKey.kid, ...jweBinding(envelope) })
      .encrypt(serverKey.key);
    return { ...envelope, password };
  };
  const post = async (notifications: object[]): Promise<{ status: number; results: Result[] }> => {
    const r = await request(new URL(NOTIFICATIONS_PATH, world.url), { method: 'POST', dispatcher: dc1, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ notifications }) });
    const body = (await r.body.json()) as { results?: Result[] };
    return { status: r.statusCode, results: body.results ?? [] };
  };
  const anchorOf = (login: string): string => {
    const db = new Database(join(world.dir, 'data', 'pwsync.db'), { readonly: true });
    try {
      const rows = db.prepare("SELECT anchor, attributes FROM accounts WHERE system = 'directory'").all() as { anchor: string; attributes: string }[];
      const row = rows.find((r) => (JSON.parse(r.attributes) as Record<string, string>)['login'] === login);
      assert.ok(row, `account ${login} imported`);
      return row.anchor;
    } finally {
      db.close();
    }
  };

  before(async () => {
    slapd = await startSlapd({ baseDn: BASE, ldif: LDIF });
    // The CLI's processes inherit the environment: the service account's password by reference.
    process.env['PWSYNC_TEST_PROTECT_LDAP_PW'] = slapd.adminPassword;
    world = await createAgentWorld({
      logins: LOGINS,
      sourceYaml: [
        '  - name: directory',
        '    connector: ldap',
        `    ldap: { url: "${slapd.url}", insecurePlaintext: true, bindDn: "${slapd.adminDn}", bindPassword: "\${PWSYNC_TEST_PROTECT_LDAP_PW}", baseDns: ["${PEOPLE}"], timeout: 2s }`,
        '    source:',
        '      accountAttribute: login',
        '      agents: [dc1]',
        '      protect: { accounts: [U004], groups: [admins], refresh: 2s }',
        '    import: { anchor: entryUUID, map: { login: uid } }',
      ],
    });
    serverKey = await loadJwePublicKey(join(world.pki, 'server-jwe.pub.json'));
    const a = join(world.pki, 'agents', 'dc1');
    dc1 = new Agent({ connect: { ca: await readFile(join(world.pki, 'ca.crt')), cert: await readFile(join(a, 'dc1.crt')), key: await readFile(join(a, 'dc1.key')) } });
    server = await world.startServer();
  });
  after(async () => {
    await dc1.close();
    await server.stop();
    await world.close();
    await slapd.stop();
  });

  test('config check names what each source protects', async () => {
    const r = await world.cli(['config', 'check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /directory: no agent may change accounts \[U004\]; members of groups \[admins\], nested/);
    const connected = await world.cli(['config', 'check', '--connect']);
    assert.equal(connected.code, 0, connected.stderr);
    assert.match(connected.stdout, /source\.protect: 5 entries protected from agents/, 'u004, u001, u002 and the nested groups tier0 and ops-leads');
  });

  test('changes of protected accounts — a direct member, a nested one, a named account in another case, an anchor under another name — are refused with 7017; the other account goes through', async () => {
    const batch = [
      await notification('u001'),
      await notification('u002'),
      await notification('U004'),
      await notification('u005', { anchor: anchorOf('u002') }),
      await notification('u003'),
    ];
    const { status, results } = await post(batch);
    assert.equal(status, 422);
    assert.deepEqual(results.map((r) => [r.status, r.reason]), [
      ['rejected', 'protected'],
      ['rejected', 'protected'],
      ['rejected', 'protected'],
      ['rejected', 'protected'],
      ['accepted', undefined],
    ]);
    await eventually(() => world.holds('u003', NEW_PW), 10_000, 'the change of u003 delivered');
    for (const login of ['u001', 'u002', 'u004', 'u005']) assert.equal(await world.targetHash(login), '', `nothing delivered to ${login}`);

    const events = await world.serverEvents();
    const protectedEvents = events.filter((e) => e.code === EVENT.ACCOUNT_PROTECTED);
    assert.deepEqual(protectedEvents.map((e) => e.changeId).sort(), batch.slice(0, 4).map((n) => n.id).sort());
    const said = protectedEvents.map((e) => e.message).join('\n');
    assert.match(said, /agent:dc1 may not change the password of "u001" \(anchor [^)]+\) in "directory": member of protected group "admins"/);
    assert.match(said, /"u002" .*member of protected group "admins"/);
    assert.match(said, /"u004" .*protected account "U004"/);
    assert.equal(protectedEvents.filter((e) => /"u002"/.test(e.message)).length, 2, 'the anchor of u002 sent under the name u005 is u002');
  });

  test('with the directory gone and the resolution too old, the source\'s notifications are answered retry (7018); taken again once it is back', async () => {
    await slapd.kill();
    try {
      // The resolution serves for `refresh` (2 s); after that nothing is guessed.
      await new Promise((r) => setTimeout(r, 2500));
      const held = await notification('u005');
      const during = await post([held]);
      assert.deepEqual(during.results.map((r) => r.status), ['retry']);
      await eventually(async () => (await world.serverEvents()).some((e) => e.code === EVENT.PROTECTION_UNAVAILABLE), 5000, 'event 7018');
      assert.equal(await world.targetHash('u005'), '', 'nothing accepted unchecked');
    } finally {
      await slapd.restart();
    }
    let last: Result[] = [];
    const again = await notification('u005');
    await eventually(
      async () => {
        last = (await post([again])).results;
        return last[0]?.status === 'accepted';
      },
      20_000,
      'the notification taken once the directory is back',
    );
    await eventually(() => world.holds('u005', NEW_PW), 10_000, 'the change of u005 delivered');
  });

  test('the test password appears in no file, log or output', async () => {
    await assertNoPasswords(world.dir, [NEW_PW], [...world.outputs, server.outputBytes], 'after the protection checks');
  });
});
