/*
 * A private OpenLDAP slapd for tests: its own temporary directory, an mdb database loaded from
 * LDIF with slapadd, a listener on 127.0.0.1 at a free port, and optionally TLS (StartTLS on the
 * ldap:// port and an ldaps:// port) with a throwaway CA made here with openssl.
 *
 * slapd runs in the foreground (`-d 0`) as the leader of its own process group; `stop()` ends that
 * group (SIGTERM, then SIGKILL after a grace period) and removes the directory; `kill()` and
 * `restart()` take the server away and bring it back on the same ports, for tests of a directory
 * that goes down. Every instance still running when this process exits — a failed `before`,
 * `--test-force-exit`, Ctrl-C — is killed and its directory removed, so none outlives its run.
 *
 * Needs the Debian packages `slapd` (and `openssl` for TLS); a missing one fails with the package
 * to install rather than skipping.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'ldapts';

export interface SlapdOptions {
  /** The database suffix; its first RDN must be `dc=…`. Default `dc=pwsync,dc=test`. */
  readonly baseDn?: string;
  /**
   * Entries to load below the suffix: LDIF text, or a list of entries that are joined with blank
   * lines. The suffix entry itself is made by the helper.
   */
  readonly ldif?: string | readonly string[];
  /** Schema files from /etc/ldap/schema, without `.schema`. Default core, cosine, inetorgperson, nis. */
  readonly schemas?: readonly string[];
  /** Schema text of the test's own (attribute types, object classes), included after `schemas`. */
  readonly extraSchema?: string;
  /** Modules from /usr/lib/ldap to load besides back_mdb (e.g. `ppolicy`, `pw-sha2`). */
  readonly modules?: readonly string[];
  /** Lines for slapd.conf's global section (before the database). */
  readonly globalConfig?: readonly string[];
  /** Lines for the database section (overlays, `access to …` ACLs); they follow `rootpw`. */
  readonly databaseConfig?: readonly string[];
  /** Make a CA and a server certificate, offer StartTLS on `url` and listen on `ldapsUrl`. */
  readonly tls?: boolean;
  /** Default: a random one. */
  readonly adminPassword?: string;
}

export interface Slapd {
  /** `ldap://127.0.0.1:PORT` (StartTLS offered when started with `tls`). */
  readonly url: string;
  /** `ldaps://127.0.0.1:PORT`, with `tls` only. */
  readonly ldapsUrl?: string;
  /** The CA certificate (PEM file) that signed the server's certificate, with `tls` only. */
  readonly caFile?: string;
  readonly baseDn: string;
  /** The rootdn: it bypasses ACLs and password policy, so test connectors with an ordinary account. */
  readonly adminDn: string;
  readonly adminPassword: string;
  /** The instance's private directory (configuration, database, certificates). */
  readonly dir: string;
  /** The running slapd's pid (it changes with `restart`). */
  readonly pid: number;
  /** Stops slapd (its whole process group) and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
  /** Stops slapd but keeps its directory, to test a server that went away; `restart` brings it back. */
  kill(): Promise<void>;
  /** Stops slapd if it runs and starts it again on the same ports with the same data. */
  restart(): Promise<void>;
}

const DEFAULT_SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];
const PACKAGES: Readonly<Record<string, string>> = { slapd: 'slapd', slapadd: 'slapd', openssl: 'openssl' };

/** Process groups of every instance not yet stopped, killed if this process exits first. */
const running = new Set<number>();
/** Directories of every instance not yet stopped, removed if this process exits first. */
const directories = new Set<string>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch { /* already gone */ }
}

function cleanUp(): void {
  for (const pid of running) killGroup(pid, 'SIGKILL');
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
}

/**
 * slapd leads its own process group, so a Ctrl-C at the terminal does not reach it: clean up on
 * exit and on the usual signals, then let the signal do what it would have done.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.kill(process.pid, signal);
    });
  }
}

function command(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch { /* not in this directory */ }
  }
  const pkg = PACKAGES[name] ?? name;
  throw new Error(`${name} not found: install the Debian package ${pkg} (apt-get install ${pkg})`);
}

function run(name: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command(name), args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A port that was free a moment ago; slapd may still lose a race for it, so start retries. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A CA and a server certificate for 127.0.0.1 and localhost, with EC keys (fast to make). */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server-key.pem');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=pwsync test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { ca, cert, key };
}

function suffixEntry(baseDn: string): string {
  const dc = /^dc=([^,]+)/i.exec(baseDn)?.[1];
  if (dc === undefined) throw new Error(`the test slapd's baseDn must start with dc=…: ${baseDn}`);
  return `dn: ${baseDn}\nobjectClass: dcObject\nobjectClass: organization\no: ${dc}\ndc: ${dc}\n`;
}

/** Starts a private slapd; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  const baseDn = options.baseDn ?? 'dc=pwsync,dc=test';
  const adminDn = `cn=admin,${baseDn}`;
  const adminPassword = options.adminPassword ?? randomBytes(12).toString('hex');
  const slapd = command('slapd');
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-slapd-'));
  installExitHook();
  directories.add(dir);
  try {
    const data = join(dir, 'data');
    await mkdir(data);
    const schemas = (options.schemas ?? DEFAULT_SCHEMAS).map((s) => `include /etc/ldap/schema/${s}.schema`);
    if (options.extraSchema !== undefined) {
      await writeFile(join(dir, 'extra.schema'), options.extraSchema);
      schemas.push(`include ${join(dir, 'extra.schema')}`);
    }
    const certs = options.tls === true ? await makeCertificates(dir) : undefined;
    const lines = [
      ...schemas,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      ...(options.modules ?? []).map((m) => `moduleload ${m}`),
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      ...(certs ? [`TLSCACertificateFile ${certs.ca}`, `TLSCertificateFile ${certs.cert}`, `TLSCertificateKeyFile ${certs.key}`] : []),
      ...(options.globalConfig ?? []),
      'database mdb',
      `suffix "${baseDn}"`,
      `rootdn "${adminDn}"`,
      `rootpw ${adminPassword}`,
      `directory ${data}`,
      'maxsize 10485760',
      ...(options.databaseConfig ?? []),
    ];
    const conf = join(dir, 'slapd.conf');
    await writeFile(conf, `${lines.join('\n')}\n`, { mode: 0o600 });
    const ldif = [suffixEntry(baseDn), ...(typeof options.ldif === 'string' ? [options.ldif] : (options.ldif ?? []))];
    await writeFile(join(dir, 'data.ldif'), `${ldif.map((e) => e.trim()).filter((e) => e !== '').join('\n\n')}\n`);
    await run('slapadd', ['-q', '-f', conf, '-l', join(dir, 'data.ldif')]);

    let lastError = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const tlsPort = certs ? await freePort() : undefined;
      const url = `ldap://127.0.0.1:${port}`;
      const ldapsUrl = tlsPort === undefined ? undefined : `ldaps://127.0.0.1:${tlsPort}`;
      const listen = [url, ...(ldapsUrl === undefined ? [] : [ldapsUrl])].map((u) => `${u}/`).join(' ');
      const launched = await launch(slapd, conf, listen, url, adminDn, adminPassword);
      if (!('error' in launched)) {
        let current = launched;
        let stopped: Promise<void> | undefined;
        return {
          url,
          ...(ldapsUrl === undefined ? {} : { ldapsUrl }),
          ...(certs ? { caFile: certs.ca } : {}),
          baseDn,
          adminDn,
          adminPassword,
          dir,
          get pid() {
            return current.pid;
          },
          async restart() {
            if (stopped !== undefined) throw new Error('slapd was stopped for good');
            await current.terminate();
            const again = await launch(slapd, conf, listen, url, adminDn, adminPassword);
            if ('error' in again) throw new Error(`the private slapd did not restart: ${again.error}`);
            current = again;
          },
          kill: () => current.terminate(),
          stop: () => (stopped ??= current.terminate().then(async () => {
            await rm(dir, { recursive: true, force: true });
            directories.delete(dir);
          })),
        };
      }
      lastError = launched.error;
      // Only a lost race for the port is worth another attempt.
      if (!/address already in use|bind|listen/i.test(lastError)) break;
    }
    throw new Error(`the private slapd did not start: ${lastError || 'no output'}`);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    directories.delete(dir);
    throw e;
  }
}

interface Running {
  readonly pid: number;
  terminate(): Promise<void>;
}

/** Runs slapd until it serves binds; its standard error when it does not. */
async function launch(slapd: string, conf: string, listen: string, url: string, adminDn: string, adminPassword: string): Promise<Running | { error: string }> {
  const child = spawn(slapd, ['-d', '0', '-f', conf, '-h', listen], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid === undefined) return { error: 'slapd could not be spawned' };
  installExitHook();
  running.add(pid);
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(pid));
  let terminated: Promise<void> | undefined;
  const terminate = (): Promise<void> => (terminated ??= stopProcess(pid, child, exited));
  if (await ready(child, url, adminDn, adminPassword)) return { pid, terminate };
  await terminate();
  return { error: Buffer.concat(stderr).toString('utf8').trim() };
}

/** Waits until the rootdn can bind, or slapd exits; false when it never became ready. */
async function ready(child: ChildProcess, url: string, adminDn: string, adminPassword: string): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    if (await portOpen(url)) {
      const client = new Client({ url, timeout: 2000, connectTimeout: 2000 });
      try {
        await client.bind(adminDn, adminPassword);
        return true;
      } catch { /* not serving yet */ } finally {
        await client.unbind().catch(() => undefined);
      }
    }
    await sleep(20);
  }
  return false;
}

function portOpen(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
    socket.connect(Number(port), hostname);
  });
}

async function stopProcess(pid: number, child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    killGroup(pid, 'SIGTERM');
    const patience = new AbortController();
    const grace = sleep(5000, undefined, { signal: patience.signal }).then(() => killGroup(pid, 'SIGKILL'), () => undefined);
    await Promise.race([exited, grace]);
    patience.abort();
    await exited;
  }
  running.delete(pid);
}

