import { randomBytes, scrypt as nodeScrypt } from 'node:crypto';
import { constantTimeEqual, decodeBase64, encodeBase64, parseDecimal, wipe } from './codec.ts';
import { MalformedHashError } from './errors.ts';
import { type FormatHandler, requireWithinLimits } from './handler.ts';

/** passlib's checksum size. */
const KEY_BYTES = 32;

/** `$scrypt$ln=…,r=…,p=…$salt$checksum`, as passlib writes it. */
const ENCODED = /^\$scrypt\$ln=([0-9]+),r=([0-9]+),p=([0-9]+)\$([^$]*)\$([^$]+)$/;

interface Cost {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

function derive(clear: Buffer, salt: Buffer, keyBytes: number, { logN, r, p }: Cost): Promise<Buffer> {
  const N = 2 ** logN;
  // OpenSSL refuses when its working set (128·r·(N+2) for V plus 128·r·p for B) exceeds maxmem,
  // whose 32 MiB default is below the recommended N=2^17, r=8. Allow exactly what the parameters
  // need: they are bounded by the configuration schema, on hashing and on verifying alike.
  const maxmem = 128 * r * (N + 2 + p) + 65_536;
  return new Promise((resolve, reject) => {
    nodeScrypt(clear, salt, keyBytes, { N, r, p, maxmem }, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

/**
 * `scrypt` in passlib's encoding. Note that passlib writes scrypt's salt and checksum in standard
 * base64 without padding (its `b64s`), not in the adapted base64 of its pbkdf2 hashes; decoding
 * also takes `.` for `+`, which early passlib versions wrote.
 */
export const scrypt: FormatHandler = {
  async hash(clear, params) {
    const cost: Cost = { logN: params.scryptLogN, r: params.scryptR, p: params.scryptP };
    const salt = randomBytes(params.saltBytes);
    const key = await derive(clear, salt, KEY_BYTES, cost);
    try {
      return `$scrypt$ln=${cost.logN},r=${cost.r},p=${cost.p}$${encodeBase64(salt, 'standard')}$${encodeBase64(key, 'standard')}`;
    } finally {
      wipe(key);
    }
  },

  async verify(encoded, clear) {
    const match = ENCODED.exec(encoded);
    if (match === null) throw new MalformedHashError('scrypt', 'not a $scrypt$ln=…,r=…,p=… string');
    const [, lnText, rText, pText, saltText, keyText] = match;
    const logN = parseDecimal(lnText ?? '');
    const r = parseDecimal(rText ?? '');
    const p = parseDecimal(pText ?? '');
    const salt = decodeBase64(saltText ?? '', 'adapted');
    const expected = decodeBase64(keyText ?? '', 'adapted');
    if (logN === undefined || r === undefined || p === undefined) throw new MalformedHashError('scrypt', 'bad cost parameters');
    if (salt === undefined || salt.length > 1024) throw new MalformedHashError('scrypt', 'bad salt');
    if (expected === undefined || expected.length < 16 || expected.length > 64) throw new MalformedHashError('scrypt', 'bad checksum');
    requireWithinLimits('scrypt', 'scryptLogN', logN);
    requireWithinLimits('scrypt', 'scryptR', r);
    requireWithinLimits('scrypt', 'scryptP', p);
    const actual = await derive(clear, salt, expected.length, { logN, r, p });
    try {
      return constantTimeEqual(actual, expected);
    } finally {
      wipe(actual);
    }
  },
};
