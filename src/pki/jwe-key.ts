import { createECDH, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { z } from 'zod';
import { KeyError } from '../core/errors.ts';
import { JWE_ALG } from '../crypto/jwe.ts';
import { assertAbsent, PRIVATE_MODE, PUBLIC_MODE, readPrivateFile, readText, writeNewFile } from './files.ts';
import { JWE_PRIVATE, JWE_PUBLIC } from './layout.ts';

/*
 * The server's JWE key: agents encrypt each password to it (ECDH-ES, so every message has its own
 * ephemeral key), which keeps the password sealed beyond TLS termination and in the agent's queue.
 * The algorithm is the codec's (crypto/jwe.ts): one definition for both.
 */

/** A key ready for jose's CompactEncrypt (public) or compactDecrypt (private). */
export interface JweKey {
  /** RFC 7638 thumbprint of the public key; agents put it in the JWE header. */
  readonly kid: string;
  readonly key: KeyObject;
}

export interface JweKeyFiles {
  readonly kid: string;
  readonly privateFile: string;
  readonly publicFile: string;
}

const coordinate = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url encoded 32-byte value');
const publicJwkSchema = z.strictObject({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: coordinate,
  y: coordinate,
  kid: z.string().min(1),
  alg: z.literal(JWE_ALG),
  use: z.literal('enc'),
});
const privateJwkSchema = publicJwkSchema.extend({ d: coordinate });
type PublicJwk = z.infer<typeof publicJwkSchema>;

/**
 * Creates the server's JWE key pair in `dir`: `server-jwe.key` (private JWK, mode 0600) and
 * `server-jwe.pub.json` (public JWK, for agents). Both carry the same `kid`. Refuses to overwrite.
 */
export async function createJweKeyPair(dir: string): Promise<JweKeyFiles> {
  const privateFile = join(dir, JWE_PRIVATE);
  const publicFile = join(dir, JWE_PUBLIC);
  await assertAbsent([privateFile, publicFile]);
  // An ECDH object, not generateKeyPairSync + a JWK export, which can deadlock on Node 20 (crypto/jwe.ts).
  const ecdh = createECDH('prime256v1');
  const point = ecdh.generateKeys();
  const coordinate = (from: number): string => point.subarray(from, from + 32).toString('base64url');
  const pub: PublicJwk = { kty: 'EC', crv: 'P-256', x: coordinate(1), y: coordinate(33), kid: '', alg: JWE_ALG, use: 'enc' };
  pub.kid = await thumbprint(pub);
  // getPrivateKey drops leading zero bytes; a JWK's d is always the full 32 (RFC 7518 §6.2.2.1).
  const raw = ecdh.getPrivateKey();
  const d = Buffer.alloc(32);
  raw.copy(d, 32 - raw.length);
  raw.fill(0);
  await writeNewFile(privateFile, `${JSON.stringify({ ...pub, d: d.toString('base64url') }, null, 2)}\n`, PRIVATE_MODE);
  d.fill(0);
  await writeNewFile(publicFile, `${JSON.stringify(pub, null, 2)}\n`, PUBLIC_MODE);
  return { kid: pub.kid, privateFile, publicFile };
}

/** Loads the server's private JWE key; the file must not be accessible to group or others. */
export async function loadJwePrivateKey(file: string): Promise<JweKey> {
  const json = parseJson(await readPrivateFile(file, 'JWE private key'), file, 'JWE private key');
  const parsed = privateJwkSchema.safeParse(json);
  if (!parsed.success) throw malformed(file, 'JWE private key', parsed.error);
  const jwk = parsed.data;
  await checkKid(jwk, file, 'JWE private key');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d }, format: 'jwk' });
  } catch {
    throw new KeyError(`JWE private key file ${file} does not hold a usable P-256 key`);
  }
  // Node takes "x" and "y" as given, even when they are not the point of "d"; agents would then
  // encrypt to a key this server cannot decrypt for. Derive the point from "d" and compare.
  const ecdh = createECDH('prime256v1');
  const d = Buffer.from(jwk.d, 'base64url');
  let point: Buffer;
  try {
    ecdh.setPrivateKey(d);
    point = ecdh.getPublicKey();
  } catch {
    throw new KeyError(`JWE private key file ${file} does not hold a usable P-256 key`);
  } finally {
    d.fill(0);
  }
  if (point.subarray(1, 33).toString('base64url') !== jwk.x || point.subarray(33).toString('base64url') !== jwk.y) {
    throw new KeyError(`JWE private key file ${file}: "d" does not belong to "x" and "y"`);
  }
  return { kid: jwk.kid, key };
}

/**
 * Loads a public JWE key (the agent's copy). A file with the private parameter "d" is refused: it
 * means the server's private key was handed out, and the key pair must be replaced.
 */
export async function loadJwePublicKey(file: string): Promise<JweKey> {
  const json = parseJson(await readText(file, 'JWE public key'), file, 'JWE public key');
  if (typeof json === 'object' && json !== null && 'd' in json) {
    throw new KeyError(`JWE public key file ${file} contains the private parameter "d": the server's private key has been copied out; create a new key pair and keep ${JWE_PRIVATE} on the server only`);
  }
  const parsed = publicJwkSchema.safeParse(json);
  if (!parsed.success) throw malformed(file, 'JWE public key', parsed.error);
  await checkKid(parsed.data, file, 'JWE public key');
  const { x, y } = parsed.data;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  } catch {
    throw new KeyError(`JWE public key file ${file} does not hold a point on P-256`);
  }
  return { kid: parsed.data.kid, key };
}

async function thumbprint(jwk: PublicJwk): Promise<string> {
  return calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'sha256');
}

/** A kid that is not the key's thumbprint means the file was edited or assembled by hand. */
async function checkKid(jwk: PublicJwk, file: string, what: string): Promise<void> {
  if ((await thumbprint(jwk)) !== jwk.kid) throw new KeyError(`${what} file ${file}: "kid" is not the RFC 7638 thumbprint of the key`);
}

function parseJson(text: string, file: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The parser's message may quote key material: do not keep it.
    throw new KeyError(`${what} file ${file} is not valid JSON`);
  }
}

function malformed(file: string, what: string, error: z.ZodError): KeyError {
  const where = error.issues.map((i) => i.path.join('.') || '(top)').join(', ');
  return new KeyError(`${what} file ${file} is not an EC P-256 ${JWE_ALG} JWK (problem at ${where})`);
}
