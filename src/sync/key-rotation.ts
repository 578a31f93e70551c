import type { Keyring } from '../crypto/keyring.ts';
import type { Logger } from '../log/logger.ts';
import type { Store } from '../store/port.ts';
import { EVENT } from '../core/events.ts';
import { KeyError } from '../core/errors.ts';

/** Where the backup of the store key is described; named by every refusal over a missing key. */
export const KEY_BACKUP_DOC = 'docs/operations.md, "Backup and restore"';

/** The key ids the store's pending secrets are sealed under, sorted. */
export async function keyIdsInUse(store: Pick<Store, 'sealedSecrets'>): Promise<string[]> {
  const ids = new Set((await store.sealedSecrets()).map((s) => s.secret.keyId));
  return [...ids].sort();
}

/**
 * Refuses a keyring that lacks a key the store's pending secrets are sealed under (`keyIds` of
 * `null` when there is no key file at all). Without it each of those changes would end in 7010 one
 * job at a time; with the key put back from its backup they are all delivered.
 */
export async function assertStoreKeysPresent(store: Pick<Store, 'sealedSecrets'>, keyFile: string, keyIds: readonly string[] | null): Promise<void> {
  const missing = (await keyIdsInUse(store)).filter((id) => keyIds === null || !keyIds.includes(id));
  if (missing.length === 0) return;
  const where = keyIds === null ? `there is no store key file ${keyFile}` : `${keyFile} holds only ${keyIds.join(', ')}`;
  throw new KeyError(
    `the store holds pending passwords sealed under key ${missing.join(', ')}, but ${where}: put back the key file from its backup (${KEY_BACKUP_DOC}); a new key would not open them. ` +
      `Only if the key is lost for good: "pwsync key forget ${missing.join(' ')}" gives up those changes`,
  );
}

export interface RotationReport {
  readonly newKeyId: string;
  readonly resealed: number;
  readonly keyIds: readonly string[];
}

export interface ForgetReport {
  readonly keyIds: readonly string[];
  readonly abandoned: number;
}

/**
 * Gives up the pending changes sealed under keys that are lost for good (`pwsync key forget`): their
 * jobs fail with 7031 and their secrets are wiped, so that a new key can be made (`pwsync init`) and
 * the server can start. Refuses a key the key file still holds (when there is one): that key is not
 * lost. `keyIds` are the keys the administrator names; each must be one the store needs.
 */
export async function forgetLostKeys(store: Pick<Store, 'sealedSecrets' | 'abandonSealedUnder'>, keyIds: readonly string[], held: readonly string[], now: () => number): Promise<ForgetReport> {
  const inUse = await keyIdsInUse(store);
  const kept = keyIds.filter((id) => held.includes(id));
  if (kept.length > 0) throw new KeyError(`key ${kept.join(', ')} is in the key file: it is not lost, and the changes sealed under it can be delivered`);
  const unused = keyIds.filter((id) => !inUse.includes(id));
  if (unused.length > 0) {
    throw new KeyError(`no pending password is sealed under key ${unused.join(', ')}; the store needs ${inUse.length === 0 ? 'no key' : inUse.join(', ')}`);
  }
  const abandoned = await store.abandonSealedUnder(keyIds, now());
  return { keyIds, abandoned };
}

/**
 * Rotates the store key: a new key goes in front of the keyring (it encrypts from now on), and
 * every secret still waiting in the store is opened with its old key and sealed again under the new
 * one, in one store transaction. Old keys stay in the keyring so that anything sealed while the
 * rotation ran still opens.
 */
export async function rotateStoreKey(store: Store, keyring: Keyring, log: Logger, now: () => number): Promise<RotationReport> {
  // Before the new key is added: a secret no key opens would stop the re-sealing half-way.
  await assertStoreKeysPresent(store, keyring.file, keyring.keyIds);
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
