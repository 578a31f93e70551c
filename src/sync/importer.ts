import { randomUUID } from 'node:crypto';
import { InvalidInputError, RemovalThresholdError, WatermarkError } from '../core/errors.ts';
import { matchKey } from '../core/join.ts';
import type { Anchor, Attributes, NewEvent } from '../core/model.ts';
import { projectsPersons, type SystemConfig } from '../config/schema.ts';
import { systemByName } from '../config/index.ts';
import { can, type AccountImport, type AccountRecord, type Connector, type Watermark } from '../connectors/types.ts';
import type { AccountInput, AccountWithLink, LinkDecision, RememberedLink, Store } from '../store/port.ts';
import type { SyncContext } from './context.ts';
import { EVENT } from '../core/events.ts';

/** `full` reads every account; `delta` only what changed since the last import (connectors with `deltaImport`). */
export type ImportMode = 'full' | 'delta';

export interface ImportOptions {
  /** Default `full`. */
  readonly mode?: ImportMode;
  /** Remove what is gone even beyond the system's `import.removalThreshold` (`--allow-removals`). */
  readonly allowRemovals?: boolean;
}

export interface ImportProgress {
  readonly system: string;
  readonly mode: ImportMode;
  /** Accounts read (full), or changed accounts read (delta). */
  readonly read: number;
  readonly removed: number;
}

export interface ImportReport {
  readonly system: string;
  /** The import that ran: `full` also when a delta import was asked for and could not run. */
  readonly mode: ImportMode;
  /** Why a delta import that was asked for ran as a full one; absent otherwise. */
  readonly fallback?: string;
  /** Accounts read (full), or changed accounts read (delta). */
  readonly read: number;
  readonly projected: number;
  readonly joined: number;
  readonly ambiguous: number;
  readonly unmatched: number;
  /** Accounts that came back and were linked to their person again by a remembered link (7027 each). */
  readonly relinked: number;
  /** Accounts removed from the store: gone from the system (full) or reported removed (delta). */
  readonly removed: number;
  /** Of the removed accounts, those that were linked to a person (one 7021 each). */
  readonly unlinked: number;
  readonly ms: number;
}

type Importing = Connector & AccountImport;

/**
 * Streams a system's accounts into the store and links them: the first join rule that finds
 * exactly one person links; a rule that finds several links nothing (never guess) and warns;
 * an account that joins no one projects a person when its system projects.
 *
 * A full import removes and unlinks the accounts that are gone from the system. A delta import
 * reads only what changed since the watermark the last import left, and removes the accounts the
 * connector reports removed; without a usable watermark it runs a full import instead (the report
 * says so). Either stores the connector's new watermark, taken before reading, only once it has
 * finished: an import that fails keeps the old one.
 *
 * Removals come last, after every account read is stored, and only within the system's
 * `import.removalThreshold` (unless `allowRemovals`): an import that would remove more stops with
 * RemovalThresholdError and event 7026, removing nothing and keeping the old watermark. The
 * accounts it read are stored as read (they are in the system). A removed account's link is
 * remembered, and an account that comes back is linked to that person again (7027).
 */
export async function importSystem(
  ctx: SyncContext,
  systemName: string,
  onProgress: (p: ImportProgress) => void = () => undefined,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const system = systemByName(ctx.config, systemName);
  const connector = ctx.connectors.get(system);
  if (!can(connector, 'import')) throw new InvalidInputError(`the ${connector.kind} connector of "${system.name}" cannot import accounts`);
  const started = ctx.now();
  const allow = options.allowRemovals === true;
  if (options.mode !== 'delta') return fullImport(ctx, system, connector, started, onProgress, undefined, allow);
  if (!can(connector, 'deltaImport')) {
    throw new InvalidInputError(`the ${connector.kind} connector of "${system.name}" cannot import changes only (no delta import); run a full import`);
  }

  const kept = await ctx.store.getImportWatermark(system.name);
  if (kept === undefined) {
    const why = 'no watermark is stored (no full import has completed)';
    ctx.log.info({ system: system.name, reason: why }, 'delta import not possible; running a full import');
    return fullImport(ctx, system, connector, started, onProgress, why, allow);
  }
  const next = await connector.watermark();
  const batches = new Batches(ctx, system, 'delta', onProgress, allow);
  try {
    // The store keeps what the connector wrote; it is this connector's own watermark again.
    for await (const delta of connector.importChangesSince(kept.watermark as Watermark)) {
      if (delta.kind === 'changed') await batches.changed(delta.record);
      else batches.removed(delta.anchor);
    }
  } catch (e) {
    if (!(e instanceof WatermarkError)) throw e;
    // What was applied before the refusal stays: imports are idempotent, and the full one follows.
    const why = `the stored watermark cannot be used: ${e.message}`;
    ctx.log.warn({ system: system.name, reason: why }, 'delta import not possible; running a full import');
    return fullImport(ctx, system, connector, started, onProgress, why, allow);
  }
  await batches.flush();
  await batches.removeReported();
  await ctx.store.setImportWatermark(system.name, next, ctx.now());
  return batches.finish(started, undefined);
}

async function fullImport(
  ctx: SyncContext,
  system: SystemConfig,
  connector: Importing,
  started: number,
  onProgress: (p: ImportProgress) => void,
  fallback: string | undefined,
  allowRemovals: boolean,
): Promise<ImportReport> {
  // Taken before reading, so the next delta import also reads what changes while this one runs.
  const next = can(connector, 'deltaImport') ? await connector.watermark() : undefined;
  const batches = new Batches(ctx, system, 'full', onProgress, allowRemovals);
  for await (const record of connector.importAccounts()) await batches.changed(record);
  await batches.flush();
  await batches.removeMissing();
  if (next !== undefined) await ctx.store.setImportWatermark(system.name, next, ctx.now());
  return batches.finish(started, fallback);
}

/**
 * One import run's batches: changed accounts are upserted and linked as they come; removals wait
 * for the end, where the removal threshold is checked first. A delta's removal of an account that
 * a later item of the same delta reports changed is dropped (the account is there), so deferring
 * them keeps the connector's order's outcome.
 */
class Batches {
  readonly #run = randomUUID();
  readonly #totals = { read: 0, projected: 0, joined: 0, ambiguous: 0, unmatched: 0, relinked: 0, removed: 0, unlinked: 0 };
  #changed: AccountInput[] = [];
  /** Anchors a delta reported removed and not changed again since. */
  readonly #removed = new Set<Anchor>();

  constructor(
    private readonly ctx: SyncContext,
    private readonly system: SystemConfig,
    private readonly mode: ImportMode,
    private readonly onProgress: (p: ImportProgress) => void,
    private readonly allowRemovals: boolean,
  ) {}

  async changed(record: AccountRecord): Promise<void> {
    this.#removed.delete(record.anchor);
    this.#changed.push({ anchor: record.anchor, attributes: mapAttributes(this.system, record) });
    this.#totals.read++;
    if (this.#changed.length >= this.system.import.batchSize) await this.#flushChanged();
  }

  /** Kept for the end: a change of this account earlier in the delta is written before its removal is. */
  removed(anchor: Anchor): void {
    this.#removed.add(anchor);
  }

  async flush(): Promise<void> {
    await this.#flushChanged();
  }

  /** Removes the accounts this run did not see (a full import's end), within the threshold. */
  async removeMissing(): Promise<void> {
    const { stored, notInRun } = await this.ctx.store.countAccounts(this.system.name, this.#run);
    await this.#checkThreshold(notInRun, stored);
    const at = this.ctx.now();
    await this.#recordRemoved(await this.ctx.store.removeAccountsNotIn(this.system.name, this.#run, at), at);
  }

  /** Removes the accounts a delta reported removed (a delta import's end), within the threshold. */
  async removeReported(): Promise<void> {
    const anchors = [...this.#removed];
    let known = 0;
    for (const anchor of anchors) if ((await this.ctx.store.getAccount(this.system.name, anchor)) !== undefined) known++;
    if (known === 0) return;
    await this.#checkThreshold(known, (await this.ctx.store.countAccounts(this.system.name, this.#run)).stored);
    for (let i = 0; i < anchors.length; i += this.system.import.batchSize) {
      const at = this.ctx.now();
      await this.#recordRemoved(await this.ctx.store.removeAccounts(this.system.name, anchors.slice(i, i + this.system.import.batchSize), at), at);
      this.#progress();
    }
  }

  /**
   * Stops the import (7026, RemovalThresholdError) when removing `removing` of the system's
   * `stored` accounts would pass `import.removalThreshold`: at least `count` and more than
   * `percent` %. A full import that read no account at all would remove every one: that is an empty
   * export far more often than an emptied system, so it stops too, however few they are.
   */
  async #checkThreshold(removing: number, stored: number): Promise<void> {
    const { count, percent } = this.system.import.removalThreshold;
    const empty = this.mode === 'full' && this.#totals.read === 0;
    if (this.allowRemovals || removing === 0 || (!empty && (removing < count || removing * 100 <= percent * stored))) return;
    const share = stored === 0 ? 100 : Math.round((removing * 100) / stored);
    const why = empty
      ? 'it read no account at all (an empty export?)'
      : `more than its removal threshold allows (at least ${count} and more than ${percent} %: import.removalThreshold)`;
    const message =
      `the ${this.mode} import of "${this.system.name}" would remove ${removing} of its ${stored} accounts (${share} %): ` +
      `${why}; nothing was removed. ` +
      `If the export is complete and these accounts are really gone, run "pwsync import ${this.system.name} --allow-removals"`;
    await this.ctx.store.appendEvents([{ code: EVENT.IMPORT_STOPPED, at: this.ctx.now(), system: this.system.name, message }]);
    this.ctx.log.error({ system: this.system.name, mode: this.mode, removing, stored, count, percent }, 'import stopped at the removal threshold');
    throw new RemovalThresholdError(message);
  }

  /** Writes the 7022 event and returns the report. */
  async finish(started: number, fallback: string | undefined): Promise<ImportReport> {
    const at = this.ctx.now();
    const t = this.#totals;
    const report: ImportReport = { system: this.system.name, mode: this.mode, ...(fallback === undefined ? {} : { fallback }), ...t, ms: at - started };
    const kind = fallback === undefined ? `${this.mode} import` : `full import (delta not possible: ${fallback})`;
    await this.ctx.store.appendEvents([
      {
        code: EVENT.IMPORT_COMPLETED,
        at,
        system: this.system.name,
        message: `${kind}: ${t.read} read, ${t.projected} projected, ${t.joined} joined, ${t.relinked} relinked, ${t.ambiguous} ambiguous, ${t.unmatched} unmatched, ${t.removed} removed`,
      },
    ]);
    this.ctx.log.info({ ...report }, 'import completed');
    return report;
  }

  async #flushChanged(): Promise<void> {
    if (this.#changed.length === 0) return;
    const stored = await this.ctx.store.upsertAccounts(this.system.name, this.#run, this.#changed);
    this.#changed = [];
    const linked = await linkBatch(this.ctx.store, this.system, stored, this.ctx.now());
    this.#totals.projected += linked.projected;
    this.#totals.relinked += linked.relinked;
    this.#totals.joined += linked.joined;
    this.#totals.ambiguous += linked.ambiguous;
    this.#totals.unmatched += linked.unmatched;
    this.#progress();
  }

  async #recordRemoved(gone: readonly AccountWithLink[], at: number): Promise<void> {
    const events: NewEvent[] = gone
      .filter((a) => a.personId !== null)
      .map((a) => ({ code: EVENT.ACCOUNT_UNLINKED, at, system: this.system.name, anchor: a.anchor, personId: a.personId, message: 'account no longer in its system; unlinked (its link is remembered should it come back)' }));
    this.#totals.removed += gone.length;
    this.#totals.unlinked += events.length;
    if (events.length > 0) await this.ctx.store.appendEvents(events);
  }

  #progress(): void {
    this.onProgress({ system: this.system.name, mode: this.mode, read: this.#totals.read, removed: this.#totals.removed });
  }
}

/** How an account imported on its own ended: linked before, joined, projected, ambiguous or unmatched. */
export type ArrivalLink = 'linked' | 'joined' | 'projected' | 'ambiguous' | 'unmatched';

export interface ArrivalImport {
  readonly link: ArrivalLink;
  /** Accounts of other systems that joined the person the account projected (their import came first). */
  readonly joinedBack: number;
}

/**
 * One account read from its system on its own (a change names an account the last import did not
 * see), stored and linked by the import's own rules: `import.map`, the join rules, projection. The
 * removal of missing accounts stays the full import's: nothing else of the system is touched.
 *
 * A person it projects is joined by the unlinked accounts of the other systems that their join
 * rules lead to it — what importing the other systems after this one would have linked (each such
 * account judged by all its rules, in order, as the import judges it).
 */
export async function importAccount(ctx: SyncContext, system: SystemConfig, record: AccountRecord): Promise<ArrivalImport> {
  const { store } = ctx;
  // An import running meanwhile may have stored it: then it is left as that import stamped it, or
  // the end of that import would remove it as "not seen" (its removal spares only its own stamp).
  const stored = (await store.getAccount(system.name, record.anchor)) ?? (await store.upsertAccounts(system.name, randomUUID(), [{ anchor: record.anchor, attributes: mapAttributes(system, record) }]))[0];
  if (stored === undefined) throw new Error('the store stored no account');
  if (stored.personId !== null) return { link: 'linked', joinedBack: 0 };
  const counts = await linkBatch(store, system, [stored], ctx.now());
  const link: ArrivalLink = counts.joined > 0 ? 'joined' : counts.projected > 0 ? 'projected' : counts.ambiguous > 0 ? 'ambiguous' : 'unmatched';
  if (link !== 'projected') return { link, joinedBack: 0 };
  // The projected person holds the account's attributes.
  let joinedBack = 0;
  for (const other of ctx.config.systems) {
    if (other.name === system.name || other.join.length === 0) continue;
    const candidates = new Map<number, AccountWithLink>();
    for (const rule of other.join) {
      const value = stored.attributes[rule.person];
      if (value === undefined || value === '') continue;
      for (const a of await store.findAccountsByKey(other.name, rule.account, rule.match, matchKey(value, rule.match))) if (a.personId === null) candidates.set(a.id, a);
    }
    if (candidates.size === 0) continue;
    const linked = await linkBatch(store, other, [...candidates.values()], ctx.now());
    joinedBack += linked.joined;
  }
  return { link, joinedBack };
}

/** Applies `import.map` (pwsync name → connector name); without a map, every attribute as it is. */
export function mapAttributes(system: SystemConfig, record: AccountRecord): Attributes {
  const map = system.import.map;
  if (!map) return record.attributes;
  const out: Record<string, string> = {};
  for (const [ours, theirs] of Object.entries(map)) {
    const value = record.attributes[theirs];
    if (value !== undefined) out[ours] = value;
  }
  return out;
}

interface LinkCounts {
  projected: number;
  joined: number;
  relinked: number;
  ambiguous: number;
  unmatched: number;
}

/**
 * Links a batch's unlinked accounts: an account whose link was remembered when it was removed
 * (within `import.rememberRemovedLinks`) goes back to its person; the others join or project.
 */
async function linkBatch(store: Store, system: SystemConfig, accounts: readonly AccountWithLink[], at: number): Promise<LinkCounts> {
  const counts: LinkCounts = { projected: 0, joined: 0, relinked: 0, ambiguous: 0, unmatched: 0 };
  const decisions: LinkDecision[] = [];
  const events: NewEvent[] = [];
  const unlinked = accounts.filter((a) => a.personId === null);
  const remembered =
    unlinked.length === 0
      ? new Map<Anchor, RememberedLink>()
      : new Map((await store.rememberedLinks(system.name, unlinked.map((a) => a.anchor), at - system.import.rememberRemovedLinks)).map((r) => [r.anchor, r]));
  for (const account of unlinked) {
    const back = remembered.get(account.anchor);
    if (back !== undefined) {
      decisions.push({ kind: 'restore', accountId: account.id, system: system.name, anchor: account.anchor, personId: back.personId, reason: back.reason });
      counts.relinked++;
      events.push({
        code: EVENT.ACCOUNT_RELINKED,
        at,
        system: system.name,
        anchor: account.anchor,
        personId: back.personId,
        message: `account back in its system; linked to its person again (${back.reason.kind} link remembered since its removal)`,
      });
      continue;
    }
    const found = await joinAccount(store, system, account);
    if (found.kind === 'joined') {
      decisions.push({ kind: 'join', accountId: account.id, personId: found.personId, rule: found.rule });
      counts.joined++;
    } else if (found.kind === 'ambiguous') {
      counts.ambiguous++;
      events.push({
        code: EVENT.AMBIGUOUS_JOIN,
        at,
        system: system.name,
        anchor: account.anchor,
        message: `join rule ${found.rule + 1} (${found.attribute}) matches several persons; no link made`,
      });
    } else if (projectsPersons(system)) {
      decisions.push({ kind: 'project', accountId: account.id });
      counts.projected++;
    } else {
      counts.unmatched++;
    }
  }
  if (decisions.length > 0) await store.applyLinks(decisions, at);
  if (events.length > 0) await store.appendEvents(events);
  return counts;
}

type JoinResult =
  | { readonly kind: 'joined'; readonly personId: string; readonly rule: number }
  | { readonly kind: 'ambiguous'; readonly rule: number; readonly attribute: string }
  | { readonly kind: 'none' };

/** Tries the join rules in order; the first rule that finds anyone decides. */
async function joinAccount(store: Store, system: SystemConfig, account: AccountWithLink): Promise<JoinResult> {
  for (const [index, rule] of system.join.entries()) {
    const value = account.attributes[rule.account];
    if (value === undefined || value === '') continue;
    const persons = await store.findPersonsByKey(rule.person, rule.match, matchKey(value, rule.match), 2);
    const [first] = persons;
    if (persons.length === 1 && first !== undefined) return { kind: 'joined', personId: first, rule: index };
    if (persons.length > 1) return { kind: 'ambiguous', rule: index, attribute: rule.account };
  }
  return { kind: 'none' };
}
