import { z } from 'zod';

/**
 * The hash formats pwsync writes for systems that store password hashes, by the name used in the
 * configuration. The `{…}` names are the LDAP userPassword schemes (RFC 2307 style prefixes).
 */
export const HASH_FORMATS = [
  'argon2id',
  'bcrypt',
  'scrypt',
  'pbkdf2-sha256',
  'pbkdf2-sha512',
  'sha512-crypt',
  '{SSHA}',
  '{SSHA512}',
  '{CRYPT}',
  '{ARGON2}',
  '{PBKDF2-SHA512}',
] as const;

export type HashFormat = (typeof HASH_FORMATS)[number];

/**
 * Cost parameters. Each format reads the ones it knows; the defaults are today's recommendations
 * (OWASP password storage cheat sheet) and live here, not in the code of each format.
 */
export const hashParamsSchema = z.strictObject({
  /** argon2id, {ARGON2}: memory in KiB. */
  memoryKiB: z.number().int().min(8).max(4_194_304).default(19_456),
  /** argon2id, {ARGON2}: passes. */
  timeCost: z.number().int().min(1).max(100).default(2),
  /** argon2id, {ARGON2}: lanes. */
  parallelism: z.number().int().min(1).max(64).default(1),
  /** bcrypt: log2 rounds. */
  bcryptCost: z.number().int().min(4).max(31).default(12),
  /** scrypt: log2 N. */
  scryptLogN: z.number().int().min(1).max(24).default(17),
  scryptR: z.number().int().min(1).max(64).default(8),
  scryptP: z.number().int().min(1).max(64).default(1),
  /** pbkdf2-*, {PBKDF2-SHA512}: iterations. */
  pbkdf2Iterations: z.number().int().min(1).max(10_000_000).default(210_000),
  /** sha512-crypt, {CRYPT}: rounds (5000 is the scheme's implicit default). */
  cryptRounds: z.number().int().min(1000).max(999_999_999).default(5000),
  /** Salt length in bytes for the formats whose salt length is free. */
  saltBytes: z.number().int().min(8).max(64).default(16),
});

export type HashParams = z.infer<typeof hashParamsSchema>;

/** `hash: argon2id` or `hash: { format: argon2id, memoryKiB: 65536 }`. */
export const hashSpecSchema = z
  .union([
    z.enum(HASH_FORMATS),
    z.strictObject({ format: z.enum(HASH_FORMATS) }).catchall(z.unknown()),
  ])
  .transform((v, ctx) => {
    const { format, ...rest } = typeof v === 'string' ? { format: v } : v;
    const params = hashParamsSchema.safeParse(rest);
    if (!params.success) {
      for (const issue of params.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return { format, params: params.data };
  });

export interface HashSpec {
  readonly format: HashFormat;
  readonly params: HashParams;
}
