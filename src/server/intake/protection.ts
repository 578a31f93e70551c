import { protectionOf, type SourceProtectionConfig, type SystemConfig } from '../../config/schema.ts';
import { can, type Connector } from '../../connectors/types.ts';
import { isPwsyncError } from '../../core/errors.ts';
import { EVENT } from '../../core/events.ts';
import { matchKey } from '../../core/join.ts';
import type { Anchor, NewEvent } from '../../core/model.ts';
import type { Logger } from '../../log/logger.ts';
import type { AccountWithLink } from '../../store/port.ts';
import type { SourceGuard } from '../../sync/submit-change.ts';

/*
 * The server's own boundary: accounts of a source that no agent may change (`source.protect`),
 * whatever the agent's scope says, so that root on one agent's host does not reach every linked
 * password of the source. Checked at the intake on the account a notification resolves to in the
 * store (by anchor or by login), never on the name the agent sent alone.
 *
 * Groups and AD's adminCount are resolved in the source's own directory (the connector's
 * `groupMembers` ability), walked down from the groups once per `protect.refresh` (60 s): a
 * notification costs no directory read. A resolution is used for `refresh`; after half of it a new
 * one is made in the background. When none is fresh and the directory cannot be asked, nothing is
 * guessed: the source's notifications are answered `retry` (event 7018 once per outage), and the
 * agents send them again.
 */

/** After a failed resolution, the directory is not asked again for this long (a down directory would make each batch wait its timeout). */
const RETRY_AFTER_MS = 5000;
/**
 * A batch waits this long at most for a resolution (a directory that hangs mid-walk could hold it
 * for one LDAP timeout per read); then its source's notifications are answered `retry`, and the
 * resolution goes on for the next batch. Well below the agents' delivery timeout (30 s).
 */
const MAX_WAIT_MS = 15_000;

/** What is protected in one source, as resolved at `at`. */
interface ProtectedSet {
  /** Match keys of `protect.accounts`, under the source's match mode → the name as configured. */
  readonly names: ReadonlyMap<string, string>;
  readonly anchors: ReadonlyMap<Anchor, string>;
  readonly at: number;
}

interface SourceState {
  readonly system: SystemConfig;
  readonly protection: SourceProtectionConfig;
  /** Whether the directory is asked (groups, adminCount, or account names on a source with groups). */
  readonly directory: boolean;
  current: ProtectedSet | undefined;
  resolving: Promise<ProtectedSet | Error> | undefined;
  failedAt: number | undefined;
  failure: string | undefined;
}

export interface SourceProtectionOptions {
  readonly systems: readonly SystemConfig[];
  /** The source system's connector (the server's pool: the same connections as its import and deliveries). */
  readonly connector: (system: SystemConfig) => Connector;
  readonly log: Logger;
  readonly now: () => number;
  /** For 7018, which rides in no batch. */
  readonly appendEvents: (events: readonly NewEvent[]) => Promise<void>;
  /** How long a batch waits for a resolution at most; default 15 s. */
  readonly maxWaitMs?: number;
}

/** What {@link SourceProtection.prepare} answers for one batch. */
export interface Prepared {
  /** For the entry point: why an account may not be changed by an agent. */
  readonly guard: SourceGuard;
  /** Sources whose protection cannot be known now, with why: their notifications are answered `retry`. */
  readonly unavailable: ReadonlyMap<string, string>;
}

export class SourceProtection {
  readonly #o: SourceProtectionOptions;
  readonly #sources = new Map<string, SourceState>();

  constructor(options: SourceProtectionOptions) {
    this.#o = options;
    for (const system of options.systems) {
      const protection = protectionOf(system);
      if (protection === undefined) continue;
      const directory = protection.groups.length > 0 || protection.adminCount;
      this.#sources.set(system.name, { system, protection, directory, current: undefined, resolving: undefined, failedAt: undefined, failure: undefined });
    }
  }

  /** One line per protected source, for the log at start. */
  describe(): string[] {
    return [...this.#sources.values()].map(({ system, protection: p }) => `${system.name}: ${describeProtection(p)}`);
  }

  /** Resolves what each protected source needs now, so that a first batch does not wait for it. Never throws. */
  async warm(): Promise<void> {
    await this.prepare([...this.#sources.keys()]);
  }

  /**
   * The guard for a batch naming `sources`, after making sure each protected source's set is fresh
   * enough (at most one resolution per source at a time, shared by every batch that waits for it).
   */
  async prepare(sources: Iterable<string>): Promise<Prepared> {
    const sets = new Map<string, ProtectedSet>();
    const unavailable = new Map<string, string>();
    await Promise.all(
      [...new Set(sources)].map(async (name) => {
        const state = this.#sources.get(name);
        if (state === undefined) return;
        const set = await this.#fresh(state);
        if (set instanceof Error) unavailable.set(name, set.message);
        else sets.set(name, set);
      }),
    );
    const guard: SourceGuard = (source, account) => {
      const set = sets.get(source.name);
      return set === undefined ? undefined : reasonFor(set, source, account);
    };
    return { guard, unavailable };
  }

  async #fresh(state: SourceState): Promise<ProtectedSet | Error> {
    const now = this.#o.now();
    const { refresh } = state.protection;
    const current = state.current;
    const age = current === undefined ? Infinity : now - current.at;
    if (current !== undefined && age < refresh) {
      if (age >= refresh / 2 && state.resolving === undefined && !this.#backingOff(state, now)) void this.#resolve(state);
      return current;
    }
    if (state.resolving === undefined && this.#backingOff(state, now)) return new Error(state.failure ?? 'the protected accounts could not be resolved');
    // A resolution already under way may have begun (or failed) before the last one grew too old:
    // what it gives is checked again.
    const outcome = await withDeadline(this.#resolve(state), this.#o.maxWaitMs ?? MAX_WAIT_MS);
    if (outcome instanceof Error) return outcome;
    return this.#o.now() - outcome.at < refresh ? outcome : new Error(state.failure ?? 'the protected accounts could not be resolved in time');
  }

  #backingOff(state: SourceState, now: number): boolean {
    return state.failedAt !== undefined && now - state.failedAt < RETRY_AFTER_MS;
  }

  /** One resolution at a time per source; every waiter gets its outcome. */
  #resolve(state: SourceState): Promise<ProtectedSet | Error> {
    state.resolving ??= this.#resolveNow(state).finally(() => (state.resolving = undefined));
    return state.resolving;
  }

  async #resolveNow(state: SourceState): Promise<ProtectedSet | Error> {
    const { system, protection: p } = state;
    const { log, now } = this.#o;
    const started = now();
    const names = new Map(p.accounts.map((a) => [matchKey(a, system.source?.match ?? 'exact'), a]));
    const anchors = new Map<Anchor, string>(p.anchors.map((a) => [a, `protected anchor "${a}"`]));
    if (!state.directory) {
      state.current = { names, anchors, at: started };
      return state.current;
    }
    try {
      const connector = this.#o.connector(system);
      if (!can(connector, 'groupMembers')) throw new Error(`a ${system.connector} system has no groups to resolve`);
      const attribute = system.source?.accountAttribute ?? '';
      const members = await connector.membersOf({
        groups: p.groups,
        accounts: p.accounts,
        accountAttribute: system.import.map?.[attribute] ?? attribute,
        marked: p.adminCount,
      });
      if (members.problems.length > 0) throw new Error(members.problems.join('; '));
      for (const [anchor, why] of members.anchors) if (!anchors.has(anchor)) anchors.set(anchor, why);
      const set = { names, anchors, at: started };
      if (state.failure !== undefined) log.info({ source: system.name }, 'the protected accounts of the source are resolved again; its notifications are taken again');
      state.current = set;
      state.failedAt = undefined;
      state.failure = undefined;
      log.debug({ source: system.name, protectedEntries: anchors.size, searches: members.searches, ms: now() - started }, 'protected accounts resolved');
      return set;
    } catch (e) {
      const why = `the protected accounts of source "${system.name}" cannot be resolved: ${isPwsyncError(e) || e instanceof Error ? e.message : String(e)}`;
      const first = state.failure === undefined;
      state.failedAt = now();
      state.failure = why;
      // The last resolution still serves until it is `refresh` old (#fresh): a cache, not a guess.
      log.error({ source: system.name, err: e }, 'protected accounts cannot be resolved; notifications of this source are answered retry once the last resolution is too old');
      if (first) {
        await this.#o
          .appendEvents([{ code: EVENT.PROTECTION_UNAVAILABLE, system: system.name, message: `${why}; its notifications are answered "retry" until they can be (nothing is accepted unchecked)` }])
          .catch((err: unknown) => log.error({ err }, 'event 7018 could not be recorded'));
      }
      return new Error(why);
    }
  }
}

/** The outcome of `resolution`, or an error once `ms` have passed (the resolution itself goes on). */
async function withDeadline(resolution: Promise<ProtectedSet | Error>, ms: number): Promise<ProtectedSet | Error> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Error>((resolve) => {
    timer = setTimeout(() => resolve(new Error(`the directory did not answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([resolution, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Why `account` is protected in `set`, or undefined. */
function reasonFor(set: ProtectedSet, source: SystemConfig, account: AccountWithLink): string | undefined {
  const byAnchor = set.anchors.get(account.anchor);
  if (byAnchor !== undefined) return byAnchor;
  const attribute = source.source?.accountAttribute;
  const login = attribute === undefined ? undefined : account.attributes[attribute];
  if (login === undefined) return undefined;
  const name = set.names.get(matchKey(login, source.source?.match ?? 'exact'));
  return name === undefined ? undefined : `protected account "${name}"`;
}

/** `accounts [a, b], groups [G], adminCount=1 entries (the default for AD)`: for the log and `config check`. */
export function describeProtection(p: SourceProtectionConfig): string {
  const parts = [
    ...(p.accounts.length > 0 ? [`accounts [${p.accounts.join(', ')}]`] : []),
    ...(p.anchors.length > 0 ? [`anchors [${p.anchors.join(', ')}]`] : []),
    ...(p.groups.length > 0 ? [`members of groups [${p.groups.join(', ')}], nested`] : []),
    ...(p.adminCount ? [`entries with adminCount=1${p.adminCountByDefault ? ' (the default for an AD source; protect.adminCount: false turns it off)' : ''}`] : []),
  ];
  return parts.join('; ');
}
