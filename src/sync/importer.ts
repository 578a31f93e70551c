import { randomUUID } from 'node:crypto';
import { InvalidInputError } from '../core/errors.ts';
import { matchKey } from '../core/join.ts';
import type { Attributes, NewEvent } from '../core/model.ts';
import { projectsPersons, type SystemConfig } from '../config/schema.ts';
import { systemByName } from '../config/index.ts';
import { can, type AccountRecord } from '../connectors/types.ts';
import type { AccountInput, AccountWithLink, LinkDecision, Store } from '../store/port.ts';
import type { SyncContext } from './context.ts';

export interface ImportProgress {
  readonly system: string;
  readonly read: number;
}

export interface ImportReport {
  readonly system: string;
  readonly read: number;
  readonly projected: number;
  readonly joined: number;
  readonly ambiguous: number;
  readonly unmatched: number;
  readonly removed: number;
  readonly ms: number;
}

/**
 * Streams a system's accounts into the store and links them: the first join rule that finds
 * exactly one person links; a rule that finds several links nothing (never guess) and warns;
 * an account that joins no one projects a person when its system projects. Accounts that are
 * gone from the system are removed and unlinked.
 */
export async function importSystem(
  ctx: SyncContext,
  systemName: string,
  onProgress: (p: ImportProgress) => void = () => undefined,
): Promise<ImportReport> {
  const system = systemByName(ctx.config, systemName);
  const connector = ctx.connectors.get(system);
  if (!can(connector, 'import')) throw new InvalidInputError(`the ${connector.kind} connector of "${system.name}" cannot import accounts`);

  const started = ctx.now();
  const run = randomUUID();
  const totals = { read: 0, projected: 0, joined: 0, ambiguous: 0, unmatched: 0 };
  let batch: AccountInput[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const stored = await ctx.store.upsertAccounts(system.name, run, batch);
    batch = [];
    const linked = await linkBatch(ctx.store, system, stored, ctx.now());
    totals.projected += linked.projected;
    totals.joined += linked.joined;
    totals.ambiguous += linked.ambiguous;
    totals.unmatched += linked.unmatched;
    onProgress({ system: system.name, read: totals.read });
  };

  for await (const record of connector.importAccounts()) {
    batch.push({ anchor: record.anchor, attributes: mapAttributes(system, record) });
    totals.read++;
    if (batch.length >= system.import.batchSize) await flush();
  }
  await flush();

  const at = ctx.now();
  const removed = await ctx.store.removeAccountsNotIn(system.name, run, at);
  const events: NewEvent[] = removed
    .filter((a) => a.personId !== null)
    .map((a) => ({ code: 7021, at, system: system.name, anchor: a.anchor, personId: a.personId, message: 'account no longer in its system; unlinked' }));
  const report: ImportReport = { system: system.name, ...totals, removed: removed.length, ms: at - started };
  events.push({
    code: 7022,
    at,
    system: system.name,
    message: `import: ${report.read} read, ${report.projected} projected, ${report.joined} joined, ${report.ambiguous} ambiguous, ${report.unmatched} unmatched, ${report.removed} removed`,
  });
  await ctx.store.appendEvents(events);
  ctx.log.info({ ...report }, 'import completed');
  return report;
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
  ambiguous: number;
  unmatched: number;
}

async function linkBatch(store: Store, system: SystemConfig, accounts: readonly AccountWithLink[], at: number): Promise<LinkCounts> {
  const counts: LinkCounts = { projected: 0, joined: 0, ambiguous: 0, unmatched: 0 };
  const decisions: LinkDecision[] = [];
  const events: NewEvent[] = [];
  for (const account of accounts) {
    if (account.personId !== null) continue;
    const found = await joinAccount(store, system, account);
    if (found.kind === 'joined') {
      decisions.push({ kind: 'join', accountId: account.id, personId: found.personId, rule: found.rule });
      counts.joined++;
    } else if (found.kind === 'ambiguous') {
      counts.ambiguous++;
      events.push({
        code: 7020,
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
