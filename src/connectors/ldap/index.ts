import { resolve } from 'node:path';
import { silentLogger } from '../../log/logger.ts';
import { defineConnector, type KindSystem, type PasswordRequirement } from '../definition.ts';
import type { ConnectorContext } from '../types.ts';
import { DEFAULT_FILTERS, ldapConfigSchema, type LdapConfig } from './config.ts';
import { LDAP_CAPABILITIES, LdapConnector } from './connector.ts';

export { LdapConnector } from './connector.ts';

/** A system configured with `connector: ldap`. */
export type LdapSystemConfig = KindSystem<'ldap', LdapConfig>;

/** Builds the connector for an `ldap` system. Never connects; `testConnection` and the first operation do. */
export function createLdapConnector(system: LdapSystemConfig, ctx: ConnectorContext): LdapConnector {
  const { ldap: config } = system;
  const map = system.import.map;
  return new LdapConnector({
    system: ctx.system,
    config,
    caFile: config.tls.ca === undefined ? undefined : resolve(ctx.baseDir, config.tls.ca),
    plan: {
      flavor: config.flavor,
      baseDns: config.baseDns,
      scope: config.scope,
      filter: config.filter ?? DEFAULT_FILTERS[config.flavor],
      pageSize: config.pageSize,
      anchor: system.import.anchor,
      names: map === undefined ? undefined : [...new Set(Object.values(map))],
      overlapMs: config.deltaOverlap,
    },
    hash: system.password.hash,
    requireSecure: system.password.requireSecure,
    log: ctx.log ?? silentLogger(),
    now: Date.now,
  });
}

/**
 * An `ldap` system takes passwords as the directory takes them (the Password Modify operation, or
 * `unicodePwd` on AD); only a hash written by pwsync itself needs a format.
 */
function passwordRequirements(system: LdapSystemConfig): PasswordRequirement[] {
  return system.ldap.flavor !== 'ad' && system.ldap.passwordMethod === 'hash' && system.password.hash === undefined
    ? [{ path: ['password', 'hash'], setting: 'password.hash (ldap.passwordMethod is hash)' }]
    : [];
}

/** The `ldap` kind: OpenLDAP, 389 DS, Active Directory and Samba AD over LDAPv3. */
export const ldap = defineConnector({
  kind: 'ldap',
  schema: ldapConfigSchema,
  capabilities: LDAP_CAPABILITIES,
  create: createLdapConnector,
  passwordRequirements,
});
