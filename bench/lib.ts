/**
 * What both benchmarks share: the machine description, percentiles, a seeded random source,
 * progress lines and the JSON result file. Nothing here measures pwsync itself.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export interface Machine {
  readonly cores: number;
  readonly cpuModel: string;
  readonly ramGiB: number;
  readonly node: string;
  readonly kernel: string;
  /** The file system type of the directory the benchmark writes to (from /proc/self/mounts). */
  readonly tempFs: string;
  /** The 1-minute load average when the benchmark started: other work on the machine skews figures. */
  readonly loadAtStart: number;
  readonly date: string;
  /** The commit and the files of src/ that differ from it: the figures belong to this code. */
  readonly source: { readonly commit: string; readonly changed: readonly string[] };
}

export function describeMachine(dir: string): Machine {
  return {
    cores: availableParallelism(),
    cpuModel: cpuModel(),
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    tempFs: fsTypeOf(dir),
    loadAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
    source: sourceState(),
  };
}

function sourceState(): { commit: string; changed: string[] } {
  const git = (...a: string[]): string => {
    try {
      return execFileSync('git', a, { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
    } catch {
      return '';
    }
  };
  // Porcelain lines are "XY path"; X may be a space, so lines are not trimmed.
  const changed = git('status', '--porcelain', '--', 'src').split('\n').filter((l) => l.trim() !== '').map((l) => l.slice(3));
  // Outside a git checkout (a copy of the tree), BENCH_CODE says which code it is.
  return { commit: git('rev-parse', '--short', 'HEAD') || (process.env['BENCH_CODE'] ?? 'unknown'), changed };
}

export function printMachine(m: Machine): void {
  console.log(`machine: ${m.cores} cores, ${m.cpuModel}, ${m.ramGiB} GiB RAM, Node ${m.node}, Linux ${m.kernel}, temp dir on ${m.tempFs}, load ${m.loadAtStart} at start, ${m.date}`);
  console.log(`code: commit ${m.source.commit}${m.source.changed.length > 0 ? ` with uncommitted changes in ${m.source.changed.join(', ')}` : ''}`);
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The type of the mount holding `path`: the longest mount point that is a prefix of it. */
function fsTypeOf(path: string): string {
  try {
    const target = resolve(path);
    let best = { point: '', type: 'unknown' };
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, point, type] = line.split(' ');
      if (point === undefined || type === undefined) continue;
      const inside = target === point || target.startsWith(point.endsWith('/') ? point : `${point}/`);
      if (inside && point.length >= best.point.length) best = { point, type };
    }
    return `${best.type} (${best.point})`;
  } catch {
    return 'unknown';
  }
}

export interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentiles of `values` (milliseconds), rounded to 0.01. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const at = (p: number): number => (n === 0 ? Number.NaN : round2(sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] ?? Number.NaN));
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { n, p50: at(50), p90: at(90), p99: at(99), max: at(100), mean: n === 0 ? Number.NaN : round2(sum / n) };
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** A figure in milliseconds, or "unfinished" for a write that never completed. */
export function ms(x: number): string {
  return Number.isFinite(x) ? `${x} ms` : 'unfinished';
}

export function formatPercentiles(p: Percentiles): string {
  return `p50 ${ms(p.p50)}, p90 ${ms(p.p90)}, p99 ${ms(p.p99)}, max ${ms(p.max)} (n=${p.n})`;
}

/** mulberry32: a small, fast, seeded generator, so the generated data is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher–Yates permutation of 0…n-1. */
export function permutation(n: number, random: () => number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] ?? 0;
    out[i] = out[j] ?? 0;
    out[j] = a;
  }
  return out;
}

/** Progress on standard error, at most every `everyMs`, so a long run is never silent. */
export function progress(label: string, everyMs = 2000): { tick(text: () => string): void; done(text: string): void } {
  let last = 0;
  return {
    tick(text) {
      const now = Date.now();
      if (now - last < everyMs) return;
      last = now;
      process.stderr.write(`  ${label}: ${text()}\n`);
    },
    done(text) {
      process.stderr.write(`  ${label}: ${text}\n`);
    },
  };
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(value, null, 2) + '\n');
  console.log(`figures written to ${file}`);
}

/** Peak resident set size of this process so far, in MiB (`maxRSS` is in KiB). */
export function peakRssMiB(): number {
  return round2(process.resourceUsage().maxRSS / 1024);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface CallStats {
  calls: number;
  /** From the call until its promise settled: includes waiting for a turn of the event loop. */
  ms: number;
  /**
   * Until the call returned: the SQLite store does all its work (statements, commit, fsync)
   * synchronously before it returns a promise, so this is the time the store held the thread.
   */
  syncMs: number;
  maxMs: number;
  /** How much the process's peak RSS rose during this method's calls, in MiB. */
  rssRiseMiB: number;
}

/** The names of the methods `target` has (its own and its prototypes'), but not the constructor. */
function methodsOf(target: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (name !== 'constructor' && typeof d?.value === 'function') names.add(name);
    }
  }
  return [...names];
}

/**
 * Wraps every method of `target` to count its calls, the time each holds the thread (until it
 * returns) and the time until its promise settles, and how much the peak RSS rose during them.
 * Costs a few microseconds per call; the store's calls take tens of microseconds to milliseconds.
 * For `--breakdown`.
 */
export function instrument(target: object): ReadonlyMap<string, CallStats> {
  const stats = new Map<string, CallStats>();
  const slots = target as Record<string, unknown>;
  for (const name of methodsOf(target)) {
    const original = slots[name];
    if (typeof original !== 'function') continue;
    const fn = original as (...a: unknown[]) => unknown;
    const s: CallStats = { calls: 0, ms: 0, syncMs: 0, maxMs: 0, rssRiseMiB: 0 };
    stats.set(name, s);
    slots[name] = (...a: unknown[]): unknown => {
      const started = performance.now();
      const rss = process.resourceUsage().maxRSS;
      const settle = (): void => {
        const ms = performance.now() - started;
        s.calls++;
        s.ms += ms;
        s.maxMs = Math.max(s.maxMs, ms);
        s.rssRiseMiB += (process.resourceUsage().maxRSS - rss) / 1024;
      };
      const result = fn.apply(target, a);
      s.syncMs += performance.now() - started;
      if (result instanceof Promise) return result.finally(settle);
      settle();
      return result;
    };
  }
  return stats;
}

export interface CallFigures {
  readonly calls: number;
  /** Call → settled, summed. */
  readonly totalMs: number;
  /** Call → returned (the thread held), summed. */
  readonly syncMs: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly rssRiseMiB: number;
}

export function statsTable(stats: ReadonlyMap<string, CallStats>): Record<string, CallFigures> {
  const out: Record<string, CallFigures> = {};
  for (const [name, s] of [...stats].sort((a, b) => b[1].syncMs - a[1].syncMs)) {
    if (s.calls === 0) continue;
    out[name] = { calls: s.calls, totalMs: round2(s.ms), syncMs: round2(s.syncMs), meanMs: round2(s.ms / s.calls), maxMs: round2(s.maxMs), rssRiseMiB: round2(s.rssRiseMiB) };
  }
  return out;
}

export function printStats(title: string, figures: Readonly<Record<string, CallFigures>>): void {
  console.log(`  ${title}:`);
  console.log(`    ${'method'.padEnd(20)} ${'calls'.padStart(8)} ${'thread held'.padStart(13)} ${'call→settled'.padStart(13)} ${'max'.padStart(10)}`);
  for (const [name, s] of Object.entries(figures)) {
    const sec = (x: number): string => `${(x / 1000).toFixed(2)} s`;
    console.log(`    ${name.padEnd(20)} ${String(s.calls).padStart(8)} ${sec(s.syncMs).padStart(13)} ${sec(s.totalMs).padStart(13)} ${`${s.maxMs} ms`.padStart(10)}`);
  }
}


/** A command-line option that must be an integer of at least `min`; the error names the option. */
export function intOption(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}`);
  return n;
}

/**
 * Runs task(0…n-1) with at most `inFlight` at once, each lane taking the next index when its last
 * one settled; `lane` (0…inFlight-1) says which lane runs it. Returns each call's duration.
 */
export async function inFlightPool(n: number, inFlight: number, task: (i: number, lane: number) => Promise<void>): Promise<number[]> {
  const durations = new Array<number>(n).fill(0);
  let next = 0;
  const lane = async (id: number): Promise<void> => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await task(i, id);
      durations[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, (_, id) => lane(id)));
  return durations;
}

export interface RssSamples {
  /** The largest sample, MiB. */
  readonly maxMiB: number;
  readonly samples: number;
  /** The longest time between two samples: a timer waits while the thread is busy, so a peak may fall between two. */
  readonly maxGapMs: number;
}

/** Samples this process's RSS (`process.memoryUsage.rss()`) every `everyMs` until `stop()`. */
export function sampleRss(everyMs = 100): { stop(): RssSamples } {
  let max = process.memoryUsage.rss();
  let samples = 1;
  let last = performance.now();
  let maxGap = 0;
  const take = (): void => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    max = Math.max(max, process.memoryUsage.rss());
    samples++;
  };
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { maxMiB: round2(max / 2 ** 20), samples, maxGapMs: round2(maxGap) };
    },
  };
}
