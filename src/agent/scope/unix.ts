/*
 * Scope from the host's own users and groups, through NSS: whatever `/etc/nsswitch.conf` names
 * (files, sssd, winbind, nslcd), exactly as `id` and `getent` see it. Programs are run with
 * execFile and argument arrays, never a shell, from fixed paths, with `--` before every name.
 *
 * Groups are compared by gid, not by name: `id -Gn` separates names with spaces, and names with
 * spaces are common precisely where this matters (sssd and winbind show AD's "domain users").
 * Each configured name is resolved to its gid once, at start.
 *
 * Limits of NSS: "this group has no member" is judged from the members `getent group` lists and
 * from the primary groups `getent passwd` enumerates; sssd and winbind do not enumerate domain
 * users by default, so a domain group that is only ever a primary group may be reported empty.
 * And while sssd is cut off from its domain, `id` may not know a user that exists: such an account
 * is reported "not a user of this host" only when `getent passwd` says so too.
 */
import { execFile } from 'node:child_process';
import { InvalidInputError, TransientError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import { findProgram } from '../../util/root-only.ts';
import { validateAccount } from './account.ts';
import { ScopeConfigError, type ScopeProblem } from './errors.ts';
import { describeLists, judge, type ResolvedGroup, type Scope, type ScopeDecision } from './types.ts';

/** NSS lookups through sssd or winbind can hang on an unreachable domain controller. */
const TOOL_TIMEOUT_MS = 10_000;
/** getent's exit status when the key is not in the database. */
const GETENT_NOT_FOUND = 2;

interface Lists {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
}

/** The tool's path in the system's directories (as root, only when root's alone), or undefined. */
function findTool(name: string): string | undefined {
  try {
    return findProgram(name, name, '/usr/bin:/bin');
  } catch (e) {
    if (e instanceof InvalidInputError) return undefined;
    throw e;
  }
}

/** Runs a tool; resolves with its exit status, rejects only when it could not run or timed out. */
function run(file: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: TOOL_TIMEOUT_MS, env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err === null) resolve({ code: 0, stdout });
      else if (typeof err.code === 'number' && err.killed !== true) resolve({ code: err.code, stdout });
      else reject(err instanceof Error ? err : new Error(`${file} could not run`));
    });
  });
}

/** `name:password:gid:member,member` → its gid and listed members. */
function parseGroup(line: string): { gid: string; members: string[] } | undefined {
  const fields = line.split(':');
  const gid = fields[2];
  if (fields.length < 4 || gid === undefined || !/^\d+$/.test(gid)) return undefined;
  return { gid, members: (fields[3] ?? '').split(',').filter((m) => m !== '') };
}

/**
 * Names NSS cannot hold: `:` and `,` separate fields and members; a leading `-` reads as an option
 * elsewhere; and an all-digit name is taken by `getent` and `id` as a gid or uid (`id 0` is root).
 */
function invalidName(name: string): boolean {
  return /[:,\n/]/.test(name) || name.startsWith('-') || /^\d+$/.test(name);
}

/**
 * Opens an NSS scope: each configured group must exist (`getent group`), and an include group must
 * have a member — listed in the group, or a user whose primary group it is (`getent passwd`).
 */
export async function openUnixScope(lists: Lists, options: { log: Logger }): Promise<Scope> {
  const getent = findTool('getent');
  const id = findTool('id');
  if (getent === undefined || id === undefined) {
    const missing = [...(getent === undefined ? ['getent (Debian: libc-bin)'] : []), ...(id === undefined ? ['id (Debian: coreutils)'] : [])];
    throw new ScopeConfigError(missing.map((tool) => ({ code: 'TOOL_MISSING', message: `${tool} is not installed` })));
  }
  const problems: ScopeProblem[] = [];
  const resolved = { include: [] as ResolvedGroup[], exclude: [] as ResolvedGroup[] };
  let primaryGids: Set<string> | undefined;
  const ask = async (args: readonly string[]): Promise<Ran> => {
    try {
      return await run(getent, args);
    } catch (e) {
      throw new TransientError(`getent ${args[0] ?? ''} failed: ${e instanceof Error ? e.message : 'unknown error'}`, { cause: e });
    }
  };
  for (const list of ['include', 'exclude'] as const) {
    for (const name of lists[list]) {
      if (invalidName(name)) {
        problems.push({ code: 'GROUP_NAME_INVALID', list, group: name, message: `${list} group "${name}" cannot be a group name on this host` });
        continue;
      }
      const ran = await ask(['group', '--', name]);
      const group = ran.code === 0 ? parseGroup(ran.stdout.split('\n')[0] ?? '') : undefined;
      if (ran.code === GETENT_NOT_FOUND) {
        problems.push({ code: 'GROUP_NOT_FOUND', list, group: name, message: `${list} group "${name}" does not exist on this host (getent group)` });
        continue;
      }
      if (group === undefined) throw new TransientError(`getent group ${name} failed with status ${ran.code}`);
      resolved[list].push({ name, key: group.gid });
      if (group.members.length > 0) continue;
      // Nobody is listed: the group still has members if it is someone's primary group.
      if (primaryGids === undefined) {
        const passwd = await ask(['passwd']);
        if (passwd.code !== 0) throw new TransientError(`getent passwd failed with status ${passwd.code}`);
        primaryGids = new Set(passwd.stdout.split('\n').map((l) => l.split(':')[3]).filter((g): g is string => g !== undefined));
      }
      if (primaryGids.has(group.gid)) continue;
      if (list === 'include') {
        problems.push({ code: 'GROUP_EMPTY', list, group: name, message: `include group "${name}" (gid ${group.gid}) has no members: every change would be out of scope` });
      } else {
        options.log.info({ group: name, gid: group.gid }, 'exclude group has no members');
      }
    }
  }
  if (problems.length > 0) throw new ScopeConfigError(problems);
  const scope = new UnixScope(getent, id, resolved.include, resolved.exclude);
  options.log.info({ scope: scope.describe() }, 'agent scope ready');
  return scope;
}

class UnixScope implements Scope {
  readonly #getent: string;
  readonly #id: string;
  readonly #include: readonly ResolvedGroup[];
  readonly #exclude: readonly ResolvedGroup[];

  constructor(getent: string, id: string, include: readonly ResolvedGroup[], exclude: readonly ResolvedGroup[]) {
    this.#getent = getent;
    this.#id = id;
    this.#include = include;
    this.#exclude = exclude;
  }

  describe(): string {
    return `${describeLists(this.#include.map((g) => g.name), this.#exclude.map((g) => g.name))} from this host's groups (NSS)`;
  }

  async decide(account: string): Promise<ScopeDecision> {
    validateAccount(account);
    if (invalidName(account)) throw new InvalidInputError('not a possible user name on this host');
    try {
      // The primary group and every supplementary group, as NSS (getgrouplist) reports them.
      const ran = await run(this.#id, ['-G', '--', account]);
      if (ran.code === 0) {
        const gids = new Set(ran.stdout.trim().split(/\s+/));
        return judge((g) => gids.has(g.key), this.#include, this.#exclude);
      }
      // `id` fails the same way for an unknown user and for NSS trouble: getent tells them apart.
      const user = await run(this.#getent, ['passwd', '--', account]);
      if (user.code === GETENT_NOT_FOUND) return { inScope: false, reason: `account "${account}" is not a user of this host` };
      throw new Error(`id -G failed with status ${ran.code}; getent passwd with status ${user.code}`);
    } catch (e) {
      throw new TransientError(`the groups of "${account}" could not be read from NSS: ${e instanceof Error ? e.message : 'unknown error'}`, { cause: e });
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
