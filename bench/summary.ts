/**
 * Prints the figures of a `scripts/bench.sh` run from its JSON files, beside the issues' targets.
 *
 *   node --import tsx bench/summary.ts DIR
 *
 * Exits non-zero when a benchmark's own checks failed (a write lost, a wrong join count); a missed
 * target is reported, not an error.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ms, type Machine, type Percentiles } from './lib.ts';

interface ImportJoin {
  readonly benchmark: 'import-join';
  readonly machine: Machine;
  readonly people: number;
  readonly totalMs: number;
  readonly peakRssMiB: number;
  readonly source: { readonly read: number; readonly wallMs: number };
  readonly target: { readonly read: number; readonly wallMs: number; readonly joined: number; readonly ambiguous: number; readonly unmatched: number };
  readonly targets: { readonly seconds: number; readonly rssMB: number };
  readonly met: { readonly time: boolean; readonly rss: boolean };
  readonly checksPassed: boolean;
}

interface Run {
  readonly mode: 'engine' | 'direct';
  readonly latency: Percentiles;
  readonly throughput: number;
  readonly writesDone: number;
  readonly writesExpected: number;
}

interface ChangeLatency {
  readonly benchmark: 'change-latency';
  readonly machine: Machine;
  readonly plan: { readonly rows: number; readonly changes: number; readonly rate: number; readonly targets: number; readonly hash: string; readonly workers: number };
  readonly runs: readonly Run[];
  readonly ratio?: { readonly p50: number; readonly p99: number };
  readonly targets: { readonly p99Ms: number };
  readonly met?: boolean;
  readonly checksPassed: boolean;
}

interface IntakePhase {
  readonly name: string;
  readonly perSecond: number;
  readonly cpu: Readonly<Record<string, number>>;
  readonly callLatency: Percentiles;
}

interface IntakeThroughput {
  readonly benchmark: 'intake-throughput';
  readonly machine: Machine;
  readonly plan: { readonly accounts: number; readonly notifications: number; readonly batch: number; readonly concurrency: number };
  readonly encryption: Readonly<Record<string, number>>;
  readonly phases: readonly IntakePhase[];
  readonly targets: { readonly perSecond: number };
  readonly met: boolean;
  readonly checksPassed: boolean;
}

interface CaptureLatency {
  readonly benchmark: 'capture-latency';
  readonly machine: Machine;
  readonly plan: { readonly accounts: number; readonly changes: number; readonly rate: number };
  readonly run: {
    readonly latency: Percentiles;
    readonly throughput: number;
    readonly parts: { readonly captureAnswer: Percentiles; readonly agentToServer: Percentiles; readonly serverToWritten: Percentiles };
    readonly rounds: { readonly agentMsPerNotification: number; readonly serverMsPerNotification: number };
  };
  readonly targets: { readonly p99Ms: number };
  readonly met: boolean;
  readonly checksPassed: boolean;
}

interface LdapSetsPhase {
  readonly name: string;
  readonly perSecond: number;
  readonly latency: Percentiles;
  readonly cpu: { readonly processMsPerSet: number; readonly slapdMsPerSet: number };
}

interface LdapSets {
  readonly benchmark: 'ldap-sets';
  readonly machine: Machine;
  readonly plan: { readonly users: number; readonly concurrency: number; readonly workers: number; readonly connections: number; readonly batch: number; readonly transport: string };
  readonly phases: readonly LdapSetsPhase[];
  readonly direct: { readonly sequential: number; readonly concurrent: number };
  readonly ratios: Readonly<Record<string, number>>;
  readonly targets: { readonly ratio: number };
  readonly met: boolean;
  readonly checksPassed: boolean;
}

interface SqlSetsPhase {
  readonly name: string;
  readonly perSecond: number;
  readonly latency: Percentiles;
  readonly cpu: { readonly processMsPerSet: number; readonly mainThreadMsPerSet: number; readonly databaseMsPerSet: number };
}

interface SqlHashRun {
  readonly hash: string;
  readonly users: number;
  readonly phases: readonly SqlSetsPhase[];
  readonly direct: { readonly sequential: number; readonly concurrent: number };
  readonly ratios: Readonly<Record<string, number>>;
  readonly met: { readonly round1: boolean; readonly round2: boolean };
}

interface Sql {
  readonly benchmark: 'sql';
  readonly machine: Machine;
  readonly server: string;
  readonly plan: { readonly dialect: string; readonly rows: number; readonly concurrency: number; readonly clients: number; readonly workers: number; readonly connections: number; readonly batch: number; readonly importTimeout?: string };
  readonly import?: {
    readonly rows: number;
    readonly wallMs: number;
    readonly rowsPerSecond: number;
    readonly report: { readonly joined: number };
    readonly rssBeforeMiB: number;
    readonly peakRssMiB: number;
    readonly cpu: { readonly processSeconds: number; readonly databaseSeconds: number };
    readonly met: { readonly time: boolean; readonly rss: boolean };
  };
  readonly importError?: string;
  readonly sets: readonly SqlHashRun[];
  readonly targets: { readonly importSeconds: number; readonly rssMB: number; readonly ratio: number };
  readonly checksPassed: boolean;
}

interface CaptureSambaRun {
  readonly latency: Percentiles;
  readonly latencyLost: number;
  readonly burst: { readonly changes: number; readonly sambaPerSecond: number; readonly propagatedPerSecond: number; readonly ratio: number; readonly lost: number };
}

interface CaptureSamba {
  readonly benchmark: 'capture-samba';
  readonly machine: Machine;
  readonly plan: { readonly latency: number; readonly burst: number; readonly concurrency: number };
  readonly results: Readonly<Record<string, { readonly pwsync: CaptureSambaRun; readonly glue: CaptureSambaRun }>>;
  readonly targets: { readonly p99Ms: Readonly<Record<string, number>>; readonly ratio: number };
  readonly checksPassed: boolean;
}

type Result = ImportJoin | ChangeLatency | IntakeThroughput | CaptureLatency | LdapSets | Sql | CaptureSamba;

const dirs = process.argv.slice(2);
if (dirs.length === 0) throw new Error('usage: bench/summary.ts DIR [DIR…] (several runs: medians)');

/** The median of the runs' values; with one run, that value. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

/** "12.3" for one run; "12.3 (11.9, 12.3, 14.0)" for several: the median, then every run. */
function fig(values: readonly number[], format: (x: number) => string = String): string {
  const m = format(median(values));
  return values.length === 1 ? m : `${m} (${values.map(format).join(', ')})`;
}

const byName = new Map<string, Result[]>();
for (const dir of dirs) {
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    const list = byName.get(file) ?? [];
    list.push(JSON.parse(await readFile(join(dir, file), 'utf8')) as Result);
    byName.set(file, list);
  }
}
if (byName.size === 0) {
  console.log(`no results in ${dirs.join(', ')}`);
  process.exit(1);
}
if (dirs.length > 1) console.log(`${dirs.length} runs: each figure is the median, then the runs' values in brackets`);
let ok = true;
let machineShown = false;
for (const results of byName.values()) {
  const first = results[0];
  if (first === undefined) continue;
  if (!machineShown) {
    const m = first.machine;
    console.log(`${m.date.slice(0, 10)}, ${m.cores} cores ${m.cpuModel}, ${m.ramGiB} GiB, Node ${m.node}, ${m.tempFs}; code ${m.source.commit}${m.source.changed.length > 0 ? ' + uncommitted changes' : ''}`);
    machineShown = true;
  }
  const passed = results.every((r) => r.checksPassed);
  ok &&= passed;
  const checks = passed ? '' : '  CHECKS FAILED';
  const loads = results.map((r) => r.machine.loadAtStart).join(', ');
  if (first.benchmark === 'import-join') {
    const runs = results.filter((r): r is ImportJoin => r.benchmark === 'import-join');
    const s = (x: number): string => (x / 1000).toFixed(1);
    const rate = (x: number): string => Math.round(x).toLocaleString('en');
    const met = runs.filter((r) => r.met.time).length;
    const rssMet = runs.filter((r) => r.met.rss).length;
    console.log(`import-join ${first.people.toLocaleString('en')} (load ${loads}):`);
    console.log(`  total ${fig(runs.map((r) => r.totalMs), s)} s; source ${fig(runs.map((r) => r.source.wallMs), s)} s, ${fig(runs.map((r) => r.source.read / (r.source.wallMs / 1000)), rate)}/s; target ${fig(runs.map((r) => r.target.wallMs), s)} s, ${fig(runs.map((r) => r.target.read / (r.target.wallMs / 1000)), rate)}/s`);
    console.log(`  peak RSS ${fig(runs.map((r) => r.peakRssMiB))} MiB`);
    console.log(`  time < ${first.targets.seconds} s: ${met === runs.length ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${runs.length}`}; RSS < ${first.targets.rssMB} MB: ${rssMet === runs.length ? 'met' : rssMet === 0 ? 'MISSED' : `met in ${rssMet} of ${runs.length}`}${checks}`);
  } else if (first.benchmark === 'intake-throughput') {
    const runs = results.filter((r): r is IntakeThroughput => r.benchmark === 'intake-throughput');
    const p = first.plan;
    const rate = (x: number): string => Math.round(x).toLocaleString('en');
    console.log(`intake-throughput ${p.notifications.toLocaleString('en')} notifications over ${p.accounts.toLocaleString('en')} accounts, batches of ${p.batch}, ${p.concurrency} in flight (load ${loads}):`);
    for (const name of [...new Set(runs.flatMap((r) => r.phases.map((x) => x.name)))]) {
      const phases = runs.flatMap((r) => r.phases.filter((x) => x.name === name));
      const cpu = name === 'intake' ? `; server CPU ${fig(phases.map((x) => x.cpu['serverMsPerChange'] ?? Number.NaN))} ms a change` : `; CPU ${fig(phases.map((x) => x.cpu['msPerChange'] ?? Number.NaN))} ms a change`;
      console.log(`  ${name}: ${fig(phases.map((x) => x.perSecond), rate)} changes/s${cpu}`);
    }
    const ms2 = (x: number): string => x.toFixed(2);
    console.log(`  JWE: encrypt ${fig(runs.map((r) => r.encryption['encryptMsPerChange'] ?? Number.NaN), ms2)} ms, decrypt ${fig(runs.map((r) => r.encryption['decryptMsPerChange'] ?? Number.NaN), ms2)} ms a notification`);
    const met = runs.filter((r) => r.met).length;
    console.log(`  target ≥ ${first.targets.perSecond}/s at the intake: ${met === runs.length ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${runs.length} runs`}${checks}`);
  } else if (first.benchmark === 'ldap-sets') {
    const runs = results.filter((r): r is LdapSets => r.benchmark === 'ldap-sets');
    const p = first.plan;
    const rate = (x: number): string => Math.round(x).toLocaleString('en');
    console.log(`ldap-sets ${p.users.toLocaleString('en')} users, Password Modify over ${p.transport === 'ldaps' ? 'LDAPS' : 'StartTLS'}, ${p.concurrency} in flight where concurrent, ${p.workers} workers, ${p.connections} connections (load ${loads}):`);
    for (const name of [...new Set(runs.flatMap((r) => r.phases.map((x) => x.name)))]) {
      const phases = runs.flatMap((r) => r.phases.filter((x) => x.name === name));
      console.log(`  ${name}: ${fig(phases.map((x) => x.perSecond), rate)} sets/s; p50 ${fig(phases.map((x) => x.latency.p50))} ms; CPU ${fig(phases.map((x) => x.cpu.processMsPerSet))} ms a set, slapd ${fig(phases.map((x) => x.cpu.slapdMsPerSet))} ms`);
    }
    console.log(`  direct (mean of before and after): sequential ${fig(runs.map((r) => r.direct.sequential), rate)}/s, concurrent ${fig(runs.map((r) => r.direct.concurrent), rate)}/s`);
    const r3 = (x: number): string => x.toFixed(2);
    for (const key of Object.keys(first.ratios)) console.log(`  ${key}: ${fig(runs.map((r) => r.ratios[key] ?? Number.NaN), r3)}`);
    const met = runs.filter((r) => r.met).length;
    console.log(`  target pwsync ≥ ${first.targets.ratio} × direct sequential: ${met === runs.length ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${runs.length} runs`}${checks}`);
  } else if (first.benchmark === 'sql') {
    const runs = results.filter((r): r is Sql => r.benchmark === 'sql');
    const p = first.plan;
    const verdict = (met: number, of: number): string => (met === of ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${of} runs`);
    console.log(`sql (${first.server}, TLS required; load ${loads}):`);
    const imports = runs.flatMap((r) => (r.import ? [r.import] : []));
    for (const r of runs) if (r.importError !== undefined) console.log(`  import FAILED: ${r.importError}`);
    if (imports.length > 0) {
      const s = (x: number): string => (x / 1000).toFixed(1);
      const rate = (x: number): string => Math.round(x).toLocaleString('en');
      console.log(`  import of ${p.rows.toLocaleString('en')} rows, joined by login (sql.timeout ${p.importTimeout ?? 'at its default'}): ${fig(imports.map((i) => i.wallMs), s)} s, ${fig(imports.map((i) => i.rowsPerSecond), rate)} rows/s, joined ${[...new Set(imports.map((i) => rate(i.report.joined)))].join(' / ')}; CPU ${fig(imports.map((i) => i.cpu.processSeconds))} s, database ${fig(imports.map((i) => i.cpu.databaseSeconds))} s`);
      console.log(`  peak RSS during the import ${fig(imports.map((i) => i.peakRssMiB))} MiB; before it ${fig(imports.map((i) => i.rssBeforeMiB))} MiB`);
      console.log(`  import < ${first.targets.importSeconds} s: ${verdict(imports.filter((i) => i.met.time).length, imports.length)}; RSS < ${first.targets.rssMB} MB: ${verdict(imports.filter((i) => i.met.rss).length, imports.length)}`);
    }
    console.log(`  password sets: ${p.concurrency} in flight where concurrent on ${p.clients} direct clients, ${p.workers} workers, sql.connections ${p.connections}, batches of ${p.batch}`);
    for (const hash of [...new Set(runs.flatMap((r) => r.sets.map((x) => x.hash)))]) {
      const hashRuns = runs.flatMap((r) => r.sets.filter((x) => x.hash === hash));
      const rate = (x: number): string => Math.round(x).toLocaleString('en');
      console.log(`  ${hash}, ${[...new Set(hashRuns.map((h) => h.users.toLocaleString('en')))].join(' / ')} users:`);
      for (const name of [...new Set(hashRuns.flatMap((h) => h.phases.map((x) => x.name)))]) {
        const phases = hashRuns.flatMap((h) => h.phases.filter((x) => x.name === name));
        console.log(`    ${name.slice(hash.length + 1)}: ${fig(phases.map((x) => x.perSecond), rate)} sets/s; p50 ${fig(phases.map((x) => x.latency.p50))} ms; CPU ${fig(phases.map((x) => x.cpu.processMsPerSet))} ms a set (main thread ${median(phases.map((x) => x.cpu.mainThreadMsPerSet))}), database ${median(phases.map((x) => x.cpu.databaseMsPerSet))} ms (medians)`);
      }
      console.log(`    direct (mean of before and after): sequential ${fig(hashRuns.map((h) => h.direct.sequential), rate)}/s, concurrent ${fig(hashRuns.map((h) => h.direct.concurrent), rate)}/s`);
      const r3 = (x: number): string => x.toFixed(2);
      for (const key of Object.keys(hashRuns[0]?.ratios ?? {})) console.log(`    ${key}: ${fig(hashRuns.map((h) => h.ratios[key] ?? Number.NaN), r3)}`);
      const n = hashRuns.length;
      console.log(`    target pwsync ≥ ${first.targets.ratio} × direct sequential: round 1 ${verdict(hashRuns.filter((h) => h.met.round1).length, n)}, round 2 ${verdict(hashRuns.filter((h) => h.met.round2).length, n)}`);
    }
    if (!passed) console.log(`  ${checks.trim()}`);
  } else if (first.benchmark === 'capture-samba') {
    const runs = results.filter((r): r is CaptureSamba => r.benchmark === 'capture-samba');
    console.log(`capture-samba ${first.plan.latency} resets one at a time, a burst of ${first.plan.burst} at ${first.plan.concurrency} in flight (load ${loads}):`);
    for (const model of Object.keys(first.results)) {
      for (const who of ['pwsync', 'glue'] as const) {
        const list = runs.flatMap((r) => { const x = r.results[model]?.[who]; return x === undefined ? [] : [x]; });
        const q = (k: keyof Percentiles): string => fig(list.map((x) => x.latency[k]));
        console.log(`  -M ${model}, ${who}: reset → binds on OpenLDAP p50 ${q('p50')}, p99 ${q('p99')}, max ${q('max')} ms; burst: Samba ${fig(list.map((x) => x.burst.sambaPerSecond))}/s, propagated ${fig(list.map((x) => x.burst.propagatedPerSecond))}/s, ratio ${fig(list.map((x) => x.burst.ratio))}; lost ${fig(list.map((x) => x.burst.lost + x.latencyLost))}`);
      }
      const p99 = first.targets.p99Ms[model] ?? Number.NaN;
      const met = runs.filter((r) => { const x = r.results[model]?.pwsync; return x !== undefined && x.latency.p99 < p99 && x.burst.ratio >= r.targets.ratio; }).length;
      console.log(`  -M ${model}: targets (pwsync p99 < ${p99} ms, burst ≥ ${first.targets.ratio} × Samba): ${met === runs.length ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${runs.length} runs`}${checks}`);
    }
  } else if (first.benchmark === 'capture-latency') {
    const runs = results.filter((r): r is CaptureLatency => r.benchmark === 'capture-latency');
    const p = first.plan;
    const q = (pick: (r: CaptureLatency) => Percentiles, k: keyof Percentiles): string => fig(runs.map((r) => pick(r)[k]), (v) => ms(v).replace(' ms', ''));
    const all = (pick: (r: CaptureLatency) => Percentiles): string => `p50 ${q(pick, 'p50')}, p99 ${q(pick, 'p99')} ms`;
    console.log(`capture-latency ${p.changes.toLocaleString('en')} captures at ${p.rate}/s over ${p.accounts.toLocaleString('en')} accounts, hook → agent → server → file (load ${loads}):`);
    console.log(`  p50 ${q((r) => r.run.latency, 'p50')}, p90 ${q((r) => r.run.latency, 'p90')}, p99 ${q((r) => r.run.latency, 'p99')}, max ${q((r) => r.run.latency, 'max')} ms; ${fig(runs.map((r) => r.run.throughput))} written/s`);
    console.log(`  hook answered ${all((r) => r.run.parts.captureAnswer)}; agent → server ${all((r) => r.run.parts.agentToServer)}; server → written ${all((r) => r.run.parts.serverToWritten)}`);
    console.log(`  per notification in a delivery round: agent ${fig(runs.map((r) => r.run.rounds.agentMsPerNotification))} ms, intake handler ${fig(runs.map((r) => r.run.rounds.serverMsPerNotification))} ms`);
    const met = runs.filter((r) => r.met).length;
    console.log(`  target p99 < ${first.targets.p99Ms} ms: ${met === runs.length ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${runs.length} runs`}${checks}`);
  } else {
    const runs = results.filter((r): r is ChangeLatency => r.benchmark === 'change-latency');
    const p = first.plan;
    console.log(`change-latency ${p.changes.toLocaleString('en')} changes at ${p.rate}/s, ${p.rows.toLocaleString('en')} rows, ${p.targets} target(s), ${p.hash}, ${p.workers} workers (load ${loads}):`);
    for (const mode of ['engine', 'direct'] as const) {
      const modeRuns = runs.flatMap((r) => r.runs.filter((x) => x.mode === mode));
      if (modeRuns.length === 0) continue;
      const q = (k: keyof Percentiles): string => fig(modeRuns.map((x) => x.latency[k]), (v) => ms(v).replace(' ms', ''));
      console.log(`  ${mode}: p50 ${q('p50')}, p90 ${q('p90')}, p99 ${q('p99')}, max ${q('max')} ms; ${fig(modeRuns.map((x) => x.throughput))} writes/s`);
    }
    const ratios = runs.flatMap((r) => (r.ratio ? [r.ratio] : []));
    if (ratios.length > 0) console.log(`  engine/direct: ${fig(ratios.map((x) => x.p50))}× at p50, ${fig(ratios.map((x) => x.p99))}× at p99`);
    const judged = runs.filter((r) => r.met !== undefined);
    const met = judged.filter((r) => r.met === true).length;
    if (judged.length > 0) console.log(`  target p99 < ${first.targets.p99Ms} ms: ${met === judged.length ? 'met' : met === 0 ? 'MISSED' : `met in ${met} of ${judged.length} runs`}${checks}`);
  }
}
if (!ok) process.exitCode = 1;
