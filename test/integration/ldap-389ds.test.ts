/*
 * The ldap connector against a private 389 Directory Server (`flavor: 389ds`): the connector
 * conformance suite, with a service account that may write passwords by ACI (the Directory
 * Manager would bypass the password policy), entryUUID as the anchor, and the global policy
 * (minimum length 8, syntax checked) refusing a short password with a constraint violation.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before } from 'node:test';
import { Client } from 'ldapts';
import { systemSchema } from '../../src/config/schema.ts';
import { withSecretContext } from '../../src/fields/secret-ref.ts';
import { createLdapConnector } from '../../src/connectors/ldap/index.ts';
import { runConnectorConformance } from '../../src/connectors/conformance.ts';
import type { Secret } from '../../src/core/secret.ts';
import { startDs389, type Ds389 } from '../support/ds389.ts';

const BASE = 'dc=pwsync,dc=test';
const PEOPLE = `ou=people,${BASE}`;
const SERVICE = `uid=pwsync-svc,ou=services,${BASE}`;
const SERVICE_PASSWORD = randomBytes(12).toString('hex');

let ds: Ds389;
before(async () => {
  ds = await startDs389({
    ldif: [
      `dn: ou=services,${BASE}\nobjectClass: organizationalUnit\nou: services`,
      `dn: ${SERVICE}\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: pwsync-svc\nuserPassword: ${SERVICE_PASSWORD}`,
      [
        `dn: ${PEOPLE}`,
        'objectClass: organizationalUnit',
        'ou: people',
        `aci: (targetattr="userPassword")(version 3.0; acl "pwsync sets passwords"; allow (write) userdn="ldap:///${SERVICE}";)`,
        `aci: (targetattr="uid || cn || sn || mail || objectClass || entryUUID")(version 3.0; acl "pwsync reads people"; allow (read, search, compare) userdn="ldap:///${SERVICE}";)`,
      ].join('\n'),
    ],
  });
});
after(() => ds.stop());

async function asManager<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: ds.url });
  try {
    await client.startTLS({ ca: [await readFile(ds.caFile)] });
    await client.bind(ds.adminDn, ds.adminPassword);
    return await fn(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function binds(dn: string, secret: Secret): Promise<boolean> {
  const client = new Client({ url: ds.ldapsUrl, tlsOptions: { ca: [await readFile(ds.caFile)] } });
  try {
    await secret.use((clear) => client.bind(dn, clear.toString('utf8')));
    return true;
  } catch {
    return false;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

function system(ldap: Record<string, unknown>) {
  const parsed = withSecretContext({ env: { DS_PW: SERVICE_PASSWORD }, baseDir: '/', created: [] }, () =>
    systemSchema.parse({
      name: 'ds389',
      connector: 'ldap',
      ldap: { url: ds.url, flavor: '389ds', bindDn: SERVICE, bindPassword: '${DS_PW}', baseDns: [PEOPLE], tls: { ca: ds.caFile }, ...ldap },
      import: { anchor: 'entryUUID', map: { login: 'uid' } },
      password: { sync: true },
    }),
  );
  if (parsed.connector !== 'ldap') throw new Error('not an ldap system');
  return parsed;
}

/**
 * 389 DS refuses a password that shares three characters in a row with the account's uid, cn or sn
 * (its trivial-word check), and a uid that is not 7-bit clean. The conformance suite's passwords are
 * words and base64url, which have no dot: in a name of letters between dots every three characters
 * in a row hold a dot, so they never collide (a hex name did, now and then: "bef" in "Before").
 */
function accountName(): string {
  return Array.from(randomBytes(8), (b) => String.fromCharCode(97 + (b % 26))).join('.');
}

function fixture(ldap: () => Record<string, unknown>) {
  return async () => {
    const uid = accountName();
    const dn = `uid=${uid},${PEOPLE}`;
    const uuid = await asManager(async (client) => {
      await client.add(dn, { objectClass: ['inetOrgPerson'], uid, cn: uid, sn: uid, userPassword: 'Initial-Secret-1' });
      return String((await client.search(dn, { scope: 'base', attributes: ['entryUUID'] })).searchEntries[0]?.entryUUID);
    });
    return {
      connector: createLdapConnector(system(ldap()), { system: 'ds389', baseDir: '/' }),
      existingAnchor: uuid,
      unknownAnchor: '00000000-0000-4000-8000-000000000000',
      refusedPassword: 'short',
      insecure: () => createLdapConnector(system({ ...ldap(), url: ds.url, insecurePlaintext: true }), { system: 'ds389', baseDir: '/' }),
      login: (_anchor: string, secret: Secret) => binds(dn, secret),
      cleanup: () => asManager((client) => client.del(dn)),
    };
  };
}

runConnectorConformance('ldap (389 Directory Server, StartTLS, Password Modify)', fixture(() => ({})));
runConnectorConformance('ldap (389 Directory Server, ldaps)', fixture(() => ({ url: ds.ldapsUrl })));
