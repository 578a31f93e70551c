/**
 * The engine phase the connector benchmarks share (bench/ldap-sets.ts, bench/sql.ts): a runtime as
 * `pwsync server` opens it, whose target connector counts and times its setPassword calls as they
 * return, and one run of changes through `submitChanges` until the store says every job is done.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createConnector, type ConnectorFactory } from '../src/connectors/registry.ts';
import { can } from '../src/connectors/types.ts';
import { Secret } from '../src/core/secret.ts';
import { openRuntime, type Runtime } from '../src/main.ts';
import { submitChanges, type ChangeRequest } from '../src/sync/submit-change.ts';
import { instrument, progress, sleep, type CallStats } from './lib.ts';

export interface Engine {
  readonly rt: Runtime;
  /** setPassword calls of the target that returned (or threw) inside the engine, and their durations. */
  readonly sets: { done: number; failed: number; durations: number[]; lastAt: number };
  /** With --breakdown: the store's calls, counted from the start of the current phase. */
  readonly storeStats: ReadonlyMap<string, CallStats> | undefined;
}

/** Opens `configFile` with its workers and the store on its thread; `target`'s sets are counted. */
export async function openEngine(configFile: string, target: string, breakdown: boolean): Promise<Engine> {
  const sets = { done: 0, failed: 0, durations: [] as number[], lastAt: 0 };
  // Counts the deliveries' setPassword calls as they return (so the end is found without polling
  // the store throughout the run) and times them; the connector is the registry's, unchanged.
  const factory: ConnectorFactory = (system, cctx) => {
    const c = createConnector(system, cctx);
    if (system.name !== target || !can(c, 'setPassword')) return c;
    const setPassword = c.setPassword.bind(c);
    c.setPassword = async (anchor, secret, options): Promise<void> => {
      const t = performance.now();
      try {
        await setPassword(anchor, secret, options);
        sets.done++;
      } catch (e) {
        sets.failed++;
        throw e;
      } finally {
        sets.durations.push(performance.now() - t);
        sets.lastAt = performance.now();
      }
    };
    return c;
  };
  const rt = await openRuntime(configFile, { workers: true, storeThread: true, connectorFactory: factory });
  return { rt, sets, storeStats: breakdown ? instrument(rt.store) : undefined };
}

export interface EngineRun {
  readonly accepted: number;
  /** Each batch's submitChanges, call → answered. */
  readonly submitMs: readonly number[];
  /** When the first batch was submitted (performance.now()). */
  readonly startedAt: number;
  /** Jobs by state when the run ended. */
  readonly jobs: Readonly<Record<string, number>>;
  /** Changes whose job is not done at the end (0 when every one was delivered). */
  readonly notDone: number;
}

/** Resets the engine's counters for a new phase. */
export async function startPhase(engine: Engine): Promise<number> {
  engine.sets.done = 0;
  engine.sets.failed = 0;
  engine.sets.durations = [];
  for (const st of engine.storeStats?.values() ?? []) Object.assign(st, { calls: 0, ms: 0, syncMs: 0, maxMs: 0, rssRiseMiB: 0 });
  return (await engine.rt.store.counts()).jobsByState.done;
}

/**
 * Submits `requests` in batches of `batch`, one batch after another, then waits until every set has
 * returned and the store says every job is done (the outcomes are recorded in group commits after
 * the sets), at most `drainTimeoutMs`. `doneBefore` is what {@link startPhase} answered.
 */
export async function runChanges(engine: Engine, requests: readonly ChangeRequest[], batch: number, name: string, doneBefore: number, drainTimeoutMs: number): Promise<EngineRun> {
  const { rt, sets } = engine;
  const shown = progress(name);
  let accepted = 0;
  const submitMs: number[] = [];
  const startedAt = performance.now();
  for (let i = 0; i < requests.length; i += batch) {
    const t = performance.now();
    for (const o of await submitChanges(rt.ctx, requests.slice(i, i + batch))) {
      if (o.kind === 'accepted') accepted++;
      else console.error(`  change not accepted: ${o.kind}`);
    }
    submitMs.push(performance.now() - t);
  }
  const deadline = performance.now() + drainTimeoutMs;
  while (sets.done < accepted && performance.now() < deadline) {
    shown.tick(() => `${sets.done.toLocaleString('en')} of ${accepted.toLocaleString('en')} set, ${sets.failed} failed attempts`);
    await sleep(sets.done + sets.failed >= accepted ? 5 : 2);
  }
  let jobs: Record<string, number> = {};
  for (;;) {
    jobs = { ...(await rt.store.counts()).jobsByState };
    const open = (jobs['pending'] ?? 0) + (jobs['in_progress'] ?? 0) + (jobs['retry_scheduled'] ?? 0);
    if (open === 0 || performance.now() > deadline) break;
    await sleep(2);
  }
  return { accepted, submitMs, startedAt, jobs, notDone: requests.length - ((jobs['done'] ?? 0) - doneBefore) };
}

/** One change per login from the source `hr`, each with its password as a Secret (dispose them after the phase). */
export function changeRequests(logins: readonly string[], passwords: readonly string[]): { requests: ChangeRequest[]; secrets: Secret[] } {
  const secrets = passwords.map((p) => Secret.fromString(p));
  const now = Date.now();
  const requests = logins.map((login, i): ChangeRequest => ({
    sourceSystem: 'hr',
    account: { name: login },
    secret: secrets[i] ?? Secret.fromString(''),
    changedAt: now,
    origin: 'source',
    actor: 'bench',
    notificationId: randomUUID(),
  }));
  return { requests, secrets };
}
