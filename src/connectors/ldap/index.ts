import { resolve } from 'node:path';
import type { SystemConfig } from '../../config/schema.ts';
import { silentLogger } from '../../log/logger.ts';
import type { ConnectorContext } from '../types.ts';
import { DEFAULT_FILTERS } from './config.ts';
import { LdapConnector } from './connector.ts';

export { LdapConnector } from './connector.ts';

/** A system configured with `connector: ldap`. */
export type LdapSystemConfig = Extract<SystemConfig, { connector: 'ldap' }>;

/** Builds the connector for an `ldap` system. Never connects; `testConnection` and the first operation do. */
export function createLdapConnector(system: LdapSystemConfig, ctx: ConnectorContext): LdapConnector {
  const { ldap } = system;
  const map = system.import.map;
  return new LdapConnector({
    system: ctx.system,
    config: ldap,
    caFile: ldap.tls.ca === undefined ? undefined : resolve(ctx.baseDir, ldap.tls.ca),
    plan: {
      flavor: ldap.flavor,
      baseDns: ldap.baseDns,
      scope: ldap.scope,
      filter: ldap.filter ?? DEFAULT_FILTERS[ldap.flavor],
      pageSize: ldap.pageSize,
      anchor: system.import.anchor,
      names: map === undefined ? undefined : [...new Set(Object.values(map))],
      overlapMs: ldap.deltaOverlap,
    },
    hash: system.password.hash,
    requireSecure: system.password.requireSecure,
    log: ctx.log ?? silentLogger(),
    now: Date.now,
  });
}
