import { argon2id } from './argon2.ts';
import { bcrypt } from './bcrypt.ts';
import type { FormatHandler } from './handler.ts';
import { ldapArgon2, ldapCrypt, ssha, ssha512 } from './ldap-schemes.ts';
import { ldapPbkdf2Sha512, pbkdf2Sha256, pbkdf2Sha512 } from './pbkdf2.ts';
import { scrypt } from './scrypt.ts';
import { sha512Crypt } from './sha512-crypt.ts';
import type { HashFormat } from './spec.ts';

/** The one map from format name to implementation. */
export const HANDLERS: Readonly<Record<HashFormat, FormatHandler>> = {
  argon2id,
  bcrypt,
  scrypt,
  'pbkdf2-sha256': pbkdf2Sha256,
  'pbkdf2-sha512': pbkdf2Sha512,
  'sha512-crypt': sha512Crypt,
  '{SSHA}': ssha,
  '{SSHA512}': ssha512,
  '{CRYPT}': ldapCrypt,
  '{ARGON2}': ldapArgon2,
  '{PBKDF2-SHA512}': ldapPbkdf2Sha512,
};

/**
 * How each format's encoding begins. LDAP scheme names are case-insensitive (OpenLDAP compares
 * them so); the crypt-style identifiers are not. The closing `}` / `$` keeps `{SSHA}` from
 * matching `{SSHA512}`.
 */
const PREFIXES: readonly (readonly [RegExp, HashFormat])[] = [
  [/^\$argon2id\$/, 'argon2id'],
  [/^\$2[aby]\$/, 'bcrypt'],
  [/^\$scrypt\$/, 'scrypt'],
  [/^\$pbkdf2-sha256\$/, 'pbkdf2-sha256'],
  [/^\$pbkdf2-sha512\$/, 'pbkdf2-sha512'],
  [/^\$6\$/, 'sha512-crypt'],
  [/^\{SSHA\}/i, '{SSHA}'],
  [/^\{SSHA512\}/i, '{SSHA512}'],
  [/^\{CRYPT\}/i, '{CRYPT}'],
  [/^\{ARGON2\}/i, '{ARGON2}'],
  [/^\{PBKDF2-SHA512\}/i, '{PBKDF2-SHA512}'],
];

/** The format an encoded hash is in, from its prefix alone; undefined when none matches. */
export function detectFormat(encoded: string): HashFormat | undefined {
  return PREFIXES.find(([prefix]) => prefix.test(encoded))?.[1];
}
