import type { ConnectorKind, SystemConfig } from '../config/schema.ts';
import { createFileConnector } from './file/index.ts';
import { createLdapConnector } from './ldap/index.ts';
import { createSqlConnector } from './sql/index.ts';
import type { Connector, ConnectorContext } from './types.ts';

type Factories = { readonly [K in ConnectorKind]: (system: Extract<SystemConfig, { connector: K }>, ctx: ConnectorContext) => Connector };

/** The one list of connector kinds: the only place that knows every kind. */
const FACTORIES: Factories = {
  file: createFileConnector,
  ldap: createLdapConnector,
  sql: createSqlConnector,
};

export const CONNECTOR_KINDS = Object.keys(FACTORIES) as ConnectorKind[];

/** Creates the connector for a configured system. Creating never connects; `testConnection` does. */
export function createConnector(system: SystemConfig, ctx: ConnectorContext): Connector {
  // The discriminated union pairs each kind with its own block; with a second kind the indexed
  // factory widens and needs a cast to the common signature here (and only here).
  const factory = FACTORIES[system.connector] as ConnectorFactory;
  return factory(system, ctx);
}

export type ConnectorFactory = (system: SystemConfig, ctx: ConnectorContext) => Connector;
