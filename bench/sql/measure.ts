/**
 * How a phase is measured: wall time, the CPU of this process (every thread, and its main thread)
 * and of the database server, the load at its start, and with --profile the main thread's profile;
 * and a password-set phase's figures made from them and printed.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SqlWorld } from '../../test/support/connectors/sql.ts';
import { formatPercentiles, percentiles, round2, type CallFigures, type Percentiles } from '../lib.ts';
import { printProfile, summarizeProfile, type ProfileSummary } from '../profile.ts';
import type { Plan } from './plan.ts';

const CLK_TCK = 100;

/** One run: the database, the directory it works in (configurations, profiles), the plan and the switches. */
export interface Bench {
  readonly world: SqlWorld;
  readonly root: string;
  readonly plan: Plan;
  /** --profile: the main thread profiled during every timed phase. */
  readonly profile: boolean;
  /** --breakdown: every store call of the import and the engine phases timed. */
  readonly breakdown: boolean;
}

function load(): number {
  return round2(loadavg()[0] ?? 0);
}

/**
 * CPU seconds of the database server: the server process and its live children (the sessions,
 * the background processes; every thread's `schedstat`, in nanoseconds), plus what its reaped
 * children (ended sessions) used (`stat`'s cutime and cstime, in ticks). PostgreSQL's children
 * leave the process group (setsid), so they are found by their parent.
 */
async function databaseCpuSeconds(leader: number): Promise<number> {
  let seconds = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // After "pid (comm) ": state ppid … cutime(13) cstime(14).
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) !== leader && Number(f[1]) !== leader) continue;
      // Every thread (MariaDB is one process of many threads; a PostgreSQL process has one).
      for (const task of await readdir(`/proc/${entry}/task`)) {
        const [onCpuNs] = (await readFile(`/proc/${entry}/task/${task}/schedstat`, 'utf8')).split(' ');
        seconds += Number(onCpuNs) / 1e9;
      }
      if (Number(entry) === leader) seconds += (Number(f[13]) + Number(f[14])) / CLK_TCK;
    } catch {
      // gone meanwhile
    }
  }
  return seconds;
}

interface Cpu {
  readonly processSeconds: number;
  /** Of `processSeconds`, this process's main thread (the rest: the store's thread, the hash pool, V8's helpers). */
  readonly mainThreadSeconds: number;
  readonly databaseSeconds: number;
}

/** CPU seconds of this process's main thread (its task id is the pid), from `schedstat`. */
async function mainThreadCpuSeconds(): Promise<number> {
  const [onCpuNs] = (await readFile(`/proc/self/task/${process.pid}/schedstat`, 'utf8')).split(' ');
  return Number(onCpuNs) / 1e9;
}

export interface Measured<T> {
  readonly result: T;
  readonly wallMs: number;
  readonly cpu: Cpu;
  readonly load: number;
  /** With --profile: the main thread's profile while `work` ran. */
  readonly profile?: ProfileSummary;
}

/**
 * Times `work`, with this process's CPU (every thread) and the database server's; with --profile,
 * profiles this thread while it runs (node:inspector), the profiler started after and stopped
 * before the CPU readings of the database, which are not part of the work.
 */
export async function measured<T>(bench: Bench, name: string, work: () => Promise<T>): Promise<Measured<T>> {
  const { world, root } = bench;
  const loadAtStart = load();
  const db0 = await databaseCpuSeconds(world.server.pid);
  const session = bench.profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const file = join(root, `${name.replace(/[^A-Za-z0-9-]/g, '_')}.cpuprofile`);
  const main0 = await mainThreadCpuSeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let result: T;
  let wallMs: number;
  let used: NodeJS.CpuUsage;
  let mainThreadSeconds: number;
  try {
    result = await work();
    wallMs = performance.now() - t0;
    used = process.cpuUsage(cpu0);
    mainThreadSeconds = (await mainThreadCpuSeconds()) - main0;
  } finally {
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    }
  }
  const databaseSeconds = (await databaseCpuSeconds(world.server.pid)) - db0;
  const cpu = { processSeconds: (used.user + used.system) / 1e6, mainThreadSeconds, databaseSeconds };
  if (!session) return { result, wallMs, cpu, load: loadAtStart };
  const profile = await summarizeProfile(file, 20);
  printProfile(`${name}: main-thread CPU profile`, profile);
  return { result, wallMs, cpu, load: loadAtStart, profile };
}

// A phase of password sets --------------------------------------------------------------------

export interface Phase {
  readonly name: string;
  readonly sets: number;
  readonly failed: number;
  readonly wallMs: number;
  readonly perSecond: number;
  /** Per set (direct: hash + UPDATE) or per `setPassword` inside the engine: call → settled. */
  readonly latency: Percentiles;
  readonly cpu: { readonly processMsPerSet: number; readonly mainThreadMsPerSet: number; readonly databaseMsPerSet: number; readonly processCores: number; readonly databaseCores: number };
  /** Of the sampled users, how many have a stored hash that verifies with this phase's password. */
  readonly verified: number;
  readonly sampled: number;
  readonly loadAtStart: number;
  readonly submit?: Percentiles;
  readonly lastSetMs?: number;
  readonly jobs?: Record<string, number>;
  readonly store?: Record<string, CallFigures>;
  readonly profile?: ProfileSummary;
}

/** The figures of a phase of `sets` sets, `failed` of them failed; `check` is what the sampled users' hashes said. */
export function phase(name: string, sets: number, failed: number, durations: readonly number[], m: { wallMs: number; cpu: Cpu; load: number }, check: { readonly verified: number; readonly sampled: number }): Phase {
  const seconds = m.wallMs / 1000;
  return {
    name,
    sets,
    failed,
    wallMs: round2(m.wallMs),
    perSecond: round2((sets - failed) / seconds),
    latency: percentiles(durations),
    cpu: {
      processMsPerSet: round2((m.cpu.processSeconds * 1000) / Math.max(1, sets)),
      mainThreadMsPerSet: round2((m.cpu.mainThreadSeconds * 1000) / Math.max(1, sets)),
      databaseMsPerSet: round2((m.cpu.databaseSeconds * 1000) / Math.max(1, sets)),
      processCores: round2(m.cpu.processSeconds / seconds),
      databaseCores: round2(m.cpu.databaseSeconds / seconds),
    },
    verified: check.verified,
    sampled: check.sampled,
    loadAtStart: m.load,
  };
}

export function report(plan: Plan, p: Phase): void {
  console.log(`  ${(p.sets - p.failed).toLocaleString('en')} of ${p.sets.toLocaleString('en')} sets in ${(p.wallMs / 1000).toFixed(2)} s: ${p.perSecond.toLocaleString('en')} sets/s (load ${p.loadAtStart} at its start)`);
  console.log(`  per set: ${formatPercentiles(p.latency)}`);
  if (p.submit) console.log(`  submitChanges per batch of ${plan.batch}: ${formatPercentiles(p.submit)}; last set returned at ${((p.lastSetMs ?? 0) / 1000).toFixed(2)} s, every job done at ${(p.wallMs / 1000).toFixed(2)} s`);
  if (p.jobs) console.log(`  jobs by state at the end: ${JSON.stringify(p.jobs)}`);
  console.log(`  CPU per set: this process ${p.cpu.processMsPerSet} ms (${p.cpu.processCores} cores; its main thread ${p.cpu.mainThreadMsPerSet} ms), ${plan.dialect} ${p.cpu.databaseMsPerSet} ms (${p.cpu.databaseCores} cores)`);
  console.log(`  ${p.verified} of ${p.sampled} sampled users' stored hashes verify with their new password`);
}
