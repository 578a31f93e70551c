import { randomBytes } from 'node:crypto';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { PolicyError } from '../../core/errors.ts';
import { constantTimeEqual } from './codec.ts';
import { MalformedHashError } from './errors.ts';
import { type FormatHandler, hasNul, requireWithinLimits } from './handler.ts';
import type { HashFormat } from './spec.ts';

/** bcrypt keys Blowfish with at most 72 bytes; every byte beyond is ignored by the algorithm. */
export const BCRYPT_MAX_BYTES = 72;

/** `$2b$NN$` + 22 characters of salt + 31 of hash, in bcrypt's own base64 alphabet. */
const ENCODED = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;
const SETTING_LENGTH = 29;

/** bcrypt's own base64 alphabet, a permutation of the standard one. */
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const STANDARD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The 16 salt bytes of a 22-character bcrypt salt, or undefined for a non-canonical one. */
function decodeSalt(text: string): Buffer | undefined {
  const standard = text.split('').map((c) => STANDARD_ALPHABET[BCRYPT_ALPHABET.indexOf(c)] ?? '').join('');
  const salt = Buffer.from(`${standard}==`, 'base64');
  // 22 characters carry 132 bits for 128: the last character's low bits must be zero.
  const canonical = salt.toString('base64').slice(0, 22).split('').map((c) => BCRYPT_ALPHABET[STANDARD_ALPHABET.indexOf(c)] ?? '').join('');
  return salt.length === 16 && canonical === text ? salt : undefined;
}

/** Verifies a `$2a$`/`$2b$`/`$2y$` string; `format` names the scheme in errors (`{CRYPT}` wraps it). */
export async function verifyBcrypt(encoded: string, clear: Buffer, format: HashFormat): Promise<boolean> {
  const match = ENCODED.exec(encoded);
  if (match === null) throw new MalformedHashError(format, 'not a $2b$ string');
  const cost = Number(match[1]);
  requireWithinLimits(format, 'bcryptCost', cost);
  const salt = decodeSalt(encoded.slice(SETTING_LENGTH - 22, SETTING_LENGTH));
  if (salt === undefined) throw new MalformedHashError(format, 'non-canonical salt');
  if (clear.length > BCRYPT_MAX_BYTES || hasNul(clear)) return false;
  // Rehash with the stored cost and salt and compare everything after the version tag in constant
  // time (the library's own verify does not promise that). $2a$, $2b$ and $2y$ compute the same
  // hash for passwords of at most 72 bytes, which is all pwsync ever stores.
  const recomputed = await bcryptHash(clear, cost, salt);
  return constantTimeEqual(Buffer.from(recomputed.slice(4), 'latin1'), Buffer.from(encoded.slice(4), 'latin1'));
}

/**
 * `bcrypt` as OpenBSD, libxcrypt and htpasswd write it (`$2b$`); verifies `$2a$` and `$2y$` too.
 *
 * A password longer than 72 bytes is refused rather than silently truncated (the target could
 * then be entered with any text sharing the first 72 bytes), and so is one containing NUL, which
 * C implementations cut at. Verifying such a password returns false: pwsync never stored it.
 */
export const bcrypt: FormatHandler = {
  async hash(clear, params) {
    if (clear.length > BCRYPT_MAX_BYTES) {
      throw new PolicyError(`bcrypt cannot hold a password longer than ${BCRYPT_MAX_BYTES} bytes`);
    }
    if (hasNul(clear)) throw new PolicyError('bcrypt cannot hold a password containing a NUL byte');
    // The library tags its output $2y$; for passwords of at most 72 bytes (the only ones allowed
    // here) $2y$ and $2b$ are the same computation, and $2b$ is what OpenBSD and libxcrypt write.
    const encoded = await bcryptHash(clear, params.bcryptCost, randomBytes(16));
    return `$2b$${encoded.slice(4)}`;
  },

  verify: (encoded, clear) => verifyBcrypt(encoded, clear, 'bcrypt'),
};
