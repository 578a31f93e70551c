import { mkdir } from 'node:fs/promises';
import { loadConfig, type Config } from '../config/index.ts';
import { Keyring } from '../crypto/keyring.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { assertStoreKeysPresent } from '../sync/key-rotation.ts';
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
 * A store holding pending secrets sealed under a key the key file lacks (or a missing key file) is
 * refused: a new key would not open them.
 */
export async function initDataDirectory(configFile: string): Promise<InitReport> {
  const config = await loadConfig(configFile);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keyCreated = !(await pathExists(config.keyFile));
  const store = await openSqliteStore(config.storePath);
  let keyring: Keyring;
  try {
    // A store that holds secrets under a key this file lacks (or with no key file at all: a lost
    // key) is refused before a new key is made, which would never open them.
    const existing = keyCreated ? undefined : await Keyring.load(config.keyFile);
    await assertStoreKeysPresent(store, config.keyFile, existing?.keyIds ?? null);
    keyring = existing ?? (await Keyring.create(config.keyFile));
  } finally {
    await store.close();
  }
  const pki = [config.pki.cert, config.pki.key, config.pki.clientCa, config.pki.jweKey];
  const pkiReady = (await Promise.all(pki.map(pathExists))).every(Boolean);
  return { config, keyCreated, keyId: keyring.activeKeyId, pkiReady };
}
