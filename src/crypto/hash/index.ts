import { ConfigError } from '../../core/errors.ts';
import type { Secret } from '../../core/secret.ts';
import { UnsupportedHashError } from './errors.ts';
import { HANDLERS, detectFormat } from './formats.ts';
import { type HashParams, type HashSpec, hashParamsSchema } from './spec.ts';
import { onThreadPool } from './thread-pool.ts';

export { HASH_FORMATS, type HashFormat, type HashSpec, hashSpecSchema } from './spec.ts';
export { MalformedHashError, UnsupportedHashError } from './errors.ts';
export { BCRYPT_MAX_BYTES } from './bcrypt.ts';
export { detectFormat } from './formats.ts';

/**
 * Hashes the secret in the spec's format, with a fresh random salt; returns the encoded string
 * stored in the target.
 *
 * @throws PolicyError when the format cannot hold the password (bcrypt beyond 72 bytes; a NUL
 *   byte for the `crypt(3)` formats).
 * @throws ConfigError when the spec was built by hand and its parameters are out of range.
 */
export async function hashSecret(spec: HashSpec, secret: Secret): Promise<string> {
  const params = checkedParams(spec);
  // The clear bytes are lent only once the work may start: a queued hash holds no copy of them.
  return onThreadPool(spec.format, () => secret.use((clear) => HANDLERS[spec.format].hash(clear, params)));
}

/**
 * Verifies a secret against an encoded hash of any supported format (detected from the
 * encoding), comparing in constant time. Returns false for a wrong password.
 *
 * @throws UnsupportedHashError for an encoding it does not recognise, or cost parameters beyond
 *   the configuration schema's limits.
 * @throws MalformedHashError for a recognised prefix whose body does not parse.
 */
export async function verifySecret(encoded: string, secret: Secret): Promise<boolean> {
  const format = detectFormat(encoded);
  if (format === undefined) throw new UnsupportedHashError('unrecognised hash encoding');
  return onThreadPool(format, () => secret.use((clear) => HANDLERS[format].verify(encoded, clear)));
}

/** Specs normally come through `hashSpecSchema`; one built in code is checked the same way. */
function checkedParams(spec: HashSpec): HashParams {
  if (!Object.hasOwn(HANDLERS, spec.format)) {
    throw new ConfigError('unknown hash format', [{ path: 'format', message: 'unknown hash format' }]);
  }
  const parsed = hashParamsSchema.safeParse(spec.params);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new ConfigError('invalid hash parameters', problems);
}
