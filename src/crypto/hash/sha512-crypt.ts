import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { PolicyError } from '../../core/errors.ts';
import { constantTimeEqual, digestOf, parseDecimal, wipe } from './codec.ts';
import { MalformedHashError } from './errors.ts';
import { type FormatHandler, hasNul } from './handler.ts';
import type { HashFormat } from './spec.ts';

/*
 * SHA-512-crypt (`$6$`) after Ulrich Drepper's specification "Unix crypt using SHA-256 and
 * SHA-512", written on buffers with node:crypto so that the password never becomes a JS string
 * (unixcrypt, the package at hand, takes strings). Checked against glibc/libxcrypt, OpenSSL and
 * unixcrypt by the tests.
 */

const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;
const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The rounds loop hands the event loop back this often (about every few milliseconds). */
const ROUNDS_PER_TURN = 2048;

/**
 * `$6$[rounds=N$]salt$checksum`. The salt is at most 16 printable ASCII characters other than `$`
 * and `:` (glibc cuts it at 16; libxcrypt refuses the rest); the checksum is 86 characters of
 * crypt's base64.
 */
const ENCODED = /^\$6\$(?:rounds=([0-9]+)\$)?([\x21-\x23\x25-\x39\x3b-\x7e]{0,16})\$([./0-9A-Za-z]{86})$/;

/** The hashes whose input holds the password itself are one-shot digests (codec.ts says why). */
function sha512(...parts: Buffer[]): Buffer {
  return digestOf('sha512', ...parts);
}

/** `bytes` repeated and cut to `length` bytes (the spec's P and S sequences). */
function stretch(bytes: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += bytes.length) bytes.copy(out, at, 0, Math.min(bytes.length, length - at));
  return out;
}

/** The 64-byte result of the algorithm (steps 1–21 of the specification). */
async function digest(pw: Buffer, salt: Buffer, rounds: number): Promise<Buffer> {
  const b = sha512(pw, salt, pw);
  const partsA = [pw, salt];
  let n = pw.length;
  for (; n > 64; n -= 64) partsA.push(b);
  partsA.push(b.subarray(0, n));
  for (let bits = pw.length; bits > 0; bits >>= 1) partsA.push((bits & 1) !== 0 ? b : pw);
  let c = sha512(...partsA);

  const dp = sha512(...Array.from({ length: pw.length }, () => pw));
  const p = stretch(dp, pw.length);

  const ctxDs = createHash('sha512');
  for (let i = 0; i < 16 + (c[0] ?? 0); i++) ctxDs.update(salt);
  const ds = ctxDs.digest();
  const s = stretch(ds, salt.length);

  try {
    for (let i = 0; i < rounds; i++) {
      const odd = (i & 1) !== 0;
      const ctx = createHash('sha512').update(odd ? p : c);
      if (i % 3 !== 0) ctx.update(s);
      if (i % 7 !== 0) ctx.update(p);
      const next = ctx.update(odd ? c : p).digest();
      c.fill(0);
      c = next;
      // Hundreds of thousands of rounds would otherwise hold the event loop for seconds.
      if (i % ROUNDS_PER_TURN === ROUNDS_PER_TURN - 1) await nextTurn();
    }
    return c;
  } finally {
    wipe(b, dp, p, ds, s);
  }
}

/** crypt's base64 of the 64 bytes, in the byte order the specification prescribes for SHA-512. */
function encodeDigest(c: Buffer): string {
  let out = '';
  const put = (b2: number, b1: number, b0: number, chars: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let k = 0; k < chars; k++, w >>= 6) out += ALPHABET.charAt(w & 0x3f);
  };
  const at = (i: number): number => c[i] ?? 0;
  // Groups of three bytes i, i+21, i+42, rotated by one position at each step.
  for (let i = 0; i < 21; i++) {
    const [x, y, z] = [i, i + 21, i + 42];
    if (i % 3 === 0) put(at(x), at(y), at(z), 4);
    else if (i % 3 === 1) put(at(y), at(z), at(x), 4);
    else put(at(z), at(x), at(y), 4);
  }
  put(0, 0, at(63), 2);
  return out;
}

function randomSalt(): string {
  // 256 is a multiple of 64, so masking the bytes keeps the choice uniform.
  return Array.from(randomBytes(SALT_MAX), (byte) => ALPHABET.charAt(byte & 0x3f)).join('');
}

/**
 * Hashes with a fresh 16-character salt. `rounds=` is written only when it differs from 5000,
 * as glibc does (and as OpenLDAP's `$6$%.16s` salt format yields).
 */
export async function hashSha512Crypt(clear: Buffer, rounds: number, format: HashFormat): Promise<string> {
  if (hasNul(clear)) throw new PolicyError(`${format} cannot hold a password containing a NUL byte`);
  const salt = randomSalt();
  const c = await digest(clear, Buffer.from(salt, 'latin1'), rounds);
  try {
    const setting = rounds === ROUNDS_DEFAULT ? `$6$${salt}` : `$6$rounds=${rounds}$${salt}`;
    return `${setting}$${encodeDigest(c)}`;
  } finally {
    wipe(c);
  }
}

/**
 * Verifies a `$6$` string. Rounds outside the scheme's range are clamped into it, as glibc and
 * libxcrypt do, so a stored `rounds=10` means 1000.
 */
export async function verifySha512Crypt(encoded: string, clear: Buffer, format: HashFormat): Promise<boolean> {
  const match = ENCODED.exec(encoded);
  if (match === null) throw new MalformedHashError(format, 'not a $6$ string');
  const [, roundsText, salt, checksum] = match;
  let rounds = ROUNDS_DEFAULT;
  if (roundsText !== undefined) {
    const n = parseDecimal(roundsText);
    if (n === undefined) throw new MalformedHashError(format, 'bad rounds');
    rounds = Math.min(Math.max(n, ROUNDS_MIN), ROUNDS_MAX);
  }
  // crypt(3) sees the password as a C string: bytes after a NUL never reach it.
  if (hasNul(clear)) return false;
  const c = await digest(clear, Buffer.from(salt ?? '', 'latin1'), rounds);
  try {
    return constantTimeEqual(Buffer.from(encodeDigest(c), 'latin1'), Buffer.from(checksum ?? '', 'latin1'));
  } finally {
    wipe(c);
  }
}

/** `sha512-crypt`: glibc/libxcrypt `crypt(3)` `$6$`, as `/etc/shadow` and `openssl passwd -6`. */
export const sha512Crypt: FormatHandler = {
  hash: (clear, params) => hashSha512Crypt(clear, params.cryptRounds, 'sha512-crypt'),
  verify: (encoded, clear) => verifySha512Crypt(encoded, clear, 'sha512-crypt'),
};
