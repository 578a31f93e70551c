/*
 * The accounts a source protects from its agents, resolved in the source's directory: the members
 * of the protected groups (nested groups and AD primary groups included), the accounts named, and
 * the entries AD marks `adminCount=1`.
 *
 * Membership is walked DOWN from the configured groups (and from the groups marked adminCount=1), not up from each account as the agent's
 * scope does (src/agent/scope/ldap.ts): the server checks every notification of the source, and a
 * list of privileged accounts is small, so one resolution every `protect.refresh` costs a few dozen
 * reads and a notification none. A walk that meets more entries than `MAX_PROTECTED_ENTRIES` is
 * refused rather than cut short: a list that large is not a list of privileged accounts (a group
 * such as Domain Users was named), and stopping early would leave some of it unprotected.
 */
import { AndFilter, EqualityFilter, FilterParser, ResultCodeError, type Entry, type Filter } from 'ldapts';
import { ConfigError } from '../../core/errors.ts';
import type { Anchor } from '../../core/model.ts';
import { ridOf } from '../../ldap-client/ad.ts';
import type { LdapConnection } from '../../ldap-client/connection.ts';
import { dnKey } from '../../ldap-client/escape.ts';
import type { Members, MembersQuery } from '../types.ts';
import { BINARY_ATTRIBUTES, textOf } from './entries.ts';

/** Entries met in one resolution at most (members, nested groups, marked entries). */
export const MAX_PROTECTED_ENTRIES = 5000;
/** Levels of nested groups followed; real directories stay far below. */
export const MAX_NESTING_DEPTH = 32;
/** Member entries read at once. */
const PARALLEL_READS = 16;
const NO_SUCH_OBJECT = 32;

/** Where the groups are and how they are written, with the flavor's defaults applied. */
export interface GroupPlan {
  /** Where groups, and entries marked adminCount, are searched; undefined: the naming context of the first base DN. */
  readonly baseDn: string | undefined;
  readonly filter: string;
  readonly nameAttribute: string;
  readonly memberAttribute: string;
}

/** What the resolution needs of the system's import plan: where its accounts are and their anchor. */
export interface AccountPlan {
  readonly baseDns: readonly string[];
  readonly scope: 'sub' | 'one';
  readonly filter: string;
  readonly anchor: string;
}

/** Values of an attribute, whatever the case of its name; with AD's range option, the range too. */
function ranged(entry: Entry, name: string): { values: string[]; next: number | undefined } {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  let next: number | undefined;
  for (const [key, value] of Object.entries(entry)) {
    const [base, ...options] = key.toLowerCase().split(';');
    if (key === 'dn' || base !== wanted) continue;
    for (const v of Array.isArray(value) ? value : [value]) values.push(Buffer.isBuffer(v) ? v.toString('utf8') : v);
    // AD hands a large `member` over as `member;range=0-1499`; the last part ends in `-*`.
    const range = options.map((o) => /^range=(\d+)-(\d+)$/.exec(o)).find((m) => m !== null);
    if (range) next = Number(range[2]) + 1;
  }
  return { values: values.filter((v) => v !== ''), next };
}

/**
 * Resolves a {@link MembersQuery} on `connection`. Throws ldapts' errors as they come (the
 * connector maps them: a lost directory is transient), and `ConfigError` for a walk beyond the
 * limits.
 */
export async function resolveMembers(connection: LdapConnection, query: MembersQuery, groups: GroupPlan, accounts: AccountPlan): Promise<Members> {
  const found = new Map<Anchor, string>();
  const problems: string[] = [];
  let searches = 0;
  let met = 0;
  const search = async (base: string, options: Parameters<LdapConnection['search']>[1]): Promise<Entry[]> => {
    searches++;
    return connection.search(base, { explicitBufferAttributes: BINARY_ATTRIBUTES, ...options });
  };
  const meet = (count = 1): void => {
    met += count;
    if (met > MAX_PROTECTED_ENTRIES) {
      throw new ConfigError(`source.protect resolves to more than ${MAX_PROTECTED_ENTRIES} entries: that is not a list of privileged accounts (is a group such as Domain Users named?)`);
    }
  };
  const add = (entry: Entry, why: string): void => {
    const anchor = textOf(entry, accounts.anchor);
    if (anchor !== undefined && !found.has(anchor)) found.set(anchor, why);
  };

  for (const name of query.accounts) {
    const filter = new AndFilter({ filters: [FilterParser.parseString(accounts.filter), new EqualityFilter({ attribute: query.accountAttribute, value: name })] });
    for (const base of accounts.baseDns) {
      for (const entry of await search(base, { scope: accounts.scope, filter, attributes: [accounts.anchor], sizeLimit: 10 })) {
        meet();
        add(entry, `protected account "${name}"`);
      }
    }
  }

  const needsBase = query.marked || query.groups.length > 0;
  const groupBase = needsBase ? (groups.baseDn ?? (await namingContext(search, accounts.baseDns[0] ?? ''))) : '';

  const wanted = [accounts.anchor, groups.memberAttribute, 'objectSid', 'groupType'];
  const visited = new Set<string>();
  let frontier: { entry: Entry; why: string }[] = [];
  const isGroup = (entry: Entry): boolean => ranged(entry, groups.memberAttribute).values.length > 0 || ranged(entry, 'groupType').values.length > 0;

  if (query.marked) {
    // The marked groups' members too, nested: AD marks a new member of Domain Admins only when
    // SDProp next runs (hourly), and Samba never does; the groups themselves are marked at once.
    for await (const page of connection.searchPages(groupBase, { scope: 'sub', filter: '(adminCount=1)', attributes: wanted, explicitBufferAttributes: BINARY_ATTRIBUTES, paged: { pageSize: 500 } })) {
      searches++;
      for (const entry of page) {
        meet();
        add(entry, 'adminCount=1 (protected by AdminSDHolder)');
        if (isGroup(entry) && !visited.has(dnKey(entry.dn))) {
          visited.add(dnKey(entry.dn));
          frontier.push({ entry, why: `member of "${rdnValue(entry.dn)}", a group marked adminCount=1` });
        }
      }
    }
  }

  for (const name of query.groups) {
    const filter: Filter = new AndFilter({ filters: [FilterParser.parseString(groups.filter), new EqualityFilter({ attribute: groups.nameAttribute, value: name })] });
    const [group, other] = await search(groupBase, { scope: 'sub', filter, attributes: wanted, sizeLimit: 2 });
    if (group === undefined) problems.push(`protected group "${name}" does not exist: no entry matches ${groups.filter} with ${groups.nameAttribute}=${name} under ${groupBase}`);
    else if (other !== undefined) problems.push(`protected group "${name}" is ambiguous: ${group.dn} and ${other.dn} (and maybe more) match`);
    else if (!visited.has(dnKey(group.dn))) {
      visited.add(dnKey(group.dn));
      frontier.push({ entry: group, why: `member of protected group "${name}"` });
    }
  }

  for (let depth = 0; frontier.length > 0; depth++) {
    if (depth >= MAX_NESTING_DEPTH) throw new ConfigError(`protected groups nest deeper than ${MAX_NESTING_DEPTH} levels below ${frontier[0]?.entry.dn ?? '?'}; not followed further`);
    const next: { entry: Entry; why: string }[] = [];
    for (const { entry: group, why } of frontier) {
      const memberDns = await allMembers(search, group, groups.memberAttribute);
      // An AD group is also the primary group of accounts that its `member` does not list.
      const sid = entrySid(group);
      const rid = sid === undefined ? undefined : ridOf(sid);
      if (rid !== undefined) {
        for await (const page of connection.searchPages(groupBase, { scope: 'sub', filter: `(primaryGroupID=${rid})`, attributes: [accounts.anchor], explicitBufferAttributes: BINARY_ATTRIBUTES, paged: { pageSize: 500 } })) {
          searches++;
          for (const entry of page) {
            meet();
            add(entry, why);
          }
        }
      }
      const fresh = memberDns.filter((dn) => !visited.has(dnKey(dn)));
      for (const dn of fresh) visited.add(dnKey(dn));
      // Counted before they are read: a group too large is refused without reading its members.
      meet(fresh.length);
      for (let i = 0; i < fresh.length; i += PARALLEL_READS) {
        const read = await Promise.all(fresh.slice(i, i + PARALLEL_READS).map((dn) => readEntry(search, dn, wanted)));
        for (const entry of read) {
          if (entry === undefined) continue; // a member that no longer exists (or that we may not read)
          add(entry, why);
          // A member that has members (or an AD group, which has a groupType) is a group: its
          // members are protected too.
          if (isGroup(entry)) next.push({ entry, why });
        }
      }
    }
    frontier = next;
  }
  return { anchors: found, problems, searches };
}

/** `Domain Admins` of `CN=Domain Admins,CN=Users,…`, for messages. */
function rdnValue(dn: string): string {
  return /^[^=]+=((?:\\.|[^,\\])*)/.exec(dn)?.[1] ?? dn;
}

type Search = (base: string, options: Parameters<LdapConnection['search']>[1]) => Promise<Entry[]>;

function entrySid(entry: Entry): Buffer | undefined {
  for (const [key, value] of Object.entries(entry)) {
    if (key.toLowerCase() !== 'objectsid') continue;
    const first = Array.isArray(value) ? value[0] : value;
    return Buffer.isBuffer(first) ? first : undefined;
  }
  return undefined;
}

/** Every member of a group, asking for further ranges where AD hands them over in parts. */
async function allMembers(search: Search, group: Entry, attribute: string): Promise<string[]> {
  let { values, next } = ranged(group, attribute);
  const all = [...values];
  while (next !== undefined) {
    const [entry] = await search(group.dn, { scope: 'base', filter: '(objectClass=*)', attributes: [`${attribute};range=${next}-*`] });
    if (entry === undefined) break;
    ({ values, next } = ranged(entry, attribute));
    if (values.length === 0) break;
    all.push(...values);
  }
  return all;
}

/** One entry by its DN, or undefined when it does not exist. */
async function readEntry(search: Search, dn: string, attributes: string[]): Promise<Entry | undefined> {
  try {
    const [entry] = await search(dn, { scope: 'base', filter: '(objectClass=*)', attributes });
    return entry;
  } catch (e) {
    if (e instanceof ResultCodeError && e.code === NO_SUCH_OBJECT) return undefined;
    throw e;
  }
}

/**
 * The naming context (from the root DSE) that holds `dn`: the whole domain on AD, where the
 * privileged groups (CN=Builtin, CN=Users) lie outside the usual base DNs of people. `dn` itself
 * when the server names none that holds it.
 */
async function namingContext(search: Search, dn: string): Promise<string> {
  const [root] = await search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['namingContexts'] });
  const contexts = root === undefined ? [] : ranged(root, 'namingContexts').values;
  const key = dnKey(dn);
  const holding = contexts.filter((c) => key === dnKey(c) || key.endsWith(`,${dnKey(c)}`)).sort((a, b) => b.length - a.length);
  return holding[0] ?? dn;
}
