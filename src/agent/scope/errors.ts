import { PwsyncError } from '../../core/errors.ts';

/** Stable codes of scope problems found at start; tests and tools match on these, never on text. */
export type ScopeProblemCode =
  /** A configured group name matches no group in the directory. */
  | 'GROUP_NOT_FOUND'
  /** A configured group name matches more than one group. */
  | 'GROUP_AMBIGUOUS'
  /** An include group exists but has no member at all: every change would be dropped. */
  | 'GROUP_EMPTY'
  /** A group name the directory kind cannot hold (a `:` for NSS). */
  | 'GROUP_NAME_INVALID'
  /** The directory refused the service account's bind (wrong DN or password, locked account). */
  | 'BIND_REFUSED'
  /** The directory refused something else for good (no such base DN, access, confidentiality required). */
  | 'DIRECTORY_REFUSED'
  /** The server's certificate was not trusted, or TLS could not be negotiated. */
  | 'TLS_FAILED'
  /** The `tls.ca` file cannot be read. */
  | 'CA_UNREADABLE'
  /** Groups are configured but no directory to resolve them in. */
  | 'DIRECTORY_MISSING'
  /** A program the NSS directory needs (`getent`, `id`) is missing. */
  | 'TOOL_MISSING';

export interface ScopeProblem {
  readonly code: ScopeProblemCode;
  /** The list the group is in, for problems about one configured group. */
  readonly list?: 'include' | 'exclude';
  readonly group?: string;
  readonly message: string;
}

/**
 * The scope cannot be used as configured: groups that do not exist, an include group with no
 * member, a refused bind. Raised at start, never at decision time, and listing every problem found
 * at once. No message carries a secret: problems name groups, DNs and URLs only.
 */
export class ScopeConfigError extends PwsyncError {
  readonly code = 'ERR_SCOPE_CONFIG';

  constructor(
    readonly problems: readonly ScopeProblem[],
    options?: ErrorOptions,
  ) {
    super(`the agent's scope cannot be used:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`, options);
  }
}

/**
 * The directory answered, but not in a way that decides: an account name that matches several
 * entries, or nesting deeper than the walk follows. Not retried: asking again gets the same answer
 * until someone fixes the directory, and the change must not be forwarded on a guess.
 */
export class ScopeLookupError extends PwsyncError {
  readonly code = 'ERR_SCOPE_LOOKUP';
}
