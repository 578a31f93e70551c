/**
 * Password sets per second against a local OpenLDAP through pwsync, beside the same sets done
 * directly with the client library (ldapts) in a loop, as a ratio. Target (issue 4): pwsync at
 * least 0.8 of the direct loop.
 *
 *   node --import tsx bench/ldap-sets.ts [--users 2000] [--concurrency 32] [--workers 32]
 *        [--connections 2] [--batch 500] [--sample 20] [--transport starttls|ldaps]
 *        [--seed 1] [--profile] [--breakdown] [--json FILE] [--keep]
 *
 * The directory is the ldap connector's test directory (`startOpenLdapWorld`): a private slapd
 * with TLS, the ppolicy overlay (minimum length 8) and a service account that may write passwords
 * by ACL. N users are added through one rootdn connection, then every entry gets one password set
 * (a warm-up, not counted: each entry then carries ppolicy's pwdChangedTime, as later sets find it).
 * Every set is the Password Modify extended operation (RFC 3062) as the service account, over the
 * transport pwsync's configuration uses (`--transport`, StartTLS on ldap:// by default). Every
 * phase sets a new password on each of the N users, so each phase writes N entries:
 *
 * - **direct, sequential**: one ldapts Client, StartTLS (or LDAPS) and bound before the clock,
 *   `exop(1.3.6.1.4.1.4203.1.11.1)` for each user one after the other, DNs known — a script's loop.
 * - **direct, concurrent**: the same client, `--concurrency` operations in flight on it.
 * - **connector**: `LdapConnector.setPassword(entryUUID, …)`, sequential and `--concurrency` in
 *   flight, each with a fresh connector (its first set of an account looks up the DN: "cold") and
 *   then again on the same connector (DNs remembered: "warm"). `ldap.connections` as configured.
 * - **engine**: a real configuration (a file source of the N logins, the directory joined on
 *   login = uid, `password.sync: true`), `pwsync init` and `pwsync import` in a runtime of their own,
 *   then `openRuntime` as `pwsync server` opens it (delivery workers, the store on its thread), and
 *   one change per user through `submitChanges` in batches of `--batch`, one batch after another;
 *   timed from the first submit until every job is `done` in the store. Round 1 is the first change
 *   of each account since the server started (its connector looks each DN up, and opens its
 *   connections inside the clock); round 2 the same again on the same runtime (DNs remembered).
 * - the direct phases again at the end, so that drift during the run (the machine, the database)
 *   shows; the direct figures the ratios use are the mean of the two.
 *
 * After every phase, `--sample` users picked at random must bind with the password that phase set
 * (a phase that sets nothing fails the run), and every set must have succeeded. CPU time of this
 * process (all its threads) and of slapd is read for each phase. `--profile` profiles the main
 * thread during the direct concurrent phase, the connector's warm concurrent phase and engine
 * round 1 (node:inspector; slows them, so do not compare those figures with unprofiled runs).
 * `--breakdown` times every store call of the engine phases (a few microseconds each).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from 'ldapts';
import { initDataDirectory } from '../src/cli/setup.ts';
import { DEFAULT_WORKERS } from '../src/config/schema.ts';
import { PASSWORD_MODIFY_OID, passwordModifyRequest } from '../src/connectors/ldap/password.ts';
import { PEOPLE, SERVICE_DN, startOpenLdapWorld, type OpenLdapWorld } from '../test/support/connectors/ldap.ts';
import type { LdapConnector } from '../src/connectors/ldap/index.ts';
import { Secret } from '../src/core/secret.ts';
import { tlsOptions } from '../src/ldap-client/tls.ts';
import { openRuntime } from '../src/main.ts';
import { importSystem } from '../src/sync/importer.ts';
import {
  describeMachine, formatPercentiles, intOption, percentiles, printMachine, printStats, progress, round2, seededRandom, statsTable,
  writeJson, type Percentiles,
} from './lib.ts';
import { changeRequests, openEngine, runChanges, startPhase, type Engine, type EngineRun } from './engine-run.ts';
import { printProfile, summarizeProfile, type ProfileSummary } from './profile.ts';

/** Target (issue 4): pwsync's sets per second at least this share of the direct loop's. */
const TARGET_RATIO = 0.8;
const DRAIN_TIMEOUT_MS = 120_000;
const CLK_TCK = 100;
const PASSWORD_ENV = 'PWSYNC_BENCH_LDAP_PW';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    workers: { type: 'string', default: String(DEFAULT_WORKERS) },
    connections: { type: 'string', default: '2' },
    batch: { type: 'string', default: '500' },
    sample: { type: 'string', default: '20' },
    transport: { type: 'string', default: 'starttls' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    breakdown: { type: 'boolean', default: false },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const int = intOption;
if (args.transport !== 'starttls' && args.transport !== 'ldaps') throw new Error('--transport must be starttls or ldaps');
const plan = {
  users: int('users', args.users, 1),
  concurrency: int('concurrency', args.concurrency, 1),
  workers: int('workers', args.workers, 1),
  connections: int('connections', args.connections, 1),
  batch: int('batch', args.batch, 1),
  sample: int('sample', args.sample, 1),
  transport: args.transport,
  seed: int('seed', args.seed, 0),
};

interface User {
  readonly uid: string;
  readonly dn: string;
  readonly uuid: string;
}

interface Phase {
  readonly name: string;
  readonly sets: number;
  readonly failed: number;
  readonly wallMs: number;
  readonly perSecond: number;
  /** Per set (direct, connector) or per `setPassword` inside the engine: call → settled. */
  readonly latency: Percentiles;
  /** CPU per set: this process (every thread) and slapd, in ms. */
  readonly cpu: { readonly processMsPerSet: number; readonly slapdMsPerSet: number; readonly processCores: number; readonly slapdCores: number };
  /** Of the sampled users, how many bind with the password this phase set. */
  readonly verified: number;
  readonly sampled: number;
  readonly loadAtStart: number;
  /** Engine only: each `submitChanges` batch, call → answered; and when the last set returned. */
  readonly submit?: Percentiles;
  readonly lastSetMs?: number;
  readonly jobs?: Record<string, number>;
  /** With --breakdown (engine only): every store call of the phase, as the main thread sees it. */
  readonly store?: ReturnType<typeof statsTable>;
  /** With --profile: the main thread's profile during this phase. */
  readonly profile?: ProfileSummary;
}

const root = await mkdtemp(join(tmpdir(), 'pwsync-bench-ldap-'));
const machine = describeMachine(root);
const tag = randomBytes(3).toString('hex');
let phaseNumber = 0;

/** The passwords of one phase: unique per phase and user, 8 characters and more (the policy's minimum). */
function passwordsFor(users: readonly User[]): string[] {
  const n = ++phaseNumber;
  return users.map((u, i) => `Pw-${tag}-${n}-${i}-${u.uid.length}x`);
}

/** User + system CPU seconds of a process, from /proc (0 when it is gone). */
async function cpuSecondsOf(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Runs task(0…n-1) with at most `inFlight` at once; returns each call's duration (call → settled). */
async function pool(n: number, inFlight: number, task: (i: number) => Promise<void>): Promise<number[]> {
  const durations = new Array<number>(n).fill(0);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await task(i);
      durations[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, lane));
  return durations;
}

/** `sample` users picked at random (seeded) must bind with their password of this phase. */
async function verify(world: OpenLdapWorld, users: readonly User[], passwords: readonly string[], salt: number): Promise<number> {
  const random = seededRandom(plan.seed * 1000 + salt);
  const picked = new Set<number>();
  while (picked.size < Math.min(plan.sample, users.length)) picked.add(Math.floor(random() * users.length));
  let ok = 0;
  for (const i of picked) {
    const u = users[i];
    if (u === undefined) continue;
    if (await world.binds(u.dn, passwords[i] ?? '')) ok++;
    else console.error(`  VERIFY FAILED: ${u.dn} does not bind with the password of this phase`);
  }
  return ok;
}

interface Measured {
  readonly wallMs: number;
  readonly durations: readonly number[];
  readonly failed: number;
  readonly processCpu: number;
  readonly slapdCpu: number;
  readonly load: number;
}

/** Times `work` with this process's and slapd's CPU. */
async function measured(world: OpenLdapWorld, work: () => Promise<{ durations: readonly number[]; failed: number }>): Promise<Measured> {
  const load = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const slapd0 = await cpuSecondsOf(world.slapd.pid);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { durations, failed } = await work();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const slapdCpu = (await cpuSecondsOf(world.slapd.pid)) - slapd0;
  return { wallMs, durations, failed, processCpu: (cpu.user + cpu.system) / 1e6, slapdCpu, load };
}

function phase(name: string, m: Measured, verified: number, extra: Partial<Phase> = {}): Phase {
  const sets = m.durations.length;
  const seconds = m.wallMs / 1000;
  return {
    name,
    sets,
    failed: m.failed,
    wallMs: round2(m.wallMs),
    perSecond: round2((sets - m.failed) / seconds),
    latency: percentiles(m.durations),
    cpu: {
      processMsPerSet: round2((m.processCpu * 1000) / Math.max(1, sets)),
      slapdMsPerSet: round2((m.slapdCpu * 1000) / Math.max(1, sets)),
      processCores: round2(m.processCpu / seconds),
      slapdCores: round2(m.slapdCpu / seconds),
    },
    verified,
    sampled: Math.min(plan.sample, sets),
    loadAtStart: m.load,
    ...extra,
  };
}

function report(p: Phase): void {
  console.log(`  ${(p.sets - p.failed).toLocaleString('en')} of ${p.sets.toLocaleString('en')} sets in ${(p.wallMs / 1000).toFixed(2)} s: ${p.perSecond.toLocaleString('en')} sets/s (load ${p.loadAtStart} at its start)`);
  console.log(`  per set: ${formatPercentiles(p.latency)}`);
  if (p.submit) console.log(`  submitChanges per batch of ${plan.batch}: ${formatPercentiles(p.submit)}; last set returned at ${((p.lastSetMs ?? 0) / 1000).toFixed(2)} s, every job done at ${(p.wallMs / 1000).toFixed(2)} s`);
  if (p.jobs) console.log(`  jobs by state at the end: ${JSON.stringify(p.jobs)}`);
  console.log(`  CPU per set: this process ${p.cpu.processMsPerSet} ms (${p.cpu.processCores} cores), slapd ${p.cpu.slapdMsPerSet} ms (${p.cpu.slapdCores} cores)`);
  console.log(`  ${p.verified} of ${p.sampled} sampled users bind with their new password`);
}

/** Profiles this thread while `fn` runs (with --profile), and summarises the profile. */
async function profiled<T>(name: string, fn: () => Promise<T>): Promise<{ result: T; profile?: ProfileSummary }> {
  if (!args.profile) return { result: await fn() };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  let result: T;
  try {
    result = await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    const file = join(root, `${name}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  }
  const summary = await summarizeProfile(join(root, `${name}.cpuprofile`), 20);
  printProfile(`${name}: main-thread CPU profile`, summary);
  return { result, profile: summary };
}

// Setup -------------------------------------------------------------------------------------

function uidOf(i: number): string {
  return `bench${String(i).padStart(6, '0')}`;
}

async function addUsers(world: OpenLdapWorld): Promise<User[]> {
  const shown = progress('adding users');
  let added = 0;
  await world.admin(async (client) => {
    await pool(plan.users, 32, async (i) => {
      const uid = uidOf(i);
      await client.add(`uid=${uid},${PEOPLE}`, { objectClass: ['inetOrgPerson'], uid, cn: uid, sn: uid, mail: `${uid}@example.test`, userPassword: `Initial-${uid}` });
      added++;
      shown.tick(() => `${added.toLocaleString('en')} added`);
    });
  });
  const entries = await world.admin(async (client) => {
    const { searchEntries } = await client.search(PEOPLE, { scope: 'one', filter: '(objectClass=inetOrgPerson)', attributes: ['uid', 'entryUUID'], paged: { pageSize: 1000 } });
    return searchEntries;
  });
  const users = entries
    .map((e) => ({ uid: String(e['uid']), dn: e.dn, uuid: String(e['entryUUID']) }))
    .sort((a, b) => a.uid.localeCompare(b.uid));
  if (users.length !== plan.users) throw new Error(`${users.length} users in the directory, expected ${plan.users}`);
  return users;
}

/** The url pwsync and the direct client use. */
function urlOf(world: OpenLdapWorld): string {
  return plan.transport === 'ldaps' ? (world.slapd.ldapsUrl ?? '') : world.slapd.url;
}

/** One ldapts client as a script would open it: the same url, TLS settings and service account as pwsync's. */
async function directClient(world: OpenLdapWorld): Promise<Client> {
  const url = urlOf(world);
  const ca = await readFile(world.slapd.caFile ?? '');
  const tls = tlsOptions(url, { ca, rejectUnauthorized: true });
  const client = new Client({ url, timeout: 10_000, connectTimeout: 10_000, ...(plan.transport === 'ldaps' ? { tlsOptions: tls } : {}) });
  if (plan.transport === 'starttls') await client.startTLS(tls);
  await client.bind(SERVICE_DN, world.servicePassword);
  return client;
}

/** One Password Modify, as pwsync builds it (the request bytes wiped afterwards). */
async function exop(client: Client, dn: string, password: string): Promise<void> {
  const clear = Buffer.from(password, 'utf8');
  const request = passwordModifyRequest({ userDn: dn, newPassword: clear });
  clear.fill(0);
  try {
    await client.exop(PASSWORD_MODIFY_OID, request);
  } finally {
    request.fill(0);
  }
}

// Phases --------------------------------------------------------------------------------------

async function directPhase(world: OpenLdapWorld, users: readonly User[], client: Client, inFlight: number, name: string): Promise<Phase> {
  console.log(`\n[${name}] one ldapts client (${plan.transport === 'ldaps' ? 'LDAPS' : 'StartTLS'}, bound before the clock), Password Modify, ${inFlight === 1 ? 'one after the other' : `${inFlight} in flight`}`);
  const passwords = passwordsFor(users);
  let failed = 0;
  const { result: m, profile } = await profiled(name, () =>
    measured(world, async () => {
      const durations = await pool(users.length, inFlight, async (i) => {
        try {
          await exop(client, users[i]?.dn ?? '', passwords[i] ?? '');
        } catch (e) {
          if (++failed <= 3) console.error(`  set failed: ${String(e)}`);
        }
      });
      return { durations, failed };
    }),
  );
  const p: Phase = { ...phase(name, m, await verify(world, users, passwords, phaseNumber)), ...(profile ? { profile } : {}) };
  report(p);
  return p;
}

async function connectorPhase(world: OpenLdapWorld, users: readonly User[], connector: LdapConnector, inFlight: number, name: string): Promise<Phase> {
  console.log(`\n[${name}] LdapConnector.setPassword by entryUUID, ldap.connections ${plan.connections}, ${inFlight === 1 ? 'one after the other' : `${inFlight} in flight`}`);
  const passwords = passwordsFor(users);
  const secrets = passwords.map((p) => Secret.fromString(p));
  let failed = 0;
  try {
    const { result: m, profile } = await profiled(name, () =>
      measured(world, async () => {
        const durations = await pool(users.length, inFlight, async (i) => {
          const secret = secrets[i];
          if (secret === undefined) return;
          try {
            await connector.setPassword(users[i]?.uuid ?? '', secret, {});
          } catch (e) {
            if (++failed <= 3) console.error(`  set failed: ${String(e)}`);
          }
        });
        return { durations, failed };
      }),
    );
    const p: Phase = { ...phase(name, m, await verify(world, users, passwords, phaseNumber)), ...(profile ? { profile } : {}) };
    report(p);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}


/** The configuration an administrator would write; `pwsync init` and `pwsync import` in a runtime of their own. */
async function prepareEngine(world: OpenLdapWorld, users: readonly User[]): Promise<string> {
  const dir = join(root, 'pwsync');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'people.csv'), `id,login\n${users.map((u, i) => `${100_000 + i},${u.uid}`).join('\n')}\n`);
  process.env[PASSWORD_ENV] = world.servicePassword;
  const configFile = join(dir, 'pwsync.yaml');
  await writeFile(
    configFile,
    `# Generated by bench/ldap-sets.ts
dataDir: ./data
log: { level: info, file: ./pwsync.log }
server: { workers: ${plan.workers} }
systems:
  - name: hr
    connector: file
    file: { path: ./people.csv }
    source: { accountAttribute: login }
    import: { anchor: id, map: { login: login } }
  - name: directory
    connector: ldap
    ldap:
      url: ${urlOf(world)}
      bindDn: "${SERVICE_DN}"
      bindPassword: \${${PASSWORD_ENV}}
      baseDns: ["${PEOPLE}"]
      tls: { ca: ${world.slapd.caFile ?? ''} }
      connections: ${plan.connections}
    import: { anchor: entryUUID, map: { login: uid, mail: mail } }
    join: [{ person: login, account: login }]
    password: { sync: true, retry: { count: 3, interval: 1s } }
`,
  );
  await initDataDirectory(configFile);
  const setup = await openRuntime(configFile, { logLevel: 'warn' });
  try {
    for (const name of ['hr', 'directory']) {
      const r = await importSystem(setup.ctx, name);
      console.log(`  imported ${name}: ${r.read} accounts, ${r.projected} projected, ${r.joined} joined (${(r.ms / 1000).toFixed(1)} s)`);
      if (name === 'directory' && r.joined !== users.length) throw new Error(`directory: ${r.joined} joined, expected ${users.length}`);
    }
  } finally {
    await setup.close();
  }
  return configFile;
}


async function enginePhase(world: OpenLdapWorld, users: readonly User[], engine: Engine, name: string, what: string): Promise<Phase> {
  console.log(`\n[${name}] submitChanges in batches of ${plan.batch} → store (its thread) → ${plan.workers} workers → ldap connector (${plan.connections} connections); ${what}`);
  const { sets } = engine;
  const passwords = passwordsFor(users);
  const { requests, secrets } = changeRequests(users.map((u) => u.uid), passwords);
  const doneBefore = await startPhase(engine);
  try {
    let run: EngineRun | undefined;
    const { result: m, profile } = await profiled(name, () =>
      measured(world, async () => {
        run = await runChanges(engine, requests, plan.batch, name, doneBefore, DRAIN_TIMEOUT_MS);
        // One duration per change for the table: the engine's own per-set times come from the probe.
        return { durations: Array.from({ length: users.length }, (_, i) => sets.durations[i] ?? Number.POSITIVE_INFINITY), failed: run.notDone };
      }),
    );
    if (run === undefined) throw new Error('the engine phase did not run');
    const p: Phase = {
      ...phase(name, m, await verify(world, users, passwords, phaseNumber)),
      latency: percentiles(sets.durations),
      submit: percentiles(run.submitMs),
      lastSetMs: round2(sets.lastAt - run.startedAt),
      jobs: run.jobs,
      ...(engine.storeStats ? { store: statsTable(engine.storeStats) } : {}),
      ...(profile ? { profile } : {}),
    };
    report(p);
    if (p.store) printStats(`${name}: store calls (--breakdown; "thread held" is the post to the store thread, "call→settled" until its answer)`, p.store);
    return p;
  } finally {
    for (const s of secrets) s.dispose();
  }
}

// Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  printMachine(machine);
  console.log(`measured on this machine. ldap-sets: ${plan.users.toLocaleString('en')} users, Password Modify over ${plan.transport === 'ldaps' ? 'LDAPS' : 'StartTLS'}, ${plan.concurrency} in flight where concurrent, server.workers ${plan.workers}, ldap.connections ${plan.connections}, batches of ${plan.batch}`);
  const phases: Phase[] = [];
  const t = performance.now();
  const world = await startOpenLdapWorld();
  let direct: Client | undefined;
  let engine: Engine | undefined;
  try {
    const slapdVersion = await world.admin(async (client) => {
      const { searchEntries } = await client.search('', { scope: 'base', attributes: ['vendorVersion'] });
      return String(searchEntries[0]?.['vendorVersion'] ?? 'unknown');
    }).catch(() => 'unknown');
    const users = await addUsers(world);
    console.log(`  slapd (${slapdVersion}, ppolicy, mdb) started and ${users.length.toLocaleString('en')} users added in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    direct = await directClient(world);
    // Warm-up, not counted: each entry gets a password (and ppolicy's pwdChangedTime) once.
    const warm = passwordsFor(users);
    await pool(users.length, plan.concurrency, (i) => exop(direct as Client, users[i]?.dn ?? '', warm[i] ?? ''));
    console.log('  warm-up: one set per user, not counted');
    const configFile = await prepareEngine(world, users);

    phases.push(await directPhase(world, users, direct, 1, 'direct-sequential'));
    phases.push(await directPhase(world, users, direct, plan.concurrency, 'direct-concurrent'));
    for (const inFlight of [1, plan.concurrency]) {
      const how = inFlight === 1 ? 'sequential' : 'concurrent';
      const connector = world.connector({ url: urlOf(world), connections: plan.connections });
      try {
        phases.push(await connectorPhase(world, users, connector, inFlight, `connector-${how}-cold`));
        phases.push(await connectorPhase(world, users, connector, inFlight, `connector-${how}-warm`));
      } finally {
        await connector.close();
      }
    }
    engine = await openEngine(configFile, 'directory', args.breakdown);
    phases.push(await enginePhase(world, users, engine, 'engine-round1', "the first change of each account since the server started: the targets' preparation (connections, DNs) started at open and running inside the clock"));
    phases.push(await enginePhase(world, users, engine, 'engine-round2', 'the same runtime again: DNs remembered (steady state)'));
    await engine.rt.close();
    engine = undefined;
    phases.push(await directPhase(world, users, direct, plan.concurrency, 'direct-concurrent-again'));
    phases.push(await directPhase(world, users, direct, 1, 'direct-sequential-again'));
  } finally {
    await engine?.rt.close();
    await direct?.unbind().catch(() => undefined);
    await world.stop();
    Reflect.deleteProperty(process.env, PASSWORD_ENV);
    if (args.keep) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }

  const rate = (name: string): number => phases.find((p) => p.name === name)?.perSecond ?? Number.NaN;
  const directSequential = round2((rate('direct-sequential') + rate('direct-sequential-again')) / 2);
  const directConcurrent = round2((rate('direct-concurrent') + rate('direct-concurrent-again')) / 2);
  const ratio = (x: number, base: number): number => Math.round((x / base) * 1000) / 1000;
  const ratios = {
    engineVsDirectSequential: ratio(rate('engine-round1'), directSequential),
    engineVsDirectConcurrent: ratio(rate('engine-round1'), directConcurrent),
    engineSteadyVsDirectSequential: ratio(rate('engine-round2'), directSequential),
    engineSteadyVsDirectConcurrent: ratio(rate('engine-round2'), directConcurrent),
    connectorConcurrentWarmVsDirectConcurrent: ratio(rate('connector-concurrent-warm'), directConcurrent),
    connectorSequentialWarmVsDirectSequential: ratio(rate('connector-sequential-warm'), directSequential),
  };
  const met = ratios.engineVsDirectSequential >= TARGET_RATIO;
  const checksPassed = phases.length === 10 && phases.every((p) => p.failed === 0 && p.verified === p.sampled);

  console.log(`\nldap-sets summary (${plan.users.toLocaleString('en')} users, ${plan.transport === 'ldaps' ? 'LDAPS' : 'StartTLS'}, Password Modify; measured on this machine: ${machine.cores} cores ${machine.cpuModel}, Node ${machine.node}, commit ${machine.source.commit}${machine.source.changed.length > 0 ? ' + uncommitted changes' : ''}):`);
  console.log(`  ${'phase'.padEnd(26)} ${'sets/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU ms/set'.padStart(11)} ${'slapd ms/set'.padStart(13)} ${'verified'.padStart(9)}`);
  for (const p of phases) {
    console.log(`  ${p.name.padEnd(26)} ${p.perSecond.toLocaleString('en').padStart(8)} ${String(p.latency.p50).padStart(8)} ${String(p.latency.p99).padStart(8)} ${String(p.cpu.processMsPerSet).padStart(11)} ${String(p.cpu.slapdMsPerSet).padStart(13)} ${`${p.verified}/${p.sampled}`.padStart(9)}`);
  }
  console.log(`  direct, mean of before and after: sequential ${directSequential}/s, ${plan.concurrency} in flight ${directConcurrent}/s`);
  console.log(`  pwsync (engine round 1) / direct sequential: ${ratios.engineVsDirectSequential} — target ≥ ${TARGET_RATIO}: ${met ? 'met' : 'MISSED'}`);
  console.log(`  pwsync (engine round 1) / direct ${plan.concurrency} in flight: ${ratios.engineVsDirectConcurrent}`);
  console.log(`  pwsync steady state (round 2) / direct sequential: ${ratios.engineSteadyVsDirectSequential}; / direct ${plan.concurrency} in flight: ${ratios.engineSteadyVsDirectConcurrent}`);
  console.log(`  connector alone, warm: sequential / direct sequential ${ratios.connectorSequentialWarmVsDirectSequential}; ${plan.concurrency} in flight / direct ${plan.concurrency} in flight ${ratios.connectorConcurrentWarmVsDirectConcurrent}`);
  if (!checksPassed) {
    console.log('  CHECK FAILED: a set failed, a job was not done, or a sampled user does not bind with its new password');
    process.exitCode = 1;
  }
  if (args.json !== undefined) {
    await writeJson(args.json, { benchmark: 'ldap-sets', machine, plan, phases, direct: { sequential: directSequential, concurrent: directConcurrent }, ratios, targets: { ratio: TARGET_RATIO }, met, checksPassed });
  }
}

await main();
