import { dirname, resolve } from 'node:path';
import { UnknownSystemError } from '../core/errors.ts';
import type { RawConfig, SystemConfig } from './schema.ts';

/**
 * A loaded configuration: the schema's output with the paths pwsync itself uses made absolute.
 * Connector paths (such as `file.path`) stay as written; connectors resolve them against `baseDir`.
 *
 * The whole object is frozen at run time. Its nested types are the schema's own, so that it can be
 * handed to code typed against `RawConfig` and `SystemConfig`.
 */
export type Config = Readonly<
  Omit<RawConfig, 'dataDir' | 'log'> & {
    /** The configuration file, absolute. */
    file: string;
    /** The configuration file's directory: relative paths in it are relative to this. */
    baseDir: string;
    /** Absolute. */
    dataDir: string;
    /** The SQLite store: `store.sqlite.path`, else `<dataDir>/pwsync.db`; absolute. */
    storePath: string;
    /** The store key: `key.file`, else `<dataDir>/store.key`; absolute. */
    keyFile: string;
    /** The intake's key material, absolute: configured, else in `<dataDir>/pki/`. */
    pki: Readonly<{ cert: string; key: string; clientCa: string; jweKey: string }>;
    log: Readonly<RawConfig['log']>;
  }
>;

/** Resolves pwsync's own paths against the configuration file's directory. */
export function withPaths(raw: RawConfig, file: string): Config {
  const baseDir = dirname(file);
  const dataDir = resolve(baseDir, raw.dataDir);
  const storePath = raw.store ? resolve(baseDir, raw.store.sqlite.path) : resolve(dataDir, 'pwsync.db');
  const keyFile = raw.key ? resolve(baseDir, raw.key.file) : resolve(dataDir, 'store.key');
  const pkiDir = resolve(dataDir, 'pki');
  const tls = raw.server.tls;
  const pki = {
    cert: resolve(baseDir, tls.cert ?? resolve(pkiDir, 'server.crt')),
    key: resolve(baseDir, tls.key ?? resolve(pkiDir, 'server.key')),
    clientCa: resolve(baseDir, tls.clientCa ?? resolve(pkiDir, 'ca.crt')),
    jweKey: resolve(baseDir, raw.server.intake.jweKey ?? resolve(pkiDir, 'server-jwe.key')),
  };
  return {
    ...raw,
    agents: raw.agents.map((a) => ({ ...a, certificate: resolve(baseDir, a.certificate) })),
    pki,
    ...(raw.store ? { store: { sqlite: { ...raw.store.sqlite, path: storePath } } } : {}),
    ...(raw.key ? { key: { ...raw.key, file: keyFile } } : {}),
    log: { ...raw.log, ...(raw.log.file === undefined ? {} : { file: resolve(baseDir, raw.log.file) }) },
    file,
    baseDir,
    dataDir,
    storePath,
    keyFile,
  };
}

/** Freezes plain objects and arrays all the way down; class instances (a `Secret`) keep their own rules. */
export function deepFreeze<T>(value: T): T {
  if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
    Object.freeze(value);
  } else if (typeof value === 'object' && value !== null) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const item of Object.values(value)) deepFreeze(item);
      Object.freeze(value);
    }
  }
  return value;
}

/** The system called `name`, or undefined when none is configured (it may have been removed). */
export function findSystem(config: Pick<Config, 'systems'>, name: string): SystemConfig | undefined {
  return config.systems.find((s) => s.name === name);
}

/** The system called `name`; throws {@link UnknownSystemError} naming the configured ones. */
export function systemByName(config: Pick<Config, 'systems'>, name: string): SystemConfig {
  const system = findSystem(config, name);
  if (system === undefined) {
    const known = config.systems.map((s) => s.name).join(', ');
    throw new UnknownSystemError(`no system named "${name}" in the configuration (configured: ${known})`);
  }
  return system;
}
