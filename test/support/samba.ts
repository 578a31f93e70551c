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
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, EqualityFilter } from 'ldapts';
import {
  atExit, type CertificateAuthority, commands, type Failure, installHint, isAlive, makeCa, makeServerCertificate, portOpen,
  type PrivateServer, type ProcessGroup, remove, removeAtExit, serverHandle, startGroup, waitUntil,
} from './daemon.ts';

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

/** `kill()` keeps the instance's address as well as its directory; `restart()` brings it back there. */
export interface SambaDc extends PrivateServer {
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
  /** Runs samba-tool with `-s smbConf`, `input` on stdin; its stdout, or an error with its stderr. */
  samba(args: readonly string[], input?: string): Promise<string>;
  /** `samba-tool user create` with the given password, then looks the new account up over LDAPS. */
  createUser(name: string, password: string, attrs?: { readonly givenName?: string; readonly mail?: string }): Promise<SambaUser>;
}

const AD_PACKAGES = 'samba samba-ad-dc samba-ad-provision samba-dsdb-modules';
const { which, run: runCommand } = commands({ samba: AD_PACKAGES, 'samba-tool': AD_PACKAGES, cp: 'coreutils', gpg: 'gpg', gpgconf: 'gpgconf' });
const ADDRESS_DIR = join(tmpdir(), 'pwsync-samba-addresses');
/** Meets AD's default complexity (upper, lower, digit, symbol; ≥ 7). Shared by every template of this process. */
const ADMIN_PASSWORD = `Pw-${randomBytes(9).toString('base64url')}-9a`;

/** Address locks and GNUPGHOMEs not yet released, for the exit hook. */
const addressLocks = new Set<string>();
const gnupgHomes = new Set<string>();
atExit(() => {
  for (const home of gnupgHomes) killAgent(home);
  for (const file of addressLocks) releaseAddress(file);
});

/** Provisioning and samba-tool take their time. */
function run(name: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<string> {
  return runCommand(name, args, { env, timeout: 120_000, input });
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
  if (pid !== undefined) return !isAlive(pid);
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

/** Per process: a directory for the CA and the provisioned templates, removed at exit. */
interface Base { readonly dir: string; readonly authority: CertificateAuthority }
let base: Promise<Base> | undefined;
const templates = new Map<string, Promise<string>>();
function processBase(): Promise<Base> {
  return (base ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pwsync-samba-'));
    removeAtExit(dir);
    return { dir, authority: await makeCa(dir, 'pwsync test Samba CA') };
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
      if (!existsSync('/usr/share/samba/setup')) throw new Error(`Samba's provisioning data is missing: ${installHint(AD_PACKAGES)}`);
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
  const { authority } = await processBase();
  await mkdir(join(dir, 'tls'));
  return { ...(await makeServerCertificate(join(dir, 'tls'), authority, address)), ca: authority.ca };
}

/** Starts a private Samba AD DC; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startSamba(options: SambaOptions = {}): Promise<SambaDc> {
  if (process.getuid?.() !== 0) throw new Error('the test Samba AD DC must run as root');
  const sambaBin = which('samba');
  const realm = (options.realm ?? 'PWSYNC.TEST').toUpperCase();
  const domain = (realm.split('.')[0] ?? '').slice(0, 15);
  const baseDn = realm.split('.').map((label) => `DC=${label.toLowerCase()}`).join(',');
  const adminDn = `CN=Administrator,CN=Users,${baseDn}`;
  const gpg = options.gpg ?? false;
  const template = await provisioned(realm, domain, gpg);
  const { address, lock } = await claimAddress();
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-samba-dc-'));
  removeAtExit(dir);
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
    const start = async (): Promise<ProcessGroup> => {
      const launched = await launch(sambaBin, args, env, address, connect);
      if ('error' in launched) throw new Error(`the private Samba on ${address} did not start: ${launched.error || 'no output'}`);
      return launched;
    };
    const samba = (toolArgs: readonly string[], input?: string): Promise<string> => run('samba-tool', [...toolArgs, '-s', smbConf], env, input);
    const fields: Omit<SambaDc, keyof PrivateServer> = {
      address, ldapsUrl, ldapUrl: `ldap://${address}:389`, caFile: tls.ca, baseDn, realm, domain, adminDn,
      adminPassword: ADMIN_PASSWORD, dir, smbConf, ...(gnupgHome === undefined ? {} : { gnupgHome }), env,
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
    };
    return serverHandle(fields, await start(), {
      name: 'the private Samba',
      start,
      async cleanUp() {
        if (gnupgHome !== undefined) killAgent(gnupgHome);
        await remove(dir);
        releaseAddress(lock);
      },
    });
  } catch (e) {
    await remove(dir);
    releaseAddress(lock);
    throw e;
  }
}

/** The Microsoft string form: the first three fields are little-endian, the rest bytes in order. */
function guidString(b: Buffer): string {
  const le = (start: number, end: number): string => Buffer.from(b.subarray(start, end)).reverse().toString('hex');
  return [le(0, 4), le(4, 6), le(6, 8), b.subarray(8, 10).toString('hex'), b.subarray(10, 16).toString('hex')].join('-');
}

/** Runs samba until the Administrator can bind over LDAPS; its last output when it does not. */
async function launch(sambaBin: string, args: readonly string[], env: NodeJS.ProcessEnv, address: string, connect: () => Promise<Client>): Promise<ProcessGroup | Failure> {
  // stdin held open: samba -i terminates on EOF there (and so when this process dies). Prefork
  // workers outlive the leader briefly, still writing, so stopping waits for the whole group.
  const group = startGroup(sambaBin, args, { env, graceMs: 5000, holdStdin: true, waitForWholeGroup: true });
  if (group === undefined) return { error: 'samba could not be spawned' };
  const serves = async (): Promise<boolean> => {
    const client = (await portOpen(address, 636)) ? await connect().catch(() => undefined) : undefined;
    if (client === undefined) return false;
    await client.unbind();
    return true;
  };
  if (await waitUntil(group, 30_000, serves)) return group;
  await group.stop();
  return { error: group.output() };
}
