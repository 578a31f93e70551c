import { randomBytes } from 'node:crypto';
import { hashArgon2id, verifyPhc } from './argon2.ts';
import { verifyBcrypt } from './bcrypt.ts';
import { constantTimeEqual, decodeBase64, digestOf, encodeBase64Padded, wipe } from './codec.ts';
import { MalformedHashError, UnsupportedHashError } from './errors.ts';
import type { FormatHandler } from './handler.ts';
import { hashSha512Crypt, verifySha512Crypt } from './sha512-crypt.ts';
import type { HashFormat } from './spec.ts';

/*
 * The LDAP userPassword schemes: `{SCHEME}` + value. Scheme names are case-insensitive in
 * OpenLDAP, so detection matches them in any case and the handlers cut the prefix by length.
 */

function saltedDigest(format: '{SSHA}' | '{SSHA512}', algorithm: 'sha1' | 'sha512', digestBytes: number): FormatHandler {
  return {
    hash(clear, params) {
      const salt = randomBytes(params.saltBytes);
      const value = Buffer.concat([digestOf(algorithm, clear, salt), salt]);
      return Promise.resolve(format + encodeBase64Padded(value));
    },
    verify(encoded, clear) {
      const value = decodeBase64(encoded.slice(format.length), 'standard');
      // OpenLDAP takes everything after the digest as the salt, whatever its length, but wants one.
      if (value === undefined || value.length <= digestBytes) {
        return Promise.reject(new MalformedHashError(format, 'bad base64 value or no salt'));
      }
      const expected = value.subarray(0, digestBytes);
      const actual = digestOf(algorithm, clear, value.subarray(digestBytes));
      try {
        return Promise.resolve(constantTimeEqual(actual, expected));
      } finally {
        wipe(actual);
      }
    },
  };
}

/** `{SSHA}`: base64(SHA-1(password ‖ salt) ‖ salt), OpenLDAP's built-in salted SHA-1. */
export const ssha = saltedDigest('{SSHA}', 'sha1', 20);

/** `{SSHA512}`: the same with SHA-512, OpenLDAP's contrib `pw-sha2` module. */
export const ssha512 = saltedDigest('{SSHA512}', 'sha512', 64);

const CRYPT_PREFIX = '{CRYPT}';

/**
 * `{CRYPT}`: a `crypt(3)` string, which slapd verifies with the system's `crypt(3)`. pwsync writes
 * SHA-512-crypt with a 16-character salt (what `password-crypt-salt-format "$6$%.16s"` makes);
 * it verifies SHA-512-crypt and bcrypt, the two `crypt(3)` methods it implements.
 */
export const ldapCrypt: FormatHandler = {
  async hash(clear, params) {
    return CRYPT_PREFIX + (await hashSha512Crypt(clear, params.cryptRounds, '{CRYPT}'));
  },
  verify(encoded, clear) {
    const inner = encoded.slice(CRYPT_PREFIX.length);
    if (inner.startsWith('$6$')) return verifySha512Crypt(inner, clear, '{CRYPT}');
    if (/^\$2[aby]\$/.test(inner)) return verifyBcrypt(inner, clear, '{CRYPT}');
    return Promise.reject(new UnsupportedHashError('{CRYPT} hash uses a crypt(3) method pwsync does not implement'));
  },
};

const ARGON2_PREFIX = '{ARGON2}';
const ARGON2_FORMAT: HashFormat = '{ARGON2}';

/**
 * `{ARGON2}`: OpenLDAP's argon2 module, `{ARGON2}` + a PHC string. pwsync writes argon2id; it
 * verifies argon2i and argon2d too, since the module verifies them and Debian 12's slapd writes
 * argon2i.
 */
export const ldapArgon2: FormatHandler = {
  async hash(clear, params) {
    return ARGON2_PREFIX + (await hashArgon2id(clear, params));
  },
  verify(encoded, clear) {
    return verifyPhc(encoded.slice(ARGON2_PREFIX.length), clear, ARGON2_FORMAT, ['argon2id', 'argon2i', 'argon2d']);
  },
};
