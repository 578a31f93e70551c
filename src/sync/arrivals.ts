import { isPwsyncError, TransientError } from '../core/errors.ts';
import { EVENT } from '../core/events.ts';
import { matchKey } from '../core/join.ts';
import type { NewEvent } from '../core/model.ts';
import type { SystemConfig } from '../config/schema.ts';
import { can, type AccountQuery, type AccountRecord } from '../connectors/types.ts';
import type { SourceFound, SourceLookup } from '../store/port.ts';
import type { SyncContext } from './context.ts';
import { importAccount, mapAttributes } from './importer.ts';

/*
 * A change for an account the store does not know yet (created at the source after the last
 * import: `samba-tool user create` sets a password at once). Before the change is refused, its
 * source is asked for that one account — one lookup per account however many changes of the batch
 * name it, all of the batch's at once, under one time limit — and an account found is imported
 * and linked on the spot by the import's own rules. The change itself waits in the request (the
 * sender keeps it until it is answered): when the source cannot be asked now, it is answered
 * `retry`, never refused.
 */

/** How long the lookups of one batch may take; the agent waits 30 s for its answer by default. */
export const ARRIVAL_LOOKUP_TIMEOUT_MS = 5_000;

/** One change of a batch whose source account the store did not find. */
export interface Arrival {
  readonly source: SystemConfig;
  readonly lookup: SourceLookup;
  /** The account as the change named it. */
  readonly anchor?: string | undefined;
  readonly name?: string | undefined;
  /** How the account was named, for messages. */
  readonly described: string;
}

/** What became of an arrival: found and imported (look it up again), not at the source, or not askable now. */
export type ArrivalResult =
  | { readonly kind: 'imported'; readonly found: SourceFound }
  | { readonly kind: 'absent'; readonly why: string }
  | { readonly kind: 'retry'; readonly why: string };

/**
 * Asks the sources for the arrivals' accounts and imports those found. `undefined` in place of an
 * arrival whose source cannot look up one account (it stays unknown, as before). The events of an
 * import are written with it (it is not undone if the batch fails); the others (not found, answered
 * `retry`) go to `refusals`, committed with the batch.
 */
export async function resolveArrivals(ctx: SyncContext, arrivals: readonly Arrival[], refusals: NewEvent[]): Promise<(ArrivalResult | undefined)[]> {
  const asked = new Map<string, Promise<Looked>>();
  const deadline = timeout(ARRIVAL_LOOKUP_TIMEOUT_MS);
  try {
    const looked = arrivals.map((a) => {
      const connector = ctx.connectors.get(a.source);
      if (!can(connector, 'lookupAccount')) return Promise.resolve(undefined);
      const query = queryOf(a);
      const key = JSON.stringify([a.source.name, query.anchor ?? null, query.login?.value ?? null]);
      let pending = asked.get(key);
      if (pending === undefined) {
        pending = Promise.race([connector.lookupAccount(query), deadline.promise]).then(
          (records): Looked => ({ kind: 'read', records }),
          (e: unknown): Looked => ({ kind: 'failed', why: isPwsyncError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : 'the lookup failed' }),
        );
        asked.set(key, pending);
      }
      return pending;
    });
    const answers = await Promise.all(looked);
    // One import and one store lookup per account found, even when several changes name it.
    const imported = new Map<string, Promise<ArrivalResult>>();
    const results: (ArrivalResult | undefined)[] = [];
    for (const [i, arrival] of arrivals.entries()) {
      const answer = answers[i];
      if (answer === undefined) {
        results.push(undefined);
        continue;
      }
      if (answer.kind === 'failed') {
        const why = `its source "${arrival.source.name}" could not be asked for it now (${answer.why})`;
        refusals.push({ code: EVENT.ARRIVAL_LOOKUP_FAILED, system: arrival.source.name, message: `a change names ${arrival.described}, unknown to the store, and ${why}; answered retry: the sender keeps it` });
        results.push({ kind: 'retry', why });
        continue;
      }
      const record = choose(arrival, answer.records);
      if (record === undefined) {
        const why = answer.records.length === 0 ? `nor at the source` : `and ${answer.records.length} accounts at the source match it`;
        // Nothing was written: the event rides in the batch's commit, before the change's 7007.
        refusals.push({ code: EVENT.ARRIVAL_LOOKED_UP, system: arrival.source.name, message: `a change names ${arrival.described}, unknown to the store; looked up at the source: ${answer.records.length === 0 ? 'not found' : 'several found'}` });
        results.push({ kind: 'absent', why });
        continue;
      }
      const key = JSON.stringify([arrival.source.name, record.anchor]);
      let done = imported.get(key);
      if (done === undefined) {
        done = importFound(ctx, arrival, record);
        imported.set(key, done);
      }
      results.push(await done);
    }
    return results;
  } finally {
    deadline.cancel();
  }
}

type Looked = { readonly kind: 'read'; readonly records: readonly AccountRecord[] } | { readonly kind: 'failed'; readonly why: string };

async function importFound(ctx: SyncContext, arrival: Arrival, record: AccountRecord): Promise<ArrivalResult> {
  const system = arrival.source;
  let imported = await importAccount(ctx, system, record);
  // The store's own view of the account now: by its anchor, whatever the change named it by.
  let [found] = await ctx.store.lookupSources([{ system: system.name, anchor: record.anchor }]);
  if (found?.accounts.length === 0) {
    // A full import that ended meanwhile, without having read it, removed it: once more.
    imported = await importAccount(ctx, system, record);
    [found] = await ctx.store.lookupSources([{ system: system.name, anchor: record.anchor }]);
  }
  if (found === undefined) throw new Error('the store answered no lookup');
  const { link, joinedBack } = imported;
  const personId = found.accounts[0]?.personId ?? null;
  await ctx.store.appendEvents([
    { code: EVENT.ARRIVAL_LOOKED_UP, system: system.name, anchor: record.anchor, message: `a change names ${arrival.described}, unknown to the store; held and looked up at the source: found` },
    {
      code: EVENT.ARRIVAL_IMPORTED,
      system: system.name,
      anchor: record.anchor,
      ...(personId === null ? {} : { personId }),
      message: `imported on a change's arrival: ${link}${link === 'projected' ? `; ${joinedBack} account(s) of other systems joined the new person` : ''}`,
    },
  ]);
  ctx.log.info({ system: system.name, anchor: record.anchor, link, joinedBack }, 'unknown source account looked up and imported');
  return { kind: 'imported', found };
}

/** The query for the source: the anchor, and the login in the connector's attribute (when the import reads it). */
function queryOf(arrival: Arrival): AccountQuery {
  const source = arrival.source;
  const attribute = source.source?.accountAttribute;
  const map = source.import.map;
  const theirs = attribute === undefined ? undefined : map === undefined ? attribute : map[attribute];
  return {
    ...(arrival.anchor === undefined ? {} : { anchor: arrival.anchor }),
    ...(arrival.name === undefined || theirs === undefined ? {} : { login: { attribute: theirs, value: arrival.name } }),
  };
}

/** As the store would find it: the anchor's account first, else the one account whose login matches under `source.match`. */
function choose(arrival: Arrival, records: readonly AccountRecord[]): AccountRecord | undefined {
  const byAnchor = records.find((r) => arrival.anchor !== undefined && r.anchor === arrival.anchor);
  if (byAnchor !== undefined) return byAnchor;
  const source = arrival.source.source;
  if (arrival.name === undefined || source === undefined) return undefined;
  const key = matchKey(arrival.name, source.match);
  const byLogin = records.filter((r) => {
    const value = mapAttributes(arrival.source, r)[source.accountAttribute];
    return value !== undefined && matchKey(value, source.match) === key;
  });
  return byLogin.length === 1 ? byLogin[0] : undefined;
}

function timeout(ms: number): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransientError(`no answer within ${ms / 1000} s`)), ms);
  });
  // A rejection nobody awaits (no lookup raced it) must not be reported as unhandled.
  promise.catch(() => undefined);
  return { promise, cancel: () => clearTimeout(timer) };
}
