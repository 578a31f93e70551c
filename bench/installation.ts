/**
 * A whole installation for the intake and agent benchmarks, built through the CLI as an
 * administrator would: `pwsync pki init` and `pwsync pki agent`, a server configuration with the
 * intake on a free loopback port, a source of N people and one {SSHA512} file target of N accounts
 * that join them by e-mail (the same shape as bench/change-latency.ts), `pwsync init`,
 * `pwsync import`, an agent configuration and `pwsync agent target add`. The server and the agent
 * run as their own CLI processes, so their CPU time is their own and can be read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { loadConfig, type SystemConfig } from '../src/config/index.ts';
import { createConnector } from '../src/connectors/registry.ts';
import { can } from '../src/connectors/types.ts';
import { Secret } from '../src/core/secret.ts';
import { hashSecret } from '../src/crypto/hash/index.ts';
import { hashSpecSchema } from '../src/crypto/hash/spec.ts';
import { ACCOUNTS_HEADER, accountRow, PEOPLE_HEADER, personAt, personRow, respell, writeCsv, type GeneratedPerson } from './data.ts';
import { permutation, seededRandom } from './lib.ts';

const PWSYNC = fileURLToPath(new URL('../bin/pwsync.js', import.meta.url));
const CLK_TCK = 100;

export const SOURCE = 'directory';
export const TARGET = 'app1';
export const AGENT = 'dc1';
export const anchorOf = (person: number): string => `a${person}`;

export interface Installation {
  readonly dir: string;
  readonly serverConfig: string;
  readonly agentConfig: string;
  /** The intake, https://127.0.0.1:PORT. */
  readonly url: string;
  readonly people: readonly GeneratedPerson[];
  /** The agent's client certificate, key and pinned CA, and the server's public JWE key (what `pwsync pki agent` wrote). */
  readonly agentFiles: { readonly ca: string; readonly cert: string; readonly key: string; readonly serverKey: string };
  /** The server's private JWE key (to time decryption in-process). */
  readonly serverJweKey: string;
  readonly storePath: string;
  readonly socketPath: string;
}

/** Runs `pwsync ARGS` to completion; a non-zero exit is an error that shows the output. */
export async function cli(args: readonly string[]): Promise<string> {
  const p = new CliProcess(args);
  const code = await p.exited;
  if (code !== 0) throw new Error(`pwsync ${args.join(' ')} exited ${String(code)}:\n${p.output}`);
  return p.output;
}

/** A `pwsync` process, its output collected. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #out: Buffer[] = [];

  /** `nodeArgs` go before the launcher (e.g. --cpu-prof). */
  constructor(args: readonly string[], nodeArgs: readonly string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, PWSYNC, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (b: Buffer) => this.#out.push(b));
    this.child.stderr?.on('data', (b: Buffer) => this.#out.push(b));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get output(): string {
    return Buffer.concat(this.#out).toString('utf8');
  }

  async waitFor(text: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.output.includes(text)) {
      if (this.child.exitCode !== null) throw new Error(`pwsync exited (${this.child.exitCode}) before printing "${text}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}":\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** User + system CPU seconds the process has used so far (from /proc; 0 once it has exited). */
  async cpuSeconds(): Promise<number> {
    try {
      const stat = await readFile(`/proc/${String(this.child.pid)}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command name: state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
      return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    } catch {
      return 0;
    }
  }

  /** SIGTERM (a graceful stop); SIGKILL if it has not exited after `ms`. */
  async stop(ms = 20_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Builds the installation in `dir` (which must not exist yet or be empty): people.csv (N people),
 * app1.csv (their N accounts in another order, each already holding an {SSHA512} hash so that the
 * file keeps its size), the PKI, both configurations, the store (init + import) and the agent's
 * target. `server.workers` is the default unless given.
 */
export async function buildInstallation(dir: string, options: { accounts: number; seed: number; workers?: number }): Promise<Installation> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const random = seededRandom(options.seed);
  const people = Array.from({ length: options.accounts }, (_, i) => personAt(i, random));
  await writeCsv(join(dir, 'people.csv'), PEOPLE_HEADER, people.map(personRow));
  const initial = Secret.fromString('initial-password');
  const placeholder = await hashSecret(hashSpecSchema.parse('{SSHA512}'), initial);
  initial.dispose();
  const order = permutation(options.accounts, random);
  await writeCsv(join(dir, `${TARGET}.csv`), ACCOUNTS_HEADER, order.map((i) => {
    const p = people[i];
    return accountRow(anchorOf(i), p?.login ?? '', respell(p?.mail ?? '', random), placeholder, random);
  }));

  const pki = join(dir, 'pki');
  await cli(['pki', 'init', '--dir', pki, '--host', '127.0.0.1']);
  await cli(['pki', 'agent', AGENT, '--dir', pki]);
  const port = await freePort();
  const serverConfig = join(dir, 'pwsync.yaml');
  await writeFile(
    serverConfig,
    `# Generated by bench/installation.ts
dataDir: ./data
log: { level: info, file: ./server.log }
server:
  ${options.workers === undefined ? '' : `workers: ${options.workers}\n  `}pollInterval: 25
  listen: 127.0.0.1:${port}
  tls: { cert: pki/server.crt, key: pki/server.key, clientCa: pki/ca.crt }
  intake: { jweKey: pki/server-jwe.key }
agents:
  - { name: ${AGENT}, certificate: pki/agents/${AGENT}/${AGENT}.crt }
systems:
  - name: ${SOURCE}
    connector: file
    file: { path: ./people.csv }
    source: { accountAttribute: login, agents: [${AGENT}] }
    import: { anchor: id, map: { login: login, mail: mail } }
  - name: ${TARGET}
    connector: file
    file: { path: ./${TARGET}.csv, passwordColumn: password_hash }
    import: { anchor: user_id, map: { username: username, email: email } }
    join: [ { person: mail, account: email, match: caseInsensitive } ]
    password: { sync: true, hash: "{SSHA512}" }
`,
  );
  await cli(['init', '--config', serverConfig]);
  await cli(['import', '--config', serverConfig]);
  const agentConfig = join(dir, 'agent.yaml');
  await writeFile(agentConfig, `# Generated by bench/installation.ts\ndataDir: ./agent-data\nsources: [${SOURCE}]\nlog: { level: info, file: ./agent.log }\n`);
  const a = join(pki, 'agents', AGENT);
  const agentFiles = { ca: join(a, 'ca.crt'), cert: join(a, `${AGENT}.crt`), key: join(a, `${AGENT}.key`), serverKey: join(a, 'server-jwe.pub.json') };
  await cli(['agent', 'target', 'add', 'main', '--url', `https://127.0.0.1:${port}`, '--ca', agentFiles.ca, '--cert', agentFiles.cert, '--key', agentFiles.key, '--server-key', agentFiles.serverKey, '--retry-interval', '10s', '--config', agentConfig]);
  return {
    dir,
    serverConfig,
    agentConfig,
    url: `https://127.0.0.1:${port}`,
    people,
    agentFiles,
    serverJweKey: join(pki, 'server-jwe.key'),
    storePath: join(dir, 'data', 'pwsync.db'),
    socketPath: join(dir, 'agent-data', 'capture.sock'),
  };
}

/** A copy of the store as imported (nothing may have it open), to start each run from the same state. */
export async function snapshotStore(inst: Installation, to: string): Promise<void> {
  await rm(`${to}-wal`, { force: true });
  await copyFile(inst.storePath, to);
  await copyFile(`${inst.storePath}-wal`, `${to}-wal`).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  });
}

/** Puts a snapshot back (nothing may have the store open). */
export async function restoreStore(inst: Installation, from: string): Promise<void> {
  for (const suffix of ['-wal', '-shm']) await rm(`${inst.storePath}${suffix}`, { force: true });
  await copyFile(from, inst.storePath);
  await copyFile(`${from}-wal`, `${inst.storePath}-wal`).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  });
}

export function startServer(inst: Installation, nodeArgs: readonly string[] = []): Promise<CliProcess> {
  return started(new CliProcess(['server', '--config', inst.serverConfig], nodeArgs), 'intake listening on');
}

export function startAgent(inst: Installation, nodeArgs: readonly string[] = []): Promise<CliProcess> {
  return started(new CliProcess(['agent', '--config', inst.agentConfig], nodeArgs), 'agent listening on');
}

async function started(p: CliProcess, ready: string): Promise<CliProcess> {
  try {
    await p.waitFor(ready);
  } catch (e) {
    p.child.kill('SIGKILL');
    throw e;
  }
  return p;
}

export interface JobRow {
  readonly changeId: string;
  readonly state: string;
  readonly createdAt: number;
  readonly endedAt: number | null;
  readonly receivedAt: number;
}

/** Reads the server's store (read-only; the server may be running: WAL readers do not block it). */
export function readStore<T>(inst: Installation, fn: (db: Database.Database) => T): T {
  const db = new Database(inst.storePath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

export function jobsByState(inst: Installation): Record<string, number> {
  return readStore(inst, (db) => {
    const rows = db.prepare('SELECT state, count(*) AS n FROM jobs GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  });
}

export function unfinishedJobs(jobs: Readonly<Record<string, number>>): number {
  return (jobs['pending'] ?? 0) + (jobs['in_progress'] ?? 0) + (jobs['retry_scheduled'] ?? 0);
}

/** Every job with its change's receipt time: epoch milliseconds of the server's clock. */
export function allJobs(inst: Installation): JobRow[] {
  return readStore(inst, (db) =>
    db
      .prepare('SELECT j.change_id AS changeId, j.state, j.created_at AS createdAt, j.ended_at AS endedAt, c.received_at AS receivedAt FROM jobs j JOIN changes c ON c.id = j.change_id')
      .all() as JobRow[],
  );
}

/**
 * Checks the target file: `last` maps a person to the last password sent for them, and each must
 * verify there. Returns how many did; the ones that did not are printed.
 */
export async function verifyTarget(inst: Installation, last: ReadonlyMap<number, string>): Promise<number> {
  const config = await loadConfig(inst.serverConfig);
  const system = config.systems.find((s: SystemConfig) => s.name === TARGET);
  if (system === undefined) throw new Error(`no system ${TARGET}`);
  const c = createConnector(system, { system: TARGET, baseDir: config.baseDir });
  if (!can(c, 'verifyPassword')) throw new Error('the file connector cannot verify');
  let verified = 0;
  try {
    for (const [person, password] of last) {
      const secret = Secret.fromString(password);
      try {
        if (await c.verifyPassword(anchorOf(person), secret)) verified++;
        else if (verified < 5) console.error(`  VERIFY FAILED: ${TARGET} ${anchorOf(person)} does not hold its last password`);
      } finally {
        secret.dispose();
      }
    }
  } finally {
    await c.close();
  }
  return verified;
}
