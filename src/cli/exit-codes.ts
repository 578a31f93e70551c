import { ConfigError, InvalidInputError, PasswordRefusedError, KeyError, NotRootOnlyError, PersonLookupError, UnknownAccountError, UnknownSystemError, isPwsyncError } from '../core/errors.ts';
import { TargetExistsError, TargetNotFoundError } from '../agent/queue/errors.ts';
import { ScopeConfigError } from '../agent/scope/errors.ts';
import { PamEditError } from '../agent/pam/config-edit.ts';

/** Exit codes of every `pwsync` command (documented in docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** A failure at run time: a store, a connector, the network. */
  failure: 1,
  /** Bad usage or bad input: unknown option, malformed configuration, empty password. */
  usage: 2,
  /** Something named does not exist: a system, an account, a person. */
  notFound: 3,
  /** `change --wait`: at least one target did not take the password. */
  partial: 4,
  /** The key file is missing, too open or malformed. */
  key: 5,
  /** `change`: the change reached no target (not linked, no target with sync, out of date everywhere). */
  noTarget: 6,
} as const;

export function exitCodeFor(e: unknown): number {
  if (e instanceof UnknownSystemError || e instanceof UnknownAccountError || e instanceof PersonLookupError || e instanceof TargetNotFoundError) return EXIT.notFound;
  if (e instanceof ConfigError || e instanceof InvalidInputError || e instanceof PasswordRefusedError || e instanceof ScopeConfigError || e instanceof PamEditError || e instanceof NotRootOnlyError || e instanceof TargetExistsError) return EXIT.usage;
  if (e instanceof KeyError) return EXIT.key;
  if (isPwsyncError(e)) return EXIT.failure;
  return EXIT.failure;
}
