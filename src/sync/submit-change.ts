import { randomUUID } from 'node:crypto';
import { InvalidInputError, UnknownAccountError } from '../core/errors.ts';
import { matchKey } from '../core/join.ts';
import type { Anchor, ChangeOrigin, EpochMs, NewEvent, PersonId, SystemName } from '../core/model.ts';
import type { Secret } from '../core/secret.ts';
import type { AccountWithLink, JobTarget } from '../store/port.ts';
import { systemByName } from '../config/index.ts';
import type { SystemConfig } from '../config/schema.ts';
import { findSystem, type SyncContext } from './context.ts';

/** How a change names its source account: by anchor, or by the source's account attribute (a login). */
export type AccountRef = { readonly anchor: Anchor } | { readonly name: string };

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
  /** The notification id when the change came over the network (replays are refused). */
  readonly notificationId?: string;
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
  readonly superseded: readonly number[];
}

/** How far ahead of this server's clock a change time may be before it is refused as malformed. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** How long a notification id is remembered to refuse replays. */
const REPLAY_WINDOW_MS = 7 * 86_400_000;

/**
 * The entry point of every change: the CLI now, the network intake and the web application later.
 * Finds the source account and its person, then the person's other accounts, and commits one job
 * per account in a system with password sync enabled — all before it answers.
 */
export async function submitChange(ctx: SyncContext, request: ChangeRequest): Promise<ChangeReceipt> {
  const now = ctx.now();
  const source = systemByName(ctx.config, request.sourceSystem);
  if (!source.source) throw new InvalidInputError(`system "${source.name}" is not a source of password changes (it has no "source:" block)`);
  if (request.secret.length === 0) throw new InvalidInputError('the new password is empty');
  if (!Number.isFinite(request.changedAt) || request.changedAt <= 0) throw new InvalidInputError('the change time is not a valid time');
  if (request.changedAt > now + MAX_CLOCK_SKEW_MS) {
    throw new InvalidInputError(`the change time ${new Date(request.changedAt).toISOString()} is in the future; check the source's clock`);
  }

  const changeId = request.notificationId ?? randomUUID();
  if (request.notificationId !== undefined) {
    const fresh = await ctx.store.rememberNotification(request.notificationId, now, now - REPLAY_WINDOW_MS);
    if (!fresh) {
      await ctx.store.appendEvents([{ code: 7006, system: source.name, changeId, message: `notification ${changeId} was already received (replay refused)` }]);
      throw new InvalidInputError(`notification ${changeId} was already received`);
    }
  }

  const account = await findSourceAccount(ctx, source, request.account);
  if (account.personId === null) {
    await ctx.store.appendEvents([{ code: 7009, system: source.name, anchor: account.anchor, changeId, message: 'the source account is not linked to a person; nothing to deliver' }]);
    return { changeId, personId: '', sourceAnchor: account.anchor, jobs: [], outOfDate: [], notEnabled: [], superseded: [] };
  }
  const person = await ctx.store.getPerson(account.personId);
  if (!person) throw new UnknownAccountError(`person ${account.personId} of account ${account.anchor} in ${source.name} does not exist`);

  const targets: (JobTarget & { system: SystemName; anchor: Anchor })[] = [];
  const notEnabled: { system: SystemName; anchor: Anchor }[] = [];
  const events: NewEvent[] = [];
  for (const other of person.accounts) {
    // Never back to where the password was born: not the source account, nor its system.
    if (other.system === source.name) continue;
    const system = findSystem(ctx.config, other.system);
    if (!system) continue; // an account left from a system no longer configured
    if (!system.password.sync) {
      notEnabled.push({ system: other.system, anchor: other.anchor });
      events.push({ code: 6921, system: other.system, anchor: other.anchor, personId: person.id, changeId, message: `password sync is not enabled on system "${other.system}"` });
      continue;
    }
    targets.push({ accountId: other.id, system: other.system, anchor: other.anchor });
  }

  if (targets.length === 0) {
    events.push({ code: 7009, system: source.name, anchor: account.anchor, personId: person.id, changeId, message: 'the person has no other account with password sync enabled' });
    await ctx.store.appendEvents(events);
    return { changeId, personId: person.id, sourceAnchor: account.anchor, jobs: [], outOfDate: [], notEnabled, superseded: [] };
  }

  events.unshift({
    code: 7001,
    system: source.name,
    anchor: account.anchor,
    personId: person.id,
    changeId,
    message: `${request.origin} change by ${request.actor} routed to ${targets.length} account(s)`,
  });
  const sealed = ctx.keyring.seal(request.secret, changeId);
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
  const result = await ctx.store.commitChange(change, sealed, targets, events);
  ctx.wake();

  const byAccount = new Map(targets.map((t) => [t.accountId, t]));
  const jobs = result.jobs.map((j) => {
    const t = byAccount.get(j.accountId);
    return { system: t?.system ?? '', anchor: t?.anchor ?? '', jobId: j.jobId };
  });
  const outOfDate = result.outOfDate.map((id) => {
    const t = byAccount.get(id);
    return { system: t?.system ?? '', anchor: t?.anchor ?? '' };
  });
  ctx.log.info({ changeId, source: source.name, anchor: account.anchor, personId: person.id, jobs: jobs.length, outOfDate: outOfDate.length, origin: request.origin, actor: request.actor }, 'change accepted');
  return { changeId, personId: person.id, sourceAnchor: account.anchor, jobs, outOfDate, notEnabled, superseded: result.superseded };
}

async function findSourceAccount(ctx: SyncContext, system: SystemConfig, ref: AccountRef): Promise<AccountWithLink> {
  const systemName = system.name;
  let found: readonly AccountWithLink[];
  let described: string;
  if ('anchor' in ref) {
    const account = await ctx.store.getAccount(systemName, ref.anchor);
    found = account ? [account] : [];
    described = `anchor "${ref.anchor}"`;
  } else {
    const attribute = system.source?.accountAttribute ?? '';
    const mode = system.source?.match ?? 'caseInsensitive';
    found = await ctx.store.findAccountsByKey(systemName, attribute, mode, matchKey(ref.name, mode));
    described = `${attribute} "${ref.name}"`;
  }
  const [first, ...rest] = found;
  if (!first) {
    await ctx.store.appendEvents([{ code: 7007, system: systemName, message: `no account with ${described} in system "${systemName}"; run "pwsync import ${systemName}" if it is new` }]);
    throw new UnknownAccountError(`no account with ${described} in system "${systemName}"`);
  }
  if (rest.length > 0) {
    throw new UnknownAccountError(`${found.length} accounts have ${described} in system "${systemName}"; name the account by its anchor`);
  }
  return first;
}
