import { mkdir } from 'node:fs/promises';
import { loadConfig, type Config } from '../config/index.ts';
import { Keyring } from '../crypto/keyring.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { pathExists } from '../util/files.ts';

export interface InitReport {
  readonly config: Config;
  readonly keyCreated: boolean;
  readonly keyId: string;
  /** Whether every file the intake needs exists (certificates and JWE key). */
  readonly pkiReady: boolean;
}

/**
 * Creates the data directory (mode 0700), the store key (mode 0600) and the store (migrated).
 * Running it again is safe: an existing key is checked (mode, shape) and kept, never overwritten.
 */
export async function initDataDirectory(configFile: string): Promise<InitReport> {
  const config = await loadConfig(configFile);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keyCreated = !(await pathExists(config.keyFile));
  const keyring = keyCreated ? await Keyring.create(config.keyFile) : await Keyring.load(config.keyFile);
  const store = await openSqliteStore(config.storePath);
  await store.close();
  const pki = [config.pki.cert, config.pki.key, config.pki.clientCa, config.pki.jweKey];
  const pkiReady = (await Promise.all(pki.map(pathExists))).every(Boolean);
  return { config, keyCreated, keyId: keyring.activeKeyId, pkiReady };
}
