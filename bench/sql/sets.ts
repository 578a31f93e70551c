/**
 * The password sets of one hash format: the direct loop (sequential, in a transaction, concurrent),
 * the connector alone, and the engine (round 1 cold, round 2 steady), then the direct loop again;
 * every phase checked by verifying the stored hashes of sampled users.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initDataDirectory } from '../../src/cli/setup.ts';
import type { SqlConnector } from '../../src/connectors/sql/index.ts';
import { IMPORT } from '../../test/support/connectors/sql.ts';
import { Secret } from '../../src/core/secret.ts';
import { hashSecret, hashSpecSchema, verifySecret, type HashSpec } from '../../src/crypto/hash/index.ts';
import { openRuntime } from '../../src/main.ts';
import { importSystem } from '../../src/sync/importer.ts';
import { changeRequests, openEngine, runChanges, startPhase, type Engine, type EngineRun } from '../engine-run.ts';
import { inFlightPool, percentiles, printStats, progress, round2, seededRandom, statsTable } from '../lib.ts';
import { configText, writeSource } from './config.ts';
import { directClient, type DirectClient } from './direct-client.ts';
import { measured, phase, report, type Bench, type Phase } from './measure.ts';
import { TARGET_RATIO, usersFor } from './plan.ts';
import { loginOf } from './table.ts';

const DRAIN_TIMEOUT_MS = 300_000;

/** The sets of one format: every phase, the direct loop's rates (mean of before and after) and the ratios to them. */
export interface HashRun {
  readonly hash: string;
  readonly users: number;
  readonly phases: readonly Phase[];
  readonly direct: { readonly sequential: number; readonly concurrent: number };
  readonly ratios: Readonly<Record<string, number>>;
  readonly met: { readonly round1: boolean; readonly round2: boolean };
  readonly checksPassed: boolean;
}

const tag = randomBytes(3).toString('hex');
let phaseNumber = 0;

/** One password per user for a phase: unique per phase and user. */
function passwordsFor(users: number): string[] {
  const n = ++phaseNumber;
  return Array.from({ length: users }, (_, i) => `Sq-${tag}-${n}-${i + 1}-pW9!`);
}

/** `sample` users picked at random (seeded): the stored hash must verify with this phase's password. */
async function verify(bench: Bench, passwords: readonly string[], salt: number): Promise<{ verified: number; sampled: number }> {
  const { world, plan } = bench;
  const random = seededRandom(plan.seed * 1000 + salt);
  const sampled = Math.min(plan.sample, passwords.length);
  const picked = new Set<number>();
  while (picked.size < sampled) picked.add(Math.floor(random() * passwords.length));
  let ok = 0;
  for (const i of picked) {
    const stored = await world.storedHash(String(i + 1));
    const secret = Secret.fromString(passwords[i] ?? '');
    try {
      if (stored !== null && (await verifySecret(stored, secret))) ok++;
      else console.error(`  VERIFY FAILED: the stored hash of ${loginOf(i + 1)} does not verify with the password of this phase`);
    } finally {
      secret.dispose();
    }
  }
  return { verified: ok, sampled };
}

async function directPhase(bench: Bench, spec: HashSpec, users: number, clients: readonly DirectClient[], inFlight: number, name: string, inTransaction = false): Promise<Phase> {
  const how = inFlight === 1 ? 'one after the other on one client' : `${inFlight} in flight on ${clients.length} client${clients.length === 1 ? '' : 's'}`;
  console.log(`\n[${name}] hashSecret(${spec.format}) + ${inTransaction ? 'BEGIN, UPDATE … WHERE id = $2, COMMIT' : 'UPDATE … WHERE id = $2 (autocommit)'}, connected before the clock, ${how}`);
  const passwords = passwordsFor(users);
  const secrets = passwords.map((p) => Secret.fromString(p));
  let failed = 0;
  let done = 0;
  const shown = progress(name);
  try {
    const m = await measured(bench, name, () =>
      inFlightPool(users, inFlight, async (i, lane) => {
        try {
          const hash = await hashSecret(spec, secrets[i] ?? Secret.fromString(''));
          const changed = await (clients[lane % clients.length] as DirectClient).update(hash, i + 1, inTransaction);
          if (changed !== 1) throw new Error(`${changed} rows changed`);
          done++;
        } catch (e) {
          if (++failed <= 3) console.error(`  set failed: ${String(e)}`);
        }
        shown.tick(() => `${done.toLocaleString('en')} of ${users.toLocaleString('en')} set`);
      }),
    );
    const p: Phase = { ...phase(name, users, failed, m.result, m, await verify(bench, passwords, phaseNumber)), ...(m.profile ? { profile: m.profile } : {}) };
    report(bench.plan, p);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}

/** The connector alone: `SqlConnector.setPassword(id, …)` as the engine's deliveries call it, its connections opened before the clock. */
async function connectorPhase(bench: Bench, connector: SqlConnector, users: number, inFlight: number, name: string): Promise<Phase> {
  const { plan } = bench;
  console.log(`\n[${name}] SqlConnector.setPassword by id (hash; ${plan.dialect === 'postgres' ? 'the UPDATE, then Sync or ROLLBACK: two round trips' : 'BEGIN, the UPDATE, COMMIT'}), sql.connections ${plan.connections}, ${inFlight === 1 ? 'one after the other' : `${inFlight} in flight`}`);
  const passwords = passwordsFor(users);
  const secrets = passwords.map((p) => Secret.fromString(p));
  let failed = 0;
  let done = 0;
  const shown = progress(name);
  try {
    const m = await measured(bench, name, () =>
      inFlightPool(users, inFlight, async (i) => {
        try {
          await connector.setPassword(String(i + 1), secrets[i] ?? Secret.fromString(''), {});
          done++;
        } catch (e) {
          if (++failed <= 3) console.error(`  set failed: ${String(e)}`);
        }
        shown.tick(() => `${done.toLocaleString('en')} of ${users.toLocaleString('en')} set`);
      }),
    );
    const p: Phase = { ...phase(name, users, failed, m.result, m, await verify(bench, passwords, phaseNumber)), ...(m.profile ? { profile: m.profile } : {}) };
    report(plan, p);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}

/** The configuration for one hash format; `pwsync init` and `pwsync import` in a runtime of their own. */
async function prepareEngine(bench: Bench, format: string, users: number): Promise<string> {
  const { world, root, plan } = bench;
  const dir = join(root, `sets-${format.replace(/[^A-Za-z0-9]/g, '')}`);
  await mkdir(dir, { recursive: true });
  await writeSource(join(dir, 'people.csv'), users);
  const configFile = join(dir, 'pwsync.yaml');
  // The rows of the users only: the rest of the table is the import's.
  const query = `${IMPORT} WHERE id <= ${users}`;
  await writeFile(configFile, configText(plan, world, './people.csv', `password sets, ${format}`, { query, hash: format }));
  await initDataDirectory(configFile);
  const setup = await openRuntime(configFile, { logLevel: 'warn' });
  try {
    for (const name of ['hr', 'app']) {
      const r = await importSystem(setup.ctx, name);
      console.log(`  imported ${name}: ${r.read} accounts, ${r.projected} projected, ${r.joined} joined (${(r.ms / 1000).toFixed(1)} s)`);
      if (name === 'app' && r.joined !== users) throw new Error(`app: ${r.joined} joined, expected ${users}`);
    }
  } finally {
    await setup.close();
  }
  return configFile;
}

async function enginePhase(bench: Bench, engine: Engine, users: number, name: string, what: string): Promise<Phase> {
  const { plan } = bench;
  console.log(`\n[${name}] submitChanges in batches of ${plan.batch} → store (its thread) → ${plan.workers} workers → sql connector (${plan.connections} connections); ${what}`);
  const { sets } = engine;
  const passwords = passwordsFor(users);
  const { requests, secrets } = changeRequests(Array.from({ length: users }, (_, i) => loginOf(i + 1)), passwords);
  const doneBefore = await startPhase(engine);
  try {
    let run: EngineRun | undefined;
    const m = await measured(bench, name, async () => {
      run = await runChanges(engine, requests, plan.batch, name, doneBefore, DRAIN_TIMEOUT_MS);
      return run.notDone;
    });
    if (run === undefined) throw new Error('the engine phase did not run');
    const p: Phase = {
      ...phase(name, users, m.result, Array.from({ length: users }, (_, i) => sets.durations[i] ?? Number.POSITIVE_INFINITY), m, await verify(bench, passwords, phaseNumber)),
      latency: percentiles(sets.durations),
      submit: percentiles(run.submitMs),
      lastSetMs: round2(sets.lastAt - run.startedAt),
      jobs: run.jobs,
      ...(engine.storeStats ? { store: statsTable(engine.storeStats) } : {}),
      ...(m.profile ? { profile: m.profile } : {}),
    };
    report(plan, p);
    if (p.store) printStats(`${name}: store calls (--breakdown; "thread held" is the post to the store thread, "call→settled" until its answer)`, p.store);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}

export async function setsFor(bench: Bench, format: string): Promise<HashRun> {
  const { world, plan } = bench;
  const users = usersFor(plan, format);
  const spec: HashSpec = hashSpecSchema.parse(format);
  const params =
    format === 'argon2id'
      ? ` (m=${spec.params.memoryKiB} KiB, t=${spec.params.timeCost}, p=${spec.params.parallelism})`
      : format === 'bcrypt'
        ? ` (cost ${spec.params.bcryptCost})`
        : format.toLowerCase().includes('pbkdf2')
          ? ` (${spec.params.pbkdf2Iterations.toLocaleString('en')} iterations)`
          : '';
  console.log(`\n== password sets, ${format}${params}: ${users.toLocaleString('en')} users`);
  const configFile = await prepareEngine(bench, format, users);
  const phases: Phase[] = [];
  const clients: DirectClient[] = [];
  let engine: Engine | undefined;
  const name = (p: string): string => `${format}:${p}`;
  try {
    for (let i = 0; i < plan.clients; i++) clients.push(await directClient(world));
    const first = clients.slice(0, 1);
    // Warm-up, not counted: every row gets a hash of this format once (as later sets find it) and the code paths are compiled.
    const warm = passwordsFor(users).map((p) => Secret.fromString(p));
    await inFlightPool(users, plan.concurrency, async (i, lane) => {
      await (clients[lane % clients.length] as DirectClient).update(await hashSecret(spec, warm[i] ?? Secret.fromString('')), i + 1);
    });
    for (const s of warm) s.dispose();
    console.log('  warm-up: one direct set per user, not counted');
    phases.push(await directPhase(bench, spec, users, first, 1, name('direct-sequential')));
    phases.push(await directPhase(bench, spec, users, first, 1, name('direct-sequential-transaction'), true));
    phases.push(await directPhase(bench, spec, users, clients, plan.concurrency, name('direct-concurrent')));
    for (const inFlight of [1, plan.concurrency]) {
      const connector = world.connector({ connections: plan.connections }, { password: { sync: true, hash: format } });
      try {
        await connector.prepare();
        phases.push(await connectorPhase(bench, connector, users, inFlight, name(inFlight === 1 ? 'connector-sequential' : 'connector-concurrent')));
      } finally {
        await connector.close();
      }
    }
    engine = await openEngine(configFile, 'app', bench.breakdown);
    phases.push(await enginePhase(bench, engine, users, name('engine-round1'), "the first change of each account since the server started: the target's preparation (its connections) started at open"));
    phases.push(await enginePhase(bench, engine, users, name('engine-round2'), 'the same runtime again (steady state)'));
    await engine.rt.close();
    engine = undefined;
    phases.push(await directPhase(bench, spec, users, clients, plan.concurrency, name('direct-concurrent-again')));
    phases.push(await directPhase(bench, spec, users, first, 1, name('direct-sequential-again')));
  } finally {
    await engine?.rt.close();
    for (const c of clients) await c.close().catch(() => undefined);
  }
  const rate = (p: string): number => phases.find((x) => x.name === name(p))?.perSecond ?? Number.NaN;
  const sequential = round2((rate('direct-sequential') + rate('direct-sequential-again')) / 2);
  const concurrent = round2((rate('direct-concurrent') + rate('direct-concurrent-again')) / 2);
  const ratio = (x: number, base: number): number => Math.round((x / base) * 1000) / 1000;
  const ratios = {
    round1VsDirectSequential: ratio(rate('engine-round1'), sequential),
    round2VsDirectSequential: ratio(rate('engine-round2'), sequential),
    round1VsDirectConcurrent: ratio(rate('engine-round1'), concurrent),
    round2VsDirectConcurrent: ratio(rate('engine-round2'), concurrent),
    connectorSequentialVsDirectSequential: ratio(rate('connector-sequential'), sequential),
    directTransactionVsDirectSequential: ratio(rate('direct-sequential-transaction'), rate('direct-sequential')),
    connectorConcurrentVsDirectConcurrent: ratio(rate('connector-concurrent'), concurrent),
    round2VsConnectorConcurrent: ratio(rate('engine-round2'), rate('connector-concurrent')),
  };
  const checksPassed = phases.length === 9 && phases.every((p) => p.sets > 0 && p.failed === 0 && p.sampled > 0 && p.verified === p.sampled);
  return {
    hash: format,
    users,
    phases,
    direct: { sequential, concurrent },
    ratios,
    met: { round1: ratios.round1VsDirectSequential >= TARGET_RATIO, round2: ratios.round2VsDirectSequential >= TARGET_RATIO },
    checksPassed,
  };
}
