import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { ConfigError, InvalidInputError } from '../../core/errors.ts';
import { findProgram } from '../../util/root-only.ts';

/** Most bytes one armored Primary:SambaGPG message may have (a password of 1,024 bytes is far less). */
const MAX_MESSAGE_BYTES = 16_384;

/**
 * The private keys that open the copies Samba keeps of new passwords (smb.conf's `password hash
 * gpg key ids`). The agent decrypts each copy itself, in a few milliseconds, instead of having
 * syncpasswords run gpg for every account (about 60 ms each, one after the other: bench/capture-samba.ts).
 */
export class SambaGpgKeys {
  readonly #keys: readonly openpgp.PrivateKey[];
  readonly fingerprints: readonly string[];

  constructor(keys: readonly openpgp.PrivateKey[]) {
    if (keys.length === 0) throw new ConfigError('no GPG private key to decrypt Samba\'s password copies with');
    this.#keys = keys;
    this.fingerprints = keys.map((k) => k.getFingerprint().toUpperCase());
  }

  /** The cleartext of one armored `Primary:SambaGPG` message (UTF-16LE, as AD keeps passwords); the caller wipes it. */
  async decrypt(armored: Buffer): Promise<Uint8Array> {
    if (armored.length > MAX_MESSAGE_BYTES) throw new InvalidInputError(`the encrypted password copy is ${armored.length} bytes; at most ${MAX_MESSAGE_BYTES} are taken`);
    let message: openpgp.Message<Uint8Array>;
    try {
      message = await openpgp.readMessage({ armoredMessage: armored.toString('latin1') });
    } catch (e) {
      throw new InvalidInputError(`the encrypted password copy is not an OpenPGP message: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      // openpgp's overloads do not resolve under the linter's type checker: checked here instead.
      const result: { readonly data: unknown } = await openpgp.decrypt({ message, decryptionKeys: [...this.#keys], format: 'binary' });
      if (!(result.data instanceof Uint8Array)) throw new InvalidInputError('the decrypted copy is not bytes');
      return result.data;
    } catch (e) {
      throw new InvalidInputError(`the encrypted password copy cannot be decrypted with key ${this.fingerprints.join(', ')}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/**
 * Reads the fingerprints of `password hash gpg key ids` from smb.conf (with testparm) and exports
 * each one's secret key from `gnupgHome` (gpg, without a passphrase: Samba's documented set-up).
 */
export async function loadSambaGpgKeys(smbConf: string, gnupgHome: string | undefined): Promise<SambaGpgKeys> {
  const run = promisify(execFile);
  // Found once, by path, and (as root) only when root's alone: both run as root on a DC.
  const testparm = findProgram('testparm', 'testparm (package samba-common-bin)');
  const gpg = findProgram('gpg', 'gpg (package gpg)');
  let ids: string;
  try {
    ids = (await run(testparm, ['-s', '--parameter-name=password hash gpg key ids', smbConf], { encoding: 'utf8', timeout: 10_000 })).stdout.trim();
  } catch (e) {
    throw new ConfigError(`cannot read "password hash gpg key ids" from ${smbConf} with testparm (package samba-common-bin): ${e instanceof Error ? e.message : String(e)}`);
  }
  const fingerprints = ids.split(/[\s,]+/).filter((id) => id !== '');
  if (fingerprints.length === 0) {
    throw new ConfigError(`${smbConf} has no "password hash gpg key ids": Samba keeps no copy of new passwords to capture (docs/sources/samba-ad.md, step 3)`);
  }
  const env: NodeJS.ProcessEnv = gnupgHome === undefined ? process.env : { ...process.env, GNUPGHOME: gnupgHome };
  const home = gnupgHome ?? process.env['GNUPGHOME'] ?? '~/.gnupg';
  const keys: openpgp.PrivateKey[] = [];
  for (const fingerprint of fingerprints) {
    let exported: Buffer;
    try {
      exported = (await run(gpg, ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', fingerprint], { env, encoding: 'buffer', timeout: 30_000, maxBuffer: 1 << 20 })).stdout;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (/no passphrase given/i.test(why)) throw new ConfigError(`the GPG secret key ${fingerprint} in ${home} has a passphrase; the agent, as syncpasswords, needs one without`);
      throw new ConfigError(`cannot export the GPG secret key ${fingerprint} from ${home}: ${why}`);
    }
    try {
      if (exported.length === 0) throw new ConfigError(`the GPG secret key ${fingerprint} of smb.conf's "password hash gpg key ids" is not in ${home} (set capture.samba.gnupgHome)`);
      // A copy: the parsed key keeps views into the bytes it was read from, so they outlive this call.
      const key = await openpgp.readPrivateKey({ binaryKey: Uint8Array.from(exported) });
      if (!key.isDecrypted()) throw new ConfigError(`the GPG secret key ${fingerprint} has a passphrase; the agent, as syncpasswords, needs one without`);
      keys.push(key);
    } finally {
      exported.fill(0);
    }
  }
  return new SambaGpgKeys(keys);
}
