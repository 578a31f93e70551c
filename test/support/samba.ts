/*
 * A private Samba 4.17 Active Directory domain controller for tests (see /work/shared/SERVICES.md).
 *
 * Samba's LDAP ports are fixed (389/636), so every instance gets its own loopback address
 * 127.0.0.N (`interfaces = 127.0.0.N/8`, `bind interfaces only`). Addresses are claimed with a lock
 * file per address under the temp dir (created O_EXCL, holding the pid; stale once that pid is
 * dead), because node --test runs test files in parallel processes that know nothing of each other.
 * Provisioning takes seconds, so it runs once per process and realm (a template, cached); each
 * instance is a `cp -a` of it with paths, address and TLS rewritten in smb.conf. Every file Samba
 * writes stays in the instance's directory.
 *
 * samba runs in the foreground (`-i`) as the leader of its own process group; `stop()`, `kill()`
 * and `restart()` behave as in slapd.ts, and whatever is still running when this process exits is
 * killed and removed. samba's stdin is a pipe this process holds: samba ends itself on EOF there, so
 * even a SIGKILLed test run does not leave a domain controller behind.
 *
 * Needs root and the Debian packages samba samba-ad-dc samba-ad-provision samba-dsdb-modules
 * (plus openssl, and gpg/python3-gpg for `gpg: true`); a missing one fails naming the package.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, EqualityFilter } from 'ldapts';

export interface SambaOptions {
  /** Provision with a GPG key so Samba keeps cleartext for `samba-tool user syncpasswords`. Default false. */
  readonly gpg?: boolean;
  /** `single` (default: changes reach syncpasswords at once) or `prefork` (what production runs). */
  readonly processModel?: 'single' | 'prefork';
  /** Kerberos realm; the NetBIOS domain is its first label. Default `PWSYNC.TEST`. */
  readonly realm?: string;
}

export interface SambaUser {
  readonly dn: string;
  /** objectGUID in its string form, as samba-tool and Windows print it. */
  readonly guid: string;
  readonly sAMAccountName: string;
}

export interface SambaDc {
  /** The instance's own loopback address, 127.0.0.N. */
  readonly address: string;
  /** `ldaps://127.0.0.N:636`; the certificate's SAN holds the IP address, so verify by address. */
  readonly ldapsUrl: string;
  /** `ldap://127.0.0.N:389`; Samba refuses simple binds and password writes here without TLS. */
  readonly ldapUrl: string;
  /** PEM file of the CA that signed the DC's certificate. */
  readonly caFile: string;
  /** `DC=pwsync,DC=test` for the default realm. */
  readonly baseDn: string;
  readonly realm: string;
  /** The NetBIOS domain, e.g. `PWSYNC`. */
  readonly domain: string;
  /** `CN=Administrator,CN=Users,<baseDn>`. */
  readonly adminDn: string;
  readonly adminPassword: string;
  /** The instance's private directory; `stop()` removes it. */
  readonly dir: string;
  readonly smbConf: string;
  /** The GNUPGHOME holding the capture key, with `gpg: true` only. */
  readonly gnupgHome?: string;
  /** Environment for samba-tool (GNUPGHOME set when `gpg`), e.g. to spawn syncpasswords. */
  readonly env: Readonly<NodeJS.ProcessEnv>;
  /** The running samba's pid (it changes with `restart`). */
  readonly pid: number;
  /** Runs samba-tool with `-s smbConf`, `input` on stdin; its stdout, or an error with its stderr. */
  samba(args: readonly string[], input?: string): Promise<string>;
  /** `samba-tool user create` with the given password, then looks the new account up over LDAPS. */
  createUser(name: string, password: string, attrs?: { readonly givenName?: string; readonly mail?: string }): Promise<SambaUser>;
  /** Stops samba (its whole process group) and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
  /** Stops samba but keeps its directory and address; `restart` brings it back. */
  kill(): Promise<void>;
  /** Stops samba if it runs and starts it again on the same address with the same data. */
  restart(): Promise<void>;
}

const AD_PACKAGES = 'samba samba-ad-dc samba-ad-provision samba-dsdb-modules';
const PACKAGES: Readonly<Record<string, string>> = { samba: AD_PACKAGES, 'samba-tool': AD_PACKAGES, cp: 'coreutils', openssl: 'openssl', gpg: 'gpg', gpgconf: 'gpgconf' };
const ADDRESS_DIR = join(tmpdir(), 'pwsync-samba-addresses');
/** Meets AD's default complexity (upper, lower, digit, symbol; ≥ 7). Shared by every template of this process. */
const ADMIN_PASSWORD = `Pw-${randomBytes(9).toString('base64url')}-9a`;

/** Process groups, directories, address locks and GNUPGHOMEs not yet released, for the exit hook. */
const running = new Set<number>();
const directories = new Set<string>();
const addressLocks = new Set<string>();
const gnupgHomes = new Set<string>();
let exitHookInstalled = false;

/** process.kill that reports rather than throws: false once the target is gone (EPERM: it exists). */
function signal(target: number, sig: NodeJS.Signals | 0): boolean {
  try {
    return process.kill(target, sig);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** gpg-agent daemonizes itself out of samba's process group, so it is ended by its GNUPGHOME. */
function killAgent(home: string): void {
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore', timeout: 5000 });
  gnupgHomes.delete(home);
}

function releaseAddress(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
  } catch { /* already gone */ }
  addressLocks.delete(file);
}

function cleanUp(): void {
  for (const pid of running) signal(-pid, 'SIGKILL');
  for (const home of gnupgHomes) killAgent(home);
  // Retries: a gpg-agent told to quit may still be removing its sockets; an exit hook must not throw.
  for (const dir of directories) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch { /* left in the temp dir */ }
  }
  for (const file of addressLocks) releaseAddress(file);
}

/** samba leads its own process group, so Ctrl-C does not reach it: clean up, then re-raise the signal. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanUp);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanUp();
      process.kill(process.pid, sig);
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
  throw new Error(`${name} not found: install the Debian package(s) ${pkg} (apt-get install --no-install-recommends ${pkg})`);
}

function run(name: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command(name), args, { env, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}

/** The pid in a lock file; undefined while its creator has not written it yet (or died doing so). */
function lockHolder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stale: its pid is dead, or it stayed empty for 10 s (its creator died between open and write). */
function isStale(file: string): boolean {
  const pid = lockHolder(file);
  if (pid !== undefined) return !signal(pid, 0);
  return Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 10_000;
}

/** Creates `file` holding this pid unless it exists (O_EXCL): the atomic step of every claim. */
function tryCreate(file: string): boolean {
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Removing a stale lock is done under a short-lived guard file and only after re-reading it:
 * otherwise two processes could both see it stale and the second would delete the lock the first
 * had just created in its place.
 */
async function removeStale(file: string, holder: number | undefined): Promise<void> {
  const guard = join(ADDRESS_DIR, '.takeover');
  for (let tries = 0; !tryCreate(guard); tries++) {
    if (isStale(guard) || tries > 500) rmSync(guard, { force: true });
    await sleep(10);
  }
  try {
    if (lockHolder(file) === holder && isStale(file)) rmSync(file, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/** Claims the lowest free 127.0.0.N (N ≥ 2: 127.0.0.1 is left to everything else) and returns it. */
async function claimAddress(): Promise<{ address: string; lock: string }> {
  mkdirSync(ADDRESS_DIR, { recursive: true });
  for (let n = 2; n < 255; n++) {
    const address = `127.0.0.${n}`;
    const lock = join(ADDRESS_DIR, address);
    if (!tryCreate(lock)) {
      if (!isStale(lock)) continue;
      await removeStale(lock, lockHolder(lock));
      if (!tryCreate(lock)) continue;
    }
    addressLocks.add(lock);
    // Something outside this scheme (a system slapd on 0.0.0.0, an old leak) may hold the ports.
    if (!(await portOpen(address, 389)) && !(await portOpen(address, 636))) return { address, lock };
    releaseAddress(lock);
  }
  throw new Error(`no free 127.0.0.N address for a test Samba (locks in ${ADDRESS_DIR})`);
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
    socket.connect(port, host);
  });
}

/** Per process: a directory for the CA and the provisioned templates, removed at exit. */
interface Base { readonly dir: string; readonly ca: string; readonly caKey: string }
let base: Promise<Base> | undefined;
const templates = new Map<string, Promise<string>>();
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
function processBase(): Promise<Base> {
  return (base ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pwsync-samba-'));
    installExitHook();
    directories.add(dir);
    const ca = join(dir, 'ca.pem');
    const caKey = join(dir, 'ca-key.pem');
    await run('openssl', ['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=pwsync test Samba CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return { dir, ca, caKey };
  })());
}

/**
 * Provisions a domain once per process, realm and gpg choice. Everything Samba would put under
 * /var or /run is redirected into the directory, and the services tests do not need (NetBIOS, DNS,
 * file server, winbindd) are off, so instances never touch the host or each other.
 */
function provisioned(realm: string, domain: string, gpg: boolean): Promise<string> {
  const key = `${realm}-${gpg ? 'gpg' : 'plain'}`;
  let template = templates.get(key);
  if (template === undefined) {
    template = (async () => {
      const dir = join((await processBase()).dir, key);
      const env: NodeJS.ProcessEnv = { ...process.env };
      const options = [
        `log file = ${dir}/log/%m.log`, `pid directory = ${dir}/run`, `ncalrpc dir = ${dir}/run/ncalrpc`,
        `winbindd socket directory = ${dir}/run/winbindd`, `ntp signd socket directory = ${dir}/run/ntp_signd`,
        'server services = -nbt -wrepl -dns -ntp_signd -dnsupdate -s3fs -winbindd',
      ];
      await mkdir(dir);
      if (gpg) {
        env.GNUPGHOME = join(dir, 'gnupg');
        await mkdir(env.GNUPGHOME, { mode: 0o700 });
        gnupgHomes.add(env.GNUPGHOME);
        // An ed25519/cv25519 key is made in milliseconds; no passphrase so Samba and syncpasswords use it unattended.
        await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'pwsync test Samba <samba@pwsync.test>', 'future-default', 'default', 'never'], env);
        const fpr = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(await run('gpg', ['--batch', '--with-colons', '--list-keys'], env))?.[1];
        if (fpr === undefined) throw new Error('gpg made no key for the test Samba');
        options.push(`password hash gpg key ids = ${fpr}`);
      }
      if (!existsSync('/usr/share/samba/setup')) throw new Error(`Samba's provisioning data is missing: apt-get install --no-install-recommends ${AD_PACKAGES}`);
      try {
        // --host-name: the default (the machine's hostname) fails provisioning when longer than 15 characters.
        await run('samba-tool', ['domain', 'provision', `--targetdir=${dir}`, `--realm=${realm}`, `--domain=${domain}`,
          '--server-role=dc', '--dns-backend=NONE', '--host-name=dc', `--adminpass=${ADMIN_PASSWORD}`,
          ...options.map((o) => `--option=${o}`)], env);
        // The default minimum age of one day would refuse a test's second change of the same password.
        await run('samba-tool', ['domain', 'passwordsettings', 'set', '--min-pwd-age=0', '--history-length=0',
          '-H', join(dir, 'private', 'sam.ldb'), '-s', join(dir, 'etc', 'smb.conf')], env);
      } finally {
        if (env.GNUPGHOME !== undefined) killAgent(env.GNUPGHOME);
      }
      return dir;
    })();
    templates.set(key, template);
  }
  return template;
}

/** A server certificate for the instance's address, signed by the process's CA. */
async function certificate(dir: string, address: string): Promise<{ cert: string; key: string; ca: string }> {
  const { ca, caKey } = await processBase();
  const cert = join(dir, 'tls', 'cert.pem');
  const key = join(dir, 'tls', 'key.pem');
  await mkdir(join(dir, 'tls'));
  await writeFile(join(dir, 'tls', 'ext'), `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  await run('openssl', ['req', '-new', ...EC, '-keyout', key, '-out', join(dir, 'tls', 'csr'), '-subj', `/CN=${address}`]);
  await run('openssl', ['x509', '-req', '-in', join(dir, 'tls', 'csr'), '-CA', ca, '-CAkey', caKey, '-CAcreateserial',
    '-out', cert, '-days', '2', '-extfile', join(dir, 'tls', 'ext')]);
  return { cert, key, ca };
}

/** Starts a private Samba AD DC; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startSamba(options: SambaOptions = {}): Promise<SambaDc> {
  if (process.getuid?.() !== 0) throw new Error('the test Samba AD DC must run as root');
  const sambaBin = command('samba');
  const realm = (options.realm ?? 'PWSYNC.TEST').toUpperCase();
  const domain = (realm.split('.')[0] ?? '').slice(0, 15);
  const baseDn = realm.split('.').map((label) => `DC=${label.toLowerCase()}`).join(',');
  const adminDn = `CN=Administrator,CN=Users,${baseDn}`;
  const gpg = options.gpg ?? false;
  const template = await provisioned(realm, domain, gpg);
  const { address, lock } = await claimAddress();
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-samba-dc-'));
  directories.add(dir);
  try {
    await run('cp', ['-a', `${template}/.`, dir]);
    const gnupgHome = gpg ? join(dir, 'gnupg') : undefined;
    if (gnupgHome !== undefined) gnupgHomes.add(gnupgHome);
    const env: NodeJS.ProcessEnv = gnupgHome === undefined ? { ...process.env } : { ...process.env, GNUPGHOME: gnupgHome };
    const tls = await certificate(dir, address);
    const smbConf = join(dir, 'etc', 'smb.conf');
    const global = [`interfaces = ${address}/8`, 'bind interfaces only = yes', 'tls enabled = yes',
      `tls keyfile = ${tls.key}`, `tls certfile = ${tls.cert}`, `tls cafile = ${tls.ca}`].map((l) => `\t${l}\n`).join('');
    const conf = (await readFile(join(template, 'etc', 'smb.conf'), 'utf8')).replaceAll(template, dir);
    await writeFile(smbConf, conf.replace(/^\[global\]\n/m, (g) => g + global));
    const ca = await readFile(tls.ca, 'utf8');
    const ldapsUrl = `ldaps://${address}:636`;
    const args = ['-s', smbConf, '-i', '-M', options.processModel ?? 'single'];
    const connect = async (): Promise<Client> => {
      const client = new Client({ url: ldapsUrl, tlsOptions: { ca: [ca] }, timeout: 10_000, connectTimeout: 5000 });
      try {
        await client.bind(adminDn, ADMIN_PASSWORD);
        return client;
      } catch (e) {
        await client.unbind().catch(() => undefined);
        throw e;
      }
    };
    const start = async (): Promise<Running> => {
      const launched = await launch(sambaBin, args, env, address, connect);
      if ('error' in launched) throw new Error(`the private Samba on ${address} did not start: ${launched.error || 'no output'}`);
      return launched;
    };
    let current = await start();
    let stopped: Promise<void> | undefined;
    const samba = (toolArgs: readonly string[], input?: string): Promise<string> => run('samba-tool', [...toolArgs, '-s', smbConf], env, input);
    return {
      address, ldapsUrl, ldapUrl: `ldap://${address}:389`, caFile: tls.ca, baseDn, realm, domain, adminDn,
      adminPassword: ADMIN_PASSWORD, dir, smbConf, ...(gnupgHome === undefined ? {} : { gnupgHome }), env,
      get pid() {
        return current.pid;
      },
      samba,
      async createUser(name, password, attrs = {}) {
        // --use-username-as-cn: otherwise a given name becomes the CN, and so the DN.
        await samba(['user', 'create', name, password, '--use-username-as-cn',
          ...(attrs.givenName === undefined ? [] : [`--given-name=${attrs.givenName}`]),
          ...(attrs.mail === undefined ? [] : [`--mail-address=${attrs.mail}`])]);
        const client = await connect();
        try {
          const { searchEntries } = await client.search(baseDn, {
            filter: new EqualityFilter({ attribute: 'sAMAccountName', value: name }),
            attributes: ['objectGUID', 'sAMAccountName'], explicitBufferAttributes: ['objectGUID'],
          });
          const entry = searchEntries[0];
          const guid = entry?.objectGUID;
          if (entry === undefined || !Buffer.isBuffer(guid) || typeof entry.sAMAccountName !== 'string') throw new Error(`user ${name} not found after samba-tool user create`);
          return { dn: entry.dn, guid: guidString(guid), sAMAccountName: entry.sAMAccountName };
        } finally {
          await client.unbind();
        }
      },
      async restart() {
        if (stopped !== undefined) throw new Error('the private Samba was stopped for good');
        await current.terminate();
        current = await start();
      },
      kill: () => current.terminate(),
      stop: () => (stopped ??= current.terminate().then(async () => {
        if (gnupgHome !== undefined) killAgent(gnupgHome);
        await rm(dir, { recursive: true, force: true });
        directories.delete(dir);
        releaseAddress(lock);
      })),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    directories.delete(dir);
    releaseAddress(lock);
    throw e;
  }
}

/** The Microsoft string form: the first three fields are little-endian, the rest bytes in order. */
function guidString(b: Buffer): string {
  const le = (start: number, end: number): string => Buffer.from(b.subarray(start, end)).reverse().toString('hex');
  return [le(0, 4), le(4, 6), le(6, 8), b.subarray(8, 10).toString('hex'), b.subarray(10, 16).toString('hex')].join('-');
}

interface Running {
  readonly pid: number;
  terminate(): Promise<void>;
}

/** Runs samba until the Administrator can bind over LDAPS; its last output when it does not. */
async function launch(sambaBin: string, args: readonly string[], env: NodeJS.ProcessEnv, address: string, connect: () => Promise<Client>): Promise<Running | { error: string }> {
  // stdin stays an open pipe: samba -i terminates on EOF there (and so when this process dies).
  const child = spawn(sambaBin, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
  child.once('error', () => undefined); // reported below: no pid, or never ready
  const pid = child.pid;
  if (pid === undefined) return { error: 'samba could not be spawned' };
  installExitHook();
  running.add(pid);
  let output = '';
  const keep = (b: Buffer): void => { output = (output + b.toString('utf8')).slice(-8000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(pid));
  let terminated: Promise<void> | undefined;
  const terminate = (): Promise<void> => (terminated ??= stopProcess(pid, child, exited));
  if (await ready(child, address, connect)) return { pid, terminate };
  await terminate();
  return { error: output.trim() };
}

async function ready(child: ChildProcess, address: string, connect: () => Promise<Client>): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const client = (await portOpen(address, 636)) ? await connect().catch(() => undefined) : undefined;
    if (client !== undefined) return client.unbind().then(() => true);
    await sleep(20);
  }
  return false;
}

/**
 * Whether a process group still has a live member. Zombies do not count: samba's orphaned tfork
 * helpers go to PID 1, which here reaps only every couple of seconds, and they write nothing.
 */
function groupRunning(pgid: number): boolean {
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

/**
 * SIGTERM to the group, SIGKILL after 5 s. Waits for the whole group, not just the leader: prefork
 * workers outlive it briefly, still writing, and removing the directory under them fails with
 * ENOTEMPTY.
 */
async function stopProcess(pid: number, child: ChildProcess, exited: Promise<void>): Promise<void> {
  const deadline = Date.now() + 5000;
  if (child.exitCode === null && child.signalCode === null) signal(-pid, 'SIGTERM');
  while (groupRunning(pid) && Date.now() < deadline) await sleep(20);
  signal(-pid, 'SIGKILL');
  await exited;
  while (groupRunning(pid)) await sleep(20);
  child.stdin?.destroy();
  running.delete(pid);
}
