/**
 * The sql connector against a private database (issue 5): importing a million rows, and password
 * sets per second through pwsync beside the same UPDATEs done directly in a loop.
 *
 *   node --import tsx bench/sql.ts [--dialect postgres|mariadb] [--phases import,sets] [--rows 1000000]
 *        [--import-timeout DURATION] [--hash '{SSHA512},argon2id,bcrypt=100'] [--users 2000] [--kdf-users 1000]
 *        [--concurrency 32] [--clients 2] [--workers 32] [--connections 2] [--durability durable|test]
 *        [--batch 500] [--sample 20]
 *        [--seed 1] [--profile] [--breakdown] [--json FILE] [--keep]
 *
 * The database is the sql connector's test database (`startSqlWorld`), a private server this
 * benchmark starts: TLS required, the table `app_users` (serial id, unique login, e-mail, password
 * hash, a trigger that sets `updated_at` on every update) and a service account that may read it
 * and update the hash. `--rows` rows are made on the server (`INSERT … SELECT` over
 * `generate_series`, as the superuser; ids 1…rows, logins `u0000001`…), then `VACUUM ANALYZE`d.
 * (`--dialect mariadb` uses MariaDB's `seq_1_to_N` and mysql2 for the direct loop.)
 *
 * **import**: a configuration with a file source of the same logins (`hr`) and the table (`app`,
 * the connector's test import query, joined on login; `sql.timeout` at its default unless
 * `--import-timeout` says otherwise: before f8c6c49 it also bounded the whole read). A child process
 * imports the source (as `pwsync import hr` would), so that this process holds only its own; then
 * this process opens the runtime as `pwsync import` does (the store on the caller's thread) and
 * times `importSystem(ctx, 'app')`: wall time, rows/s, joined (must equal `--rows`), and the RSS,
 * sampled every 100 ms during the import (with the kernel's high-water mark as a check), beside
 * what the process held just before it.
 *
 * **sets**, for each format of `--hash` (`--users` users for the salted digests, `--kdf-users`
 * for the key-derivation functions, whose hash dominates, `format=N` N users), on the rows with ids 1…users, after one
 * direct set per user as a warm-up (not counted):
 *
 * - **direct, sequential**: one driver client (TLS verified, as the service account, connected
 *   before the clock); per user the password hashed with the core's `hashSecret`, then
 *   `UPDATE app_users SET password_hash = $1 WHERE id = $2` (autocommit), one after the other —
 *   a script's loop. Again in a transaction (BEGIN, UPDATE, COMMIT), as the connector writes.
 * - **direct, concurrent**: `--concurrency` users in flight on `--clients` clients (for reference).
 * - **connector**: `SqlConnector.setPassword(id, …)` alone, sequential and `--concurrency` in flight.
 * - **engine**: its own configuration (a file source of the users, the table joined on login,
 *   `password.hash` the format, `log.level: info` to a file), imported in a runtime of its own;
 *   then `openRuntime` as `pwsync server` opens it (delivery workers, the store on its thread) and
 *   one change per user through `submitChanges` in batches of `--batch`, timed from the first
 *   submit until the store says every job is done. Round 1 is the first change of each account
 *   since the runtime opened (cold); round 2 the same again on the same runtime (steady state).
 * - the direct phases again at the end; the ratios use the mean of the two.
 *
 * After each phase, `--sample` users picked at random must have a stored hash that verifies
 * (`verifySecret`) with the password that phase set, and every set must have succeeded; a phase
 * that set nothing fails the run. CPU time of this process (every thread, and its main thread)
 * and of the database server (the server process and its children) is read for each phase.
 * `--profile` profiles the main thread during every timed phase (node:inspector; it slows them).
 * `--breakdown` times every store call of the import and the engine phases.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { initDataDirectory } from '../src/cli/setup.ts';
import { DEFAULT_WORKERS } from '../src/config/schema.ts';
import type { SqlConnector } from '../src/connectors/sql/index.ts';
import type { Dialect } from '../src/connectors/sql/named-params.ts';
import { APP_DATABASE, IMPORT, SERVICE_USER, SET_HASH, startSqlWorld, VERIFY, type ServerSettings, type SqlWorld } from '../src/connectors/sql/test-support.ts';
import { Secret } from '../src/core/secret.ts';
import { hashSecret, hashSpecSchema, verifySecret, type HashSpec } from '../src/crypto/hash/index.ts';
import { openRuntime } from '../src/main.ts';
import { importSystem, type ImportReport } from '../src/sync/importer.ts';
import { writeCsv } from './data.ts';
import {
  describeMachine, formatPercentiles, inFlightPool, instrument, intOption, percentiles, printMachine, printStats, progress, round2, sampleRss,
  seededRandom, statsTable, writeJson, type CallStats, type Percentiles, type RssSamples,
} from './lib.ts';
import { changeRequests, openEngine, runChanges, startPhase, type Engine, type EngineRun } from './engine-run.ts';
import { printProfile, summarizeProfile, type ProfileSummary } from './profile.ts';

/** Targets (issue 5): 1,000,000 rows imported in under 60 s with an RSS under 500 MB; pwsync's sets at least 0.8 of the direct loop's. */
const TARGET_IMPORT_SECONDS = 60;
const TARGET_RSS_MB = 500;
const TARGET_RATIO = 0.8;
const DRAIN_TIMEOUT_MS = 300_000;
const CLK_TCK = 100;
const PASSWORD_ENV = 'PWSYNC_BENCH_SQL_PW';
/** Formats that are one salted digest (microseconds); the others are key-derivation functions. */
const DIGESTS: readonly string[] = ['{SSHA512}', '{SSHA}'];

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'postgres' },
    phases: { type: 'string', default: 'import,sets' },
    rows: { type: 'string', default: '1000000' },
    'import-timeout': { type: 'string' },
    hash: { type: 'string', default: '{SSHA512},argon2id' },
    users: { type: 'string', default: '2000' },
    'kdf-users': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    clients: { type: 'string' },
    workers: { type: 'string', default: String(DEFAULT_WORKERS) },
    connections: { type: 'string', default: '2' },
    durability: { type: 'string', default: 'durable' },
    batch: { type: 'string', default: '500' },
    sample: { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    breakdown: { type: 'boolean', default: false },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    /** Internal: the child process that imports the source of the configuration FILE. */
    'source-import': { type: 'string' },
  },
});

/** In the child: `pwsync import hr`, its report written beside the configuration. */
async function sourceImport(configFile: string): Promise<void> {
  const rt = await openRuntime(configFile, { logLevel: 'warn' });
  try {
    const shown = progress('import of the source (child process, not timed)');
    const r = await importSystem(rt.ctx, 'hr', (p) => shown.tick(() => `${p.read.toLocaleString('en')} persons read`));
    await writeFile(join(dirname(configFile), 'source-report.json'), JSON.stringify(r));
  } finally {
    await rt.close();
  }
}

// Options -------------------------------------------------------------------------------------

interface Plan {
  readonly dialect: 'postgres' | 'mariadb';
  readonly import: boolean;
  readonly sets: boolean;
  readonly rows: number;
  /** `sql.timeout` of the import's configuration; absent, the schema's default. */
  readonly importTimeout?: string;
  readonly hashes: readonly string[];
  readonly users: number;
  readonly kdfUsers: number;
  /** Users of the formats given as `format=users` in `--hash`. */
  readonly userCounts: ReadonlyMap<string, number>;
  readonly concurrency: number;
  readonly clients: number;
  readonly workers: number;
  readonly connections: number;
  /** `durable`: the server's own defaults, every commit flushed to the disk; `test`: the test harness's `fsync=off`. */
  readonly durability: Durability;
  readonly batch: number;
  readonly sample: number;
  readonly seed: number;
}

function parsePlan(): Plan {
  const int = intOption;
  const dialect = args.dialect;
  if (dialect !== 'postgres' && dialect !== 'mariadb') throw new Error('--dialect must be postgres or mariadb');
  const phases = args.phases.split(',').map((s) => s.trim());
  for (const p of phases) if (p !== 'import' && p !== 'sets') throw new Error('--phases lists import and/or sets');
  // `format` or `format=users` (a slow key-derivation function at its defaults needs fewer users).
  const userCounts = new Map<string, number>();
  const hashes = args.hash
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const [format = '', count] = item.split('=');
      hashSpecSchema.parse(format);
      if (count !== undefined) userCounts.set(format, int(`hash ${format}`, count, 1));
      return format;
    });
  const connections = int('connections', args.connections, 1);
  const durability = args.durability;
  if (durability !== 'durable' && durability !== 'test') throw new Error('--durability must be durable or test');
  const plan: Plan = {
    dialect,
    durability,
    import: phases.includes('import'),
    sets: phases.includes('sets'),
    rows: int('rows', args.rows, 1),
    ...(args['import-timeout'] === undefined ? {} : { importTimeout: args['import-timeout'] }),
    hashes,
    users: int('users', args.users, 1),
    kdfUsers: int('kdf-users', args['kdf-users'], 1),
    userCounts,
    concurrency: int('concurrency', args.concurrency, 1),
    clients: int('clients', args.clients ?? String(connections), 1),
    workers: int('workers', args.workers, 1),
    connections,
    batch: int('batch', args.batch, 1),
    sample: int('sample', args.sample, 1),
    seed: int('seed', args.seed, 0),
  };
  if (plan.sets && hashes.length === 0) throw new Error('--hash names no format');
  if (plan.sets && Math.max(plan.users, plan.kdfUsers, ...userCounts.values()) > plan.rows) throw new Error('--rows must be at least --users, --kdf-users and every format=users');
  return plan;
}

type Durability = 'durable' | 'test';

/**
 * The settings over the harness's for `durability`. `durable` gives back what the harness turns off
 * for speed, the servers' own defaults: PostgreSQL flushes the WAL at every commit (`fsync`,
 * `synchronous_commit`), MariaDB its redo log (`innodb_flush_log_at_trx_commit=1`). A production
 * database runs so; the direct loop and pwsync pay the same flush per commit.
 */
function durabilitySettings(dialect: Dialect, durability: Durability): ServerSettings {
  if (durability === 'test') return {};
  return dialect === 'postgres' ? { fsync: 'on', synchronous_commit: 'on' } : { 'innodb-flush-log-at-trx-commit': '1' };
}

const plan = parsePlan();
const usersFor = (format: string): number => plan.userCounts.get(format) ?? (DIGESTS.includes(format) ? plan.users : plan.kdfUsers);

// Helpers -------------------------------------------------------------------------------------

function loginOf(id: number): string {
  return `u${String(id).padStart(7, '0')}`;
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

interface Measured<T> {
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
async function measured<T>(world: SqlWorld, root: string, name: string, work: () => Promise<T>): Promise<Measured<T>> {
  const loadAtStart = load();
  const db0 = await databaseCpuSeconds(world.server.pid);
  const session = args.profile ? new Session() : undefined;
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

/** The configuration an administrator would write for the table; `extra` goes into the app system's sql block. */
function configText(world: SqlWorld, sourceCsv: string, what: string, extra: { readonly query: string; readonly hash?: string; readonly timeout?: string }): string {
  return `# Generated by bench/sql.ts: ${what}
dataDir: ./data
log: { level: info, file: ./pwsync.log }
server: { workers: ${plan.workers} }
systems:
  - name: hr
    connector: file
    file: { path: ${sourceCsv} }
    source: { accountAttribute: login }
    import: { anchor: id, map: { login: login } }
  - name: app
    connector: sql
    sql:
      dialect: ${world.dialect}
      host: ${world.server.host}
      port: ${world.server.port}
      database: ${APP_DATABASE}
      user: ${SERVICE_USER}
      password: \${${PASSWORD_ENV}}
      tls: { ca: ${world.server.caFile} }
      connections: ${plan.connections}${extra.timeout === undefined ? '' : `\n      timeout: ${extra.timeout}`}
      query: ${JSON.stringify(extra.query)}
      setPassword: { statement: ${JSON.stringify(SET_HASH)} }
      verifyQuery: ${JSON.stringify(VERIFY)}
    import: { anchor: id, map: { login: login, mail: email } }
    join: [{ person: login, account: login }]
    password: { sync: true${extra.hash === undefined ? '' : `, hash: ${JSON.stringify(extra.hash)}`}, retry: { count: 3, interval: 1s } }
`;
}

/** `id,login` for ids 1…n, a few thousand lines a write. */
async function writeSource(file: string, n: number): Promise<void> {
  await writeCsv(file, ['id', 'login'], (function* () {
    for (let id = 1; id <= n; id++) yield [String(id), loginOf(id)];
  })());
}

// The table -----------------------------------------------------------------------------------

/** `rows` rows made on the server, ids 1…rows, logins u0000001…; then VACUUM ANALYZE. */
async function fillTable(world: SqlWorld, rows: number): Promise<number> {
  const t = performance.now();
  if (world.dialect === 'postgres') {
    await world.exec(
      `INSERT INTO app_users (id, login, email)
       SELECT g, 'u' || lpad(g::text, 7, '0'), 'u' || lpad(g::text, 7, '0') || '@example.test' FROM generate_series(1, $1::int) AS g`,
      [rows],
    );
    await world.exec(`SELECT setval('app_users_id_seq', $1::int)`, [rows]);
    await world.exec('VACUUM ANALYZE app_users');
  } else {
    // MariaDB's sequence engine: seq_1_to_N is a table of 1…N.
    await world.exec(`INSERT INTO app_users (id, login, email) SELECT seq, CONCAT('u', LPAD(seq, 7, '0')), CONCAT('u', LPAD(seq, 7, '0'), '@example.test') FROM seq_1_to_${rows}`);
    await world.exec('ANALYZE TABLE app_users');
  }
  const [row] = await world.exec('SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM app_users');
  const [n, lo, hi] = [Number(row?.['n']), Number(row?.['lo']), Number(row?.['hi'])];
  if (n !== rows || lo !== 1 || hi !== rows) throw new Error(`app_users holds ${n} rows with ids ${lo}…${hi}, expected 1…${rows}`);
  return performance.now() - t;
}

// Import --------------------------------------------------------------------------------------

interface ImportResult {
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
  readonly store?: ReturnType<typeof statsTable>;
  readonly profile?: ProfileSummary;
  readonly met: { readonly time: boolean; readonly rss: boolean };
  readonly checksPassed: boolean;
}

async function importPhase(world: SqlWorld, root: string): Promise<ImportResult> {
  const dir = join(root, 'import');
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'pwsync.yaml');
  let t = performance.now();
  await writeSource(join(dir, 'people.csv'), plan.rows);
  await writeFile(configFile, configText(world, './people.csv', `import of ${plan.rows} rows`, { query: IMPORT, ...(plan.importTimeout === undefined ? {} : { timeout: plan.importTimeout }) }));
  await initDataDirectory(configFile);
  console.log(`  source file of ${plan.rows.toLocaleString('en')} persons written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, script, '--source-import', configFile], { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the source import exited with ${String(code)}`);
  const source = JSON.parse(await readFile(join(dir, 'source-report.json'), 'utf8')) as ImportReport;
  const sourceMs = performance.now() - t;
  console.log(`  source imported (child process, not timed): ${source.read.toLocaleString('en')} read, ${source.projected.toLocaleString('en')} persons projected in ${(sourceMs / 1000).toFixed(1)} s`);

  console.log(`\n[import] importSystem(ctx, 'app'): ${plan.rows.toLocaleString('en')} rows of ${world.dialect} through a cursor, joined by login; the runtime as \`pwsync import\` opens it; sql.timeout ${plan.importTimeout ?? 'at its default'}`);
  const rt = await openRuntime(configFile, { logLevel: 'warn' });
  const storeStats: ReadonlyMap<string, CallStats> | undefined = args.breakdown ? instrument(rt.store) : undefined;
  try {
    const shown = progress('import app');
    const rssBeforeMiB = round2(process.memoryUsage.rss() / 2 ** 20);
    const maxRssBeforeMiB = round2(process.resourceUsage().maxRSS / 1024);
    const sampler = sampleRss(100);
    let rss: RssSamples | undefined;
    const m = await measured(world, root, 'import', async () => {
      try {
        return await importSystem(rt.ctx, 'app', (p) => shown.tick(() => `${p.read.toLocaleString('en')} rows read, RSS ${round2(process.memoryUsage.rss() / 2 ** 20)} MiB`));
      } finally {
        rss = sampler.stop();
      }
    });
    const { profile } = m;
    const maxRssAfterMiB = round2(process.resourceUsage().maxRSS / 1024);
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
      // The issue's MB are read as MiB, the stricter reading.
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

// Password sets -------------------------------------------------------------------------------

interface Phase {
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
  readonly store?: ReturnType<typeof statsTable>;
  readonly profile?: ProfileSummary;
}

interface HashRun {
  readonly hash: string;
  readonly users: number;
  readonly phases: readonly Phase[];
  readonly direct: { readonly sequential: number; readonly concurrent: number };
  readonly ratios: Readonly<Record<string, number>>;
  readonly met: { readonly round1: boolean; readonly round2: boolean };
  readonly checksPassed: boolean;
}

/** A driver connection as a script opens it: TLS verified against the CA, as the service account. */
interface DirectClient {
  /** Rows changed. `inTransaction`: BEGIN, the UPDATE, then COMMIT (ROLLBACK unless one row changed), as the connector does. */
  update(hash: string, id: number, inTransaction?: boolean): Promise<number>;
  close(): Promise<void>;
}

interface Statements {
  exec(text: string): Promise<void>;
  update(hash: string, id: number): Promise<number>;
  close(): Promise<void>;
}

/** One statement at a time on the connection: the lanes that share it wait their turn (pg 8 would queue them too, deprecated). */
function oneAtATime(db: Statements): DirectClient {
  let tail: Promise<unknown> = Promise.resolve();
  const inTransaction = async (hash: string, id: number): Promise<number> => {
    await db.exec('BEGIN');
    let changed: number;
    try {
      changed = await db.update(hash, id);
    } catch (e) {
      await db.exec('ROLLBACK');
      throw e;
    }
    await db.exec(changed === 1 ? 'COMMIT' : 'ROLLBACK');
    return changed;
  };
  return {
    update(hash, id, transaction = false) {
      const run = tail.then(() => (transaction ? inTransaction(hash, id) : db.update(hash, id)));
      tail = run.catch(() => undefined);
      return run;
    },
    close: () => db.close(),
  };
}

async function directClient(world: SqlWorld): Promise<DirectClient> {
  const ca = await readFile(world.server.caFile);
  const { host, port } = world.server;
  if (world.dialect === 'postgres') {
    const client = new pg.Client({ host, port, database: APP_DATABASE, user: SERVICE_USER, password: world.servicePassword, ssl: { ca, rejectUnauthorized: true } });
    await client.connect();
    return oneAtATime({
      async exec(text) {
        await client.query(text);
      },
      async update(hash, id) {
        return (await client.query('UPDATE app_users SET password_hash = $1 WHERE id = $2', [hash, id])).rowCount ?? 0;
      },
      close: () => client.end(),
    });
  }
  const conn = await mysql.createConnection({ host, port, database: APP_DATABASE, user: SERVICE_USER, password: world.servicePassword, ssl: { ca, rejectUnauthorized: true, verifyIdentity: true } });
  return oneAtATime({
    async exec(text) {
      await conn.query(text);
    },
    async update(hash, id) {
      const [result] = await conn.query<mysql.ResultSetHeader>('UPDATE app_users SET password_hash = ? WHERE id = ?', [hash, id]);
      return result.affectedRows;
    },
    close: () => conn.end(),
  });
}

const tag = randomBytes(3).toString('hex');
let phaseNumber = 0;

/** One password per user for a phase: unique per phase and user. */
function passwordsFor(users: number): string[] {
  const n = ++phaseNumber;
  return Array.from({ length: users }, (_, i) => `Sq-${tag}-${n}-${i + 1}-pW9!`);
}

/** `sample` users picked at random (seeded): the stored hash must verify with this phase's password. */
async function verify(world: SqlWorld, passwords: readonly string[], salt: number): Promise<number> {
  const random = seededRandom(plan.seed * 1000 + salt);
  const picked = new Set<number>();
  while (picked.size < Math.min(plan.sample, passwords.length)) picked.add(Math.floor(random() * passwords.length));
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
  return ok;
}

function phase(name: string, sets: number, failed: number, durations: readonly number[], m: { wallMs: number; cpu: Cpu; load: number }, verified: number): Phase {
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
    verified,
    sampled: Math.min(plan.sample, sets),
    loadAtStart: m.load,
  };
}

function report(p: Phase): void {
  console.log(`  ${(p.sets - p.failed).toLocaleString('en')} of ${p.sets.toLocaleString('en')} sets in ${(p.wallMs / 1000).toFixed(2)} s: ${p.perSecond.toLocaleString('en')} sets/s (load ${p.loadAtStart} at its start)`);
  console.log(`  per set: ${formatPercentiles(p.latency)}`);
  if (p.submit) console.log(`  submitChanges per batch of ${plan.batch}: ${formatPercentiles(p.submit)}; last set returned at ${((p.lastSetMs ?? 0) / 1000).toFixed(2)} s, every job done at ${(p.wallMs / 1000).toFixed(2)} s`);
  if (p.jobs) console.log(`  jobs by state at the end: ${JSON.stringify(p.jobs)}`);
  console.log(`  CPU per set: this process ${p.cpu.processMsPerSet} ms (${p.cpu.processCores} cores; its main thread ${p.cpu.mainThreadMsPerSet} ms), ${plan.dialect} ${p.cpu.databaseMsPerSet} ms (${p.cpu.databaseCores} cores)`);
  console.log(`  ${p.verified} of ${p.sampled} sampled users' stored hashes verify with their new password`);
}

async function directPhase(world: SqlWorld, root: string, spec: HashSpec, users: number, clients: readonly DirectClient[], inFlight: number, name: string, inTransaction = false): Promise<Phase> {
  const how = inFlight === 1 ? 'one after the other on one client' : `${inFlight} in flight on ${clients.length} client${clients.length === 1 ? '' : 's'}`;
  console.log(`\n[${name}] hashSecret(${spec.format}) + ${inTransaction ? 'BEGIN, UPDATE … WHERE id = $2, COMMIT' : 'UPDATE … WHERE id = $2 (autocommit)'}, connected before the clock, ${how}`);
  const passwords = passwordsFor(users);
  const secrets = passwords.map((p) => Secret.fromString(p));
  let failed = 0;
  let done = 0;
  const shown = progress(name);
  try {
    const m = await measured(world, root, name, () =>
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
    const p: Phase = { ...phase(name, users, failed, m.result, m, await verify(world, passwords, phaseNumber)), ...(m.profile ? { profile: m.profile } : {}) };
    report(p);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}

/** The connector alone: `SqlConnector.setPassword(id, …)` as the engine's deliveries call it, its connections opened before the clock. */
async function connectorPhase(world: SqlWorld, root: string, connector: SqlConnector, users: number, inFlight: number, name: string): Promise<Phase> {
  console.log(`\n[${name}] SqlConnector.setPassword by id (hash; ${plan.dialect === 'postgres' ? 'the UPDATE, then Sync or ROLLBACK: two round trips' : 'BEGIN, the UPDATE, COMMIT'}), sql.connections ${plan.connections}, ${inFlight === 1 ? 'one after the other' : `${inFlight} in flight`}`);
  const passwords = passwordsFor(users);
  const secrets = passwords.map((p) => Secret.fromString(p));
  let failed = 0;
  let done = 0;
  const shown = progress(name);
  try {
    const m = await measured(world, root, name, () =>
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
    const p: Phase = { ...phase(name, users, failed, m.result, m, await verify(world, passwords, phaseNumber)), ...(m.profile ? { profile: m.profile } : {}) };
    report(p);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}


/** The configuration for one hash format; `pwsync init` and `pwsync import` in a runtime of their own. */
async function prepareEngine(world: SqlWorld, root: string, format: string, users: number): Promise<string> {
  const dir = join(root, `sets-${format.replace(/[^A-Za-z0-9]/g, '')}`);
  await mkdir(dir, { recursive: true });
  await writeSource(join(dir, 'people.csv'), users);
  const configFile = join(dir, 'pwsync.yaml');
  // The rows of the users only: the rest of the table is the import's.
  const query = `${IMPORT} WHERE id <= ${users}`;
  await writeFile(configFile, configText(world, './people.csv', `password sets, ${format}`, { query, hash: format }));
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


async function enginePhase(world: SqlWorld, root: string, engine: Engine, users: number, name: string, what: string): Promise<Phase> {
  console.log(`\n[${name}] submitChanges in batches of ${plan.batch} → store (its thread) → ${plan.workers} workers → sql connector (${plan.connections} connections); ${what}`);
  const { sets } = engine;
  const passwords = passwordsFor(users);
  const { requests, secrets } = changeRequests(Array.from({ length: users }, (_, i) => loginOf(i + 1)), passwords);
  const doneBefore = await startPhase(engine);
  try {
    let run: EngineRun | undefined;
    const m = await measured(world, root, name, async () => {
      run = await runChanges(engine, requests, plan.batch, name, doneBefore, DRAIN_TIMEOUT_MS);
      return run.notDone;
    });
    if (run === undefined) throw new Error('the engine phase did not run');
    const p: Phase = {
      ...phase(name, users, m.result, Array.from({ length: users }, (_, i) => sets.durations[i] ?? Number.POSITIVE_INFINITY), m, await verify(world, passwords, phaseNumber)),
      latency: percentiles(sets.durations),
      submit: percentiles(run.submitMs),
      lastSetMs: round2(sets.lastAt - run.startedAt),
      jobs: run.jobs,
      ...(engine.storeStats ? { store: statsTable(engine.storeStats) } : {}),
      ...(m.profile ? { profile: m.profile } : {}),
    };
    report(p);
    if (p.store) printStats(`${name}: store calls (--breakdown; "thread held" is the post to the store thread, "call→settled" until its answer)`, p.store);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}

async function setsFor(world: SqlWorld, root: string, format: string): Promise<HashRun> {
  const users = usersFor(format);
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
  const configFile = await prepareEngine(world, root, format, users);
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
    phases.push(await directPhase(world, root, spec, users, first, 1, name('direct-sequential')));
    phases.push(await directPhase(world, root, spec, users, first, 1, name('direct-sequential-transaction'), true));
    phases.push(await directPhase(world, root, spec, users, clients, plan.concurrency, name('direct-concurrent')));
    for (const inFlight of [1, plan.concurrency]) {
      const connector = world.connector({ connections: plan.connections }, { password: { sync: true, hash: format } });
      try {
        await connector.prepare();
        phases.push(await connectorPhase(world, root, connector, users, inFlight, name(inFlight === 1 ? 'connector-sequential' : 'connector-concurrent')));
      } finally {
        await connector.close();
      }
    }
    engine = await openEngine(configFile, 'app', args.breakdown);
    phases.push(await enginePhase(world, root, engine, users, name('engine-round1'), "the first change of each account since the server started: the target's preparation (its connections) started at open"));
    phases.push(await enginePhase(world, root, engine, users, name('engine-round2'), 'the same runtime again (steady state)'));
    await engine.rt.close();
    engine = undefined;
    phases.push(await directPhase(world, root, spec, users, clients, plan.concurrency, name('direct-concurrent-again')));
    phases.push(await directPhase(world, root, spec, users, first, 1, name('direct-sequential-again')));
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

// Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'pwsync-bench-sql-'));
  const machine = describeMachine(root);
  printMachine(machine);
  const what = [plan.import ? `import of ${plan.rows.toLocaleString('en')} rows` : '', plan.sets ? `password sets (${plan.hashes.join(', ')}), ${plan.concurrency} in flight where concurrent, ${plan.clients} direct clients, server.workers ${plan.workers}, sql.connections ${plan.connections}, batches of ${plan.batch}` : ''];
  console.log(`measured on this machine. sql (${plan.dialect}): ${what.filter((s) => s !== '').join('; ')}`);
  let imported: ImportResult | undefined;
  let importError: string | undefined;
  const runs: HashRun[] = [];
  let serverVersion = 'unknown';
  const t = performance.now();
  const world = await startSqlWorld(plan.dialect, durabilitySettings(plan.dialect, plan.durability));
  process.env[PASSWORD_ENV] = world.servicePassword;
  try {
    const [v] = await world.exec('SELECT version() AS v');
    const version = v?.['v'];
    if (typeof version === 'string') serverVersion = (version.split(' on ')[0] ?? version).split(',')[0] ?? version;
    const [flush] = await world.exec(
      plan.dialect === 'postgres'
        ? "SELECT 'fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') AS f"
        : "SELECT CONCAT('innodb_flush_log_at_trx_commit=', @@innodb_flush_log_at_trx_commit) AS f",
    );
    console.log(`  ${serverVersion} started (TLS required; ${plan.durability}: ${String(flush?.['f'])}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const rows = plan.import ? plan.rows : Math.max(plan.users, plan.kdfUsers, ...plan.userCounts.values());
    console.log(`  filling app_users with ${rows.toLocaleString('en')} rows on the server (INSERT … SELECT, then VACUUM ANALYZE)…`);
    const fillMs = await fillTable(world, rows);
    console.log(`  ${rows.toLocaleString('en')} rows in ${(fillMs / 1000).toFixed(1)} s`);
    if (plan.import) {
      try {
        imported = await importPhase(world, root);
      } catch (e) {
        importError = e instanceof Error ? `${'code' in e ? `${String(e.code)}: ` : ''}${e.message}` : String(e);
        console.log(`  IMPORT FAILED: ${importError}`);
      }
    }
    if (plan.sets) for (const format of plan.hashes) runs.push(await setsFor(world, root, format));
  } finally {
    await world.stop();
    Reflect.deleteProperty(process.env, PASSWORD_ENV);
    if (args.keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }

  const code = `${machine.source.commit}${machine.source.changed.length > 0 ? ' + uncommitted changes' : ''}`;
  console.log(`\nsql summary (${serverVersion}, TLS, durability ${plan.durability}; measured on this machine: ${machine.cores} cores ${machine.cpuModel}, Node ${machine.node}, commit ${code}):`);
  if (imported) {
    const i = imported;
    console.log(`  import of ${i.rows.toLocaleString('en')} rows, joined: ${(i.wallMs / 1000).toFixed(2)} s, ${i.rowsPerSecond.toLocaleString('en')} rows/s, ${i.report.joined.toLocaleString('en')} joined — target < ${TARGET_IMPORT_SECONDS} s: ${i.met.time ? 'met' : 'MISSED'}`);
    console.log(`  peak RSS during the import ${i.peakRssMiB} MiB (${i.rssBeforeMiB} MiB before it) — target < ${TARGET_RSS_MB} MB: ${i.met.rss ? 'met' : 'MISSED'}`);
  }
  for (const r of runs) {
    console.log(`  ${r.hash}, ${r.users.toLocaleString('en')} users:`);
    console.log(`    ${'phase'.padEnd(30)} ${'sets/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU ms/set'.padStart(11)} ${'main ms/set'.padStart(12)} ${'db ms/set'.padStart(10)} ${'verified'.padStart(9)}`);
    for (const p of r.phases) {
      console.log(`    ${p.name.slice(r.hash.length + 1).padEnd(30)} ${p.perSecond.toLocaleString('en').padStart(9)} ${String(p.latency.p50).padStart(8)} ${String(p.latency.p99).padStart(8)} ${String(p.cpu.processMsPerSet).padStart(11)} ${String(p.cpu.mainThreadMsPerSet).padStart(12)} ${String(p.cpu.databaseMsPerSet).padStart(10)} ${`${p.verified}/${p.sampled}`.padStart(9)}`);
    }
    console.log(`    direct, mean of before and after: sequential ${r.direct.sequential}/s, ${plan.concurrency} in flight ${r.direct.concurrent}/s`);
    console.log(`    pwsync round 1 (cold) / direct sequential: ${r.ratios['round1VsDirectSequential']} — target ≥ ${TARGET_RATIO}: ${r.met.round1 ? 'met' : 'MISSED'}`);
    console.log(`    pwsync round 2 (steady) / direct sequential: ${r.ratios['round2VsDirectSequential']} — target ≥ ${TARGET_RATIO}: ${r.met.round2 ? 'met' : 'MISSED'}`);
    console.log(`    pwsync round 1 / round 2 against direct ${plan.concurrency} in flight: ${r.ratios['round1VsDirectConcurrent']} / ${r.ratios['round2VsDirectConcurrent']}`);
    console.log(`    direct in a transaction (BEGIN, UPDATE, COMMIT) / direct autocommit, sequential: ${r.ratios['directTransactionVsDirectSequential']}`);
    console.log(`    connector alone / direct: sequential ${r.ratios['connectorSequentialVsDirectSequential']}, ${plan.concurrency} in flight ${r.ratios['connectorConcurrentVsDirectConcurrent']}; pwsync round 2 / connector ${plan.concurrency} in flight: ${r.ratios['round2VsConnectorConcurrent']}`);
  }
  if (importError !== undefined) console.log(`  import of ${plan.rows.toLocaleString('en')} rows: FAILED (${importError})`);
  const checksPassed = importError === undefined && (imported?.checksPassed ?? true) && runs.every((r) => r.checksPassed) && (plan.import || runs.length > 0);
  if (!checksPassed) {
    console.log('  CHECK FAILED: a wrong import count, a set that failed or was not done, or a sampled hash that does not verify');
    process.exitCode = 1;
  }
  if (args.json !== undefined) {
    await writeJson(args.json, {
      benchmark: 'sql',
      machine,
      server: serverVersion,
      durability: plan.durability,
      plan,
      ...(imported ? { import: imported } : {}),
      ...(importError === undefined ? {} : { importError }),
      sets: runs,
      targets: { importSeconds: TARGET_IMPORT_SECONDS, rssMB: TARGET_RSS_MB, ratio: TARGET_RATIO },
      checksPassed,
    });
  }
}

if (args['source-import'] !== undefined) await sourceImport(args['source-import']);
else await main();
