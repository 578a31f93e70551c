import { Client } from 'ldapts';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { systemSchema } from '../../../src/config/schema.ts';
import { withSecretContext } from '../../../src/fields/secret-ref.ts';
import { Secret } from '../../../src/core/secret.ts';
import { escapeDnValue } from '../../../src/ldap-client/escape.ts';
import { ldapBinds } from '../daemon.ts';
import { startSlapd, type Slapd } from '../slapd.ts';
import { createLdapConnector, type LdapConnector, type LdapSystemConfig } from '../../../src/connectors/ldap/index.ts';

/*
 * A private OpenLDAP for the ldap connector's tests: TLS, the ppolicy overlay (minimum length 8,
 * quality checked), an entryUUID index, and a service account that sets passwords by ACL (the
 * rootdn would bypass the policy). Users are added per test with random names.
 */

export const BASE = 'dc=pwsync,dc=test';
export const PEOPLE = `ou=people,${BASE}`;
export const SERVICE_DN = `cn=pwsync,ou=services,${BASE}`;
const POLICY_DN = `cn=default,ou=policies,${BASE}`;
/**
 * For accounts whose hash is computed by pwsync: the server cannot check the quality of a hashed
 * value, so it must accept what it cannot check (pwdCheckQuality 1) or it refuses every hash.
 */
export const HASH_POLICY_DN = `cn=hashed,ou=policies,${BASE}`;

export interface OpenLdapWorld {
  readonly slapd: Slapd;
  readonly servicePassword: string;
  /** Adds an inetOrgPerson under ou=people; returns its DN and entryUUID. */
  addUser(uid: string, password: string, extra?: Readonly<Record<string, string>>, rdn?: { readonly attribute: string; readonly value: string }): Promise<{ dn: string; uuid: string }>;
  /** As the rootdn. */
  admin<T>(fn: (client: Client) => Promise<T>): Promise<T>;
  /** Whether `dn` binds with `password` over LDAPS. */
  binds(dn: string, password: string): Promise<boolean>;
  /** A validated system configuration for this directory; `ldap` and `system` override. */
  system(ldap?: Record<string, unknown>, system?: Record<string, unknown>): LdapSystemConfig;
  connector(ldap?: Record<string, unknown>, system?: Record<string, unknown>): LdapConnector;
  stop(): Promise<void>;
}

export async function startOpenLdapWorld(): Promise<OpenLdapWorld> {
  const servicePassword = randomBytes(12).toString('hex');
  const slapd = await startSlapd({
    tls: true,
    modules: ['ppolicy', 'pw-sha2'],
    databaseConfig: [
      'index entryUUID eq',
      'index uid eq',
      'overlay ppolicy',
      `ppolicy_default "${POLICY_DN}"`,
      'ppolicy_hash_cleartext',
      // `write`, not `manage`: ppolicy lets an identity with manage rights on the password skip the
      // policy, as it does the rootdn. Manage on pwdReset alone, for "must change at next logon".
      `access to attrs=userPassword by dn.exact="${SERVICE_DN}" write by self write by anonymous auth by * none`,
      `access to attrs=pwdReset by dn.exact="${SERVICE_DN}" manage by * read`,
      `access to * by dn.exact="${SERVICE_DN}" write by self read by users read by * none`,
      // slapd's default size limit (500 entries, paged searches included) would stop an import at
      // 500 accounts: lifted for the service account alone, as the LDAP guide tells.
      `limits dn.exact="${SERVICE_DN}" size=unlimited size.prtotal=unlimited`,
    ],
    ldif: [
      `dn: ou=people,${BASE}\nobjectClass: organizationalUnit\nou: people`,
      `dn: ou=services,${BASE}\nobjectClass: organizationalUnit\nou: services`,
      `dn: ou=policies,${BASE}\nobjectClass: organizationalUnit\nou: policies`,
      `dn: ${POLICY_DN}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdMinLength: 8\npwdCheckQuality: 2`,
      `dn: ${HASH_POLICY_DN}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: hashed\npwdAttribute: userPassword\npwdMinLength: 8\npwdCheckQuality: 1`,
      `dn: ${SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: pwsync\nuserPassword: ${servicePassword}`,
    ],
  });
  const ldapsUrl = slapd.ldapsUrl ?? '';
  const ca = await readFile(slapd.caFile ?? '');
  const admin = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ url: ldapsUrl, tlsOptions: { ca: [ca] } });
    try {
      await client.bind(slapd.adminDn, slapd.adminPassword);
      return await fn(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };
  const system = (ldap: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}): LdapSystemConfig => {
    const parsed = withSecretContext({ env: { LDAP_PW: servicePassword }, baseDir: '/', created: [] }, () =>
      systemSchema.parse({
        name: 'directory',
        connector: 'ldap',
        ldap: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: '${LDAP_PW}', baseDns: [PEOPLE], tls: { ca: slapd.caFile }, ...ldap },
        import: { anchor: 'entryUUID', map: { login: 'uid', mail: 'mail' } },
        password: { sync: true },
        ...overrides,
      }),
    );
    if (parsed.connector !== 'ldap') throw new Error('not an ldap system');
    return parsed;
  };
  return {
    slapd,
    servicePassword,
    admin,
    async addUser(uid, password, extra = {}, rdn = { attribute: 'uid', value: uid }) {
      const dn = `${rdn.attribute}=${escapeDnValue(rdn.value)},${PEOPLE}`;
      await admin(async (client) => {
        const attributes: Record<string, string | string[]> = { objectClass: ['inetOrgPerson'], uid, cn: uid, sn: uid, userPassword: password, ...extra };
        if (rdn.attribute !== 'uid') attributes[rdn.attribute] = rdn.value;
        await client.add(dn, attributes);
      });
      const uuid = await admin(async (client) => {
        const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['entryUUID'] });
        return String(searchEntries[0]?.entryUUID);
      });
      return { dn, uuid };
    },
    binds: (dn, password) => ldapBinds(ldapsUrl, dn, password, ca),
    system,
    connector: (ldap, overrides) => createLdapConnector(system(ldap, overrides), { system: 'directory', baseDir: '/' }),
    stop: () => slapd.stop(),
  };
}

/** Runs `fn` with a Secret of `text`, wiped afterwards. */
export async function withSecret<T>(text: string, fn: (secret: Secret) => Promise<T>): Promise<T> {
  const secret = Secret.fromString(text);
  try {
    return await fn(secret);
  } finally {
    secret.dispose();
  }
}

/** Runs `fn` with `connector` and closes it, whatever happens. */
export async function using<T>(connector: LdapConnector, fn: (c: LdapConnector) => Promise<T>): Promise<T> {
  try {
    return await fn(connector);
  } finally {
    await connector.close();
  }
}

/** Sets `password` through the connector with a Secret made and wiped here. */
export async function setWith(connector: LdapConnector, anchor: string, password: string, force = false): Promise<void> {
  const secret = Secret.fromString(password);
  try {
    await connector.setPassword(anchor, secret, { forceChangeAtNextLogon: force });
  } finally {
    secret.dispose();
  }
}
