/*
 * What an AD source protects from its agents (`source.protect`), resolved by the ldap connector's
 * `membersOf` against a private Samba AD DC, read by an ordinary service account (not an
 * administrator): the default for AD (`adminCount=1` entries, and the members of the groups marked
 * so, which Samba never marks itself: it does not run AdminSDHolder's propagation), members through
 * a nested group, an account whose primary group is Domain Admins (not listed in `member`), a
 * configured group, a group that does not exist, and an ordinary user who is none of these.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { systemSchema } from '../../src/config/schema.ts';
import { withSecretContext } from '../../src/fields/secret-ref.ts';
import { createLdapConnector, type LdapConnector } from '../../src/connectors/ldap/index.ts';
import type { MembersQuery } from '../../src/connectors/types.ts';
import { using } from '../support/connectors/ldap.ts';
import { startSamba, type SambaDc } from '../support/samba.ts';

const SERVICE_PASSWORD = `Svc-${randomBytes(6).toString('hex')}-9a!`;
const PASSWORD = 'Initial-Passw0rd!';

let dc: SambaDc;
let serviceDn = '';
const name = (prefix: string): string => `${prefix}${randomBytes(3).toString('hex')}`;

before(async () => {
  dc = await startSamba();
  serviceDn = (await dc.createUser('pwsyncsvc', SERVICE_PASSWORD)).dn;
});
after(() => dc.stop());

function connector(): LdapConnector {
  const system = withSecretContext({ env: { AD_PW: SERVICE_PASSWORD }, baseDir: '/', created: [] }, () =>
    systemSchema.parse({
      name: 'ad',
      connector: 'ldap',
      // People under CN=Users only: the privileged groups of CN=Builtin are found through the naming context.
      ldap: { url: dc.ldapsUrl, flavor: 'ad', bindDn: serviceDn, bindPassword: '${AD_PW}', baseDns: [`CN=Users,${dc.baseDn}`], tls: { ca: dc.caFile } },
      source: { accountAttribute: 'login' },
      import: { anchor: 'objectGUID', map: { login: 'sAMAccountName' } },
    }),
  );
  if (system.connector !== 'ldap') throw new Error('not an ldap system');
  return createLdapConnector(system, { system: 'ad', baseDir: '/' });
}

async function asAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: [await readFile(dc.caFile)] } });
  try {
    await client.bind(dc.adminDn, dc.adminPassword);
    return await fn(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

const query = (q: Partial<MembersQuery>): MembersQuery => ({ groups: [], accounts: [], accountAttribute: 'sAMAccountName', marked: false, ...q });

describe('the protected accounts of an AD source, resolved in Samba AD', () => {
  test('the AD default (adminCount=1): the built-in privileged accounts, and members of the marked groups — directly, nested, or by primary group — but not an ordinary user', async () => {
    const ordinary = await dc.createUser(name('ord'), PASSWORD);
    const admin = await dc.createUser(name('adm'), PASSWORD);
    const nested = await dc.createUser(name('nst'), PASSWORD);
    const primary = await dc.createUser(name('pri'), PASSWORD);
    const tier0 = name('tier0-');
    await dc.samba(['group', 'add', tier0]);
    await dc.samba(['group', 'addmembers', tier0, nested.sAMAccountName]);
    await dc.samba(['group', 'addmembers', 'Domain Admins', `${admin.sAMAccountName},${tier0},${primary.sAMAccountName}`]);
    // Domain Admins (RID 512) as primary group, and out of its `member`: found only by primaryGroupID.
    const domainAdmins = `CN=Domain Admins,CN=Users,${dc.baseDn}`;
    await asAdmin(async (client) => {
      await client.modify(primary.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'primaryGroupID', values: ['512'] }) }));
      const members = async (): Promise<string[]> => {
        const [group] = (await client.search(domainAdmins, { scope: 'base', attributes: ['member'] })).searchEntries;
        const value = group?.['member'] ?? [];
        return (Array.isArray(value) ? value : [value]).map((v) => v.toString().toLowerCase());
      };
      if ((await members()).includes(primary.dn.toLowerCase())) {
        await client.modify(domainAdmins, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [primary.dn] }) }));
      }
      assert.ok(!(await members()).includes(primary.dn.toLowerCase()), 'the primary group member is not listed in member');
    });

    await using(connector(), async (c) => {
      const found = await c.membersOf(query({ marked: true }));
      assert.deepEqual(found.problems, []);
      const administrator = await dc.samba(['user', 'show', 'Administrator', '--attributes=objectGUID']);
      const guid = /objectGUID: (\S+)/.exec(administrator)?.[1];
      assert.ok(guid);
      assert.match(found.anchors.get(guid) ?? '', /adminCount=1/);
      assert.match(found.anchors.get(admin.guid) ?? '', /member of "Domain Admins", a group marked adminCount=1/);
      assert.match(found.anchors.get(nested.guid) ?? '', /member of "(Domain Admins|Administrators)", a group marked adminCount=1/);
      assert.match(found.anchors.get(primary.guid) ?? '', /a group marked adminCount=1/);
      assert.equal(found.anchors.get(ordinary.guid), undefined);
      assert.ok(found.searches < 100, `one resolution costs few reads (${found.searches})`);
    });
  });

  test('configured groups and accounts: members nested at any depth and named accounts in any case; a missing group is a problem, never guessed', async () => {
    const deep = await dc.createUser(name('dp'), PASSWORD);
    const named = await dc.createUser(name('nm'), PASSWORD);
    const ordinary = await dc.createUser(name('ord'), PASSWORD);
    const [outer, middle, inner] = [name('outer-'), name('middle-'), name('inner-')];
    for (const g of [outer, middle, inner]) await dc.samba(['group', 'add', g]);
    await dc.samba(['group', 'addmembers', inner, deep.sAMAccountName]);
    await dc.samba(['group', 'addmembers', middle, inner]);
    await dc.samba(['group', 'addmembers', outer, middle]);
    await using(connector(), async (c) => {
      const found = await c.membersOf(query({ groups: [outer], accounts: [named.sAMAccountName.toUpperCase()] }));
      assert.deepEqual(found.problems, []);
      assert.equal(found.anchors.get(deep.guid), `member of protected group "${outer}"`);
      assert.equal(found.anchors.get(named.guid), `protected account "${named.sAMAccountName.toUpperCase()}"`);
      assert.equal(found.anchors.get(ordinary.guid), undefined);
      const missing = await c.membersOf(query({ groups: ['no-such-group'] }));
      assert.equal(missing.problems.length, 1);
      assert.match(missing.problems[0] ?? '', /protected group "no-such-group" does not exist/);
    });
  });
});
