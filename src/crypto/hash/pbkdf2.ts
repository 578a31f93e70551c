import { pbkdf2 as nodePbkdf2, randomBytes } from 'node:crypto';
import { constantTimeEqual, decodeBase64, encodeBase64, parseDecimal, wipe } from './codec.ts';
import { MalformedHashError } from './errors.ts';
import { type FormatHandler, requireWithinLimits } from './handler.ts';
import type { HashFormat, HashParams } from './spec.ts';

type Digest = 'sha256' | 'sha512';

/** The derived key is one digest long in both passlib and OpenLDAP's pw-pbkdf2. */
const DIGEST_BYTES: Readonly<Record<Digest, number>> = { sha256: 32, sha512: 64 };

/** OpenLDAP's pw-pbkdf2 decodes the salt into a fixed 16-byte buffer and rejects any other size. */
const OPENLDAP_SALT_BYTES = 16;

/** The part both encodings share: `ROUNDS$salt$checksum`, adapted base64. */
const BODY = /^([0-9]+)\$([^$]*)\$([^$]+)$/;

function derive(clear: Buffer, salt: Buffer, iterations: number, digest: Digest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodePbkdf2(clear, salt, iterations, DIGEST_BYTES[digest], digest, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

async function hashBody(clear: Buffer, params: HashParams, digest: Digest, saltBytes: number): Promise<string> {
  const salt = randomBytes(saltBytes);
  const iterations = params.pbkdf2Iterations;
  const key = await derive(clear, salt, iterations, digest);
  try {
    return `${iterations}$${encodeBase64(salt, 'adapted')}$${encodeBase64(key, 'adapted')}`;
  } finally {
    wipe(key);
  }
}

async function verifyBody(body: string, clear: Buffer, format: HashFormat, digest: Digest): Promise<boolean> {
  const match = BODY.exec(body);
  if (match === null) throw new MalformedHashError(format, 'not ROUNDS$salt$checksum');
  const [, roundsText, saltText, keyText] = match;
  const iterations = parseDecimal(roundsText ?? '');
  const salt = decodeBase64(saltText ?? '', 'adapted');
  const expected = decodeBase64(keyText ?? '', 'adapted');
  if (iterations === undefined) throw new MalformedHashError(format, 'bad rounds');
  if (salt === undefined || salt.length > 1024) throw new MalformedHashError(format, 'bad salt');
  if (expected?.length !== DIGEST_BYTES[digest]) throw new MalformedHashError(format, 'bad checksum');
  requireWithinLimits(format, 'pbkdf2Iterations', iterations);
  const actual = await derive(clear, salt, iterations, digest);
  try {
    return constantTimeEqual(actual, expected);
  } finally {
    wipe(actual);
  }
}

function passlibPbkdf2(digest: Digest): FormatHandler {
  const format = `pbkdf2-${digest}` as const;
  const prefix = `$${format}$`;
  return {
    async hash(clear, params) {
      return prefix + (await hashBody(clear, params, digest, params.saltBytes));
    },
    verify(encoded, clear) {
      if (!encoded.startsWith(prefix)) throw new MalformedHashError(format, 'wrong prefix');
      return verifyBody(encoded.slice(prefix.length), clear, format, digest);
    },
  };
}

/** passlib's `$pbkdf2-sha256$ROUNDS$salt$checksum`. */
export const pbkdf2Sha256 = passlibPbkdf2('sha256');

/** passlib's `$pbkdf2-sha512$ROUNDS$salt$checksum`. */
export const pbkdf2Sha512 = passlibPbkdf2('sha512');

const LDAP_PREFIX = '{PBKDF2-SHA512}';

/**
 * OpenLDAP contrib pw-pbkdf2's `{PBKDF2-SHA512}ROUNDS$salt$dk` (passlib's `ldap_pbkdf2_sha512`
 * too). The salt is always 16 bytes whatever `saltBytes` says: slapd refuses any other size.
 * Verification takes other sizes, as passlib writes them.
 */
export const ldapPbkdf2Sha512: FormatHandler = {
  async hash(clear, params) {
    return LDAP_PREFIX + (await hashBody(clear, params, 'sha512', OPENLDAP_SALT_BYTES));
  },
  verify(encoded, clear) {
    // LDAP scheme names are case-insensitive; detection already matched the prefix.
    return verifyBody(encoded.slice(LDAP_PREFIX.length), clear, '{PBKDF2-SHA512}', 'sha512');
  },
};
