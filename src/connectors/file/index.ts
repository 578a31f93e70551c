import { resolve } from 'node:path';
import { ConfigError } from '../../core/errors.ts';
import { defineConnector, type KindSystem, type PasswordRequirement } from '../definition.ts';
import type { ConnectorContext } from '../types.ts';
import { fileConfigSchema, type FileConfig } from './config.ts';
import { FILE_CAPABILITIES, FileConnector } from './connector.ts';
import { dialectByte } from './csv.ts';

export { FileConnector } from './connector.ts';
export type { FileConnectorOptions } from './connector.ts';

/** A system configured with `connector: file`. */
export type FileSystemConfig = KindSystem<'file', FileConfig>;

/** Builds the connector for a `file` system; a relative `file.path` resolves against `ctx.baseDir`. Never touches the file. */
export function createFileConnector(system: FileSystemConfig, ctx: ConnectorContext): FileConnector {
  const { file: config } = system;
  const problem = (path: string, message: string): ConfigError =>
    new ConfigError(`system ${ctx.system}: ${path}: ${message}`, [{ path: `systems.${ctx.system}.${path}`, message }]);
  if (config.passwordColumn !== undefined && config.passwordColumn === system.import.anchor) {
    throw problem('file.passwordColumn', 'the password column cannot be the anchor column');
  }
  const byte = (key: 'delimiter' | 'quote'): number => {
    try {
      return dialectByte(config[key], config.encoding, key);
    } catch (err) {
      throw problem(`file.${key}`, err instanceof Error ? err.message : 'not a single byte');
    }
  };
  return new FileConnector({
    system: ctx.system,
    path: resolve(ctx.baseDir, config.path),
    dialect: { delimiter: byte('delimiter'), quote: byte('quote'), encoding: config.encoding },
    columns: { anchor: system.import.anchor, password: config.passwordColumn },
    hash: system.password.hash,
  });
}

/** A `file` system takes passwords only with a column to write them to and a hash format to write. */
function passwordRequirements(system: FileSystemConfig): PasswordRequirement[] {
  return [
    ...(system.file.passwordColumn === undefined ? [{ path: ['file', 'passwordColumn'], setting: 'file.passwordColumn' }] : []),
    ...(system.password.hash === undefined ? [{ path: ['password', 'hash'], setting: 'password.hash' }] : []),
  ];
}

/** The `file` kind: a delimited text file (CSV), one row per account. */
export const file = defineConnector({
  kind: 'file',
  schema: fileConfigSchema,
  capabilities: FILE_CAPABILITIES,
  create: createFileConnector,
  passwordRequirements,
});
