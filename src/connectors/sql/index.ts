import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../../core/errors.ts';
import { silentLogger } from '../../log/logger.ts';
import { defineConnector, type KindSystem, type PasswordRequirement } from '../definition.ts';
import type { ConnectorContext } from '../types.ts';
import { DEFAULT_PORTS, sqlConfigSchema, type SqlConfig } from './config.ts';
import { SQL_CAPABILITIES, SqlConnector } from './connector.ts';
import type { SqlDriver } from './driver.ts';
import { MariaDbDriver } from './mariadb.ts';
import { compileNamed } from './named-params.ts';
import { PostgresDriver } from './postgres.ts';

export { SqlConnector } from './connector.ts';

/** A system configured with `connector: sql`. */
export type SqlSystemConfig = KindSystem<'sql', SqlConfig>;

/** Reads the CA file and makes the driver's pool (which connects only when a session is asked for). */
async function openDriver(config: SqlConfig, caFile: string | undefined, port: number): Promise<SqlDriver> {
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile);
    } catch (e) {
      throw new ConfigError(`cannot read the CA file ${caFile} (sql.tls.ca): ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return config.dialect === 'postgres' ? new PostgresDriver(config, ca, port, config.password) : new MariaDbDriver(config, ca, port, config.password);
}

/** Builds the connector for an `sql` system. Never connects; `testConnection` and the first operation do. */
export function createSqlConnector(system: SqlSystemConfig, ctx: ConnectorContext): SqlConnector {
  const { sql: config } = system;
  const caFile = config.tls.ca === undefined ? undefined : resolve(ctx.baseDir, config.tls.ca);
  const port = config.port ?? DEFAULT_PORTS[config.dialect];
  const map = system.import.map;
  return new SqlConnector({
    system: ctx.system,
    config,
    openDriver: () => openDriver(config, caFile, port),
    port,
    anchorColumn: system.import.anchor,
    columns: map === undefined ? undefined : [...new Set(Object.values(map))],
    batchSize: system.import.batchSize,
    hash: system.password.hash,
    requireSecure: system.password.requireSecure,
    log: ctx.log ?? silentLogger(),
  });
}

/**
 * An `sql` system of rows takes passwords only with a `setPassword` statement, and one that writes
 * `:hash` only with a format to hash in; login roles need neither (the connector computes the
 * database's own verifier).
 */
function passwordRequirements(system: SqlSystemConfig): PasswordRequirement[] {
  if (system.sql.accounts === 'roles') return [];
  const statement = system.sql.setPassword?.statement;
  if (statement === undefined) return [{ path: ['sql', 'setPassword'], setting: 'sql.setPassword' }];
  // The schema has compiled the statement already: it parses.
  const hashes = compileNamed(statement, system.sql.dialect).names.has('hash');
  return hashes && system.password.hash === undefined ? [{ path: ['password', 'hash'], setting: 'password.hash (sql.setPassword.statement writes :hash)' }] : [];
}

/** The `sql` kind: an application's users table or the database's login roles, on PostgreSQL or MariaDB/MySQL. */
export const sql = defineConnector({
  kind: 'sql',
  schema: sqlConfigSchema,
  capabilities: SQL_CAPABILITIES,
  create: createSqlConnector,
  passwordRequirements,
});
