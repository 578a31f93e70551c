import type { Logger } from '../../log/logger.ts';
import type { ScopeConfig } from './config.ts';
import { ScopeConfigError } from './errors.ts';
import { openLdapScope } from './ldap.ts';
import { IN_SCOPE, type Scope } from './types.ts';
import { openUnixScope } from './unix.ts';

export type { Scope, ScopeDecision } from './types.ts';

export interface OpenScopeOptions {
  readonly log: Logger;
  /** Relative paths in the scope configuration (`tls.ca`) are relative to this directory. */
  readonly baseDir: string;
}

/** Everyone is in scope: no include and no exclude group is configured. */
export const allScope: Scope = Object.freeze({
  decide: () => Promise.resolve(IN_SCOPE),
  describe: () => 'everyone (no include or exclude groups)',
  close: () => Promise.resolve(),
});

/**
 * Opens the agent's scope and checks it against the directory before the first change arrives:
 * every configured group must exist (exactly once) and every include group must have a member.
 * Throws {@link ScopeConfigError} listing every problem, or a `TransientError` when the directory
 * cannot be reached at all (starting again later may work). The reference's known failure — a
 * missing exclude group that silently filtered every change — cannot happen: it stops the start.
 *
 * `close()` does not dispose the configuration's secrets: they belong to whoever loaded it.
 */
export async function openScope(config: ScopeConfig, options: OpenScopeOptions): Promise<Scope> {
  const lists = { include: config.include, exclude: config.exclude };
  if (lists.include.length === 0 && lists.exclude.length === 0) {
    if (config.directory !== undefined) options.log.info('agent scope: no include or exclude group, so the directory is not used');
    options.log.info({ scope: allScope.describe() }, 'agent scope ready');
    return allScope;
  }
  const directory = config.directory;
  if (directory === undefined) {
    // The schema refuses this; a configuration built in code may not have gone through it.
    throw new ScopeConfigError([{ code: 'DIRECTORY_MISSING', message: 'groups are configured but no directory (ldap or unix) to resolve them' }]);
  }
  if ('ldap' in directory) return openLdapScope(lists, directory.ldap, options);
  return openUnixScope(lists, options);
}
