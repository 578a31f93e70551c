/**
 * End-to-end latency of a password change through the agent and the server: from the capture
 * hook's call (`sendCapture` on the agent's Unix socket) to the moment the target file holds the
 * new hash, for changes captured open-loop at a fixed rate. The core entry point's figure for the
 * same case is bench/change-latency.ts (`--mode engine`), run beside it by `npm run bench:intake`.
 *
 *   node --import tsx bench/capture-latency.ts [--accounts 10000] [--changes 6000] [--rate 200]
 *        [--seed 1] [--profile] [--json FILE] [--keep]
 *
 * The installation is built through the CLI (bench/installation.ts); `pwsync server` and
 * `pwsync agent` run as their own processes with their default settings. Change k (a unique
 * password) is for person k of a shuffled order, so with more accounts than changes every change
 * is for another account; it is sent at start + k/rate whatever became of the ones before, each
 * on a connection of its own, as a hook would. Latency runs from that scheduled time to the job's
 * `ended_at` in the server's store: the server's `Date.now()` taken right after the file
 * connector's `setPassword` returned (the new file renamed into place, its directory synced) —
 * the moment bench/change-latency.ts takes with its probe. Both clocks are this machine's.
 * Afterwards every changed account must hold its last password in the target file.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sendCapture } from '../src/agent/capture/client.ts';
import { Secret } from '../src/core/secret.ts';
import { allJobs, buildInstallation, jobsByState, startAgent, startServer, verifyTarget, type CliProcess, type Installation, type JobRow } from './installation.ts';
import { printProfile, summarizeProfileDir, type ProfileSummary } from './profile.ts';
import { describeMachine, formatPercentiles, intOption, ms, percentiles, permutation, printMachine, progress, round2, seededRandom, sleep, writeJson, type Percentiles } from './lib.ts';

/** Target (from the issue): p99 under 300 ms from the capture hook to the last target written, at 200 changes/s. */
const TARGET_P99_MS = 300;
const DRAIN_TIMEOUT_MS = 120_000;
const WARMUP = 50;

const { values: args } = parseArgs({
  options: {
    accounts: { type: 'string', default: '10000' },
    changes: { type: 'string', default: '6000' },
    rate: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const int = intOption;
const plan = { accounts: int('accounts', args.accounts, 10), changes: int('changes', args.changes, 1), rate: int('rate', args.rate, 1), seed: int('seed', args.seed, 0) };

interface Capture {
  readonly person: number;
  readonly password: string;
  /** Epoch ms (fractional): when the schedule says it is captured. */
  intended: number;
  called: number;
  answered: number;
  id: string | undefined;
  error: string | undefined;
}

const root = await mkdtemp(join(tmpdir(), 'pwsync-bench-capture-'));
const machine = describeMachine(root);
const epochNow = (): number => performance.timeOrigin + performance.now();

function captures(): { run: Capture[]; warmup: Capture[] } {
  const random = seededRandom(plan.seed + 1);
  const order = permutation(plan.accounts, random);
  const make = (k: number, tag: string): Capture => ({
    person: order[k % plan.accounts] ?? 0,
    password: `${tag}-${k}-${Math.floor(random() * 2 ** 32).toString(36)}`,
    intended: 0,
    called: 0,
    answered: 0,
    id: undefined,
    error: undefined,
  });
  const run = Array.from({ length: plan.changes }, (_, k) => make(k, 'bench'));
  // Warm-up captures use accounts the run does not, when there are any; the run's own changes come later anyway.
  const warmup = Array.from({ length: WARMUP }, (_, k) => make(plan.changes + k, 'warmup'));
  return { run, warmup };
}

function capture(inst: Installation, c: Capture): Promise<void> {
  c.called = epochNow();
  const secret = Secret.fromString(c.password);
  return sendCapture(inst.socketPath, { account: inst.people[c.person]?.login ?? '', secret })
    .then((answer) => {
      c.answered = epochNow();
      if (answer.ok && answer.status === 'queued') c.id = answer.id;
      else c.error = JSON.stringify(answer);
    })
    .catch((e: unknown) => {
      c.error = e instanceof Error ? e.message : String(e);
    })
    .finally(() => secret.dispose());
}

/** Waits until every job of `ids` has ended, polling the store (only after the sends: no reads during the run). */
async function delivered(inst: Installation, ids: ReadonlySet<string>, label: string): Promise<Map<string, JobRow>> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  const shown = progress(label, 5000);
  for (;;) {
    const jobs = new Map(allJobs(inst).filter((j) => ids.has(j.changeId)).map((j) => [j.changeId, j]));
    const ended = [...jobs.values()].filter((j) => j.endedAt !== null).length;
    if (ended >= ids.size || performance.now() > deadline) return jobs;
    shown.tick(() => `${ended.toLocaleString('en')} of ${ids.size.toLocaleString('en')} written`);
    await sleep(250);
  }
}

interface Result {
  readonly sent: number;
  readonly queued: number;
  readonly failed: number;
  readonly written: number;
  readonly latency: Percentiles;
  readonly latencyFromCall: Percentiles;
  readonly parts: { readonly captureAnswer: Percentiles; readonly agentToServer: Percentiles; readonly serverToWritten: Percentiles };
  readonly sendLagMaxMs: number;
  readonly achievedSendRate: number;
  readonly throughput: number;
  readonly jobs: Record<string, number>;
  readonly cpu: { readonly serverSeconds: number; readonly agentSeconds: number; readonly benchSeconds: number; readonly wallSeconds: number };
  readonly slowestBySecond: readonly number[];
  readonly verified: number;
  readonly rounds: Rounds;
}

interface Rounds {
  readonly requests: number;
  readonly batchSize: Percentiles;
  /** The agent's side of a round, per notification: from the answer to the previous request until the server's handler starts (peek, seal, send). */
  readonly agentMsPerNotification: number;
  /** The intake's handler (decrypt, check, commit), per notification. */
  readonly serverMsPerNotification: number;
  readonly agentPart: Percentiles;
  readonly serverPart: Percentiles;
}

/**
 * The delivery rounds, from the lines both programs log anyway: the agent's "batch delivered"
 * (after each answer) and the intake's "notifications received" (its handler's time, `ms`).
 * Request i of the run is paired with the agent's round i; both logs have millisecond times.
 */
async function rounds(inst: Installation, fromEpoch: number): Promise<Rounds> {
  const lines = async (file: string, msg: string): Promise<Record<string, unknown>[]> =>
    (await readFile(join(inst.dir, file), 'utf8'))
      .split('\n')
      .filter((l) => l.includes(`"msg":"${msg}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => Date.parse(String(r['time'])) >= fromEpoch);
  const received = await lines('server.log', 'notifications received');
  const delivered = await lines('agent.log', 'batch delivered');
  const agentPart: number[] = [];
  const serverPart: number[] = [];
  let agentMs = 0;
  let serverMs = 0;
  let counted = 0;
  for (let i = 1; i < Math.min(received.length, delivered.length); i++) {
    const r = received[i];
    const previous = delivered[i - 1];
    if (r === undefined || previous === undefined) continue;
    const size = Number(r['notifications']);
    const handler = Number(r['ms']);
    const agentSide = Date.parse(String(r['time'])) - handler - Date.parse(String(previous['time']));
    agentPart.push(agentSide);
    serverPart.push(handler);
    agentMs += agentSide;
    serverMs += handler;
    counted += size;
  }
  return {
    requests: received.length,
    batchSize: percentiles(received.map((r) => Number(r['notifications']))),
    agentMsPerNotification: round2(agentMs / Math.max(1, counted)),
    serverMsPerNotification: round2(serverMs / Math.max(1, counted)),
    agentPart: percentiles(agentPart),
    serverPart: percentiles(serverPart),
  };
}

async function run(inst: Installation, server: CliProcess, agent: CliProcess): Promise<Result> {
  const { run: list, warmup } = captures();
  // Warm-up, not counted: the agent's and the server's first captures, batches and deliveries.
  await Promise.all(warmup.map((c) => capture(inst, c)));
  await delivered(inst, new Set(warmup.flatMap((c) => (c.id === undefined ? [] : [c.id]))), 'warm-up');

  const cpu0 = { server: await server.cpuSeconds(), agent: await agent.cpuSeconds(), bench: process.cpuUsage() };
  const interval = 1000 / plan.rate;
  const start = performance.now() + 50;
  const shown = progress('captures', 5000);
  const pending: Promise<void>[] = [];
  let lagMax = 0;
  let answered = 0;
  for (const [k, c] of list.entries()) {
    const intended = start + k * interval;
    const wait = intended - performance.now();
    if (wait > 0) await sleep(wait);
    lagMax = Math.max(lagMax, performance.now() - intended);
    c.intended = performance.timeOrigin + intended;
    pending.push(capture(inst, c).then(() => {
      answered++;
    }));
    shown.tick(() => `${(k + 1).toLocaleString('en')} of ${list.length.toLocaleString('en')} captured; ${answered.toLocaleString('en')} answered`);
  }
  const sentEnd = performance.now();
  await Promise.all(pending);
  const ids = new Set(list.flatMap((c) => (c.id === undefined ? [] : [c.id])));
  const jobs = await delivered(inst, ids, 'deliveries');
  const wallSeconds = (performance.now() - start) / 1000;
  const bench = process.cpuUsage(cpu0.bench);
  const cpu = {
    serverSeconds: round2((await server.cpuSeconds()) - cpu0.server),
    agentSeconds: round2((await agent.cpuSeconds()) - cpu0.agent),
    benchSeconds: round2((bench.user + bench.system) / 1e6),
    wallSeconds: round2(wallSeconds),
  };
  const byState = jobsByState(inst);

  const latency: number[] = [];
  const fromCall: number[] = [];
  const captureAnswer: number[] = [];
  const agentToServer: number[] = [];
  const serverToWritten: number[] = [];
  const slowest: number[] = [];
  let lastEnd = performance.timeOrigin + start;
  let missing = 0;
  for (const c of list) {
    if (c.answered > 0 && c.id !== undefined) captureAnswer.push(c.answered - c.intended);
    const job = c.id === undefined ? undefined : jobs.get(c.id);
    if (job?.endedAt == null || job.state !== 'done') {
      missing++;
      continue;
    }
    const l = job.endedAt - c.intended;
    latency.push(l);
    fromCall.push(job.endedAt - c.called);
    agentToServer.push(job.receivedAt - c.answered);
    serverToWritten.push(job.endedAt - job.receivedAt);
    const second = Math.floor((c.intended - performance.timeOrigin - start) / 1000);
    slowest[second] = Math.max(slowest[second] ?? 0, l);
    lastEnd = Math.max(lastEnd, job.endedAt);
  }
  // A change that was never written counts as slower than any that was (Infinity, null in JSON).
  for (let i = 0; i < missing; i++) {
    latency.push(Number.POSITIVE_INFINITY);
    fromCall.push(Number.POSITIVE_INFINITY);
  }
  const failed = list.filter((c) => c.error !== undefined);
  for (const c of failed.slice(0, 3)) console.error(`  capture failed: ${c.error ?? ''}`);
  const verified = await verifyTarget(inst, new Map(list.map((c) => [c.person, c.password])));
  const written = latency.length - missing;
  const r = await rounds(inst, performance.timeOrigin + start);
  return {
    rounds: r,
    sent: list.length,
    queued: ids.size,
    failed: failed.length,
    written,
    latency: percentiles(latency),
    latencyFromCall: percentiles(fromCall),
    parts: { captureAnswer: percentiles(captureAnswer), agentToServer: percentiles(agentToServer), serverToWritten: percentiles(serverToWritten) },
    sendLagMaxMs: round2(lagMax),
    achievedSendRate: round2(list.length / ((sentEnd - start) / 1000)),
    throughput: round2(written / ((lastEnd - performance.timeOrigin - start) / 1000)),
    jobs: byState,
    cpu,
    slowestBySecond: Array.from({ length: slowest.length }, (_, i) => round2(slowest[i] ?? Number.POSITIVE_INFINITY)),
    verified,
  };
}

async function main(): Promise<void> {
  printMachine(machine);
  console.log(`capture-latency: ${plan.changes.toLocaleString('en')} captures at ${plan.rate}/s over ${plan.accounts.toLocaleString('en')} accounts, one {SSHA512} file target of ${plan.accounts.toLocaleString('en')} rows, hook → agent → intake → server → file`);
  let result: Result;
  const profiles: Record<string, ProfileSummary> = {};
  try {
    const t = performance.now();
    const inst = await buildInstallation(join(root, 'install'), { accounts: plan.accounts, seed: plan.seed });
    console.log(`  installation built through the CLI in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const profileArgs = (who: string): string[] => (args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'profile', who)] : []);
    const server = await startServer(inst, profileArgs('server'));
    try {
      const agent = await startAgent(inst, profileArgs('agent'));
      try {
        result = await run(inst, server, agent);
      } finally {
        await agent.stop();
      }
    } finally {
      await server.stop();
    }
    if (args.profile) {
      for (const who of ['server', 'agent']) profiles[who] = await summarizeProfileDir(join(root, 'profile', who));
    }
  } finally {
    if (args.keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
  for (const [who, p] of Object.entries(profiles)) printProfile(`${who} CPU profile`, p);
  const r = result;
  console.log(`  latency (scheduled capture → file written): ${formatPercentiles(r.latency)}`);
  console.log(`  latency (actual call → file written):       ${formatPercentiles(r.latencyFromCall)}`);
  console.log(`    hook answered (queued at the agent):     ${formatPercentiles(r.parts.captureAnswer)}`);
  console.log(`    agent → server (answered → received):    ${formatPercentiles(r.parts.agentToServer)}`);
  console.log(`    server (received → file written):        ${formatPercentiles(r.parts.serverToWritten)}`);
  console.log(`  captured at ${r.achievedSendRate}/s (latest ${r.sendLagMaxMs} ms behind schedule); ${r.queued} queued, ${r.failed} failed; ${r.written} written at ${r.throughput}/s; jobs ${JSON.stringify(r.jobs)}`);
  const d = r.rounds;
  console.log(`  delivery: ${d.requests} requests, ${d.batchSize.p50} notifications at the median (max ${d.batchSize.max}); per round, the agent's side (answer → next handler start) ${formatPercentiles(d.agentPart)}`);
  console.log(`    and the intake's handler ${formatPercentiles(d.serverPart)}: per notification, agent ${d.agentMsPerNotification} ms, intake ${d.serverMsPerNotification} ms`);
  console.log(`  CPU over ${r.cpu.wallSeconds} s: server ${r.cpu.serverSeconds} s, agent ${r.cpu.agentSeconds} s, this process ${r.cpu.benchSeconds} s`);
  const slow = r.slowestBySecond.filter((x) => x > TARGET_P99_MS).length;
  console.log(`  seconds of the schedule with a change slower than ${TARGET_P99_MS} ms: ${slow} of ${r.slowestBySecond.length}`);
  console.log(`  ${r.verified.toLocaleString('en')} changed accounts hold their last password in the target file`);
  const expectedAccounts = Math.min(plan.accounts, plan.changes);
  const checksPassed = r.failed === 0 && r.written === r.sent && r.verified === expectedAccounts;
  const met = checksPassed && r.latency.p99 < TARGET_P99_MS;
  console.log(`capture-latency summary: p50 ${ms(r.latency.p50)}, p99 ${ms(r.latency.p99)}, max ${ms(r.latency.max)} — target p99 < ${TARGET_P99_MS} ms: ${met ? 'met' : 'MISSED'}`);
  if (!checksPassed) {
    console.log('  CHECK FAILED: a capture failed, a change was not written, or an account does not hold its last password');
    process.exitCode = 1;
  }
  if (args.json !== undefined) await writeJson(args.json, { benchmark: 'capture-latency', machine, plan, run: r, ...(args.profile ? { profiles } : {}), targets: { p99Ms: TARGET_P99_MS }, met, checksPassed });
}

await main();
