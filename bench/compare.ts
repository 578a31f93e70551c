/**
 * Sets two groups of `scripts/bench.sh` runs side by side: the median of each figure in each
 * group, and after / before. For a change that must not slow a path down (issue 15: "within 10% of
 * the medians of three runs before the change"), run the benchmarks on the code before and after,
 * alternating, on the same machine, then:
 *
 *   node --import tsx bench/compare.ts --before DIR1,DIR2,DIR3 --after DIR4,DIR5,DIR6
 *
 * Each DIR is a BENCH_OUT directory (intake, latency or ldap runs, or all). A figure is shown when
 * both groups have it. For rates, higher is better; for latencies, lower is better: the last column
 * says which way each went, and "worse by more than 10%" is marked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

/** One figure of one run: its name, its value, and whether a higher value is better. */
interface Figure {
  readonly name: string;
  readonly value: number;
  readonly higherIsBetter: boolean;
}

/** A benchmark's JSON as written by the same repository's benchmark: trusted to have the shape it reads. */
function read(dir: string, file: string): unknown {
  const path = join(dir, file);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
}

function latencyFigures(prefix: string, latency: Percentiles): Figure[] {
  return [
    { name: `${prefix} p50 ms`, value: latency.p50, higherIsBetter: false },
    { name: `${prefix} p99 ms`, value: latency.p99, higherIsBetter: false },
  ];
}

/** The figures a run directory holds, from each benchmark's JSON. */
function figures(dir: string): Figure[] {
  const out: Figure[] = [];
  const intake = read(dir, 'intake-throughput.json') as { phases: { name: string; perSecond: number }[] } | undefined;
  for (const p of intake?.phases ?? []) out.push({ name: `intake-throughput ${p.name} /s`, value: p.perSecond, higherIsBetter: true });
  const capture = read(dir, 'capture-latency.json') as { run: { latency: Percentiles } } | undefined;
  if (capture) out.push(...latencyFigures('capture-latency hook→file', capture.run.latency));
  for (const file of ['change-latency-10k', 'change-latency-10k-w8', 'change-latency-1k', 'change-latency-core-6k']) {
    const run = read(dir, `${file}.json`) as { runs: { mode: string; latency: Percentiles }[] } | undefined;
    for (const r of run?.runs ?? []) out.push(...latencyFigures(`${file} ${r.mode}`, r.latency));
  }
  const ldap = read(dir, 'ldap-sets.json') as { phases: { name: string; perSecond: number }[] } | undefined;
  for (const p of ldap?.phases ?? []) out.push({ name: `ldap-sets ${p.name} /s`, value: p.perSecond, higherIsBetter: true });
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function group(dirs: readonly string[]): Map<string, { values: number[]; higherIsBetter: boolean }> {
  const byName = new Map<string, { values: number[]; higherIsBetter: boolean }>();
  for (const dir of dirs) {
    for (const f of figures(dir)) {
      const entry = byName.get(f.name) ?? { values: [], higherIsBetter: f.higherIsBetter };
      entry.values.push(f.value);
      byName.set(f.name, entry);
    }
  }
  return byName;
}

const { values } = parseArgs({ options: { before: { type: 'string' }, after: { type: 'string' } } });
if (values.before === undefined || values.after === undefined) {
  console.error('usage: node --import tsx bench/compare.ts --before DIR[,DIR…] --after DIR[,DIR…]');
  process.exit(2);
}
const before = group(values.before.split(','));
const after = group(values.after.split(','));
let worse = 0;
console.log('| figure | before: median (runs) | after: median (runs) | after / before | |');
console.log('|---|---:|---:|---:|---|');
for (const [name, b] of before) {
  const a = after.get(name);
  if (a === undefined) continue;
  const mb = median(b.values);
  const ma = median(a.values);
  const ratio = ma / mb;
  const better = b.higherIsBetter ? ratio >= 1 : ratio <= 1;
  const beyond = b.higherIsBetter ? ratio < 0.9 : ratio > 1.1;
  if (beyond) worse += 1;
  console.log(`| ${name} | ${mb.toFixed(1)} (${b.values.length}) | ${ma.toFixed(1)} (${a.values.length}) | ${ratio.toFixed(3)} | ${better ? 'better' : beyond ? '**worse by more than 10%**' : 'worse, within 10%'} |`);
}
console.log(`\n${worse} figure(s) worse by more than 10%`);
