import { randomBytes } from 'node:crypto';
import { type Algorithm, type Version, hashRaw } from '@node-rs/argon2';
import { constantTimeEqual, decodeBase64, encodeBase64, parseDecimal, wipe } from './codec.ts';
import { MalformedHashError, UnsupportedHashError } from './errors.ts';
import { type FormatHandler, requireWithinLimits } from './handler.ts';
import type { HashFormat, HashParams } from './spec.ts';

// The package declares Algorithm and Version as ambient const enums, which TypeScript refuses to
// read under verbatimModuleSyntax (TS2748); the values are those of its native binding.
/* eslint-disable @typescript-eslint/no-unsafe-enum-assignment -- see above: no enum value to share */
const ALGORITHMS = { argon2d: 0 as Algorithm, argon2i: 1 as Algorithm, argon2id: 2 as Algorithm } as const;
const VERSIONS = { 16: 0 as Version, 19: 1 as Version } as const;
/* eslint-enable @typescript-eslint/no-unsafe-enum-assignment */
type Variant = keyof typeof ALGORITHMS;

/** The reference implementation's output length; what libargon2, libsodium and OpenLDAP write. */
const HASH_BYTES = 32;

/** `$argon2id$v=19$m=…,t=…,p=…$salt$hash`; a missing `v=` means version 16, as in libargon2. */
const PHC = /^\$(argon2id|argon2i|argon2d)\$(?:v=([0-9]+)\$)?m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([^$]+)\$([^$]+)$/;

/** Hashes with argon2id and encodes the PHC string. */
export async function hashArgon2id(clear: Buffer, params: HashParams): Promise<string> {
  const salt = randomBytes(params.saltBytes);
  const m = params.memoryKiB;
  const t = params.timeCost;
  const p = params.parallelism;
  const raw = await hashRaw(clear, {
    algorithm: ALGORITHMS.argon2id,
    version: VERSIONS[19],
    memoryCost: m,
    timeCost: t,
    parallelism: p,
    outputLen: HASH_BYTES,
    salt,
  });
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${encodeBase64(salt, 'standard')}$${encodeBase64(raw, 'standard')}`;
}

/**
 * Verifies a PHC argon2 string by recomputing the raw hash and comparing it in constant time
 * (rather than trusting a library's compare). `variants` lists the variants the caller accepts:
 * bare `argon2id` takes only its own; `{ARGON2}` also takes `argon2i`/`argon2d`, which OpenLDAP's
 * module verifies and which Debian 12's slapd writes by default.
 */
export async function verifyPhc(
  phc: string,
  clear: Buffer,
  format: HashFormat,
  variants: readonly Variant[],
): Promise<boolean> {
  const match = PHC.exec(phc);
  if (match === null) {
    if (/^\$argon2[a-z]*\$/.test(phc) && !/^\$argon2(?:id|i|d)\$/.test(phc)) {
      throw new UnsupportedHashError(`${format} hash uses an unknown argon2 variant`);
    }
    throw new MalformedHashError(format, 'not a PHC argon2 string');
  }
  const [, variantText, versionText, mText, tText, pText, saltText, hashText] = match;
  const variant = variantText as Variant;
  if (!variants.includes(variant)) throw new UnsupportedHashError(`${format} does not accept ${variant}`);
  const version = versionText === undefined ? 16 : parseDecimal(versionText);
  if (version === undefined) throw new MalformedHashError(format, 'bad version');
  if (version !== 16 && version !== 19) throw new UnsupportedHashError(`${format} hash has an unknown argon2 version`);
  const m = parseDecimal(mText ?? '');
  const t = parseDecimal(tText ?? '');
  const p = parseDecimal(pText ?? '');
  const salt = decodeBase64(saltText ?? '', 'standard');
  const expected = decodeBase64(hashText ?? '', 'standard');
  if (m === undefined || t === undefined || p === undefined) throw new MalformedHashError(format, 'bad cost parameters');
  if (salt === undefined || salt.length < 8 || salt.length > 64) throw new MalformedHashError(format, 'bad salt');
  if (expected === undefined || expected.length < 4 || expected.length > 64) throw new MalformedHashError(format, 'bad hash');
  requireWithinLimits(format, 'memoryKiB', m);
  requireWithinLimits(format, 'timeCost', t);
  requireWithinLimits(format, 'parallelism', p);
  // argon2 itself requires 8 KiB per lane; a smaller m is a broken encoding, not a cheap one.
  if (m < 8 * p) throw new MalformedHashError(format, 'memory below 8 KiB per lane');
  const actual = await hashRaw(clear, {
    algorithm: ALGORITHMS[variant],
    version: VERSIONS[version],
    memoryCost: m,
    timeCost: t,
    parallelism: p,
    outputLen: expected.length,
    salt,
  });
  try {
    return constantTimeEqual(actual, expected);
  } finally {
    wipe(actual);
  }
}

/** `argon2id`: the PHC string as the reference implementation and most libraries write it. */
export const argon2id: FormatHandler = {
  hash: hashArgon2id,
  verify: (encoded, clear) => verifyPhc(encoded, clear, 'argon2id', ['argon2id']),
};
