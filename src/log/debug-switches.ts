import { InvalidInputError } from '../core/errors.ts';

/**
 * `NODE_DEBUG=ldapts` makes ldapts print modify and exop values: passwords. Node matches each
 * NODE_DEBUG entry as a case-insensitive pattern where `*` stands for anything, so `ldap*` or `*`
 * switch it on too. The server, the one-shot commands and the agent all refuse to start with it.
 */
export function refuseLeakyDebugSwitches(env: NodeJS.ProcessEnv): void {
  const entries = (env['NODE_DEBUG'] ?? '').split(/[\s,]+/).filter((s) => s !== '');
  const leaky = entries.filter((d) => new RegExp(`^${d.replace(/[|\\{}()[\]^$+?.]/g, (c) => `\\${c}`).replaceAll('*', '.*')}$`, 'i').test('ldapts'));
  if (leaky.length > 0) {
    throw new InvalidInputError(`NODE_DEBUG=${leaky.join(',')} makes a library print passwords; unset it before starting pwsync`);
  }
}
