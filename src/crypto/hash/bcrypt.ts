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

/** Verifies a `$2a$`/`$2b$`/`$2y$` string; `format` names the scheme in errors (`{CRYPT}` wraps it). */
export async function verifyBcrypt(encoded: string, clear: Buffer, format: HashFormat): Promise<boolean> {
  const match = ENCODED.exec(encoded);
  if (match === null) throw new MalformedHashError(format, 'not a $2b$ string');
  requireWithinLimits(format, 'bcryptCost', Number(match[1]));
  if (clear.length > BCRYPT_MAX_BYTES || hasNul(clear)) return false;
  let recomputed: string;
  try {
    // Rehash with the stored setting (version, cost, salt) and compare the whole encodings in
    // constant time; the library's own verify does not promise that.
    recomputed = await bcryptHash(clear, { salt: encoded.slice(0, SETTING_LENGTH) });
  } catch (e: unknown) {
    // The library refuses salts with non-canonical trailing bits.
    if (e instanceof RangeError) throw new MalformedHashError(format, 'non-canonical salt', { cause: e });
    throw e;
  }
  return constantTimeEqual(Buffer.from(recomputed, 'latin1'), Buffer.from(encoded, 'latin1'));
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
    return bcryptHash(clear, { salt: randomBytes(16), cost: params.bcryptCost, version: '2b', rejectLongPasswords: true });
  },

  verify: (encoded, clear) => verifyBcrypt(encoded, clear, 'bcrypt'),
};
