import { hash, timingSafeEqual } from 'node:crypto';
import { clearBuffer } from '../../core/secret.ts';

/**
 * The base64 flavours of the hash encodings.
 * - `standard`: RFC 4648 `+/` (PHC strings, scrypt, `{SSHA}`); padding optional on input, as the
 *   PHC rules and passlib's `b64s` omit it and OpenLDAP writes it.
 * - `adapted`: passlib's "ab64", `.` for `+` and no padding (pbkdf2, `{PBKDF2-*}`). Input may also
 *   carry `+`: OpenLDAP's pw-pbkdf2 leaves a leading `+` unconverted, and passlib accepts both.
 */
export type Base64Flavour = 'standard' | 'adapted';

const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;
const ADAPTED_TEXT = /^[A-Za-z0-9+/.]*$/;

/** Encodes without padding, in the given flavour. */
export function encodeBase64(bytes: Uint8Array, flavour: Base64Flavour): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
  return flavour === 'adapted' ? text.replaceAll('+', '.') : text;
}

/** Encodes with padding (the LDAP `{SSHA}` family). */
export function encodeBase64Padded(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes strictly: returns undefined for characters outside the flavour, misplaced padding or an
 * impossible length, where `Buffer.from(…, 'base64')` would silently skip or truncate.
 */
export function decodeBase64(text: string, flavour: Base64Flavour): Buffer | undefined {
  const valid = flavour === 'adapted' ? ADAPTED_TEXT.test(text) : BASE64_TEXT.test(text);
  if (!valid) return undefined;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1) return undefined;
  if (bare.length !== text.length && text.length % 4 !== 0) return undefined;
  return Buffer.from(bare.replaceAll('.', '+'), 'base64');
}

/**
 * A decimal parameter as hash encodings write it: digits only, no sign, no leading zero, at most
 * ten digits (so the value is exact and `Number` parsing cannot be fooled by `1e3` or ` 12`).
 */
export function parseDecimal(text: string): number | undefined {
  return /^(?:0|[1-9][0-9]{0,9})$/.test(text) ? Number(text) : undefined;
}

/**
 * Constant-time equality. A length mismatch returns early: lengths are public (they follow from
 * the format), the bytes are not.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The digest of the parts one after the other, in one call. Never `createHash().update(password)`:
 * OpenSSL copies a short last block (a whole short password) into the hash object's context, where
 * it stays in the clear until the garbage collector frees the object, long after the digest (seen
 * by the memory scan, test/e2e/memory-scan.e2e.test.ts). The one-shot digest frees its context with
 * OPENSSL_clear_free at once, and the concatenation here is ours, and wiped.
 */
export function digestOf(algorithm: 'sha1' | 'sha512', ...parts: readonly Buffer[]): Buffer {
  const input = clearBuffer(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) at += p.copy(input, at);
  try {
    return hash(algorithm, input, 'buffer');
  } finally {
    input.fill(0);
  }
}

/** Overwrites buffers that held material derived from the password. */
export function wipe(...buffers: Buffer[]): void {
  for (const b of buffers) b.fill(0);
}
