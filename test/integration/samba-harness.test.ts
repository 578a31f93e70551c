/*
 * Proves the private Samba AD DC of test/support/samba.ts: LDAPS with the harness CA (and only
 * with it), users made with samba-tool, AD password resets through unicodePwd (non-ASCII, and a
 * policy refusal), restart keeping data, two instances side by side, GPG cleartext capture, and
 * cleanup. Samba needs root; a missing package fails the test naming it, nothing is skipped.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Attribute, Change, Client, ConstraintViolationError, InvalidCredentialsError } from 'ldapts';
import { type SambaDc, startSamba } from '../support/samba.ts';

let dc: SambaDc;
let ca: string;
const USER_PASSWORD = 'Initial-Passw0rd';
const NEW_PASSWORD = 'Pässwörd-密码-🔑-9';
let userDn = '';

/** AD's password attribute: the password in double quotes, UTF-16LE. */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

/** A client verifying the DC against the harness CA; the caller unbinds it. */
async function bound(dn: string, password: string, server: SambaDc = dc): Promise<Client> {
  const client = new Client({ url: server.ldapsUrl, tlsOptions: { ca: [readFileSync(server.caFile, 'utf8')] }, timeout: 10_000, connectTimeout: 5000 });
  try {
    await client.bind(dn, password);
    return client;
  } catch (e) {
    await client.unbind().catch(() => undefined);
    throw e;
  }
}

async function canBind(dn: string, password: string, server: SambaDc = dc): Promise<void> {
  await (await bound(dn, password, server)).unbind();
}

before(async () => {
  const started = Date.now();
  dc = await startSamba();
  ca = readFileSync(dc.caFile, 'utf8');
  process.stderr.write(`# first Samba (provision + copy + start): ${Date.now() - started} ms\n`);
});

after(async () => {
  await dc.stop();
});

test('the DC answers LDAPS binds as Administrator, verified with the harness CA only', async () => {
  assert.match(dc.address, /^127\.0\.0\.(\d+)$/);
  assert.notEqual(dc.address, '127.0.0.1');
  assert.equal(dc.ldapsUrl, `ldaps://${dc.address}:636`);
  assert.equal(dc.baseDn, 'DC=pwsync,DC=test');
  assert.equal(dc.realm, 'PWSYNC.TEST');
  assert.equal(dc.domain, 'PWSYNC');
  const client = await bound(dc.adminDn, dc.adminPassword);
  try {
    const { searchEntries } = await client.search(dc.baseDn, { scope: 'base', attributes: ['distinguishedName'] });
    assert.equal(searchEntries[0]?.dn, dc.baseDn);
  } finally {
    await client.unbind();
  }
  // Without the CA the certificate must not be trusted: the TLS really is verified.
  const untrusting = new Client({ url: dc.ldapsUrl, timeout: 5000, connectTimeout: 5000 });
  await assert.rejects(untrusting.bind(dc.adminDn, dc.adminPassword), /certificate/i);
  await untrusting.unbind().catch(() => undefined);
  await assert.rejects(canBind(dc.adminDn, 'wrong-Passw0rd'), InvalidCredentialsError);
});

test('createUser makes an account that binds over LDAPS', async () => {
  const user = await dc.createUser('alice', USER_PASSWORD, { givenName: 'Alice', mail: 'alice@pwsync.test' });
  userDn = user.dn;
  assert.equal(user.dn, `CN=alice,CN=Users,${dc.baseDn}`);
  assert.equal(user.sAMAccountName, 'alice');
  assert.match(user.guid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  // samba-tool prints objectGUID in the string form our byte-order conversion must reproduce.
  const shown = await dc.samba(['user', 'show', 'alice', '--attributes=objectGUID,givenName,mail']);
  assert.match(shown, new RegExp(`^objectGUID: ${user.guid}$`, 'm'));
  assert.match(shown, /^givenName: Alice$/m);
  assert.match(shown, /^mail: alice@pwsync\.test$/m);
  await canBind(user.dn, USER_PASSWORD);
});

test('an admin reset through unicodePwd takes a non-ASCII password', async () => {
  const admin = await bound(dc.adminDn, dc.adminPassword);
  try {
    await admin.modify(userDn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(NEW_PASSWORD)] }) }));
  } finally {
    await admin.unbind();
  }
  await canBind(userDn, NEW_PASSWORD);
  await assert.rejects(canBind(userDn, USER_PASSWORD), InvalidCredentialsError);
});

test('a password the policy refuses is a constraint violation with 0000052D', async () => {
  const admin = await bound(dc.adminDn, dc.adminPassword);
  try {
    await assert.rejects(
      admin.modify(userDn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd('Sh0rt!')] }) })),
      (e: unknown) => e instanceof ConstraintViolationError && e.message.includes('0000052D'),
    );
  } finally {
    await admin.unbind();
  }
  await canBind(userDn, NEW_PASSWORD);
});

test('restart keeps the data', async () => {
  const before = dc.pid;
  await dc.kill();
  await assert.rejects(canBind(userDn, NEW_PASSWORD));
  await dc.restart();
  assert.notEqual(dc.pid, before);
  await canBind(userDn, NEW_PASSWORD);
});

test('two instances run at once on different addresses, the second with prefork', async () => {
  const started = Date.now();
  const other = await startSamba({ processModel: 'prefork' });
  try {
    process.stderr.write(`# second Samba (copy + start, prefork): ${Date.now() - started} ms\n`);
    assert.notEqual(other.address, dc.address);
    assert.notEqual(other.dir, dc.dir);
    await canBind(other.adminDn, other.adminPassword, other);
    await canBind(userDn, NEW_PASSWORD);
    // Separate databases: the first DC's user is not in the second.
    await assert.rejects(canBind(userDn, NEW_PASSWORD, other), InvalidCredentialsError);
    assert.equal(readFileSync(other.caFile, 'utf8'), ca);
  } finally {
    await other.stop();
  }
  assert.equal(existsSync(other.dir), false);
});

test('with gpg the DC keeps cleartext that samba-tool can decrypt', async () => {
  const started = Date.now();
  const captured = await startSamba({ gpg: true });
  try {
    process.stderr.write(`# gpg Samba (keygen + provision + copy + start): ${Date.now() - started} ms\n`);
    assert.ok(captured.gnupgHome !== undefined && existsSync(captured.gnupgHome));
    assert.equal(captured.env.GNUPGHOME, captured.gnupgHome);
    const user = await captured.createUser('bob', 'Bob-Passw0rd-1');
    const admin = await bound(captured.adminDn, captured.adminPassword, captured);
    try {
      await admin.modify(user.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(NEW_PASSWORD)] }) }));
    } finally {
      await admin.unbind();
    }
    const out = await captured.samba(['user', 'getpassword', 'bob', '--attributes=virtualClearTextUTF8', '--decrypt-samba-gpg']);
    const b64 = /^virtualClearTextUTF8:: (\S+)$/m.exec(out)?.[1];
    assert.ok(b64 !== undefined, out);
    assert.equal(Buffer.from(b64, 'base64').toString('utf8'), NEW_PASSWORD);
  } finally {
    await captured.stop();
  }
  assert.equal(existsSync(captured.dir), false);
});

test('stop removes the directory and can be called again', async () => {
  const { dir } = dc;
  assert.ok(existsSync(dir));
  await dc.stop();
  assert.equal(existsSync(dir), false);
  await dc.stop();
});
