import { resolve } from 'node:path';
import type { SystemConfig } from '../../config/schema.ts';
import { ConfigError } from '../../core/errors.ts';
import type { ConnectorContext } from '../types.ts';
import { FileConnector } from './connector.ts';
import { dialectByte } from './csv.ts';

export { FileConnector } from './connector.ts';
export type { FileConnectorOptions } from './connector.ts';

/** A system configured with `connector: file`. */
export type FileSystemConfig = Extract<SystemConfig, { connector: 'file' }>;

/** Builds the connector for a `file` system; a relative `file.path` resolves against `ctx.baseDir`. Never touches the file. */
export function createFileConnector(system: FileSystemConfig, ctx: ConnectorContext): FileConnector {
  const { file } = system;
  const problem = (path: string, message: string): ConfigError =>
    new ConfigError(`system ${ctx.system}: ${path}: ${message}`, [{ path: `systems.${ctx.system}.${path}`, message }]);
  if (file.passwordColumn !== undefined && file.passwordColumn === system.import.anchor) {
    throw problem('file.passwordColumn', 'the password column cannot be the anchor column');
  }
  const byte = (key: 'delimiter' | 'quote'): number => {
    try {
      return dialectByte(file[key], file.encoding, key);
    } catch (err) {
      throw problem(`file.${key}`, err instanceof Error ? err.message : 'not a single byte');
    }
  };
  return new FileConnector({
    system: ctx.system,
    path: resolve(ctx.baseDir, file.path),
    dialect: { delimiter: byte('delimiter'), quote: byte('quote'), encoding: file.encoding },
    columns: { anchor: system.import.anchor, password: file.passwordColumn },
    hash: system.password.hash,
  });
}
