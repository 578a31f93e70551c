/*
 * The ldap connector with `flavor: ad` against a private Samba Active Directory DC: the connector
 * conformance suite over LDAPS and over StartTLS (objectGUID anchors, admin reset by unicodePwd,
 * a non-ASCII password, the domain policy refusing a short one with 0000052D → 6927), a person's own
 * change (delete + add of unicodePwd), must-change-at-next-logon (pwdLastSet 0), import with
 * sAMAccountName, and delta import by USN with deletions seen through the show-deleted control.
 *
 * The service account is an ordinary user given, on CN=Users, the two rights the LDAP guide lists
 * for AD: the "Reset Password" extended right on user objects and write access to their pwdLastSet
 * (inherited ACEs set with samba-tool dsacl) — not a domain administrator. An account without them
 * is refused with insufficient access (7014).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { systemSchema } from '../../src/config/schema.ts';
import { withSecretContext } from '../../src/fields/secret-ref.ts';
import { runConnectorConformance } from '../../src/connectors/conformance.ts';
import { createLdapConnector, type LdapConnector } from '../../src/connectors/ldap/index.ts';
import { isPwsyncError } from '../../src/core/errors.ts';
import { Secret } from '../../src/core/secret.ts';
import { using, withSecret } from '../support/connectors/ldap.ts';
import { ldapBinds } from '../support/daemon.ts';
import { startSamba, type SambaDc } from '../support/samba.ts';
import { EVENT } from '../../src/core/events.ts';

/** The control access right "Reset Password", the pwdLastSet attribute and the user class (MS-ADTS). */
const RESET_PASSWORD = '00299570-246d-11d0-a768-00aa006e0529';
const PWD_LAST_SET = 'bf967a0a-0de6-11d0-a285-00aa003049e2';
const USER_CLASS = 'bf967aba-0de6-11d0-a285-00aa003049e2';
const SERVICE_PASSWORD = `Svc-${randomBytes(6).toString('hex')}-9a!`;

let dc: SambaDc;
let ca: Buffer;
let serviceDn = '';
before(async () => {
  dc = await startSamba();
  ca = await readFile(dc.caFile);
  const service = await dc.createUser('pwsyncsvc', SERVICE_PASSWORD);
  serviceDn = service.dn;
  const sid = /objectSid: (S-1-\S+)/.exec(await dc.samba(['user', 'show', 'pwsyncsvc', '--attributes=objectSid']))?.[1];
  if (sid === undefined) throw new Error('no objectSid for the service account');
  await dc.samba(['dsacl', 'set', `--objectdn=CN=Users,${dc.baseDn}`, `--sddl=(OA;CIIO;CR;${RESET_PASSWORD};${USER_CLASS};${sid})(OA;CIIO;WP;${PWD_LAST_SET};${USER_CLASS};${sid})`]);
});
after(() => dc.stop());

const name = (prefix: string): string => `${prefix}${randomBytes(3).toString('hex')}`;

function connector(ldap: Record<string, unknown> = {}, password = SERVICE_PASSWORD): LdapConnector {
  const system = withSecretContext({ env: { AD_PW: password }, baseDir: '/', created: [] }, () =>
    systemSchema.parse({
      name: 'ad',
      connector: 'ldap',
      ldap: { url: dc.ldapsUrl, flavor: 'ad', bindDn: serviceDn, bindPassword: '${AD_PW}', baseDns: [`CN=Users,${dc.baseDn}`], tls: { ca: dc.caFile }, ...ldap },
      import: { anchor: 'objectGUID', map: { login: 'sAMAccountName' } },
      password: { sync: true },
    }),
  );
  if (system.connector !== 'ldap') throw new Error('not an ldap system');
  return createLdapConnector(system, { system: 'ad', baseDir: '/' });
}

function binds(dn: string, password: string): Promise<boolean> {
  return ldapBinds(dc.ldapsUrl, dn, password, ca);
}

async function asAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: [ca] } });
  try {
    await client.bind(dc.adminDn, dc.adminPassword);
    return await fn(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

function fixture(ldap: () => Record<string, unknown>) {
  return async () => {
    const user = await dc.createUser(name('conf'), 'Initial-Passw0rd!');
    return {
      connector: connector(ldap()),
      existingAnchor: user.guid,
      unknownAnchor: '00000000-0000-4000-8000-000000000000',
      // Samba's default policy: at least 7 characters, complexity on.
      refusedPassword: 'Sh0rt!',
      login: (_anchor: string, secret: Secret) => secret.use((clear) => binds(user.dn, clear.toString('utf8'))),
      insecure: () => connector({ ...ldap(), url: dc.ldapUrl, insecurePlaintext: true }),
      cleanup: () => asAdmin((client) => client.del(user.dn)),
    };
  };
}

runConnectorConformance('ldap (Samba AD, flavor ad, LDAPS)', fixture(() => ({})));
runConnectorConformance('ldap (Samba AD, flavor ad, StartTLS)', fixture(() => ({ url: dc.ldapUrl })));

describe('ldap connector, flavor ad, against Samba AD', () => {
  test('import: objectGUID in its string form as the anchor, sAMAccountName for the join', async () => {
    const user = await dc.createUser(name('imp'), 'Import-Passw0rd!');
    await using(connector(), async (c) => {
        const found = new Map<string, string | undefined>();
        for await (const a of c.importAccounts()) found.set(a.anchor, a.attributes.sAMAccountName);
        assert.equal(found.get(user.guid), user.sAMAccountName);
        assert.match(user.guid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    });
  });

  test('a person changes their own password (delete + add of unicodePwd), non-ASCII; a wrong current one is refused', async () => {
    const user = await dc.createUser(name('chg'), 'Current-Passw0rd!');
    await using(connector(), async (c) => {
        await withSecret('Wrong-Current-1!', (old) => withSecret('Nëw-Pässwörd-密码-1', (next) =>
          assert.rejects(c.changePassword(user.guid, old, next), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_CURRENT_PASSWORD')));
        await withSecret('Current-Passw0rd!', (old) => withSecret('Nëw-Pässwörd-密码-1', (next) => c.changePassword(user.guid, old, next)));
        assert.equal(await binds(user.dn, 'Nëw-Pässwörd-密码-1'), true);
        assert.equal(await binds(user.dn, 'Current-Passw0rd!'), false);
        // The domain's policy applies to a person's change too.
        await withSecret('Nëw-Pässwörd-密码-1', (old) => withSecret('Sh0rt!', (next) =>
          assert.rejects(c.changePassword(user.guid, old, next), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_POLICY' && e.event === EVENT.POLICY_REFUSED)));
        assert.equal(await withSecret('Nëw-Pässwörd-密码-1', (s) => c.verifyPassword(user.guid, s)), true);
    });
  });

  test('must change at next logon: pwdLastSet 0 in the same modify as the reset', async () => {
    const user = await dc.createUser(name('must'), 'Must-Change-Passw0rd!');
    await using(connector(), async (c) => {
        await withSecret('Temporary-Passw0rd-1!', (s) => c.setPassword(user.guid, s, { forceChangeAtNextLogon: true }));
        const pwdLastSet = await asAdmin(async (client) => (await client.search(user.dn, { scope: 'base', attributes: ['pwdLastSet'] })).searchEntries[0]?.pwdLastSet);
        assert.equal(pwdLastSet, '0');
    });
  });

  test('an account without the Reset Password right is refused with insufficient access (7014)', async () => {
    const target = await dc.createUser(name('tgt'), 'Target-Passw0rd-1!');
    const plain = await dc.createUser(name('pln'), 'Plain-Account-Pw1!');
    await using(connector({ bindDn: plain.dn }, 'Plain-Account-Pw1!'), async (c) => {
        await withSecret('Never-Set-Passw0rd!', (s) =>
          assert.rejects(c.setPassword(target.guid, s, {}), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_ACCESS_DENIED' && e.event === EVENT.ACCESS_DENIED));
        assert.equal(await binds(target.dn, 'Target-Passw0rd-1!'), true);
    });
  });

  test('delta import by an account that cannot read deleted objects: the changes, and no deletions (a documented limit)', async () => {
    const changed = await dc.createUser(name('wch'), 'Delta-Passw0rd-4!');
    const deleted = await dc.createUser(name('wdl'), 'Delta-Passw0rd-5!');
    await using(connector(), async (c) => {
        const mark = await c.watermark();
        await asAdmin(async (client) => {
          await client.modify(changed.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'description', values: ['changed'] }) }));
          await client.del(deleted.dn);
        });
        const seen: string[] = [];
        for await (const d of c.importChangesSince(mark)) seen.push(`${d.kind}:${d.kind === 'changed' ? d.record.anchor : d.anchor}`);
        assert.ok(seen.includes(`changed:${changed.guid}`), seen.join(' '));
        assert.ok(!seen.some((x) => x.startsWith('removed:')), seen.join(' '));
    });
  });

  test('delta import by USN: changed accounts, then deleted ones (show-deleted control)', async () => {
    const changed = await dc.createUser(name('dch'), 'Delta-Passw0rd-1!');
    const deleted = await dc.createUser(name('ddl'), 'Delta-Passw0rd-2!');
    const untouched = await dc.createUser(name('dun'), 'Delta-Passw0rd-3!');
    // Seeing deletions takes read access to CN=Deleted Objects, which the delegated service account
    // lacks (it still sees the changes; the test below): here the domain's administrator reads.
    await using(connector({ bindDn: dc.adminDn }, dc.adminPassword), async (c) => {
        const mark = await c.watermark();
        assert.match(mark, /^usn:[0-9a-f]{32}:\d+$/);
        await asAdmin(async (client) => {
          await client.modify(changed.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'description', values: ['changed'] }) }));
          await client.del(deleted.dn);
        });
        const seen: string[] = [];
        for await (const d of c.importChangesSince(mark)) seen.push(`${d.kind}:${d.kind === 'changed' ? d.record.anchor : d.anchor}`);
        assert.ok(seen.includes(`changed:${changed.guid}`), seen.join(' '));
        assert.ok(seen.includes(`removed:${deleted.guid}`), seen.join(' '));
        assert.ok(!seen.some((s) => s.endsWith(untouched.guid)), 'an untouched account is not read');
    });
  });
});
