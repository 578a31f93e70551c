/*
 * The private 389 Directory Server of test/support/ds389.ts does what tests of a 389 connector
 * need: it starts on loopback, offers LDAPS and StartTLS with a certificate the client verifies
 * against the harness's CA, lets an ordinary service account (not the Directory Manager) reset
 * another user's password with the Password Modify extended operation (RFC 3062) under the global
 * password policy, gives entries an immutable entryUUID, keeps its data across a restart, and
 * leaves nothing behind when stopped.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { BerWriter, Client, type ClientOptions, ConstraintViolationError, InvalidCredentialsError } from 'ldapts';
import { type Ds389, startDs389 } from '../support/ds389.ts';

const PASSWORD_MODIFY = '1.3.6.1.4.1.4203.1.11.1';
const BASE = 'dc=pwsync,dc=test';
const SERVICE = `uid=pwsync-svc,ou=services,${BASE}`;
const SERVICE_PASSWORD = 'service-Password-1';
const ALICE = `uid=alice,ou=people,${BASE}`;
const ALICE_PASSWORD = 'Initial-Secret-1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const LDIF = [
  `dn: ou=services,${BASE}\nobjectClass: organizationalUnit\nou: services`,
  `dn: ${SERVICE}\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: pwsync-svc\nuserPassword: ${SERVICE_PASSWORD}`,
  [
    `dn: ou=people,${BASE}`,
    'objectClass: organizationalUnit',
    'ou: people',
    // The service account may read people and write their passwords: nothing more, and no policy bypass.
    `aci: (targetattr="userPassword")(version 3.0; acl "pwsync resets passwords"; allow (write) userdn="ldap:///${SERVICE}";)`,
    `aci: (targetattr="uid || cn || sn || objectClass || entryUUID")(version 3.0; acl "pwsync reads people"; allow (read, search, compare) userdn="ldap:///${SERVICE}";)`,
  ].join('\n'),
  `dn: ${ALICE}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice\nsn: Example\nuserPassword: ${ALICE_PASSWORD}`,
];

/** The RFC 3062 request value: userIdentity [0] and newPasswd [2]. */
function passwordModifyRequest(userDn: string, newPassword: string): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeString(userDn, 0x80);
  writer.writeString(newPassword, 0x82);
  writer.endSequence();
  return writer.buffer;
}

async function withClient<T>(options: ClientOptions, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ timeout: 10_000, connectTimeout: 5000, ...options });
  try {
    return await use(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function canBind(ds: Ds389, dn: string, password: string): Promise<boolean> {
  return withClient({ url: ds.url }, async (client) => {
    try {
      await client.bind(dn, password);
      return true;
    } catch (e) {
      if (e instanceof InvalidCredentialsError) return false;
      throw e;
    }
  });
}

async function anchorOf(ds: Ds389, dn: string): Promise<string> {
  return withClient({ url: ds.url }, async (client) => {
    await client.bind(ds.adminDn, ds.adminPassword);
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: [ds.anchorAttribute] });
    const value = searchEntries[0]?.[ds.anchorAttribute];
    assert.equal(typeof value, 'string', `${dn} has one ${ds.anchorAttribute}`);
    return String(value);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('private 389 Directory Server harness', () => {
  let ds: Ds389;
  let ca: Buffer;
  let aliceAnchor: string;
  let newPassword = 'Fresh-Secret-42';

  before(async () => {
    ds = await startDs389({ ldif: LDIF });
    ca = await readFile(ds.caFile);
  });
  after(() => ds.stop());

  test('listens on loopback and serves a bind of the Directory Manager', async () => {
    assert.match(ds.url, /^ldap:\/\/127\.0\.0\.1:\d+$/);
    assert.match(ds.ldapsUrl, /^ldaps:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(ds.dir.length > 0 && existsSync(ds.dir));
    assert.ok(alive(ds.pid));
    assert.ok(await canBind(ds, ds.adminDn, ds.adminPassword));
  });

  test('LDAPS and StartTLS present a certificate verified against the harness CA', async () => {
    await withClient({ url: ds.ldapsUrl, tlsOptions: { ca: [ca] } }, (client) => client.bind(SERVICE, SERVICE_PASSWORD));
    await withClient({ url: ds.url }, async (client) => {
      await client.startTLS({ ca: [ca], servername: 'localhost' });
      await client.bind(SERVICE, SERVICE_PASSWORD);
    });
    // Without the CA the same certificate is refused: the verification above is real.
    await assert.rejects(withClient({ url: ds.ldapsUrl, tlsOptions: { ca: [] } }, (client) => client.bind(SERVICE, SERVICE_PASSWORD)));
  });

  test('the global password policy checks syntax with a minimum length of 8', async () => {
    await withClient({ url: ds.url }, async (client) => {
      await client.bind(ds.adminDn, ds.adminPassword);
      const { searchEntries } = await client.search('cn=config', { scope: 'base', attributes: ['passwordCheckSyntax', 'passwordMinLength'] });
      const [config] = searchEntries;
      assert.ok(config);
      assert.equal(config['passwordCheckSyntax'], 'on');
      assert.equal(config['passwordMinLength'], '8');
    });
  });

  test('entries get an entryUUID', async () => {
    aliceAnchor = await anchorOf(ds, ALICE);
    assert.match(aliceAnchor, UUID);
  });

  test('the service account resets a password with the Password Modify extended operation', async () => {
    await withClient({ url: ds.ldapsUrl, tlsOptions: { ca: [ca] } }, async (client) => {
      await client.bind(SERVICE, SERVICE_PASSWORD);
      await client.exop(PASSWORD_MODIFY, passwordModifyRequest(ALICE, newPassword));
    });
    assert.ok(await canBind(ds, ALICE, newPassword));
    assert.equal(await canBind(ds, ALICE, ALICE_PASSWORD), false);
    assert.equal(await anchorOf(ds, ALICE), aliceAnchor, 'a password change keeps the anchor');
  });

  test('a password shorter than the policy minimum (8) is refused with constraint violation (19)', async () => {
    await withClient({ url: ds.ldapsUrl, tlsOptions: { ca: [ca] } }, async (client) => {
      await client.bind(SERVICE, SERVICE_PASSWORD);
      await assert.rejects(client.exop(PASSWORD_MODIFY, passwordModifyRequest(ALICE, 'Qz7!kP2')), (e: unknown) => {
        assert.ok(e instanceof ConstraintViolationError, String(e));
        assert.equal(e.code, 19);
        return true;
      });
    });
    assert.ok(await canBind(ds, ALICE, newPassword), 'the refused password changed nothing');
    // One character more is enough: the refusal was the length, not the characters.
    await withClient({ url: ds.ldapsUrl, tlsOptions: { ca: [ca] } }, async (client) => {
      await client.bind(SERVICE, SERVICE_PASSWORD);
      await client.exop(PASSWORD_MODIFY, passwordModifyRequest(ALICE, 'Qz7!kP2m'));
    });
    newPassword = 'Qz7!kP2m';
    assert.ok(await canBind(ds, ALICE, newPassword));
  });

  test('restart keeps the data, the ports and the anchor', async () => {
    const before = ds.pid;
    await ds.restart();
    assert.notEqual(ds.pid, before);
    assert.equal(alive(before), false);
    assert.ok(await canBind(ds, ALICE, newPassword));
    assert.equal(await anchorOf(ds, ALICE), aliceAnchor);
    await withClient({ url: ds.ldapsUrl, tlsOptions: { ca: [ca] } }, (client) => client.bind(SERVICE, SERVICE_PASSWORD));
  });

  test('kill takes the server away and restart brings it back', async () => {
    await ds.kill();
    await assert.rejects(canBind(ds, ds.adminDn, ds.adminPassword));
    await ds.restart();
    assert.ok(await canBind(ds, ALICE, newPassword));
  });

  test('stop ends the process and removes the directory', async () => {
    const other = await startDs389();
    const { pid, dir } = other;
    assert.ok(alive(pid) && existsSync(dir));
    assert.ok(await canBind(other, other.adminDn, other.adminPassword));
    await other.stop();
    await other.stop();
    assert.equal(alive(pid), false);
    assert.equal(existsSync(dir), false);
  });
});
