/**
 * The import phase: a million rows of the table imported and joined by login, timed with the RSS
 * sampled throughout; the source is imported first by a child process, not timed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { initDataDirectory } from '../../src/cli/setup.ts';
import { IMPORT } from '../../test/support/connectors/sql.ts';
import { openRuntime } from '../../src/main.ts';
import { importSystem, type ImportReport } from '../../src/sync/importer.ts';
import { instrument, peakRssMiB, printStats, progress, round2, sampleRss, statsTable, type CallFigures, type CallStats, type RssSamples } from '../lib.ts';
import type { ProfileSummary } from '../profile.ts';
import { configText, writeSource } from './config.ts';
import { measured, type Bench } from './measure.ts';
import { TARGET_IMPORT_SECONDS, TARGET_RSS_MB } from './plan.ts';

/** The entry point, which runs {@link sourceImport} when given `--source-import FILE`. */
const ENTRY = fileURLToPath(new URL('../sql.ts', import.meta.url));

/** In the child: `pwsync import hr`, its report written beside the configuration. */
export async function sourceImport(configFile: string): Promise<void> {
  const rt = await openRuntime(configFile, { logLevel: 'warn' });
  try {
    const shown = progress('import of the source (child process, not timed)');
    const r = await importSystem(rt.ctx, 'hr', (p) => shown.tick(() => `${p.read.toLocaleString('en')} persons read`));
    await writeFile(join(dirname(configFile), 'source-report.json'), JSON.stringify(r));
  } finally {
    await rt.close();
  }
}

export interface ImportResult {
  readonly rows: number;
  readonly report: ImportReport;
  readonly wallMs: number;
  readonly rowsPerSecond: number;
  /** RSS of this process just before `importSystem` (the runtime open, the store opened). */
  readonly rssBeforeMiB: number;
  /** The largest of the RSS samples taken every 100 ms during the import. */
  readonly rss: RssSamples;
  /** The kernel's high-water mark of this process's RSS (maxRSS) before and after the import. */
  readonly maxRssBeforeMiB: number;
  readonly maxRssAfterMiB: number;
  /** The import's peak: the largest sample, or the kernel's high-water mark where it rose during the import. */
  readonly peakRssMiB: number;
  readonly cpu: { readonly processSeconds: number; readonly mainThreadSeconds: number; readonly databaseSeconds: number; readonly processCores: number; readonly databaseCores: number };
  readonly loadAtStart: number;
  readonly counts: { readonly persons: number; readonly accounts: number; readonly links: number };
  readonly source: { readonly read: number; readonly projected: number; readonly wallMs: number };
  readonly store?: Record<string, CallFigures>;
  readonly profile?: ProfileSummary;
  readonly met: { readonly time: boolean; readonly rss: boolean };
  readonly checksPassed: boolean;
}

export async function importPhase(bench: Bench): Promise<ImportResult> {
  const { world, root, plan } = bench;
  const dir = join(root, 'import');
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'pwsync.yaml');
  let t = performance.now();
  await writeSource(join(dir, 'people.csv'), plan.rows);
  await writeFile(configFile, configText(plan, world, './people.csv', `import of ${plan.rows} rows`, { query: IMPORT, ...(plan.importTimeout === undefined ? {} : { timeout: plan.importTimeout }) }));
  await initDataDirectory(configFile);
  console.log(`  source file of ${plan.rows.toLocaleString('en')} persons written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const child = spawn(process.execPath, [...process.execArgv, ENTRY, '--source-import', configFile], { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the source import exited with ${String(code)}`);
  const source = JSON.parse(await readFile(join(dir, 'source-report.json'), 'utf8')) as ImportReport;
  const sourceMs = performance.now() - t;
  console.log(`  source imported (child process, not timed): ${source.read.toLocaleString('en')} read, ${source.projected.toLocaleString('en')} persons projected in ${(sourceMs / 1000).toFixed(1)} s`);

  console.log(`\n[import] importSystem(ctx, 'app'): ${plan.rows.toLocaleString('en')} rows of ${world.dialect} through a cursor, joined by login; the runtime as \`pwsync import\` opens it; sql.timeout ${plan.importTimeout ?? 'at its default'}`);
  const rt = await openRuntime(configFile, { logLevel: 'warn' });
  const storeStats: ReadonlyMap<string, CallStats> | undefined = bench.breakdown ? instrument(rt.store) : undefined;
  try {
    const shown = progress('import app');
    const rssBeforeMiB = round2(process.memoryUsage.rss() / 2 ** 20);
    const maxRssBeforeMiB = peakRssMiB();
    const sampler = sampleRss(100);
    let rss: RssSamples | undefined;
    const m = await measured(bench, 'import', async () => {
      try {
        return await importSystem(rt.ctx, 'app', (p) => shown.tick(() => `${p.read.toLocaleString('en')} rows read, RSS ${round2(process.memoryUsage.rss() / 2 ** 20)} MiB`));
      } finally {
        rss = sampler.stop();
      }
    });
    const { profile } = m;
    const maxRssAfterMiB = peakRssMiB();
    const report = m.result;
    const samples = rss ?? { maxMiB: Number.NaN, samples: 0, maxGapMs: Number.NaN };
    const store = storeStats ? statsTable(storeStats) : undefined;
    const { persons, accounts, links } = await rt.store.counts();
    const seconds = m.wallMs / 1000;
    const checks = [
      ['rows read', report.read, plan.rows],
      ['joined', report.joined, plan.rows],
      ['ambiguous', report.ambiguous, 0],
      ['unmatched', report.unmatched, 0],
      ['links', links, 2 * plan.rows],
    ] as const;
    const wrong = checks.filter(([, got, want]) => got !== want);
    for (const [what, got, want] of wrong) console.log(`  CHECK FAILED: ${what}: ${got}, expected ${want}`);
    // The kernel's high-water mark is the import's peak when it rose during the import (a peak can fall between two samples).
    const peak = Math.max(samples.maxMiB, maxRssAfterMiB > maxRssBeforeMiB ? maxRssAfterMiB : 0);
    const result: ImportResult = {
      rows: plan.rows,
      report,
      wallMs: round2(m.wallMs),
      rowsPerSecond: Math.round(report.read / seconds),
      rssBeforeMiB,
      rss: samples,
      maxRssBeforeMiB,
      maxRssAfterMiB,
      peakRssMiB: peak,
      cpu: { processSeconds: round2(m.cpu.processSeconds), mainThreadSeconds: round2(m.cpu.mainThreadSeconds), databaseSeconds: round2(m.cpu.databaseSeconds), processCores: round2(m.cpu.processSeconds / seconds), databaseCores: round2(m.cpu.databaseSeconds / seconds) },
      loadAtStart: m.load,
      counts: { persons, accounts, links },
      source: { read: source.read, projected: source.projected, wallMs: round2(sourceMs) },
      ...(store ? { store } : {}),
      ...(profile ? { profile } : {}),
      // The MB are read as MiB, the stricter reading.
      met: { time: seconds < TARGET_IMPORT_SECONDS, rss: peak < TARGET_RSS_MB },
      checksPassed: wrong.length === 0,
    };
    console.log(`  ${report.read.toLocaleString('en')} rows in ${seconds.toFixed(2)} s: ${result.rowsPerSecond.toLocaleString('en')} rows/s, ${report.joined.toLocaleString('en')} joined, ${report.ambiguous} ambiguous, ${report.unmatched} unmatched (load ${m.load} at its start)`);
    console.log(`  RSS: ${rssBeforeMiB} MiB before; peak ${peak} MiB during the import (samples every 100 ms: at most ${samples.maxMiB} MiB, ${samples.samples} samples, longest gap ${samples.maxGapMs} ms; the kernel's high-water mark ${maxRssBeforeMiB} → ${maxRssAfterMiB} MiB)`);
    console.log(`  CPU: this process ${result.cpu.processSeconds} s (${result.cpu.processCores} cores; its main thread ${result.cpu.mainThreadSeconds} s), ${world.dialect} ${result.cpu.databaseSeconds} s (${result.cpu.databaseCores} cores)`);
    console.log(`  store: ${persons.toLocaleString('en')} persons, ${accounts.toLocaleString('en')} accounts, ${links.toLocaleString('en')} links`);
    if (result.store) {
      const held = Object.values(result.store).reduce((a, s) => a + s.syncMs, 0);
      console.log(`  store calls held the thread ${(held / 1000).toFixed(2)} s of ${seconds.toFixed(2)} s (${Math.round((100 * held) / m.wallMs)}%)`);
      printStats('import: store calls (--breakdown)', result.store);
    }
    return result;
  } finally {
    await rt.close();
  }
}
