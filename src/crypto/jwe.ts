import { createCipheriv, createDecipheriv, createECDH, hash, randomBytes, type ECDH, type KeyObject } from 'node:crypto';
import { PwsyncError } from '../core/errors.ts';
import { clearBuffer } from '../core/secret.ts';

/**
 * JWE compact serialisation with exactly one algorithm pair: ECDH-ES key agreement on P-256 and
 * A256GCM content encryption (RFC 7516, RFC 7518 §4.6 and §5.3), on `node:crypto` alone.
 *
 * Why not jose here (it is used in the tests as the independent implementation this one must agree
 * with, both ways): measured in docs/benchmarks.md, jose's WebCrypto path cost 1.25–1.4 ms per
 * notification on each side, against about 0.25 ms for the same key agreement done synchronously,
 * and it was the largest single cost of the intake after the store. Doing it here also keeps every
 * intermediate secret (the shared secret Z, the content key) in buffers we wipe.
 */

export const JWE_ALG = 'ECDH-ES';
export const JWE_ENC = 'A256GCM';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BITS = 256;
const COORDINATE_BYTES = 32;
const UNCOMPRESSED = Buffer.from([0x04]);

/** A JWE that is malformed, uses anything but ECDH-ES/A256GCM, or does not decrypt with the key. */
export class JweError extends PwsyncError {
  constructor(
    readonly code: 'ERR_JWE_INVALID' | 'ERR_JWE_DECRYPTION_FAILED',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Encrypts `plaintext` to `recipient` (a P-256 public key), with `header` added to the protected
 * header (authenticated, not encrypted): a fresh ephemeral key per message.
 *
 * The ephemeral key is an ECDH object, never a KeyObject from `generateKeyPairSync`: on Node 20.20,
 * exporting such a key as a JWK deadlocks the thread for good when a garbage collection during the
 * export frees a key generation job, whose destructor waits for the lock the export holds (gdb:
 * `ExportJWKEcKey` → GC → `~KeyGenJob`). Seen in 3 of about 60 runs of the intake benchmark, and
 * every time with a small young generation (jwe.test.ts). In the agent it would stop every
 * delivery, silently.
 */
export function encryptCompact(plaintext: Buffer, recipient: { readonly kid: string; readonly key: KeyObject }, header: Readonly<Record<string, string | number>> = {}): string {
  const ephemeral = createECDH('prime256v1');
  // The uncompressed point: 0x04, then x and y of 32 bytes each.
  const point = ephemeral.generateKeys();
  const x = b64url(point.subarray(1, 1 + COORDINATE_BYTES));
  const y = b64url(point.subarray(1 + COORDINATE_BYTES));
  const protectedHeader = b64url(Buffer.from(JSON.stringify({ ...header, alg: JWE_ALG, enc: JWE_ENC, kid: recipient.kid, epk: { kty: 'EC', crv: 'P-256', x, y } }), 'utf8'));
  const z = ephemeral.computeSecret(recipientPoint(recipient.key));
  const cek = concatKdf(z);
  z.fill(0);
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', cek, iv);
    cipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `${protectedHeader}..${b64url(iv)}.${b64url(ciphertext)}.${b64url(cipher.getAuthTag())}`;
  } finally {
    cek.fill(0);
  }
}

/** The recipient's public key as an uncompressed P-256 point, read once per key. */
const recipientPoints = new WeakMap<KeyObject, Buffer>();

function recipientPoint(key: KeyObject): Buffer {
  let point = recipientPoints.get(key);
  if (point === undefined) {
    const jwk = key.export({ format: 'jwk' });
    if (key.asymmetricKeyType !== 'ec' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      throw new JweError('ERR_JWE_INVALID', 'the recipient key is not a P-256 public key');
    }
    point = Buffer.concat([UNCOMPRESSED, Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    recipientPoints.set(key, point);
  }
  return point;
}

/**
 * Decrypts a compact JWE with `key` (the P-256 private key). Returns the protected header and the
 * plaintext in a buffer of its own, which the caller owns (and wipes). Anything but ECDH-ES with
 * A256GCM, an encrypted key, compression or critical extensions is refused before any
 * cryptography runs.
 */
export function decryptCompact(compact: string, key: KeyObject): { readonly header: Readonly<Record<string, unknown>>; readonly plaintext: Buffer } {
  const parts = compact.split('.');
  if (parts.length !== 5) throw new JweError('ERR_JWE_INVALID', 'not a JWE in compact serialisation (five parts)');
  const [protectedB64 = '', encryptedKey = '', ivB64 = '', ciphertextB64 = '', tagB64 = ''] = parts;
  let header: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    header = parsed as Record<string, unknown>;
  } catch {
    throw new JweError('ERR_JWE_INVALID', 'the protected header is not a JSON object');
  }
  if (header['alg'] !== JWE_ALG || header['enc'] !== JWE_ENC) throw new JweError('ERR_JWE_INVALID', `only alg ${JWE_ALG} with enc ${JWE_ENC} is accepted`);
  if ('zip' in header || 'crit' in header) throw new JweError('ERR_JWE_INVALID', 'compression and critical extensions are not accepted');
  if (encryptedKey !== '') throw new JweError('ERR_JWE_INVALID', 'ECDH-ES (direct key agreement) carries no encrypted key');
  const iv = Buffer.from(ivB64, 'base64url');
  const tag = Buffer.from(tagB64, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new JweError('ERR_JWE_INVALID', 'the IV or the authentication tag has the wrong length');
  const epk = header['epk'];
  if (typeof epk !== 'object' || epk === null) throw new JweError('ERR_JWE_INVALID', 'the ephemeral public key (epk) is missing');
  const { kty, crv, x, y } = epk as Record<string, unknown>;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string') throw new JweError('ERR_JWE_INVALID', 'the ephemeral public key is not a P-256 EC key');
  const point = Buffer.concat([UNCOMPRESSED, Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
  if (point.length !== 1 + 2 * COORDINATE_BYTES) throw new JweError('ERR_JWE_INVALID', 'the ephemeral public key is not a P-256 point (two 32-byte coordinates)');
  let z: Buffer;
  try {
    // OpenSSL checks that the point is on the curve: no invalid-curve attack on our key.
    z = agreement(key).computeSecret(point);
  } catch {
    throw new JweError('ERR_JWE_INVALID', 'the ephemeral public key is not a valid P-256 point');
  }
  const cek = concatKdf(z);
  z.fill(0);
  try {
    const decipher = createDecipheriv('aes-256-gcm', cek, iv);
    decipher.setAAD(Buffer.from(protectedB64, 'ascii'));
    decipher.setAuthTag(tag);
    const ciphertext = Buffer.from(ciphertextB64, 'base64url');
    const first = decipher.update(ciphertext);
    let last: Buffer;
    try {
      last = decipher.final();
    } catch {
      first.fill(0);
      throw new JweError('ERR_JWE_DECRYPTION_FAILED', 'decryption failed: another key, or the message was altered');
    }
    // Memory of its own (clearBuffer says why), never a slice of Node's pool as Buffer.concat's.
    const plaintext = clearBuffer(first.length + last.length);
    first.copy(plaintext);
    last.copy(plaintext, first.length);
    first.fill(0);
    last.fill(0);
    return { header, plaintext };
  } finally {
    cek.fill(0);
  }
}

/**
 * The private key as an ECDH object, made once per key: agreeing on a raw point costs about half of
 * importing each ephemeral key as a KeyObject first (0.08 against 0.15 ms here, docs/benchmarks.md).
 */
const agreements = new WeakMap<KeyObject, ECDH>();

function agreement(key: KeyObject): ECDH {
  let ecdh = agreements.get(key);
  if (ecdh === undefined) {
    const jwk = key.export({ format: 'jwk' });
    if (key.asymmetricKeyType !== 'ec' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new JweError('ERR_JWE_DECRYPTION_FAILED', 'the decryption key is not a P-256 private key');
    ecdh = createECDH('prime256v1');
    const d = Buffer.from(jwk.d, 'base64url');
    ecdh.setPrivateKey(d);
    d.fill(0);
    agreements.set(key, ecdh);
  }
  return ecdh;
}

/** The Concat KDF of NIST SP 800-56A as RFC 7518 §4.6.2 uses it for direct key agreement with A256GCM. */
function concatKdf(z: Buffer): Buffer {
  const algorithmId = Buffer.from(JWE_ENC, 'ascii');
  const otherInfo = Buffer.concat([uint32(algorithmId.length), algorithmId, uint32(0), uint32(0), uint32(KEY_BITS)]);
  // One round of SHA-256 yields the 256 bits needed. In one call over a buffer wiped after it: a
  // hash object would keep Z in OpenSSL's context until the garbage collector frees it.
  const counter = uint32(1);
  const input = clearBuffer(counter.length + z.length + otherInfo.length);
  counter.copy(input);
  z.copy(input, counter.length);
  otherInfo.copy(input, counter.length + z.length);
  try {
    return hash('sha256', input, 'buffer');
  } finally {
    input.fill(0);
  }
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}
