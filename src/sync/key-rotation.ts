import type { Keyring } from '../crypto/keyring.ts';
import type { Logger } from '../log/logger.ts';
import type { Store } from '../store/port.ts';
import { EVENT } from '../core/events.ts';

export interface RotationReport {
  readonly newKeyId: string;
  readonly resealed: number;
  readonly keyIds: readonly string[];
}

/**
 * Rotates the store key: a new key goes in front of the keyring (it encrypts from now on), and
 * every secret still waiting in the store is opened with its old key and sealed again under the new
 * one, in one store transaction. Old keys stay in the keyring so that anything sealed while the
 * rotation ran still opens.
 */
export async function rotateStoreKey(store: Store, keyring: Keyring, log: Logger, now: () => number): Promise<RotationReport> {
  const newKeyId = await keyring.rotate();
  const sealed = await store.sealedSecrets();
  const resealed = [];
  for (const { changeId, secret } of sealed) {
    if (secret.keyId === newKeyId) continue;
    const clear = await keyring.open(secret, changeId);
    try {
      resealed.push({ changeId, secret: keyring.seal(clear, changeId) });
    } finally {
      clear.dispose();
    }
  }
  await store.resealSecrets(resealed);
  await store.appendEvents([{ code: EVENT.KEY_ROTATED, at: now(), message: `store key rotated to ${newKeyId}; ${resealed.length} pending secret(s) re-encrypted` }]);
  log.info({ newKeyId, resealed: resealed.length }, 'store key rotated');
  return { newKeyId, resealed: resealed.length, keyIds: keyring.keyIds };
}
