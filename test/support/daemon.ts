/*
 * What the private test servers (slapd.ts, ds389.ts, samba.ts, postgres.ts, mariadb.ts) share:
 * finding their programs and running tools, starting a server as the leader of its own process
 * group and ending that group, waiting until it serves, ports, a throwaway CA, and one exit hook for
 * whatever a test process leaves behind.
 *
 * The servers lead their own process groups so that ending one takes its workers with it. The price
 * is that a Ctrl-C at the terminal no longer reaches them, hence the exit hook: it also runs on the
 * usual signals (then re-raises them) and after a failed `before` or `--test-force-exit`.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'ldapts';

/** The `apt-get` line that fixes a missing program or data file, for errors that say so. */
export function installHint(packages: string): string {
  const noun = packages.includes(' ') ? 'packages' : 'package';
  return `install the Debian ${noun} ${packages} (apt-get install --no-install-recommends ${packages})`;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly cwd?: string | undefined;
  /** Default 30 s. */
  readonly timeout?: number | undefined;
  /** Written to stdin. stdin is closed either way, so a tool that reads it does not sit out the timeout. */
  readonly input?: string | undefined;
}

export interface Commands {
  /** The program's absolute path; throws naming the Debian package when it is missing. */
  readonly which: (name: string) => string;
  /** Its stdout, or an error carrying what it said (stderr, else stdout). */
  readonly run: (name: string, args: readonly string[], options?: RunOptions) => Promise<string>;
}

/** `packages` names the Debian package of each program, for the error when one is missing. */
export function commands(packages: Readonly<Record<string, string>>): Commands {
  const which = (name: string): string => {
    // sbin is not on every PATH, and the servers live there.
    for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean)) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch { /* not in this directory */ }
    }
    throw new Error(`${name} not found: ${installHint(packages[name] ?? name)}`);
  };
  const run = (name: string, args: readonly string[], options: RunOptions = {}): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(which(name), args, { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeout ?? 30_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`${name} ${args.join(' ')} failed: ${stderr.trim() || stdout.trim() || err.message}`));
          else resolve(stdout);
        });
      // A tool that exits without reading its stdin makes writing to it fail (EPIPE); its exit status is what counts.
      child.stdin?.on('error', () => undefined);
      if (options.input === undefined) child.stdin?.end();
      else child.stdin?.end(options.input);
    });
  return { which, run };
}

/** What the exit hook kills and removes: whatever was not stopped or removed the ordinary way. */
const groups = new Set<number>();
const paths = new Set<string>();
const exitCallbacks = new Set<() => void>();
let exitHookInstalled = false;

function cleanUpAtExit(): void {
  for (const pid of groups) signal(-pid, 'SIGKILL');
  // An exit hook must not throw: the rest of the cleanup would be skipped.
  for (const callback of exitCallbacks) {
    try {
      callback();
    } catch { /* best effort */ }
  }
  // Retries: a gpg-agent told to quit may still be removing its sockets.
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true, force: true, maxRetries: 3 });
    } catch { /* best effort */ }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanUpAtExit);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanUpAtExit();
      process.kill(process.pid, sig);
    });
  }
}

/**
 * A harness's own cleanup for the exit hook (what neither a process group nor a path covers). It
 * runs after every tracked group was killed and before the tracked paths are removed.
 */
export function atExit(callback: () => void): void {
  installExitHook();
  exitCallbacks.add(callback);
}

/** Directories or files removed by the exit hook unless `remove`d first. */
export function removeAtExit(...toRemove: readonly string[]): void {
  installExitHook();
  for (const path of toRemove) paths.add(path);
}

export async function remove(...toRemove: readonly string[]): Promise<void> {
  for (const path of toRemove) {
    await rm(path, { recursive: true, force: true });
    paths.delete(path);
  }
}

/** process.kill that reports rather than throws: false once the target is gone (EPERM: it exists). */
function signal(target: number, sig: NodeJS.Signals | 0): boolean {
  try {
    return process.kill(target, sig);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isAlive(pid: number): boolean {
  return signal(pid, 0);
}

/**
 * Whether a process group still has a live member. Zombies do not count: samba's orphaned tfork
 * helpers go to PID 1, which here reaps only every couple of seconds, and they write nothing.
 */
export function groupRunning(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch { continue; /* exited meanwhile */ }
    // After "pid (comm) " come state, ppid, pgrp; comm may itself contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state !== 'Z' && Number(pgrp) === pgid) return true;
  }
  return false;
}

/** What ends a process group: SIGINT is PostgreSQL's fast shutdown (its SIGTERM waits for every client to leave). */
export type StopSignal = 'SIGTERM' | 'SIGINT' | 'SIGKILL';

export interface ProcessGroup {
  readonly pid: number;
  /** Whether the leader has not exited yet. */
  alive(): boolean;
  /** The end of what it wrote to stdout and stderr. */
  output(): string;
  /**
   * `signal` to the group, SIGKILL after the grace period, then waits. Once only: later calls
   * return the first call's promise, whatever their signal.
   */
  stop(signal?: StopSignal): Promise<void>;
}

export interface GroupOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** How long the first signal has before SIGKILL follows. */
  readonly graceMs: number;
  /**
   * Keep stdin an open pipe for as long as this process lives, for a server that ends itself on
   * EOF there (and so outlives not even a SIGKILLed test run). Otherwise stdin is /dev/null.
   */
  readonly holdStdin?: boolean;
  /**
   * Stopping waits for every live member of the group, not just the leader: for a server whose
   * workers outlive the leader briefly, still writing, so that removing its directory would fail.
   */
  readonly waitForWholeGroup?: boolean;
  /** Run as this user and group (when root): for a server that refuses to run as root and does not drop privileges itself (postgres). */
  readonly uid?: number;
  readonly gid?: number;
}

/** Starts `file` as the leader of a new process group, killed by the exit hook unless stopped; undefined when it could not be spawned. */
export function startGroup(file: string, args: readonly string[], options: GroupOptions): ProcessGroup | undefined {
  const child = spawn(file, args, {
    stdio: [options.holdStdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true, env: options.env ?? process.env,
    ...(options.uid === undefined ? {} : { uid: options.uid }), ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  child.once('error', () => undefined); // reported as no pid, or as a server that never got ready
  const pid = child.pid;
  if (pid === undefined) return undefined;
  installExitHook();
  groups.add(pid);
  let output = '';
  const keep = (b: Buffer): void => { output = (output + b.toString('utf8')).slice(-8000); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => groups.delete(pid));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;

  const leaderExits = async (deadline: number): Promise<boolean> => {
    const patience = new AbortController();
    const timeout = sleep(deadline - Date.now(), false, { signal: patience.signal }).catch(() => false);
    const exitedInTime = await Promise.race([exited.then(() => true), timeout]);
    patience.abort();
    return exitedInTime;
  };
  const groupEnds = async (deadline: number): Promise<boolean> => {
    while (groupRunning(pid)) {
      if (Date.now() >= deadline) return false;
      await sleep(20);
    }
    return true;
  };
  const end = async (sig: StopSignal): Promise<void> => {
    const deadline = Date.now() + options.graceMs;
    if (alive()) signal(-pid, sig);
    const ended = options.waitForWholeGroup === true ? await groupEnds(deadline) : await leaderExits(deadline);
    if (!ended) signal(-pid, 'SIGKILL');
    await exited;
    while (options.waitForWholeGroup === true && groupRunning(pid)) await sleep(20);
    child.stdin?.destroy();
    groups.delete(pid);
  };
  let stopped: Promise<void> | undefined;
  return { pid, alive, output: () => output.trim(), stop: (sig = 'SIGTERM') => (stopped ??= end(sig)) };
}

/** Polls `probe` until it holds (true), or the leader exits or `timeoutMs` passes (false). */
export async function waitUntil(group: ProcessGroup, timeoutMs: number, probe: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && group.alive()) {
    if (await probe()) return true;
    await sleep(20);
  }
  return false;
}

/** Whether `dn` can bind at `url`; the port is tried first, which costs less than a client's failed connect. */
/** Whether `dn` binds with `password` at `url` (ldaps:// verified against `ca`); false when nothing listens. */
export async function ldapBinds(url: string, dn: string, password: string, ca?: Buffer): Promise<boolean> {
  const { hostname, port } = new URL(url);
  if (!(await portOpen(hostname, Number(port)))) return false;
  const client = new Client({ url, timeout: 2000, connectTimeout: 2000, ...(ca === undefined ? {} : { tlsOptions: { ca: [ca] } }) });
  const bound = await client.bind(dn, password).then(() => true, () => false);
  await client.unbind().catch(() => undefined);
  return bound;
}

export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
    socket.connect(port, host);
  });
}

/** A port on 127.0.0.1 that was free a moment ago; a server may still lose a race for it (see `retryLostPortRace`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A server that did not start, with what it said. */
export interface Failure {
  readonly error: string;
}

function isFailure(result: object): result is Failure {
  return 'error' in result && typeof result.error === 'string';
}

/**
 * Runs `attempt` (which picks its ports with `freePort`) until it starts the server. Only a lost
 * race for a port is worth another attempt; any other failure throws at once, with `what` and the
 * server's output.
 */
export async function retryLostPortRace<T extends object>(what: string, attempt: () => Promise<T | Failure>): Promise<T> {
  let lastError = '';
  for (let tries = 0; tries < 5; tries++) {
    const result = await attempt();
    if (!isFailure(result)) return result;
    lastError = result.error;
    if (!/address already in use|PR_ADDRESS_IN_USE|bind|listen/i.test(lastError)) break;
  }
  throw new Error(`${what} did not start: ${lastError || 'no output'}`);
}

/** What a test does with any of the private servers, besides talking to it. */
export interface PrivateServer {
  /** The running server's pid (it changes with `restart`). */
  readonly pid: number;
  /** Stops the server (its whole process group) and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
  /** Stops the server but keeps its directory, to test a server that went away; `restart` brings it back. */
  kill(): Promise<void>;
  /** Stops the server if it runs and starts it again where it was, with the same data. */
  restart(): Promise<void>;
}

export interface Lifecycle {
  /** For errors, e.g. `the private slapd`. */
  readonly name: string;
  /** Starts the server again, throwing when it does not come up. */
  readonly start: () => Promise<ProcessGroup>;
  /** The clean shutdown, for `restart` (and the default of the two below). Default SIGTERM. */
  readonly shutdownSignal?: 'SIGTERM' | 'SIGINT';
  /** For `stop`. Default `shutdownSignal`; SIGKILL where the data will not be needed again and a clean shutdown is slow. */
  readonly stopSignal?: StopSignal;
  /** For `kill`. Default `shutdownSignal`; SIGKILL for tests of a server that dies mid-run. */
  readonly killSignal?: StopSignal;
  /** After the server stopped for good: its directory and whatever else it held. */
  readonly cleanUp: () => Promise<void>;
}

/** A harness's `fields` (addresses, credentials…) with the `PrivateServer` half added; `first` is the server's first run. */
export function serverHandle<T extends object>(fields: T, first: ProcessGroup, how: Lifecycle): T & PrivateServer {
  let current = first;
  let stopped: Promise<void> | undefined;
  const control: PrivateServer = {
    get pid() {
      return current.pid;
    },
    async restart() {
      if (stopped !== undefined) throw new Error(`${how.name} was stopped for good`);
      await current.stop(how.shutdownSignal ?? 'SIGTERM');
      current = await how.start();
    },
    kill: () => current.stop(how.killSignal ?? how.shutdownSignal ?? 'SIGTERM'),
    stop: () => (stopped ??= current.stop(how.stopSignal ?? how.shutdownSignal ?? 'SIGTERM').then(how.cleanUp)),
  };
  // Object.assign onto `control` (not a spread of it) keeps `pid` a getter.
  return Object.assign(control, fields);
}

export interface CertificateAuthority {
  readonly ca: string;
  readonly caKey: string;
}

const openssl = commands({ openssl: 'openssl' });
/** EC keys: made in milliseconds, where RSA takes a noticeable share of a test's start. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA (ca.pem, ca-key.pem in `dir`) valid for two days. */
export async function makeCa(dir: string, subject = 'pwsync test CA'): Promise<CertificateAuthority> {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  await openssl.run('openssl', ['req', '-x509', ...EC_KEY, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', `/CN=${subject}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { ca, caKey };
}

/**
 * A server certificate (server.pem, server-key.pem in `dir`) signed by `authority`, for the IP
 * address `ip` and the `dnsNames`. Clients verify by address, so the SAN must hold it.
 */
export async function makeServerCertificate(dir: string, authority: CertificateAuthority, ip: string, dnsNames: readonly string[] = []): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server-key.pem');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const san = [`IP:${ip}`, ...dnsNames.map((name) => `DNS:${name}`)].join(',');
  await openssl.run('openssl', ['req', '-new', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${ip}`]);
  // keyUsage: signing the handshake, the one use of an EC server key, stated for TLS stacks that check it.
  await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n`);
  await openssl.run('openssl', ['x509', '-req', '-in', csr, '-CA', authority.ca, '-CAkey', authority.caKey, '-CAcreateserial',
    '-out', cert, '-days', '2', '-extfile', ext]);
  await rm(csr, { force: true });
  await rm(ext, { force: true });
  return { cert, key };
}

/** A process's owner, for a server that runs as a system user of its own (postgres, mysql). */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * The uid and gid of system user `name` when the tests run as root, since the server then runs as
 * that user and its files must be that user's; undefined otherwise (it runs as whoever runs the tests).
 */
export async function systemOwner(name: string, pkg: string): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { run } = commands({ id: 'coreutils' });
  try {
    return { uid: Number((await run('id', ['-u', name])).trim()), gid: Number((await run('id', ['-g', name])).trim()) };
  } catch {
    throw new Error(`the system user ${name} is missing: ${installHint(pkg)}`);
  }
}

/**
 * `make`, run once per test process and shared by every caller (a server's template directory); a
 * failure is not remembered, so the next call tries again and fails with its own message.
 */
export function oncePerProcess<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    if (made === undefined) {
      const attempt = make();
      made = attempt;
      attempt.catch(() => {
        if (made === attempt) made = undefined;
      });
    }
    return made;
  };
}
