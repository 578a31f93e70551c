import { UnsupportedHashError } from './errors.ts';
import { type HashFormat, type HashParams, hashParamsSchema } from './spec.ts';

/**
 * One format's implementation. Both methods receive the clear password as a buffer lent by
 * `Secret.use`, which wipes it afterwards; they must not keep it nor turn it into a string.
 */
export interface FormatHandler {
  /** Encodes a hash of `clear` with a fresh random salt and the cost parameters in `params`. */
  hash(clear: Buffer, params: HashParams): Promise<string>;
  /**
   * Whether `clear` matches `encoded` (already detected as this handler's format). Compares in
   * constant time; throws `MalformedHashError` / `UnsupportedHashError` for encodings it cannot use.
   */
  verify(encoded: string, clear: Buffer): Promise<boolean>;
}

type CostKey = { [K in keyof HashParams]: HashParams[K] extends number ? K : never }[keyof HashParams];

/**
 * Refuses a stored hash whose cost parameter lies outside the limits the configuration schema
 * allows: verifying it would spend memory or time an attacker who can write the hash chooses.
 * The limits live in spec.ts only.
 */
export function requireWithinLimits(format: HashFormat, key: CostKey, value: number): void {
  if (!hashParamsSchema.shape[key].safeParse(value).success) {
    throw new UnsupportedHashError(`${format} hash has ${key} outside the supported range`);
  }
}

/** The password bytes contain NUL, which C `crypt(3)` consumers would cut the password at. */
export function hasNul(clear: Buffer): boolean {
  return clear.includes(0);
}
