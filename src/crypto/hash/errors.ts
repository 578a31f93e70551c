import { PwsyncError } from '../../core/errors.ts';
import type { HashFormat } from './spec.ts';

/**
 * A stored hash in a format pwsync does not know, or with cost parameters beyond the limits it
 * accepts (a stored `m=4194304,t=100` would tie up the server for minutes). Not retried: the data
 * will not change by waiting.
 *
 * Messages name the format at most, never the encoded hash: it is offline-crackable material.
 */
export class UnsupportedHashError extends PwsyncError {
  readonly code = 'ERR_UNSUPPORTED_HASH';
}

/** A stored hash whose prefix names a known format but whose body does not parse. Not retried. */
export class MalformedHashError extends PwsyncError {
  readonly code = 'ERR_MALFORMED_HASH';

  constructor(
    /** The format the prefix named. */
    readonly format: HashFormat,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`malformed ${format} hash: ${detail}`, options);
  }
}
