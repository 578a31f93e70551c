/*
 * The ldap connector's `membersOf` (what a source protects from its agents) against a private
 * slapd: members walked down through nested groups, a cycle of groups, a member that no longer
 * exists, accounts named in another case, groups found outside the accounts' base DNs (the naming
 * context), and the bounds — a nesting deeper than 32 levels and more than 5,000 entries are
 * refused, never cut short.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { systemSchema } from '../../src/config/schema.ts';
import { createLdapConnector, type LdapConnector } from '../../src/connectors/ldap/index.ts';
import { MAX_NESTING_DEPTH, MAX_PROTECTED_ENTRIES } from '../../src/connectors/ldap/members.ts';
import type { MembersQuery } from '../../src/connectors/types.ts';
import { withSecretContext } from '../../src/fields/secret-ref.ts';
import { using } from '../support/connectors/ldap.ts';
import { startSlapd, type Slapd } from '../support/slapd.ts';

const BASE = 'dc=pwsync,dc=test';
const PEOPLE = `ou=people,${BASE}`;
const GROUPS = `ou=groups,${BASE}`;
const MANY = MAX_PROTECTED_ENTRIES + 1;
const person = (uid: string): string => `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n`;
const group = (cn: string, members: readonly string[]): string => `dn: cn=${cn},${GROUPS}\nobjectClass: groupOfNames\ncn: ${cn}\n${members.map((m) => `member: ${m}`).join('\n')}\n`;
const user = (uid: string): string => `uid=${uid},${PEOPLE}`;
const grp = (cn: string): string => `cn=${cn},${GROUPS}`;
const chain = Array.from({ length: MAX_NESTING_DEPTH + 2 }, (_, i) => `deep-${i}`);

let slapd: Slapd;
before(async () => {
  slapd = await startSlapd({
    baseDn: BASE,
    ldif: [
      `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
      `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
      ...['alice', 'bob', 'carol', 'dave', 'erin'].map(person),
      ...Array.from({ length: MANY }, (_, i) => person(`m${i}`)),
      group('admins', [user('alice'), grp('tier0'), `uid=gone,${PEOPLE}`]),
      group('tier0', [user('bob'), grp('loop')]),
      group('loop', [grp('tier0'), user('carol')]),
      group('staff', [user('dave')]),
      ...chain.map((cn, i) => group(cn, [i + 1 < chain.length ? grp(chain[i + 1] ?? '') : user('erin')])),
      group('everyone', Array.from({ length: MANY }, (_, i) => user(`m${i}`))),
    ],
  });
});
after(() => slapd.stop());

function connector(): LdapConnector {
  const system = withSecretContext({ env: { PW: slapd.adminPassword }, baseDir: '/', created: [] }, () =>
    systemSchema.parse({
      name: 'dir',
      connector: 'ldap',
      // Accounts under ou=people only: the groups are found in the naming context.
      ldap: { url: slapd.url, insecurePlaintext: true, bindDn: slapd.adminDn, bindPassword: '${PW}', baseDns: [PEOPLE] },
      source: { accountAttribute: 'login' },
      import: { anchor: 'entryUUID', map: { login: 'uid' } },
    }),
  );
  if (system.connector !== 'ldap') throw new Error('not an ldap system');
  return createLdapConnector(system, { system: 'dir', baseDir: '/' });
}

const query = (q: Partial<MembersQuery>): MembersQuery => ({ groups: [], accounts: [], accountAttribute: 'uid', marked: false, ...q });

/** uid → anchor, from the connector's own import. */
async function anchors(c: LdapConnector): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const a of c.importAccounts()) out.set(a.attributes['uid'] ?? '', a.anchor);
  return out;
}

describe('the protected members of an OpenLDAP source', () => {
  test('nested members, through a cycle, past a member that no longer exists; accounts named in another case; no one else', async () => {
    await using(connector(), async (c) => {
      const uids = await anchors(c);
      const found = await c.membersOf(query({ groups: ['admins'], accounts: ['DAVE'] }));
      assert.deepEqual(found.problems, []);
      const protectedUids = [...uids].filter(([, anchor]) => found.anchors.has(anchor)).map(([uid]) => uid).sort();
      assert.deepEqual(protectedUids, ['alice', 'bob', 'carol', 'dave']);
      assert.equal(found.anchors.get(uids.get('carol') ?? ''), 'member of protected group "admins"');
      assert.equal(found.anchors.get(uids.get('dave') ?? ''), 'protected account "DAVE"');
      assert.ok(found.searches < 20, `${found.searches} reads`);
    });
  });

  test('a group that does not exist is a problem; nesting deeper than the limit and more entries than the limit are refused, not cut short', async () => {
    await using(connector(), async (c) => {
      const missing = await c.membersOf(query({ groups: ['admins', 'nobody'] }));
      assert.deepEqual(missing.problems.map((p) => /"nobody" does not exist/.test(p)), [true]);
      await assert.rejects(c.membersOf(query({ groups: [chain[0] ?? ''] })), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_CONFIG' && /deeper than 32 levels/.test(e.message));
      const before = Date.now();
      await assert.rejects(c.membersOf(query({ groups: ['everyone'] })), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'ERR_CONFIG' && /more than 5000 entries/.test(e.message));
      assert.ok(Date.now() - before < 2000, 'refused before reading 5,000 members one by one');
    });
  });
});
