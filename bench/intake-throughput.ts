/**
 * Changes accepted durably per second at the server's intake, beside the core entry point alone.
 *
 *   node --import tsx bench/intake-throughput.ts [--accounts 2000] [--notifications 20000]
 *        [--batch 200] [--concurrency 4] [--single 4000] [--seed 1] [--profile] [--json FILE] [--keep]
 *
 * Intake: the real server (`pwsync server`, its own process) with its HTTPS mTLS intake and its
 * delivery workers running. This process, holding the agent's client certificate, POSTs batches of
 * notifications whose passwords were JWE-encrypted before the clock started, `--concurrency`
 * requests in flight at once, and counts the notifications the server answered `accepted` (HTTP
 * 202: committed). Throughput is accepted notifications over the wall clock from the first send to
 * the last answer. The encryption (which the agent pays) is timed apart, and so is the server's
 * decryption. Afterwards every account of the target file must hold its last password.
 *
 * Core: in this process, each time on a fresh copy of the store as imported, with the store on its
 * own thread as the server has it, the same changes through `submitChanges` in batches of the same size and the same concurrency, with the delivery
 * workers running (as in the server) and without them (the entry point alone; a server delivers
 * the jobs afterwards, so that the target file is checked all the same); then the first `--single`
 * of them through `submitChange`, one at a time, with the workers running.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { decryptCompact, encryptCompact } from '../src/crypto/jwe.ts';
import { Agent as Dispatcher, request } from 'undici';
import { Secret } from '../src/core/secret.ts';
import { openRuntime } from '../src/main.ts';
import { loadJwePrivateKey, loadJwePublicKey } from '../src/pki/jwe-key.ts';
import { jweBinding, NOTIFICATIONS_PATH, responseSchema, type Notification } from '../src/protocol/notifications.ts';
import { submitChange, submitChanges, type ChangeRequest } from '../src/sync/submit-change.ts';
import { buildInstallation, jobsByState, restoreStore, snapshotStore, SOURCE, startServer, unfinishedJobs, verifyTarget, type Installation } from './installation.ts';
import { describeMachine, formatPercentiles, intOption, percentiles, permutation, printMachine, progress, round2, seededRandom, sleep, writeJson, type Percentiles } from './lib.ts';
import { printProfile, summarizeProfileDir, type ProfileSummary } from './profile.ts';

/** Target (from the issue): at least 2,000 changes accepted durably per second on 2 cores, batched. */
const TARGET_PER_SECOND = 2000;
const DRAIN_TIMEOUT_MS = 180_000;

const { values: args } = parseArgs({
  options: {
    accounts: { type: 'string', default: '2000' },
    notifications: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '4' },
    single: { type: 'string', default: '4000' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const int = intOption;
const plan = {
  accounts: int('accounts', args.accounts, 10),
  notifications: int('notifications', args.notifications, 1),
  batch: int('batch', args.batch, 1),
  concurrency: int('concurrency', args.concurrency, 1),
  single: int('single', args.single, 0),
  seed: int('seed', args.seed, 0),
};

interface Change {
  readonly person: number;
  readonly login: string;
  readonly password: string;
  readonly changedAt: number;
}

interface Phase {
  readonly name: string;
  readonly changes: number;
  readonly accepted: number;
  readonly wallMs: number;
  readonly perSecond: number;
  /** Per request (intake) or per call (core): until its answer. */
  readonly callLatency: Percentiles;
  readonly cpu: Record<string, number>;
  readonly jobsAtEnd: Record<string, number>;
  readonly drainMs: number;
  readonly jobsAfterDrain: Record<string, number>;
  readonly verified: number;
  readonly met?: boolean;
}

const root = await mkdtemp(join(tmpdir(), 'pwsync-bench-intake-'));
const machine = describeMachine(root);

/** Change k goes to person order[k % accounts]: a batch never holds one account twice (batch ≤ accounts). */
function changes(people: Installation['people']): Change[] {
  const random = seededRandom(plan.seed + 1);
  const order = permutation(plan.accounts, random);
  const base = Date.now() - 60_000;
  return Array.from({ length: plan.notifications }, (_, k) => {
    const person = order[k % plan.accounts] ?? 0;
    return { person, login: people[person]?.login ?? '', password: `bench-${k}-${Math.floor(random() * 2 ** 32).toString(36)}`, changedAt: base + k };
  });
}

function lastPasswords(list: readonly Change[]): Map<number, string> {
  return new Map(list.map((c) => [c.person, c.password]));
}

function batches<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += plan.batch) out.push(list.slice(i, i + plan.batch));
  return out;
}

/** Runs `work(i)` for i = 0…n-1 with `concurrency` in flight; returns each call's duration (ms). */
async function concurrently(n: number, work: (i: number) => Promise<void>, label: string, status: () => string): Promise<number[]> {
  const durations: number[] = [];
  const shown = progress(label, 3000);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(plan.concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await work(i);
        durations.push(performance.now() - t);
        shown.tick(status);
      }
    }),
  );
  return durations;
}

async function drain(jobs: () => Promise<Record<string, number>>): Promise<{ ms: number; jobs: Record<string, number> }> {
  const t = performance.now();
  const shown = progress('draining the jobs', 5000);
  for (;;) {
    const now = await jobs();
    if (unfinishedJobs(now) === 0 || performance.now() - t > DRAIN_TIMEOUT_MS) return { ms: round2(performance.now() - t), jobs: now };
    shown.tick(() => `${unfinishedJobs(now)} jobs still to deliver`);
    await sleep(100);
  }
}

async function encryptAll(inst: Installation, list: readonly Change[]): Promise<{ notifications: Notification[]; ms: number; cpuMs: number }> {
  const key = await loadJwePublicKey(inst.agentFiles.serverKey);
  const capturedAt = Date.now();
  const cpu = process.cpuUsage();
  const t = performance.now();
  const out: Notification[] = [];
  for (const c of list) {
    const id = randomUUID();
    // The agent's own call (src/agent/sender.ts).
    const envelope = { id, source: SOURCE, account: c.login, changedAt: c.changedAt, capturedAt };
    const password = encryptCompact(Buffer.from(c.password), key, jweBinding(envelope));
    out.push({ ...envelope, password });
  }
  const used = process.cpuUsage(cpu);
  return { notifications: out, ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000 };
}

/** What the intake pays per notification to open its password (the same call as the intake's). */
async function decryptCost(inst: Installation, sample: readonly Notification[]): Promise<number> {
  const { key } = await loadJwePrivateKey(inst.serverJweKey);
  const t = performance.now();
  for (const n of sample) {
    const { plaintext } = decryptCompact(n.password, key);
    plaintext.fill(0);
  }
  return (performance.now() - t) / Math.max(1, sample.length);
}

async function intakeRun(inst: Installation, list: readonly Change[], bodies: readonly string[], warmup: string): Promise<Phase & { profile?: ProfileSummary }> {
  console.log(`\n[intake] pwsync server (its own process), ${bodies.length} requests of ${plan.batch}, ${plan.concurrency} in flight`);
  const profileDir = join(root, 'profile');
  const server = await startServer(inst, args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []);
  const [ca, cert, key] = await Promise.all([readFile(inst.agentFiles.ca), readFile(inst.agentFiles.cert), readFile(inst.agentFiles.key)]);
  const dispatcher = new Dispatcher({ connect: { ca, cert, key, rejectUnauthorized: true }, connections: plan.concurrency, keepAliveTimeout: 60_000 });
  const url = new URL(NOTIFICATIONS_PATH, inst.url);
  let accepted = 0;
  let other = 0;
  const post = async (body: string): Promise<void> => {
    const r = await request(url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body });
    const text = await r.body.text();
    const parsed = responseSchema.safeParse(JSON.parse(text));
    if (r.statusCode !== 202 || !parsed.success) {
      other++;
      if (other <= 3) console.error(`  HTTP ${r.statusCode}: ${text.slice(0, 300)}`);
      return;
    }
    for (const x of parsed.data.results) if (x.status === 'accepted') accepted++;
  };
  try {
    // Warm-up, not counted: the connections' TLS handshakes and the server's first batch.
    await Promise.all(Array.from({ length: plan.concurrency }, () => request(new URL('/healthz', inst.url), { dispatcher }).then((r) => r.body.text())));
    await post(warmup);
    accepted = 0;
    const serverCpu0 = await server.cpuSeconds();
    const benchCpu0 = process.cpuUsage();
    const t0 = performance.now();
    const durations = await concurrently(bodies.length, (i) => post(bodies[i] ?? ''), 'intake', () => `${accepted.toLocaleString('en')} accepted`);
    const wallMs = performance.now() - t0;
    const serverCpu = (await server.cpuSeconds()) - serverCpu0;
    const benchCpu = process.cpuUsage(benchCpu0);
    const jobsAtEnd = jobsByState(inst);
    const drained = await drain(() => Promise.resolve(jobsByState(inst)));
    await server.stop();
    const profile = args.profile ? await summarizeProfileDir(profileDir) : undefined;
    const verified = await verifyTarget(inst, lastPasswords(list));
    const perSecond = round2(accepted / (wallMs / 1000));
    return {
      name: 'intake',
      changes: list.length,
      accepted,
      wallMs: round2(wallMs),
      perSecond,
      callLatency: percentiles(durations),
      cpu: { serverSeconds: round2(serverCpu), serverMsPerChange: round2((serverCpu * 1000) / Math.max(1, accepted)), serverCores: round2(serverCpu / (wallMs / 1000)), loadGeneratorSeconds: round2((benchCpu.user + benchCpu.system) / 1e6) },
      jobsAtEnd,
      drainMs: drained.ms,
      jobsAfterDrain: drained.jobs,
      verified,
      met: perSecond >= TARGET_PER_SECOND && other === 0 && accepted === list.length,
      ...(profile ? { profile } : {}),
    };
  } finally {
    await dispatcher.close();
    await server.stop();
  }
}

/** The same changes through the core entry point, in this process, on a fresh copy of the imported store. */
async function coreRun(inst: Installation, list: readonly Change[], mode: 'batched' | 'single', workers: boolean, snapshot: string): Promise<Phase> {
  const how = mode === 'batched' ? `submitChanges, batches of ${plan.batch}, ${plan.concurrency} in flight` : 'submitChange, one at a time';
  console.log(`\n[core, ${mode}${workers ? '' : ', no workers'}] ${how}, ${list.length.toLocaleString('en')} changes; ${workers ? 'the delivery workers running' : 'no delivery workers (delivered afterwards)'}`);
  await restoreStore(inst, snapshot);
  // The store as `pwsync server` has it, on its own thread.
  const rt = await openRuntime(inst.serverConfig, { workers, storeThread: true });
  const request = (c: Change, secret: Secret): ChangeRequest => ({ sourceSystem: SOURCE, account: { name: c.login }, secret, changedAt: c.changedAt, origin: 'source', actor: 'bench', notificationId: randomUUID() });
  // Made before the clock: the intake's counterpart is the decryption, timed apart.
  const secrets = list.map((c) => Secret.fromString(c.password));
  let accepted = 0;
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let durations: number[];
    if (mode === 'batched') {
      const groups = batches(list.map((c, i) => request(c, secrets[i] ?? Secret.fromString(c.password))));
      durations = await concurrently(groups.length, async (i) => {
        for (const o of await submitChanges(rt.ctx, groups[i] ?? [])) if (o.kind === 'accepted') accepted++;
      }, 'core', () => `${accepted.toLocaleString('en')} accepted`);
    } else {
      durations = [];
      const shown = progress('core', 3000);
      for (const [i, c] of list.entries()) {
        const t = performance.now();
        await submitChange(rt.ctx, request(c, secrets[i] ?? Secret.fromString(c.password)));
        durations.push(performance.now() - t);
        accepted++;
        shown.tick(() => `${accepted.toLocaleString('en')} accepted`);
      }
    }
    const wallMs = performance.now() - t0;
    const used = process.cpuUsage(cpu0);
    const counts = async (): Promise<Record<string, number>> => ({ ...(await rt.store.counts()).jobsByState });
    const jobsAtEnd = await counts();
    let drained: { ms: number; jobs: Record<string, number> };
    if (workers) drained = await drain(counts);
    else {
      await rt.close();
      // Delivered by a server afterwards, so that the target file can be checked like the others'.
      const server = await startServer(inst);
      drained = await drain(() => Promise.resolve(jobsByState(inst)));
      await server.stop();
    }
    await rt.close();
    const verified = await verifyTarget(inst, lastPasswords(list));
    return {
      name: `core-${mode}${workers ? '' : '-no-workers'}`,
      changes: list.length,
      accepted,
      wallMs: round2(wallMs),
      perSecond: round2(accepted / (wallMs / 1000)),
      callLatency: percentiles(durations),
      cpu: { processSeconds: round2((used.user + used.system) / 1e6), msPerChange: round2((used.user + used.system) / 1000 / Math.max(1, accepted)) },
      jobsAtEnd,
      drainMs: drained.ms,
      jobsAfterDrain: drained.jobs,
      verified,
    };
  } finally {
    for (const s of secrets) s.dispose();
    await rt.close();
  }
}

function report(p: Phase): void {
  console.log(`  ${p.accepted.toLocaleString('en')} of ${p.changes.toLocaleString('en')} accepted in ${(p.wallMs / 1000).toFixed(2)} s: ${p.perSecond.toLocaleString('en')} changes/s`);
  console.log(`  per ${p.name === 'intake' ? 'request' : 'call'}: ${formatPercentiles(p.callLatency)}`);
  console.log(`  CPU: ${Object.entries(p.cpu).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`  jobs when the last answer came: ${JSON.stringify(p.jobsAtEnd)}; all delivered ${(p.drainMs / 1000).toFixed(1)} s later: ${JSON.stringify(p.jobsAfterDrain)}`);
  console.log(`  ${p.verified.toLocaleString('en')} of ${Math.min(plan.accounts, p.changes).toLocaleString('en')} accounts hold their last password in the target file`);
}

async function main(): Promise<void> {
  printMachine(machine);
  console.log(`intake-throughput: ${plan.notifications.toLocaleString('en')} notifications over ${plan.accounts.toLocaleString('en')} accounts, batches of ${plan.batch}, ${plan.concurrency} requests in flight, {SSHA512} file target`);
  const phases: Phase[] = [];
  let encryption: Record<string, number> = {};
  let profile: ProfileSummary | undefined;
  try {
    const t = performance.now();
    const inst = await buildInstallation(join(root, 'install'), { accounts: plan.accounts, seed: plan.seed });
    console.log(`  installation built through the CLI in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const snapshot = join(root, 'imported.db');
    await snapshotStore(inst, snapshot);
    const people = inst.people;
    const warmupChanges = changes(people).slice(0, plan.batch).map((c) => ({ ...c, changedAt: c.changedAt - 30_000, password: `${c.password}-warmup` }));
    const list = changes(people);
    const sealed = await encryptAll(inst, [...warmupChanges, ...list]);
    const perChange = sealed.ms / sealed.notifications.length;
    const decryptMs = await decryptCost(inst, sealed.notifications.slice(0, 2000));
    const ms3 = (x: number): number => Math.round(x * 1000) / 1000;
    encryption = { encryptMsPerChange: ms3(perChange), encryptPerSecondOneThread: Math.round(1000 / perChange), encryptCpuMsPerChange: ms3(sealed.cpuMs / sealed.notifications.length), decryptMsPerChange: ms3(decryptMs) };
    console.log(`  JWE encryption (the agent's cost), before the clock: ${encryption['encryptMsPerChange']} ms a notification, ${encryption['encryptPerSecondOneThread']}/s on one thread`);
    console.log(`  JWE decryption (the intake's cost, same call), timed here on 2,000: ${encryption['decryptMsPerChange']} ms a notification`);
    const warmup = JSON.stringify({ notifications: sealed.notifications.slice(0, plan.batch) });
    const bodies = batches(sealed.notifications.slice(plan.batch)).map((n) => JSON.stringify({ notifications: n }));

    const intake = await intakeRun(inst, list, bodies, warmup);
    const { profile: p, ...intakePhase } = intake;
    profile = p;
    phases.push(intakePhase);
    report(intakePhase);
    if (profile) printProfile('server CPU profile', profile);
    const runs = [
      ['batched', true, list],
      ['batched', false, list],
      ['single', true, list.slice(0, plan.single)],
    ] as const;
    for (const [mode, workers, some] of runs) {
      if (some.length === 0) continue;
      const core = await coreRun(inst, some, mode, workers, snapshot);
      phases.push(core);
      report(core);
    }
  } finally {
    if (args.keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
  const intake = phases.find((x) => x.name === 'intake');
  const checksPassed = phases.length >= 3 && phases.every((x) => x.accepted === x.changes && x.verified === Math.min(plan.accounts, x.changes) && unfinishedJobs(x.jobsAfterDrain) === 0);
  console.log(`\nintake-throughput summary (${plan.notifications.toLocaleString('en')} notifications, batches of ${plan.batch}, ${plan.concurrency} in flight):`);
  for (const x of phases) console.log(`  ${x.name.padEnd(12)} ${x.perSecond.toLocaleString('en').padStart(8)} changes/s`);
  console.log(`  target ≥ ${TARGET_PER_SECOND}/s at the intake: ${intake?.met === true ? 'met' : 'MISSED'}`);
  if (!checksPassed) {
    console.log('  CHECK FAILED: a change was not accepted, a job was not delivered, or an account does not hold its last password');
    process.exitCode = 1;
  }
  if (args.json !== undefined) await writeJson(args.json, { benchmark: 'intake-throughput', machine, plan, encryption, phases, profile, targets: { perSecond: TARGET_PER_SECOND }, met: intake?.met ?? false, checksPassed });
}

await main();
