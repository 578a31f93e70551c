import { v7 as uuidv7 } from 'uuid';
import { InvalidInputError, isPwsyncError, ProtectedAccountError, ReplayError, TransientError, UnknownAccountError, type PwsyncError } from '../core/errors.ts';
import { matchKey } from '../core/join.ts';
import type { Anchor, ChangeOrigin, EpochMs, NewEvent, PersonId, SystemName } from '../core/model.ts';
import type { Secret } from '../core/secret.ts';
import type { AccountWithLink, CommitUnit, JobTarget, SourceFound, SourceKey, SourceLookup } from '../store/port.ts';
import { findSystem, systemByName } from '../config/index.ts';
import type { SystemConfig } from '../config/schema.ts';
import type { SyncContext } from './context.ts';
import { EVENT } from '../core/events.ts';
import { quoteUntrusted } from '../core/untrusted-text.ts';
import { resolveArrivals, type Arrival, type ArrivalResult } from './arrivals.ts';

/**
 * How a change names its source account: by anchor, by the source's account attribute (a login),
 * or by both (an AD capture sends objectGUID and sAMAccountName): the anchor first, and the name
 * when no account has that anchor (the source is imported with another anchor, say).
 */
export type AccountRef = { readonly anchor: Anchor; readonly name?: undefined } | { readonly name: string; readonly anchor?: undefined } | { readonly anchor: Anchor; readonly name: string };

export interface ChangeRequest {
  readonly sourceSystem: SystemName;
  readonly account: AccountRef;
  /** The new password. The caller keeps ownership and disposes it. */
  readonly secret: Secret;
  /** When the change was made at the source (orders changes per account). */
  readonly changedAt: EpochMs;
  readonly origin: ChangeOrigin;
  /** Who asked: an agent id, an operator, the person. For the audit trail; never a secret. */
  readonly actor: string;
  /**
   * The notification id when the change came over the network. It becomes the change id and is
   * remembered with the jobs, in one transaction, for `server.intake.replayWindow`: a replay is
   * refused and an agent's retry after a lost answer is recognised.
   */
  readonly notificationId?: string;
  /**
   * Set by a caller that checked the password before submitting it (`checkChange`): the target
   * systems where it fits, and why it is not sent to the others (7016 each). A target in a system
   * outside both (linked since the check) is not sent to either: the password was never checked
   * against its policy.
   */
  readonly sendOnlyTo?: SendOnlyTo;
}

/** Where a checked change goes: see {@link ChangeRequest.sendOnlyTo}. */
export interface SendOnlyTo {
  readonly systems: ReadonlySet<SystemName>;
  readonly withheld: ReadonlyMap<SystemName, string>;
}

/** A target a checked change was not sent to, and why (7016). */
export interface Withheld {
  readonly system: SystemName;
  readonly anchor: Anchor;
  readonly reason: string;
}

export interface ChangeReceipt {
  readonly changeId: string;
  readonly personId: PersonId;
  readonly sourceAnchor: Anchor;
  /** One job per target account, committed before this returns. */
  readonly jobs: readonly { readonly system: SystemName; readonly anchor: Anchor; readonly jobId: number }[];
  /** Targets skipped because a newer change is applied or pending there (6919). */
  readonly outOfDate: readonly { readonly system: SystemName; readonly anchor: Anchor }[];
  /** Linked accounts in systems without password sync (6921). */
  readonly notEnabled: readonly { readonly system: SystemName; readonly anchor: Anchor }[];
  /** Targets a checked change was not sent to (`sendOnlyTo`, 7016). */
  readonly withheld: readonly Withheld[];
  readonly superseded: readonly number[];
}

/** What became of one request of a batch. */
export type ChangeOutcome =
  | { readonly kind: 'accepted'; readonly receipt: ChangeReceipt }
  /** The notification id was received before: its change is already committed (or was refused as a replay). */
  | { readonly kind: 'replay'; readonly changeId: string }
  | { readonly kind: 'rejected'; readonly error: PwsyncError }
  /** Not taken now, nothing recorded of it but why: the source of its unknown account cannot be asked (7025). Send it again. */
  | { readonly kind: 'retry'; readonly message: string };

/** A request answered `retry`: its account's source could not be asked for it. */
interface Held {
  readonly held: string;
}

/** How far ahead of this server's clock a change time may be before it is refused as malformed. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

type Target = JobTarget & { readonly system: SystemName; readonly anchor: Anchor };

/** A request checked and routed, its secret sealed under the store key; not yet committed. */
interface Plan {
  readonly unit: CommitUnit;
  readonly changeId: string;
  readonly source: SystemName;
  readonly personId: PersonId;
  readonly sourceAnchor: Anchor;
  readonly targets: readonly Target[];
  readonly notEnabled: readonly { readonly system: SystemName; readonly anchor: Anchor }[];
  readonly withheld: readonly Withheld[];
  readonly log: Readonly<Record<string, unknown>>;
}

/**
 * The entry point of every change: the CLI, the network intake and (later) the web application.
 * Finds the source account and its person, then the person's other accounts, and commits one job
 * per account in a system with password sync enabled — all before it answers.
 */
export async function submitChange(ctx: SyncContext, request: ChangeRequest): Promise<ChangeReceipt> {
  const [outcome] = await submitChanges(ctx, [request]);
  if (outcome === undefined) throw new Error('submitChanges returned no outcome');
  switch (outcome.kind) {
    case 'accepted':
      return outcome.receipt;
    case 'replay':
      throw new ReplayError(`notification ${outcome.changeId} was already received`);
    case 'rejected':
      throw outcome.error;
    case 'retry':
      throw new TransientError(outcome.message);
  }
}

/**
 * What a caller owes the audit trail for a batch besides what the entry point writes itself. It is
 * committed in the batch's one transaction: a refusal is recorded if and only if the batch is.
 */
export interface BatchEvents {
  /** The caller's own refusals in this batch (the intake's stale or undecryptable notifications). */
  readonly refused?: readonly NewEvent[];
  /** The event a request refused as invalid input is recorded with (the intake's 7006); none without. */
  readonly invalid?: (request: ChangeRequest, error: InvalidInputError) => NewEvent;
}

/**
 * The caller's last word on a change once its source account is known: why no change of this
 * account is taken from this caller, or undefined. The intake's protection of a source
 * (`source.protect`) is one: it judges the account the change would really set — found by anchor
 * or by login in the store — never only the name the caller gave.
 */
export type SourceGuard = (source: SystemConfig, account: AccountWithLink) => string | undefined;

/**
 * Several changes committed in one store transaction (the intake's batches: one fsync for many
 * notifications), in order, so that a later change for the same account supersedes an earlier
 * one exactly as if they had come one by one. A request that is refused (unknown account, bad
 * input) is reported in its place and does not hold up the others; a store failure refuses all.
 *
 * Two store round trips, whatever the batch holds: one lookup of every source account, and one
 * commit that carries every event the batch owes — the caller's `owed` refusals, unknown source
 * accounts (7007), refused input, replays (7006), accounts `guard` refuses (7017) and the changes'
 * own events. A source account the store does not know costs more, once per account: its source is
 * asked for it and what is found is imported (arrivals.ts: 7023, 7024); a source that cannot be
 * asked now leaves the change answered `retry` (7025, in the commit), never refused.
 */
export async function submitChanges(ctx: SyncContext, requests: readonly ChangeRequest[], owed: BatchEvents = {}, guard?: SourceGuard): Promise<ChangeOutcome[]> {
  const now = ctx.now();
  const checked = requests.map((request): Checked | PwsyncError => {
    try {
      return check(ctx, request, now);
    } catch (e) {
      if (!isPwsyncError(e)) throw e;
      return e;
    }
  });
  // The source accounts and their persons of the whole batch in one store call: a store on its own
  // thread (or across a network) answers one round trip, not two per change.
  const valid = checked.filter((c): c is Checked => !isPwsyncError(c));
  const found = valid.length > 0 ? [...(await ctx.store.lookupSources(valid.map((c) => c.lookup)))] : [];
  const refusals: NewEvent[] = [...(owed.refused ?? [])];
  // Accounts the store does not know are asked of their source before they are refused (arrivals.ts).
  const unknown = valid.flatMap((c, i) => (found[i]?.accounts.length === 0 ? [i] : []));
  const arrived = new Map<number, ArrivalResult>();
  if (unknown.length > 0) {
    const results = await resolveArrivals(ctx, unknown.map((i) => arrivalOf(valid[i] as Checked)), refusals);
    results.forEach((r, k) => {
      const i = unknown[k];
      if (r === undefined || i === undefined) return;
      arrived.set(i, r);
      if (r.kind === 'imported') found[i] = r.found;
    });
  }
  let nextFound = 0;
  const plans = checked.map((c): Plan | PwsyncError | Held => {
    if (isPwsyncError(c)) return c;
    const index = nextFound++;
    const sources = found[index];
    if (sources === undefined) throw new Error('the store answered fewer lookups than it was asked');
    const arrival = arrived.get(index);
    if (arrival?.kind === 'retry') return { held: `${c.described} is unknown to the store and ${arrival.why}; send it again later` };
    try {
      return plan(ctx, arrival?.kind === 'absent' ? { ...c, absent: arrival.why } : c, sources, now, refusals, guard);
    } catch (e) {
      if (!isPwsyncError(e) || e.retryable) throw e;
      return e;
    }
  });
  const { invalid } = owed;
  const invalidEvents = invalid === undefined ? [] : plans.flatMap((p, i) => (p instanceof InvalidInputError && requests[i] !== undefined ? [invalid(requests[i], p)] : []));

  // Refusals first and refused input last, as when each had a write of its own; a replay's 7006
  // rides in its unit, written only if the store finds the id seen before.
  const planned = plans.filter((p): p is Plan => !isPwsyncError(p) && !('held' in p));
  const head: CommitUnit[] = refusals.length > 0 ? [{ events: refusals }] : [];
  const tail: CommitUnit[] = invalidEvents.length > 0 ? [{ events: invalidEvents }] : [];
  const units = [...head, ...planned.map((p) => p.unit), ...tail];
  const committed = units.length > 0 ? await ctx.store.commitChanges(units) : [];
  if (planned.some((p) => p.targets.length > 0)) ctx.wake();

  let next = head.length;
  return plans.map((p): ChangeOutcome => {
    if (isPwsyncError(p)) return { kind: 'rejected', error: p };
    if ('held' in p) return { kind: 'retry', message: p.held };
    const result = committed[next++];
    if (result === undefined) throw new Error('the store answered fewer units than it was given');
    if (result.kind === 'replay') return { kind: 'replay', changeId: p.changeId };
    const byAccount = new Map(p.targets.map((t) => [t.accountId, t]));
    const described = (id: number) => {
      const t = byAccount.get(id);
      return { system: t?.system ?? '', anchor: t?.anchor ?? '' };
    };
    const jobs = result.result.jobs.map((j) => ({ ...described(j.accountId), jobId: j.jobId }));
    const outOfDate = result.result.outOfDate.map(described);
    if (p.targets.length > 0) ctx.log.info({ ...p.log, jobs: jobs.length, outOfDate: outOfDate.length }, 'change accepted');
    return {
      kind: 'accepted',
      receipt: { changeId: p.changeId, personId: p.personId, sourceAnchor: p.sourceAnchor, jobs, outOfDate, notEnabled: p.notEnabled, withheld: p.withheld, superseded: result.result.superseded },
    };
  });
}

/** A request whose form is valid, with the store lookup that finds its source account. */
export interface Checked {
  readonly request: ChangeRequest;
  readonly source: SystemConfig;
  /** By anchor, by name, or by anchor and then by name when no account has the anchor. */
  readonly lookup: SourceLookup;
  /** How the account was named, for messages. */
  readonly described: string;
  /** Why the source does not have the account either, when it was asked (arrivals.ts). */
  readonly absent?: string;
}

/** An unknown account's change as its source is asked about it. */
function arrivalOf(c: Checked): Arrival {
  const { account } = c.request;
  return { source: c.source, lookup: c.lookup, anchor: account.anchor, name: account.name, described: c.described };
}

/** Checks what a request says on its own (no store read); `checkChange` looks its source up with it too. */
export function check(ctx: SyncContext, request: ChangeRequest, now: EpochMs): Checked {
  const source = systemByName(ctx.config, request.sourceSystem);
  if (!source.source) throw new InvalidInputError(`system "${source.name}" is not a source of password changes (it has no "source:" block)`);
  if (request.secret.length === 0) throw new InvalidInputError('the new password is empty');
  if (!Number.isFinite(request.changedAt) || request.changedAt <= 0) throw new InvalidInputError('the change time is not a valid time');
  if (request.changedAt > now + MAX_CLOCK_SKEW_MS) {
    throw new InvalidInputError(`the change time ${new Date(request.changedAt).toISOString()} is in the future; check the source's clock`);
  }
  const ref = request.account;
  const attribute = source.source.accountAttribute;
  const mode = source.source.match;
  const byName = (name: string): SourceKey => ({ name: attribute, mode, key: matchKey(name, mode) });
  if (ref.anchor === undefined) return { request, source, lookup: { system: source.name, ...byName(ref.name) }, described: `${attribute} ${quoteUntrusted(ref.name)}` };
  const lookup = { system: source.name, anchor: ref.anchor };
  if (ref.name === undefined) return { request, source, lookup, described: `anchor ${quoteUntrusted(ref.anchor)}` };
  return { request, source, lookup: { ...lookup, orKey: byName(ref.name) }, described: `anchor ${quoteUntrusted(ref.anchor)} or ${attribute} ${quoteUntrusted(ref.name)}` };
}

/**
 * Routes one checked request with what the store found for it. Writes nothing: the refusal events
 * it owes go to `refusals`, which the caller commits with the batch.
 */
function plan(ctx: SyncContext, checked: Checked, found: SourceFound, now: EpochMs, refusals: NewEvent[], guard: SourceGuard | undefined): Plan {
  const { request, source } = checked;
  // Time-ordered, like the agent's notification ids: a new change's id falls at the end of every
  // index keyed by change id (the changes, their events, their jobs, the sealed secrets), so a
  // commit rewrites the same few last pages instead of one page at random in each (a third less
  // written a delivery: bench/store-deliveries.ts, docs/benchmarks.md).
  const changeId = request.notificationId ?? uuidv7();
  const window = ctx.config.server.intake.replayWindow;
  // Ids are kept a little longer than the window: a replay must meet its id, or be stale.
  const notification = request.notificationId === undefined ? undefined : { id: changeId, at: now, forgetBefore: now - window - MAX_CLOCK_SKEW_MS };
  const account = sourceAccount(source, checked.described, found, refusals, checked.absent);
  const protectedBy = guard?.(source, account);
  if (protectedBy !== undefined) {
    // Named by what the store holds (its login and anchor), not by what the caller sent.
    const login = source.source?.accountAttribute === undefined ? undefined : account.attributes[source.source.accountAttribute];
    const which = `${login === undefined ? 'account' : `"${login}"`} (anchor ${account.anchor})`;
    refusals.push({ code: EVENT.ACCOUNT_PROTECTED, system: source.name, anchor: account.anchor, ...(account.personId ? { personId: account.personId } : {}), changeId, message: `${request.actor} may not change the password of ${which} in "${source.name}": ${protectedBy}; nothing delivered` });
    throw new ProtectedAccountError(`the account is protected at the server: no agent may change its password`);
  }
  const remembered: Pick<CommitUnit, 'notification' | 'onReplay'> =
    notification === undefined
      ? {}
      : { notification, onReplay: [{ code: EVENT.CHANGE_REJECTED, system: source.name, anchor: account.anchor, changeId, message: `notification ${changeId} was already received (replay refused)` }] };
  const log = { changeId, source: source.name, anchor: account.anchor, personId: account.personId, origin: request.origin, actor: request.actor };
  const nowhere = (personId: PersonId, message: string, events: NewEvent[] = []): Plan => ({
    unit: { ...remembered, events: [...events, { code: EVENT.NO_TARGETS, system: source.name, anchor: account.anchor, ...(personId ? { personId } : {}), changeId, message }] },
    changeId,
    source: source.name,
    personId,
    sourceAnchor: account.anchor,
    targets: [],
    notEnabled: [],
    withheld: [],
    log,
  });

  if (account.personId === null) return nowhere('', 'the source account is not linked to a person; nothing to deliver');
  const person = found.person;
  if (!person) throw new UnknownAccountError(`person ${account.personId} of account ${account.anchor} in ${source.name} does not exist`);

  const targets: Target[] = [];
  const notEnabled: { system: SystemName; anchor: Anchor }[] = [];
  const withheld: Withheld[] = [];
  const events: NewEvent[] = [];
  for (const other of person.accounts) {
    // Never back to where the password was born: not the source account, nor its system.
    if (other.system === source.name) continue;
    const system = findSystem(ctx.config, other.system);
    if (!system) continue; // an account left from a system no longer configured
    if (!system.password.sync) {
      notEnabled.push({ system: other.system, anchor: other.anchor });
      events.push({ code: EVENT.SYNC_NOT_ENABLED, system: other.system, anchor: other.anchor, personId: person.id, changeId, message: `password sync is not enabled on system "${other.system}"` });
      continue;
    }
    const only = request.sendOnlyTo;
    if (only !== undefined && !only.systems.has(other.system)) {
      const reason = only.withheld.get(other.system) ?? `the password was not checked against the policy of "${other.system}" (the account was linked since the check); change it again`;
      withheld.push({ system: other.system, anchor: other.anchor, reason });
      events.push({ code: EVENT.NOT_SENT, system: other.system, anchor: other.anchor, personId: person.id, changeId, message: `not sent to "${other.system}": ${reason}` });
      continue;
    }
    targets.push({ accountId: other.id, system: other.system, anchor: other.anchor });
  }
  if (targets.length === 0) return { ...nowhere(person.id, withheld.length > 0 ? 'the password fits no target of the person (7016); nothing to deliver' : 'the person has no other account with password sync enabled', events), notEnabled, withheld };

  events.unshift({
    code: EVENT.CHANGE_ACCEPTED,
    system: source.name,
    anchor: account.anchor,
    personId: person.id,
    changeId,
    message: `${request.origin} change by ${request.actor} routed to ${targets.length} account(s)`,
  });
  const change = {
    id: changeId,
    sourceSystem: source.name,
    sourceAnchor: account.anchor,
    personId: person.id,
    changedAt: request.changedAt,
    receivedAt: now,
    origin: request.origin,
    actor: request.actor,
  };
  const secret = ctx.keyring.seal(request.secret, changeId);
  return {
    unit: { ...remembered, change: { change, secret, targets }, events },
    changeId,
    source: source.name,
    personId: person.id,
    sourceAnchor: account.anchor,
    targets,
    notEnabled,
    withheld,
    log,
  };
}

/** The one account a lookup found; none or several is the source's unknown account (7007). */
function sourceAccount(system: SystemConfig, described: string, found: SourceFound, refusals: NewEvent[], absent: string | undefined): AccountWithLink {
  const systemName = system.name;
  const [first, ...rest] = found.accounts;
  if (!first) {
    // Asked, the source did not have it either; not asked (it cannot look up one account), an import may bring it.
    const hint = absent === undefined ? `; run "pwsync import ${systemName}" if it is new` : ` (looked up at the source: ${absent})`;
    refusals.push({ code: EVENT.UNKNOWN_SOURCE_ACCOUNT, system: systemName, message: `no account with ${described} in system "${systemName}"${hint}` });
    throw new UnknownAccountError(`no account with ${described} in system "${systemName}"${absent === undefined ? '' : `, ${absent}`}`);
  }
  if (rest.length > 0) {
    refusals.push({ code: EVENT.UNKNOWN_SOURCE_ACCOUNT, system: systemName, message: `${found.accounts.length} accounts have ${described} in system "${systemName}"; the change cannot say which one` });
    throw new UnknownAccountError(`${found.accounts.length} accounts have ${described} in system "${systemName}"; name the account by its anchor`);
  }
  return first;
}
