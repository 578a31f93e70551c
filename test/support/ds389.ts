/*
 * A private 389 Directory Server for tests: its own temporary directory, a listener on 127.0.0.1
 * at a free port (plain LDAP with StartTLS) and another for LDAPS, a certificate signed by a
 * throwaway CA made here with openssl, a global password policy (syntax checking on, minimum
 * length 8), and entryUUID on every entry added through it.
 *
 * How it is made without systemd or /etc/dirsrv: lib389's `dscreate from-file` honours the
 * environment variable PREFIX — it then reads `$PREFIX/share/dirsrv/inf/defaults.inf` instead of
 * /usr/share/dirsrv/inf/defaults.inf and looks for instances in `$PREFIX/etc/dirsrv/slapd-NAME`. A
 * copy of that file with `with_systemd = 0` and every path inside the temporary directory, plus an
 * INF naming the same paths, gives an instance that touches nothing outside it (no systemctl, no
 * tmpfiles.d, no /run/dirsrv, no /etc/dirsrv/ssca: the self-signed CA of dscreate is off and our
 * own CA and server certificate are imported into its NSS database with pk12util and certutil).
 * The instance runs as the current user (root here), so a copy of its directory needs no chown.
 *
 * dscreate takes about 5 s (it starts the server to configure it online, then stops it), so each
 * test process provisions one template per base DN, once (about 6.5 s with the certificates), and
 * every `startDs389` copies it into a directory of its own, rewrites the paths and ports in
 * dse.ldif and starts ns-slapd there (about 0.5 s). Each copy has its own instance name, that of
 * its directory: ns-slapd names the POSIX semaphore of its SNMP statistics after it
 * (/dev/shm/sem.slapd-NAME.stats, the one thing it keeps outside its directory), which a clean
 * shutdown unlinks and the helper removes after a SIGKILL. Entries
 * from `ldif` are added over LDAP as the Directory Manager once the server serves, so they get
 * entryUUID and hashed passwords (an offline ldif2db import would store neither).
 *
 * ns-slapd runs in the foreground (`-d 0`) as the leader of its own process group. `stop()`
 * kills that group and removes the directory; `kill()` and `restart()` shut it down cleanly
 * (SIGTERM, which takes about 2 s for the database to close) and bring it back on the same ports
 * with the same data. Every instance still running when this process exits — a failed `before`,
 * `--test-force-exit`, Ctrl-C — is killed and its directory (and the templates) removed.
 *
 * Needs the Debian packages 389-ds-base and python3-lib389 (ns-slapd, dscreate), libnss3-tools
 * (certutil, pk12util) and openssl; a missing one fails with the package to install.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync, rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'ldapts';

export interface Ds389Options {
  /** The database suffix (`dc=…`, `o=…`, `ou=…`, `c=…` or `cn=…`). Default `dc=pwsync,dc=test`. */
  readonly baseDn?: string;
  /**
   * Entries to add below the suffix, parents first: LDIF text (content records only, no
   * changetype), or a list of entries joined with blank lines. The suffix entry itself is made by
   * the helper (objectClass domain for `dc=`, with an ACI letting anyone read dc, description and
   * objectClass). `attr:: base64` values are decoded as UTF-8 text.
   */
  readonly ldif?: string | readonly string[];
}

export interface Ds389 {
  /** `ldap://127.0.0.1:PORT`; StartTLS is offered (with the certificate of `caFile`). */
  readonly url: string;
  /** `ldaps://127.0.0.1:PORT`. */
  readonly ldapsUrl: string;
  /** The CA certificate (PEM file) that signed the server's certificate (SAN IP:127.0.0.1, DNS:localhost). */
  readonly caFile: string;
  readonly baseDn: string;
  /** `cn=Directory Manager`: it bypasses ACIs and password policy, so test connectors with an ordinary account. */
  readonly adminDn: string;
  /** The Directory Manager's password (one per test process: every instance is a copy of one template). */
  readonly adminPassword: string;
  /**
   * The immutable anchor this server gives every entry added through it: `entryUUID` (the
   * entryuuid plugin of this build, RFC 4530 form). `nsUniqueId` exists too, in 389's own form.
   */
  readonly anchorAttribute: 'entryUUID';
  /** The instance's private directory (configuration, NSS database, database, logs). */
  readonly dir: string;
  /** The instance's error log, to read when a test wants to know what the server said. */
  readonly errorLog: string;
  /** The running ns-slapd's pid (it changes with `restart`). */
  readonly pid: number;
  /** Kills ns-slapd (its whole process group) and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
  /** Shuts ns-slapd down cleanly but keeps its directory, to test a server that went away; `restart` brings it back. */
  kill(): Promise<void>;
  /** Shuts ns-slapd down if it runs and starts it again on the same ports with the same data. */
  restart(): Promise<void>;
}

const ADMIN_DN = 'cn=Directory Manager';
const PACKAGES: Readonly<Record<string, string>> = {
  'ns-slapd': '389-ds-base',
  dscreate: 'python3-lib389',
  certutil: 'libnss3-tools',
  pk12util: 'libnss3-tools',
  openssl: 'openssl',
  id: 'coreutils',
};
const DEFAULTS_INF = '/usr/share/dirsrv/inf/defaults.inf';

/** Process groups of every instance not yet stopped, killed if this process exits first. */
const running = new Set<number>();
/** Directories of every instance (and template) not yet removed, removed if this process exits first. */
const directories = new Set<string>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch { /* already gone */ }
}

function cleanUp(): void {
  for (const pid of running) killGroup(pid, 'SIGKILL');
  for (const dir of directories) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(layout(dir).semaphore, { force: true });
  }
}

/**
 * ns-slapd leads its own process group, so a Ctrl-C at the terminal does not reach it: clean up on
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

interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeout?: number;
}

function run(name: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command(name), args, { timeout: options.timeout ?? 30_000, env: options.env ?? process.env, cwd: options.cwd, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${name} ${args.join(' ')} failed: ${stderr || stdout || err.message}`));
        else resolve(stdout);
      });
  });
}

/** A port that was free a moment ago; ns-slapd may still lose a race for it, so start retries. */
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

/**
 * Where everything of an instance rooted at `root` lives. Its name is the directory's (mkdtemp
 * makes it unique): dscreate insists on `$PREFIX/etc/dirsrv/slapd-NAME`, and ns-slapd derives the
 * name of its semaphore from that directory, so unique names keep instances (and concurrent test
 * processes) from sharing one.
 */
function layout(root: string) {
  const name = basename(root);
  const config = join(root, 'etc', 'dirsrv', `slapd-${name}`);
  return {
    name,
    config,
    semaphore: join('/dev/shm', `sem.slapd-${name}.stats`),
    dse: join(config, 'dse.ldif'),
    schema: join(config, 'schema'),
    run: join(root, 'run'),
    pidFile: join(root, 'run', 'ns-slapd.pid'),
    lock: join(root, 'lock', 'slapd'),
    log: join(root, 'log'),
    errorLog: join(root, 'log', 'errors'),
    db: join(root, 'var', 'db'),
    backup: join(root, 'var', 'bak'),
    ldif: join(root, 'var', 'ldif'),
    inst: join(root, 'inst'),
    tmp: join(root, 'tmp'),
    certs: join(root, 'certs'),
  };
}

interface Template {
  readonly dir: string;
  readonly adminPassword: string;
}

const templates = new Map<string, Promise<Template>>();

function template(baseDn: string): Promise<Template> {
  let made = templates.get(baseDn.toLowerCase());
  if (made === undefined) {
    made = provision(baseDn);
    templates.set(baseDn.toLowerCase(), made);
    // A failed provisioning is not remembered: the next start tries again (and fails the same way, with its own message).
    made.catch(() => templates.delete(baseDn.toLowerCase()));
  }
  return made;
}

/** Creates an instance with dscreate in a directory of its own, with TLS and the password policy, and leaves it stopped. */
async function provision(baseDn: string): Promise<Template> {
  for (const name of ['ns-slapd', 'dscreate', 'certutil', 'pk12util', 'openssl']) command(name);
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-ds389-template-'));
  installExitHook();
  directories.add(dir);
  try {
    const p = layout(dir);
    // The instance runs as whoever runs the tests (root here), so copies of it need no chown.
    const user = (await run('id', ['-un'])).trim();
    const group = (await run('id', ['-gn'])).trim();
    // dscreate copies the schema and the collation and certmap configuration from sysconf_dir/dirsrv.
    await cp('/etc/dirsrv/schema', join(dir, 'etc', 'dirsrv', 'schema'), { recursive: true });
    await cp('/etc/dirsrv/config', join(dir, 'etc', 'dirsrv', 'config'), { recursive: true });
    for (const d of [p.inst, p.tmp, p.certs]) await mkdir(d, { recursive: true });
    const paths: Readonly<Record<string, string>> = {
      sysconf_dir: join(dir, 'etc'),
      config_dir: p.config,
      schema_dir: p.schema,
      cert_dir: p.config,
      run_dir: p.run,
      pid_file: p.pidFile,
      ldapi: join(p.run, 'ldapi.socket'),
      lock_dir: p.lock,
      log_dir: p.log,
      access_log: join(p.log, 'access'),
      audit_log: join(p.log, 'audit'),
      error_log: p.errorLog,
      security_log: join(p.log, 'security'),
      db_dir: p.db,
      db_home_dir: p.db,
      backup_dir: p.backup,
      ldif_dir: p.ldif,
      inst_dir: p.inst,
      tmp_dir: p.tmp,
      tmpfiles_d: join(dir, 'tmpfiles.d'),
      initconfig_dir: join(dir, 'etc', 'default'),
    };
    // lib389 reads its defaults (and its idea of systemd) from $PREFIX/share/dirsrv/inf/defaults.inf.
    let defaults: string;
    try {
      defaults = await readFile(DEFAULTS_INF, 'utf8');
    } catch {
      throw new Error(`${DEFAULTS_INF} not found: install the Debian package 389-ds-base (apt-get install 389-ds-base)`);
    }
    const overrides: Readonly<Record<string, string>> = { ...paths, with_systemd: '0', user, group };
    defaults = defaults.replace(/^(\w+)\s*=.*$/gm, (line, key: string) => (key in overrides ? `${key} = ${overrides[key] ?? ''}` : line));
    await mkdir(join(dir, 'share', 'dirsrv', 'inf'), { recursive: true });
    await writeFile(join(dir, 'share', 'dirsrv', 'inf', 'defaults.inf'), defaults);

    const adminPassword = randomBytes(12).toString('hex');
    const [port, securePort] = [await freePort(), await freePort()];
    const inf = [
      '[general]',
      'full_machine_name = localhost',
      'strict_host_checking = False',
      'selinux = False',
      'systemd = False',
      'start = False',
      '[slapd]',
      `instance_name = ${p.name}`,
      `port = ${port}`,
      `secure_port = ${securePort}`,
      `root_password = ${adminPassword}`,
      'self_sign_cert = False',
      `user = ${user}`,
      `group = ${group}`,
      ...Object.entries(paths).filter(([k]) => !['pid_file', 'tmpfiles_d', 'initconfig_dir', 'access_log', 'audit_log', 'error_log', 'security_log'].includes(k))
        .map(([k, v]) => `${k} = ${v}`),
      '[backend-userroot]',
      `suffix = ${baseDn}`,
      'sample_entries = no',
      'create_suffix_entry = True',
    ];
    const infFile = join(dir, 'setup.inf');
    await writeFile(infFile, `${inf.join('\n')}\n`, { mode: 0o600 });
    await run('dscreate', ['from-file', infFile], { env: { ...process.env, PREFIX: dir }, cwd: dir, timeout: 120_000 });
    await rm(infFile);

    await installCertificates(p.config, p.certs);

    // Offline changes to the stopped server's configuration, unfolded so the paths can be rewritten per copy.
    let dse = unfold(await readFile(p.dse, 'utf8'));
    dse = setAttributes(dse, 'cn=config', {
      'nsslapd-listenhost': '127.0.0.1',
      'nsslapd-securelistenhost': '127.0.0.1',
      'nsslapd-security': 'on',
      'nsslapd-ldapilisten': 'off',
      passwordCheckSyntax: 'on',
      passwordMinLength: '8',
    });
    // The database cache autosizes to a quarter of the machine's memory (100 MB of region files per copy).
    dse = setAttributes(dse, 'cn=bdb,cn=config,cn=ldbm database,cn=plugins,cn=config', {
      'nsslapd-cache-autosize': '0',
      'nsslapd-dbcachesize': '8388608',
      'nsslapd-db-durable-transaction': 'off',
    });
    await writeFile(p.dse, dse);
    // What is left of dscreate's runs: a copy must start from a cleanly closed database and empty logs.
    for (const f of await readdir(p.config)) if (/^dse\.ldif\./.test(f)) await rm(join(p.config, f));
    for (const f of await readdir(p.db)) if (/^__db\./.test(f)) await rm(join(p.db, f));
    await rm(p.log, { recursive: true, force: true });
    await rm(p.run, { recursive: true, force: true });
    await mkdir(p.log, { recursive: true });
    await mkdir(p.run, { recursive: true });
    return { dir, adminPassword };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    directories.delete(dir);
    throw e;
  }
}

/** A CA and a server certificate for 127.0.0.1 and localhost (EC keys, fast to make), imported into the NSS database as Server-Cert. */
async function installCertificates(certDir: string, work: string): Promise<void> {
  const ca = join(work, 'ca.pem');
  const caKey = join(work, 'ca-key.pem');
  const cert = join(work, 'server.pem');
  const key = join(work, 'server-key.pem');
  const csr = join(work, 'server.csr');
  const ext = join(work, 'server.ext');
  const p12 = join(work, 'server.p12');
  const p12Password = join(work, 'p12.pass');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=pwsync test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  await writeFile(p12Password, `${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
  await run('openssl', ['pkcs12', '-export', '-in', cert, '-inkey', key, '-name', 'Server-Cert', '-out', p12, '-passout', `file:${p12Password}`]);
  // dscreate made the NSS database with a random password in pwdfile.txt (and pin.txt for the server).
  const db = `sql:${certDir}`;
  const dbPassword = join(certDir, 'pwdfile.txt');
  await run('pk12util', ['-i', p12, '-d', db, '-k', dbPassword, '-w', p12Password]);
  await run('certutil', ['-A', '-d', db, '-n', 'pwsync test CA', '-t', 'CT,,', '-a', '-i', ca, '-f', dbPassword]);
  for (const f of [caKey, key, csr, ext, p12, p12Password, join(work, 'ca.srl')]) await rm(f, { force: true });
}

/** Joins LDIF continuation lines. */
function unfold(ldif: string): string {
  return ldif.replace(/\r?\n /g, '');
}

/** Replaces (or adds) attributes of one entry of an unfolded dse.ldif. */
function setAttributes(ldif: string, dn: string, attributes: Readonly<Record<string, string>>): string {
  const blocks = ldif.split('\n\n');
  const index = blocks.findIndex((b) => b.trimStart().split('\n', 1)[0]?.toLowerCase() === `dn: ${dn}`.toLowerCase());
  const block = blocks[index];
  if (block === undefined) throw new Error(`dse.ldif has no entry ${dn}`);
  const names = new Set(Object.keys(attributes).map((a) => a.toLowerCase()));
  const kept = block.split('\n').filter((line) => !names.has(line.slice(0, Math.max(0, line.indexOf(':'))).toLowerCase()));
  blocks[index] = [...kept.filter((l) => l !== ''), ...Object.entries(attributes).map(([a, v]) => `${a}: ${v}`)].join('\n');
  return blocks.join('\n\n');
}

interface LdifEntry {
  readonly dn: string;
  readonly attributes: Record<string, string[]>;
}

/** Content records of LDIF text (no changetype); `::` values are decoded as UTF-8. */
function parseLdif(text: string): LdifEntry[] {
  const entries: LdifEntry[] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n').filter((l) => !l.startsWith('#'));
  for (const block of unfold(lines.join('\n')).split(/\n[ \t]*\n/)) {
    let dn: string | undefined;
    const attributes: Record<string, string[]> = {};
    for (const line of block.split('\n')) {
      if (line.trim() === '') continue;
      const m = /^([A-Za-z][\w;.-]*)(::?)[ ]*(.*)$/.exec(line);
      if (!m) throw new Error(`not an LDIF line: ${line}`);
      const [, name = '', separator, raw = ''] = m;
      const value = separator === '::' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
      const lower = name.toLowerCase();
      if (lower === 'version' && dn === undefined) continue;
      if (lower === 'changetype') throw new Error(`only LDIF content records are supported, not changetype (${dn ?? '?'})`);
      if (lower === 'dn') dn = value;
      else if (dn === undefined) throw new Error(`LDIF record does not start with dn: ${line}`);
      else (attributes[name] ??= []).push(value);
    }
    if (dn !== undefined) entries.push({ dn, attributes });
  }
  return entries;
}

/** Starts a private 389 Directory Server; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startDs389(options: Ds389Options = {}): Promise<Ds389> {
  const baseDn = options.baseDn ?? 'dc=pwsync,dc=test';
  const entries = parseLdif((typeof options.ldif === 'string' ? [options.ldif] : (options.ldif ?? [])).map((e) => e.trim()).join('\n\n'));
  const nsSlapd = command('ns-slapd');
  const { dir: templateDir, adminPassword } = await template(baseDn);
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-ds389-'));
  installExitHook();
  directories.add(dir);
  try {
    const t = layout(templateDir);
    const p = layout(dir);
    await cp(t.config, p.config, { recursive: true });
    for (const part of ['var', 'lock', 'run', 'log', 'tmp', 'inst']) {
      await cp(join(templateDir, part), join(dir, part), { recursive: true });
    }
    await cp(join(templateDir, 'certs', 'ca.pem'), join(dir, 'ca.pem'));
    // The template's dse.ldif is unfolded, so its paths can be rewritten as plain text.
    const dse = (await readFile(p.dse, 'utf8')).split(t.config).join(p.config).split(templateDir).join(dir);

    let lastError = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const [port, securePort] = [await freePort(), await freePort()];
      await writeFile(p.dse, setAttributes(dse, 'cn=config', { 'nsslapd-port': String(port), 'nsslapd-securePort': String(securePort) }));
      const url = `ldap://127.0.0.1:${port}`;
      const ldapsUrl = `ldaps://127.0.0.1:${securePort}`;
      const start = (): Promise<Running | { error: string }> => launch(nsSlapd, p, url, adminPassword);
      const launched = await start();
      if ('error' in launched) {
        lastError = launched.error;
        // Only a lost race for a port is worth another attempt.
        if (/address already in use|PR_ADDRESS_IN_USE|bind|listen/i.test(lastError)) continue;
        break;
      }
      let current = launched;
      let stopped: Promise<void> | undefined;
      const instance: Ds389 = {
        url,
        ldapsUrl,
        caFile: join(dir, 'ca.pem'),
        baseDn,
        adminDn: ADMIN_DN,
        adminPassword,
        anchorAttribute: 'entryUUID',
        dir,
        errorLog: p.errorLog,
        get pid() {
          return current.pid;
        },
        async restart() {
          if (stopped !== undefined) throw new Error('the 389 Directory Server was stopped for good');
          await current.terminate('SIGTERM');
          const again = await start();
          if ('error' in again) throw new Error(`the private 389 Directory Server did not restart: ${again.error}`);
          current = again;
        },
        kill: () => current.terminate('SIGTERM'),
        stop: () => (stopped ??= current.terminate('SIGKILL').then(async () => {
          await rm(dir, { recursive: true, force: true });
          await rm(p.semaphore, { force: true });
          directories.delete(dir);
        })),
      };
      try {
        await addEntries(url, adminPassword, entries);
      } catch (e) {
        await instance.stop();
        throw e;
      }
      return instance;
    }
    throw new Error(`the private 389 Directory Server did not start: ${lastError || 'no output'}`);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(layout(dir).semaphore, { force: true });
    directories.delete(dir);
    throw e;
  }
}

async function addEntries(url: string, adminPassword: string, entries: readonly LdifEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const client = new Client({ url, timeout: 10_000, connectTimeout: 5000 });
  try {
    await client.bind(ADMIN_DN, adminPassword);
    for (const { dn, attributes } of entries) {
      try {
        await client.add(dn, attributes);
      } catch (e) {
        throw new Error(`adding ${dn} to the private 389 Directory Server failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

interface Running {
  readonly pid: number;
  /** SIGTERM shuts down cleanly (SIGKILL after a grace period); SIGKILL when the data will not be needed again. */
  terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** Runs ns-slapd until it serves binds; its standard error and the end of its error log when it does not. */
async function launch(nsSlapd: string, p: ReturnType<typeof layout>, url: string, adminPassword: string): Promise<Running | { error: string }> {
  await rm(p.pidFile, { force: true });
  const child = spawn(nsSlapd, ['-D', p.config, '-i', p.pidFile, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid === undefined) return { error: 'ns-slapd could not be spawned' };
  installExitHook();
  running.add(pid);
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(pid));
  let terminated: Promise<void> | undefined;
  const terminate = (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => (terminated ??= stopProcess(pid, child, exited, signal));
  if (await ready(child, url, adminPassword)) return { pid, terminate };
  await terminate('SIGKILL');
  let log = '';
  try {
    log = readFileSync(p.errorLog, 'utf8').split('\n').filter((l) => /ERR|CRIT|EMERG|WARN/.test(l)).slice(-10).join('\n');
  } catch { /* no log yet */ }
  return { error: [Buffer.concat(stderr).toString('utf8').trim(), log].filter(Boolean).join('\n') };
}

/** Waits until the Directory Manager can bind, or ns-slapd exits; false when it never became ready. */
async function ready(child: ChildProcess, url: string, adminPassword: string): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    if (await portOpen(url)) {
      const client = new Client({ url, timeout: 2000, connectTimeout: 2000 });
      try {
        await client.bind(ADMIN_DN, adminPassword);
        return true;
      } catch { /* not serving yet */ } finally {
        await client.unbind().catch(() => undefined);
      }
    }
    await sleep(25);
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

async function stopProcess(pid: number, child: ChildProcess, exited: Promise<void>, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    killGroup(pid, signal);
    const patience = new AbortController();
    const grace = sleep(15_000, undefined, { signal: patience.signal }).then(() => killGroup(pid, 'SIGKILL'), () => undefined);
    await Promise.race([exited, grace]);
    patience.abort();
    await exited;
  }
  running.delete(pid);
}
