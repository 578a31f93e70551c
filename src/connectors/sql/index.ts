import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SystemConfig } from '../../config/schema.ts';
import { ConfigError } from '../../core/errors.ts';
import { silentLogger } from '../../log/logger.ts';
import type { ConnectorContext } from '../types.ts';
import { DEFAULT_PORTS, type SqlConfig } from './config.ts';
import { SqlConnector } from './connector.ts';
import type { SqlDriver } from './driver.ts';
import { MariaDbDriver } from './mariadb.ts';
import { PostgresDriver } from './postgres.ts';

export { SqlConnector } from './connector.ts';

/** A system configured with `connector: sql`. */
export type SqlSystemConfig = Extract<SystemConfig, { connector: 'sql' }>;

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
