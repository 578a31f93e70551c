/*
 * Scope from an LDAP directory (OpenLDAP groupOfNames, Active Directory groups), nested groups
 * included.
 *
 * Membership is walked UP from the user, not down from the configured groups:
 * - the work per decision is proportional to the user's own groups (one indexed equality search
 *   `(member=<dn>)` per level of nesting), whatever the size of the groups. Walking down would
 *   expand "Domain Users" — the reference's usual include group — into every account of the
 *   domain, and AD hands out large `member` lists only in ranges of 1,500 values;
 * - the user's AD primary group, which `member` does not list (see ad.ts), is one more starting
 *   point of the same walk;
 * - a cache of results per user goes stale for one user at a time, for at most `cacheTtl`.
 * The walk is breadth-first with a set of visited DNs (group cycles end) and a depth cap (a
 * directory deeper than that is reported, not guessed at). It stops early once an exclude group is
 * reached, since exclude wins. On AD, LDAP_MATCHING_RULE_IN_CHAIN could ask the server to do the
 * walk, but it exists nowhere else and also misses the primary group.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AndFilter, EqualityFilter, Filter, FilterParser, OrFilter, ResultCodeError, type Entry } from 'ldapts';
import { InvalidInputError, TransientError, isPwsyncError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import { primaryGroupSid, ridOf, sidToString } from '../../ldap-client/ad.ts';
import { dnKey } from '../../ldap-client/escape.ts';
import { ACCOUNT_PLACEHOLDER, type LdapDirectoryConfig } from './config.ts';
import { ScopeConfigError, ScopeLookupError, type ScopeProblem } from './errors.ts';
import { LdapConnection, LdapOpenError, LdapRequestError, describeLdapError, isLdapClientError } from '../../ldap-client/connection.ts';
import { isTlsError } from '../../util/net-errors.ts';
import { describeLists, judge, type ResolvedGroup, type Scope, type ScopeDecision } from './types.ts';
import { validateAccount } from './account.ts';

/** Levels of nesting followed from the user; real directories stay far below. */
export const MAX_NESTING_DEPTH = 32;
/** DNs per `(|(member=…)…)` search while walking. */
const WALK_BATCH = 50;
/** Accounts whose result is remembered at most; the oldest go first. */
const CACHE_ENTRIES = 10_000;
const INVALID_CREDENTIALS = 49;
const NO_SUCH_OBJECT = 32;

interface ConfiguredGroup extends ResolvedGroup {
  readonly dn: string;
  /** Hex of the group's objectSid, when it has one (AD). */
  readonly sid?: string;
}

interface Lists {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

/**
 * `(&groupFilter(attribute=value)…)` built as filter objects. Values are never spliced into filter
 * text here: ldapts parses `\xx` escapes one byte to one character and then encodes the text as
 * UTF-8, so a binary value (an objectSid) with a byte of 0x80 or more reaches the server changed.
 */
function groupsWith(groupFilter: string, attribute: string, values: readonly (string | Buffer)[]): Filter {
  const equal = values.map((value) => new EqualityFilter({ attribute, value }));
  const [only] = equal;
  return new AndFilter({ filters: [FilterParser.parseString(groupFilter), equal.length === 1 && only ? only : new OrFilter({ filters: equal })] });
}

/** An attribute's values, whatever the case of its name and however ldapts shaped them. */
function values(entry: Entry, name: string): (string | Buffer)[] {
  const wanted = name.toLowerCase();
  const out: (string | Buffer)[] = [];
  for (const [key, value] of Object.entries(entry)) {
    // AD answers a large `member` as `member;range=0-1499`.
    const base = key.toLowerCase().split(';')[0];
    if (key === 'dn' || base !== wanted) continue;
    out.push(...(Array.isArray(value) ? value : [value]));
  }
  return out;
}

function firstBuffer(entry: Entry, name: string): Buffer | undefined {
  const value = values(entry, name)[0];
  return Buffer.isBuffer(value) ? value : undefined;
}

/**
 * Opens an LDAP scope: binds, resolves every configured group name to exactly one group, and
 * checks that include groups have members. Throws {@link ScopeConfigError} with every problem, or
 * a `TransientError` when the directory cannot be reached at all.
 */
export async function openLdapScope(lists: Lists, config: LdapDirectoryConfig, options: { log: Logger; baseDir: string }): Promise<Scope> {
  const { log } = options;
  let ca: Buffer | undefined;
  if (config.tls.ca !== undefined) {
    const file = resolve(options.baseDir, config.tls.ca);
    try {
      ca = await readFile(file);
    } catch (e) {
      throw new ScopeConfigError([{ code: 'CA_UNREADABLE', message: `cannot read tls.ca ${file}: ${describeLdapError(e)}` }]);
    }
  }
  if (config.insecurePlaintext) log.warn({ url: config.url }, 'scope directory: insecurePlaintext sends the bind password unencrypted');
  if (!config.tls.rejectUnauthorized) log.warn({ url: config.url }, 'scope directory: tls.rejectUnauthorized is false; any server certificate is accepted');

  const connection = new LdapConnection(config, { ca, rejectUnauthorized: config.tls.rejectUnauthorized, pins: config.tls.pins }, log, 'scope directory');
  try {
    try {
      await connection.open();
    } catch (e) {
      throw startError(e, config);
    }
    const resolved = await resolveGroups(connection, lists, config, log);
    const scope = new LdapScope(connection, config, resolved.include, resolved.exclude, log);
    log.info({ scope: scope.describe() }, 'agent scope ready');
    return scope;
  } catch (e) {
    await connection.close();
    throw e;
  }
}

/** A failure while starting: a problem to report when retrying cannot help, else transient. */
function startError(e: unknown, config: LdapDirectoryConfig): Error {
  if (isPwsyncError(e) && !isLdapClientError(e)) return e;
  const phase = e instanceof LdapOpenError ? e.phase : undefined;
  const cause = e instanceof LdapOpenError ? e.cause : e;
  const problem = (p: ScopeProblem): ScopeConfigError => new ScopeConfigError([p], { cause: e });
  if (isTlsError(cause) || (phase === 'starttls' && cause instanceof ResultCodeError)) {
    return problem({ code: 'TLS_FAILED', message: `TLS with ${config.url} failed: ${describeLdapError(cause)}` });
  }
  if (cause instanceof ResultCodeError && cause.code === INVALID_CREDENTIALS) {
    return problem({ code: 'BIND_REFUSED', message: `${config.url} refused the bind of ${config.bindDn}: invalid credentials` });
  }
  if (cause instanceof ResultCodeError && cause.code === NO_SUCH_OBJECT && phase === undefined) {
    return problem({ code: 'DIRECTORY_REFUSED', message: `the base DN ${config.baseDn} does not exist on ${config.url}` });
  }
  // Busy (51) and unavailable (52) pass; other refusals stay until someone changes something.
  if (cause instanceof ResultCodeError && cause.code !== 51 && cause.code !== 52) {
    return problem({ code: 'DIRECTORY_REFUSED', message: `${config.url} refused ${phase === 'bind' ? `the bind of ${config.bindDn}` : 'a search'}: ${describeLdapError(cause)}` });
  }
  return new TransientError(`the scope directory ${config.url} cannot be reached: ${describeLdapError(cause)}`, { cause: e });
}

async function resolveGroups(connection: LdapConnection, lists: Lists, config: LdapDirectoryConfig, log: Logger): Promise<{ include: ConfiguredGroup[]; exclude: ConfiguredGroup[] }> {
  const problems: ScopeProblem[] = [];
  const out = { include: [] as ConfiguredGroup[], exclude: [] as ConfiguredGroup[] };
  for (const list of ['include', 'exclude'] as const) {
    for (const name of lists[list]) {
      let found: Entry[];
      try {
        found = await connection.search(config.baseDn, {
          scope: 'sub',
          filter: groupsWith(config.groupFilter, config.groupNameAttribute, [name]),
          attributes: [config.memberAttribute, 'objectSid'],
          explicitBufferAttributes: ['objectSid'],
          sizeLimit: 2,
        });
      } catch (e) {
        throw startError(e, config);
      }
      const [group, other] = found;
      if (group === undefined) {
        problems.push({ code: 'GROUP_NOT_FOUND', list, group: name, message: `${list} group "${name}" does not exist: no group with ${config.groupNameAttribute}=${name} under ${config.baseDn}` });
        continue;
      }
      if (other !== undefined) {
        problems.push({ code: 'GROUP_AMBIGUOUS', list, group: name, message: `${list} group "${name}" is ambiguous: ${group.dn} and ${other.dn} (and maybe more) match` });
        continue;
      }
      const sid = firstBuffer(group, 'objectSid');
      const configured: ConfiguredGroup = { name, dn: group.dn, key: dnKey(group.dn), ...(sid ? { sid: sid.toString('hex') } : {}) };
      out[list].push(configured);
      if (await hasMembers(connection, group, sid, config)) continue;
      if (list === 'include') {
        problems.push({ code: 'GROUP_EMPTY', list, group: name, message: `include group "${name}" (${group.dn}) has no members: every change would be out of scope` });
      } else {
        log.info({ group: name, dn: group.dn }, 'exclude group has no members');
      }
    }
  }
  if (problems.length > 0) throw new ScopeConfigError(problems);
  return out;
}

/** Whether a group lists a member, or (AD) is some entry's primary group. */
async function hasMembers(connection: LdapConnection, group: Entry, sid: Buffer | undefined, config: LdapDirectoryConfig): Promise<boolean> {
  // An empty DN is how groupOfNames, which must have a member, is kept "empty".
  if (values(group, config.memberAttribute).some((v) => v.length > 0)) return true;
  const rid = sid === undefined ? undefined : ridOf(sid);
  if (rid === undefined) return false;
  try {
    const primary = await connection.search(config.baseDn, { scope: 'sub', filter: `(primaryGroupID=${rid})`, attributes: ['1.1'], sizeLimit: 1 });
    return primary.length > 0;
  } catch (e) {
    throw startError(e, config);
  }
}

class LdapScope implements Scope {
  readonly #connection: LdapConnection;
  readonly #config: LdapDirectoryConfig;
  readonly #include: readonly ConfiguredGroup[];
  readonly #exclude: readonly ConfiguredGroup[];
  readonly #log: Logger;
  readonly #cache = new Map<string, { readonly decision: ScopeDecision; readonly until: number }>();
  /** objectSid (hex) → DN of groups met as primary groups; null when none was found. */
  readonly #primaryGroups = new Map<string, { readonly dn: string | null; readonly until: number }>();

  constructor(connection: LdapConnection, config: LdapDirectoryConfig, include: readonly ConfiguredGroup[], exclude: readonly ConfiguredGroup[], log: Logger) {
    this.#connection = connection;
    this.#config = config;
    this.#include = include;
    this.#exclude = exclude;
    this.#log = log;
  }

  describe(): string {
    return `${describeLists(this.#include.map((g) => g.name), this.#exclude.map((g) => g.name))} from LDAP ${this.#config.url} (${this.#connection.transport}) under ${this.#config.baseDn}`;
  }

  async decide(account: string): Promise<ScopeDecision> {
    validateAccount(account);
    const now = Date.now();
    const cached = this.#cache.get(account);
    if (cached !== undefined && cached.until > now) return cached.decision;
    let decision: ScopeDecision | undefined;
    try {
      decision = await this.#lookUp(account);
    } catch (e) {
      if (e instanceof ScopeLookupError || e instanceof InvalidInputError) throw e;
      // A filter that cannot be built for this name fails the same way every time: a refusal.
      if (e instanceof LdapRequestError) throw new ScopeLookupError(`account "${account}" cannot be looked up with userFilter: ${e.message}`, { cause: e });
      // Never guess: whatever kept the directory from answering, the change waits and is asked again.
      throw new TransientError(`the scope directory ${this.#config.url} could not be asked about "${account}": ${describeLdapError(e)}`, { cause: e });
    }
    if (decision === undefined) return { inScope: false, reason: `account "${account}" is not in the directory (${this.#config.baseDn})` };
    this.#remember(account, decision, now);
    return decision;
  }

  async close(): Promise<void> {
    this.#cache.clear();
    await this.#connection.close();
  }

  /** The decision, or undefined when the account has no entry (not cached: it may be created any moment). */
  async #lookUp(account: string): Promise<ScopeDecision | undefined> {
    // A function, not a string: a string replacement reads `$&`, `` $` `` and `$'` in the name as
    // patterns and splices the template itself into the filter.
    const escaped = Filter.escape(account);
    const filter = this.#config.userFilter.replaceAll(ACCOUNT_PLACEHOLDER, () => escaped);
    const users = await this.#connection.search(this.#config.baseDn, {
      scope: 'sub',
      filter,
      attributes: ['primaryGroupID', 'objectSid'],
      explicitBufferAttributes: ['objectSid'],
      sizeLimit: 2,
    });
    const [user, other] = users;
    if (user === undefined) return undefined;
    if (other !== undefined) throw new ScopeLookupError(`account "${account}" matches more than one directory entry (${user.dn}, ${other.dn}); check userFilter`);
    const groups = await this.#groupsOf(user);
    return judge((g) => groups.has(g.key), this.#include, this.#exclude);
  }

  /** The keys of every group the user is in, directly or nested; may stop early at an exclude group. */
  async #groupsOf(user: Entry): Promise<Set<string>> {
    const visited = new Set<string>([dnKey(user.dn)]);
    const groups = new Set<string>();
    let frontier = [user.dn];
    const primary = await this.#primaryGroupDn(user);
    if (primary !== undefined && !visited.has(dnKey(primary))) {
      visited.add(dnKey(primary));
      groups.add(dnKey(primary));
      frontier.push(primary);
    }
    const decided = (): boolean => this.#exclude.some((g) => groups.has(g.key)) || (this.#exclude.length === 0 && this.#include.some((g) => groups.has(g.key)));
    for (let depth = 0; frontier.length > 0 && !decided(); depth++) {
      if (depth >= MAX_NESTING_DEPTH) {
        throw new ScopeLookupError(`group nesting above ${user.dn} goes deeper than ${MAX_NESTING_DEPTH} levels; not followed further`);
      }
      const next: string[] = [];
      for (let i = 0; i < frontier.length; i += WALK_BATCH) {
        const filter = groupsWith(this.#config.groupFilter, this.#config.memberAttribute, frontier.slice(i, i + WALK_BATCH));
        const found = await this.#connection.search(this.#config.baseDn, { scope: 'sub', filter, attributes: ['1.1'] });
        for (const group of found) {
          const key = dnKey(group.dn);
          if (visited.has(key)) continue;
          visited.add(key);
          groups.add(key);
          next.push(group.dn);
        }
      }
      frontier = next;
    }
    return groups;
  }

  /** The DN of the user's AD primary group, when the entry has `primaryGroupID` and `objectSid`. */
  async #primaryGroupDn(user: Entry): Promise<string | undefined> {
    const rid = Number(values(user, 'primaryGroupID')[0]?.toString());
    const userSid = firstBuffer(user, 'objectSid');
    if (userSid === undefined || !Number.isInteger(rid)) return undefined;
    const sid = primaryGroupSid(userSid, rid);
    if (sid === undefined) return undefined;
    const hex = sid.toString('hex');
    const configured = [...this.#include, ...this.#exclude].find((g) => g.sid === hex);
    if (configured !== undefined) return configured.dn;
    const now = Date.now();
    const known = this.#primaryGroups.get(hex);
    if (known !== undefined && known.until > now) return known.dn ?? undefined;
    const found = await this.#connection.search(this.#config.baseDn, {
      scope: 'sub',
      filter: groupsWith(this.#config.groupFilter, 'objectSid', [sid]),
      attributes: ['1.1'],
      sizeLimit: 1,
    });
    const dn = found[0]?.dn ?? null;
    if (dn === null) this.#log.debug({ sid: sidToString(sid) }, 'primary group not found under the base DN');
    if (this.#config.cacheTtl > 0) this.#primaryGroups.set(hex, { dn, until: now + this.#config.cacheTtl });
    return dn ?? undefined;
  }

  #remember(account: string, decision: ScopeDecision, now: number): void {
    if (this.#config.cacheTtl <= 0) return;
    this.#cache.delete(account);
    if (this.#cache.size >= CACHE_ENTRIES) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(account, { decision, until: now + this.#config.cacheTtl });
  }
}
