import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change } from 'ldapts';
import { isPwsyncError } from '../../core/errors.ts';
import { Secret } from '../../core/secret.ts';
import { unicodePwd } from './password.ts';
import { startSlapd } from '../../../test/support/slapd.ts';
import { scanProcessMemory } from '../../../test/support/memory-scan.ts';
import { PEOPLE, SERVICE_DN, setWith, startOpenLdapWorld, using, withSecret, type OpenLdapWorld } from '../../../test/support/connectors/ldap.ts';
import { EVENT } from '../../core/events.ts';

let world: OpenLdapWorld;
before(async () => (world = await startOpenLdapWorld()));
after(() => world.stop());

const uid = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

async function rejectsWith(promise: Promise<unknown>, code: string, event?: number): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isPwsyncError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (event !== undefined) assert.equal(e.event, event);
    return true;
  });
}

describe('ldap connector against OpenLDAP with ppolicy', () => {
  test('a person changes their own password with the old one; a wrong old one is ERR_CURRENT_PASSWORD', async () => {
    const { dn, uuid } = await world.addUser(uid('change'), 'Old-Passw0rd-1');
    await using(world.connector(), async (c) => {
      await withSecret('Wrong-Old-Pw-9', (old) => withSecret('Next-Passw0rd-2', (next) => rejectsWith(c.changePassword(uuid, old, next), 'ERR_CURRENT_PASSWORD')));
      await withSecret('Old-Passw0rd-1', (old) => withSecret('Next-Passw0rd-2', (next) => c.changePassword(uuid, old, next)));
      assert.equal(await world.binds(dn, 'Next-Passw0rd-2'), true);
      assert.equal(await world.binds(dn, 'Old-Passw0rd-1'), false);
      // The person's change meets the policy too.
      await withSecret('Next-Passw0rd-2', (old) => withSecret('short', (next) => rejectsWith(c.changePassword(uuid, old, next), 'ERR_POLICY', EVENT.POLICY_REFUSED)));
    });
  });

  test('verifyPassword binds as the account; an empty password is never sent as an unauthenticated bind', async () => {
    const { uuid } = await world.addUser(uid('verify'), 'Verify-Passw0rd');
    await using(world.connector(), async (c) => {
      assert.equal(await withSecret('Verify-Passw0rd', (s) => c.verifyPassword(uuid, s)), true);
      assert.equal(await withSecret('verify-passw0rd', (s) => c.verifyPassword(uuid, s)), false);
      assert.equal(await withSecret('', (s) => c.verifyPassword(uuid, s)), false);
    });
  });

  test('checkBeforeWrite skips a write that is already true (no history slot used, modifyTimestamp unchanged)', async () => {
    const { dn, uuid } = await world.addUser(uid('skip'), 'Same-Passw0rd-1');
    const stamp = (): Promise<string> => world.admin(async (client) => String((await client.search(dn, { scope: 'base', attributes: ['modifyTimestamp', 'pwdChangedTime'] })).searchEntries[0]?.pwdChangedTime));
    await using(world.connector({ checkBeforeWrite: true }), async (c) => {
      await setWith(c, uuid, 'Fresh-Passw0rd-2');
      const first = await stamp();
      assert.notEqual(first, 'undefined');
      await new Promise((r) => setTimeout(r, 1100));
      await setWith(c, uuid, 'Fresh-Passw0rd-2');
      assert.equal(await stamp(), first, 'the second set wrote nothing');
      assert.equal(await world.binds(dn, 'Fresh-Passw0rd-2'), true);
    });
  });

  test('a password that is not UTF-8 is set as its bytes by Password Modify; a bind with those bytes works and one with U+FFFD does not', async () => {
    const { dn, uuid } = await world.addUser(uid('bytes'), 'Before-Passw0rd-1');
    // "café" from a Latin-1 PAM stack: the source set these bytes, so the directory gets them.
    const latin1 = Buffer.from('caf\xe9-Secret1-Bytes', 'latin1');
    await using(world.connector({ checkBeforeWrite: true }), async (c) => {
      await c.setPassword(uuid, Secret.fromBytes(latin1), {});
      // verifyPassword binds through ldapts, which sends text only: refused, never a U+FFFD bind.
      await rejectsWith(c.verifyPassword(uuid, Secret.fromBytes(latin1)), 'ERR_POLICY', EVENT.POLICY_REFUSED);
    });
    // A simple bind's password is an OCTET STRING: OpenLDAP's own client sends the file's bytes.
    const dir = await mkdtemp(join(tmpdir(), 'pwsync-bytes-'));
    try {
      const whoami = async (password: Buffer): Promise<boolean> => {
        await writeFile(join(dir, 'pw'), password, { mode: 0o600 });
        const r = spawnSync('ldapwhoami', ['-x', '-H', world.slapd.ldapsUrl ?? '', '-D', dn, '-y', join(dir, 'pw')], { env: { ...process.env, LDAPTLS_CACERT: world.slapd.caFile ?? '' }, encoding: 'utf8' });
        return r.status === 0;
      };
      assert.equal(await whoami(latin1), true, 'the bytes captured are the password');
      assert.equal(await whoami(Buffer.from('caf\uFFFD-Secret1-Bytes', 'utf8')), false, 'not their U+FFFD reading');
      assert.equal(await world.binds(dn, 'Before-Passw0rd-1'), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a Password Modify leaves no clear copy of the password in the process: memory scan after the set', async () => {
    const login = uid('memory');
    const { dn, uuid } = await world.addUser(login, 'Before-Passw0rd-1');
    const password = Buffer.from(`M${randomBytes(18).toString('base64url')}`.slice(0, 24), 'latin1');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../../test/support/connectors/ldap-set-password.fixture.ts', import.meta.url))], {
      env: { ...process.env, PWSYNC_FIXTURE_JOB: JSON.stringify({ url: world.slapd.url, caFile: world.slapd.caFile, bindDn: SERVICE_DN, bindPassword: world.servicePassword, baseDn: PEOPLE, anchor: uuid }) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      child.stdin.end(`${password.toString('hex')}\n`);
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`the fixture exited (${code})`)));
      });
      assert.equal(await world.binds(dn, password.toString('latin1')), true, 'the password was set');
      await new Promise((r) => setTimeout(r, 500));
      const { hits, bytes } = await scanProcessMemory(child.pid ?? 0, { utf8: password, utf16le: Buffer.from(password.toString('latin1'), 'utf16le'), control: Buffer.from(uuid) });
      assert.ok(bytes > 16 * 1024 * 1024 && hits.some((h) => h.needle === 'control'), 'the scan sees the process');
      assert.deepEqual(hits.filter((h) => h.needle !== 'control'), []);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('AD (unicodePwd, UTF-16LE) cannot hold a password that is not UTF-8: refused with 6927 before anything is sent', () => {
    assert.throws(() => unicodePwd(Buffer.from('caf\xe9-Secret1', 'latin1')), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_POLICY' && e.event === EVENT.POLICY_REFUSED && /not valid UTF-8/.test(e.message));
    assert.deepEqual(unicodePwd(Buffer.from('café', 'utf8')), Buffer.from('"café"', 'utf16le'));
  });

  test('must change at next logon sets ppolicy pwdReset', async () => {
    const { dn, uuid } = await world.addUser(uid('reset'), 'Reset-Passw0rd-1');
    await using(world.connector(), async (c) => {
      await setWith(c, uuid, 'Temporary-Passw0rd', true);
      const reset = await world.admin(async (client) => (await client.search(dn, { scope: 'base', attributes: ['pwdReset'] })).searchEntries[0]?.pwdReset);
      assert.equal(reset, 'TRUE');
    });
  });

  test('a retried set whose first attempt took effect is not a policy failure (history refuses the same password)', async () => {
    const { dn, uuid } = await world.addUser(uid('history'), 'History-Passw0rd-0');
    await world.admin((client) => client.modify(`cn=default,ou=policies,${world.slapd.baseDn}`, new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdInHistory', values: ['5'] }) })));
    try {
      await using(world.connector(), async (c) => {
        await setWith(c, uuid, 'History-Passw0rd-1');
        // The same password again on a first attempt is the policy's refusal; on a retry (the first
        // attempt's answer lost) it is the password already set.
        await rejectsWith(setWith(c, uuid, 'History-Passw0rd-1'), 'ERR_POLICY', EVENT.POLICY_REFUSED);
        await withSecret('History-Passw0rd-1', (s) => c.setPassword(uuid, s, { attempt: 2 }));
        assert.equal(await world.binds(dn, 'History-Passw0rd-1'), true);
      });
    } finally {
      await world.admin((client) => client.modify(`cn=default,ou=policies,${world.slapd.baseDn}`, new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdInHistory', values: [] }) })));
    }
  });

  test('prepare opens the connections and reads the DNs; on a directory that is down it rejects', async () => {
    const { dn, uuid } = await world.addUser(uid('prep'), 'Prepare-Passw0rd-0');
    await using(world.connector(), async (c) => {
      await c.prepare();
      await setWith(c, uuid, 'Prepare-Passw0rd-1');
      assert.equal(await world.binds(dn, 'Prepare-Passw0rd-1'), true);
    });
    await using(world.connector({ url: 'ldap://127.0.0.1:9', timeout: '2s' }), (c) => assert.rejects(c.prepare()));
  });

  test('failoverUrls: an unreachable first server is passed over; a refused bind is not', async () => {
    const { dn, uuid } = await world.addUser(uid('failover'), 'Failover-Passw0rd-0');
    await using(world.connector({ url: 'ldap://127.0.0.1:9', failoverUrls: ['ldap://127.0.0.1:10', world.slapd.url], timeout: '2s' }), async (c) => {
      await setWith(c, uuid, 'Failover-Passw0rd-1');
      assert.equal(await world.binds(dn, 'Failover-Passw0rd-1'), true);
      assert.equal(await withSecret('Failover-Passw0rd-1', (s) => c.verifyPassword(uuid, s)), true);
    });
    // The first server answers and refuses the service account: that is final, not a reason to go on.
    await using(world.connector({ url: world.slapd.url, failoverUrls: ['ldap://127.0.0.1:9'], bindDn: `cn=nobody,${world.slapd.baseDn}` }), (c) =>
      withSecret('Failover-Passw0rd-2', (s) => rejectsWith(c.setPassword(uuid, s, {}), 'ERR_SERVICE_CREDENTIALS', EVENT.SERVICE_CREDENTIALS_REFUSED)));
  });

  test('an entry renamed after its DN was remembered is found again by its anchor', async () => {
    const name = uid('moved');
    const { uuid } = await world.addUser(name, 'Moved-Passw0rd-0');
    await using(world.connector(), async (c) => {
      await setWith(c, uuid, 'Moved-Passw0rd-1');
      await world.admin((client) => client.modifyDN(`uid=${name},${PEOPLE}`, `uid=${name}-renamed`));
      await setWith(c, uuid, 'Moved-Passw0rd-2');
      assert.equal(await world.binds(`uid=${name}-renamed,${PEOPLE}`, 'Moved-Passw0rd-2'), true);
    });
  });

  test('hostile account names: filter and DN metacharacters in uid and in the RDN', async () => {
    const hostile = `o'brien*)(uid=*)\\00`;
    const rdnValue = ` #Smith, John + "Q" <x>;=\\ `;
    const { dn, uuid } = await world.addUser(hostile, 'Hostile-Passw0rd-0', {}, { attribute: 'cn', value: rdnValue });
    const bystander = await world.addUser(uid('bystander'), 'Bystander-Passw0rd');
    await using(world.connector(), async (c) => {
      const seen = new Map<string, string | undefined>();
      for await (const a of c.importAccounts()) seen.set(a.anchor, a.attributes.uid);
      assert.equal(seen.get(uuid), hostile);
      await setWith(c, uuid, 'Hostile-Passw0rd-1');
      assert.equal(await world.binds(dn, 'Hostile-Passw0rd-1'), true);
      assert.equal(await world.binds(bystander.dn, 'Bystander-Passw0rd'), true, 'nobody else was touched');
      // An anchor that is itself filter syntax names no account (it is a value, not filter text).
      await withSecret('Whatever-Passw0rd', (s) => rejectsWith(c.setPassword('*', s, {}), 'ERR_ACCOUNT_NOT_FOUND', EVENT.ACCOUNT_NOT_FOUND));
      await withSecret('Whatever-Passw0rd', (s) => rejectsWith(c.setPassword(`${uuid})(entryUUID=*`, s, {}), 'ERR_ACCOUNT_NOT_FOUND', EVENT.ACCOUNT_NOT_FOUND));
    });
  });

  test('lookupAccount: one account by login or anchor, as the import reads it; a hostile login is a value; nobody else', async () => {
    const login = uid('new');
    const { uuid } = await world.addUser(login, 'Lookup-Passw0rd-0', { mail: `${login}@example.test` });
    await world.addUser(uid('other'), 'Other-Passw0rd-0');
    await using(world.connector(), async (c) => {
      const byLogin = await c.lookupAccount({ login: { attribute: 'uid', value: login } });
      assert.deepEqual(byLogin.map((a) => [a.anchor, a.attributes.uid]), [[uuid, login]]);
      assert.deepEqual(await c.lookupAccount({ anchor: uuid, login: { attribute: 'uid', value: 'nobody-at-all' } }), byLogin);
      assert.deepEqual(await c.lookupAccount({ login: { attribute: 'uid', value: '*' } }), []);
      assert.deepEqual(await c.lookupAccount({ login: { attribute: 'uid', value: `${login})(uid=*` } }), []);
      assert.deepEqual(await c.lookupAccount({}), []);
      // The DN is remembered: a password set right after finds the entry without a search of all DNs.
      await setWith(c, uuid, 'Lookup-Passw0rd-1');
    });
  });

  test('import streams pages: more accounts than one page, each once, with the mapped attributes only', async () => {
    const names = Array.from({ length: 25 }, (_, i) => uid(`page${i}`));
    for (const n of names) await world.addUser(n, 'Paged-Passw0rd-0', { mail: `${n}@example.test` });
    await using(world.connector({ pageSize: 7 }), async (c) => {
      const seen = new Map<string, Readonly<Record<string, string>>>();
      for await (const a of c.importAccounts()) {
        assert.equal(seen.has(a.anchor), false);
        seen.set(a.anchor, a.attributes);
      }
      const logins = new Set([...seen.values()].map((a) => a.uid));
      for (const n of names) assert.ok(logins.has(n), n);
      // Connector names: the engine applies import.map (login ← uid) itself.
      const one = [...seen.values()].find((a) => a.uid === names[0]);
      assert.deepEqual(one, { uid: names[0], mail: `${names[0] ?? ''}@example.test` });
    });
  });

  test('without a map every attribute is imported except passwords', async () => {
    const { uuid } = await world.addUser(uid('all'), 'All-Passw0rd-00', { mail: 'all@example.test' });
    await using(world.connector({}, { import: { anchor: 'entryUUID' } }), async (c) => {
      for await (const a of c.importAccounts()) {
        if (a.anchor !== uuid) continue;
        assert.equal(a.attributes.mail, 'all@example.test');
        assert.equal(a.attributes.userPassword, undefined);
        assert.equal(a.attributes.entryUUID, uuid);
      }
    });
  });

  test('delta import by modifyTimestamp: a watermark, then only what changed', async () => {
    const { dn, uuid } = await world.addUser(uid('delta'), 'Delta-Passw0rd-0', { mail: 'before@example.test' });
    await using(world.connector({ deltaOverlap: '0s' }), async (c) => {
      await new Promise((r) => setTimeout(r, 1100));
      const mark = await c.watermark();
      await new Promise((r) => setTimeout(r, 1100));
      await world.admin((client) => client.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: ['after@example.test'] }) })));
      const changed: string[] = [];
      for await (const d of c.importChangesSince(mark)) if (d.kind === 'changed') changed.push(`${d.record.anchor}=${d.record.attributes.mail ?? ''}`);
      assert.deepEqual(changed, [`${uuid}=after@example.test`]);
      await rejectsWith((async () => {
        for await (const d of c.importChangesSince('usn:00000000000000000000000000000000:5' as never)) assert.fail(`nothing should be read, got ${d.kind}`);
      })(), 'ERR_WATERMARK');
    });
  });

  test('the service account: a refused bind is 7013, missing rights are 7014; both final', async () => {
    const { uuid } = await world.addUser(uid('rights'), 'Rights-Passw0rd-0');
    await using(world.connector({ bindDn: `cn=nobody,${world.slapd.baseDn}` }), (c) =>
      withSecret('Rights-Passw0rd-1', (s) => rejectsWith(c.setPassword(uuid, s, {}), 'ERR_SERVICE_CREDENTIALS', EVENT.SERVICE_CREDENTIALS_REFUSED)));
    // An ordinary account (with the service password, so the same configuration binds as it) may
    // read but not write other people's passwords.
    const reader = await world.addUser(uid('reader'), world.servicePassword);
    await using(world.connector({ bindDn: reader.dn }), (c) =>
      withSecret('Rights-Passw0rd-1', (s) => rejectsWith(c.setPassword(uuid, s, {}), 'ERR_ACCESS_DENIED', EVENT.ACCESS_DENIED)));
  });

  test('a directory that does not offer TLS: StartTLS fails and no password is sent (7005)', async () => {
    const plain = await startSlapd({ ldif: `dn: ou=people,dc=pwsync,dc=test\nobjectClass: organizationalUnit\nou: people` });
    try {
      await using(world.connector({ url: plain.url }), async (c) => {
        const report = await c.testConnection();
        assert.equal(report.ok, false);
        await withSecret('Plain-Passw0rd-1', (s) => rejectsWith(c.setPassword('00000000-0000-4000-8000-000000000001', s, {}), 'ERR_INSECURE_CONNECTION', EVENT.INSECURE_CONNECTION));
      });
    } finally {
      await plain.stop();
    }
  });

  test('plain LDAP when a secure connection is required: refused before anything is sent', async () => {
    const { dn, uuid } = await world.addUser(uid('plain'), 'Plain-Passw0rd-0');
    await using(world.connector({ insecurePlaintext: true }), async (c) => {
      assert.equal(c.isSecure(), false);
      await withSecret('Plain-Passw0rd-1', (s) => rejectsWith(c.setPassword(uuid, s, {}), 'ERR_INSECURE_CONNECTION', EVENT.INSECURE_CONNECTION));
      await withSecret('Plain-Passw0rd-0', (s) => rejectsWith(c.verifyPassword(uuid, s), 'ERR_INSECURE_CONNECTION', EVENT.INSECURE_CONNECTION));
    });
    assert.equal(await world.binds(dn, 'Plain-Passw0rd-0'), true);
  });

  test('a pinned key that is not in the chain fails TLS (7005); the CA\'s own pin works', async () => {
    const { uuid } = await world.addUser(uid('pin'), 'Pinned-Passw0rd-0');
    await using(world.connector({ tls: { ca: world.slapd.caFile, pins: [`sha256/${Buffer.alloc(32).toString('base64')}`] } }), (c) =>
      withSecret('Pinned-Passw0rd-1', (s) => rejectsWith(c.setPassword(uuid, s, {}), 'ERR_INSECURE_CONNECTION', EVENT.INSECURE_CONNECTION)));
    const caKey = new X509Certificate(await readFile(world.slapd.caFile ?? '')).publicKey.export({ type: 'spki', format: 'der' });
    const pin = `sha256/${createHash('sha256').update(caKey).digest('base64')}`;
    await using(world.connector({ tls: { ca: world.slapd.caFile, pins: [pin] } }), (c) => setWith(c, uuid, 'Pinned-Passw0rd-1'));
  });
});
