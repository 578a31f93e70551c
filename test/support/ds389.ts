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
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Client } from 'ldapts';
import {
  commands, type Failure, freePort, installHint, ldapBinds, makeCa, makeServerCertificate, type PrivateServer, type ProcessGroup,
  remove, removeAtExit, retryLostPortRace, serverHandle, startGroup, waitUntil,
} from './daemon.ts';
import { type LdifEntry, parseLdif, setAttributes, unfold } from './ldif.ts';

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

/** `stop()` kills ns-slapd at once (the data is not needed again); `kill()` and `restart()` shut it down cleanly. */
export interface Ds389 extends PrivateServer {
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
}

const ADMIN_DN = 'cn=Directory Manager';
const { which, run } = commands({
  'ns-slapd': '389-ds-base',
  dscreate: 'python3-lib389',
  certutil: 'libnss3-tools',
  pk12util: 'libnss3-tools',
  openssl: 'openssl',
  id: 'coreutils',
});
const DEFAULTS_INF = '/usr/share/dirsrv/inf/defaults.inf';

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
  for (const name of ['ns-slapd', 'dscreate', 'certutil', 'pk12util', 'openssl']) which(name);
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-ds389-template-'));
  // dscreate starts the server under the template's name, so it too has a semaphore.
  removeAtExit(dir, layout(dir).semaphore);
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
      throw new Error(`${DEFAULTS_INF} not found: ${installHint('389-ds-base')}`);
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
    await remove(dir, layout(dir).semaphore);
    throw e;
  }
}

/** A CA and a server certificate for 127.0.0.1 and localhost, imported into the NSS database as Server-Cert. */
async function installCertificates(certDir: string, work: string): Promise<void> {
  const authority = await makeCa(work);
  const { cert, key } = await makeServerCertificate(work, authority, '127.0.0.1', ['localhost']);
  const p12 = join(work, 'server.p12');
  const p12Password = join(work, 'p12.pass');
  await writeFile(p12Password, `${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
  await run('openssl', ['pkcs12', '-export', '-in', cert, '-inkey', key, '-name', 'Server-Cert', '-out', p12, '-passout', `file:${p12Password}`]);
  // dscreate made the NSS database with a random password in pwdfile.txt (and pin.txt for the server).
  const db = `sql:${certDir}`;
  const dbPassword = join(certDir, 'pwdfile.txt');
  await run('pk12util', ['-i', p12, '-d', db, '-k', dbPassword, '-w', p12Password]);
  await run('certutil', ['-A', '-d', db, '-n', 'pwsync test CA', '-t', 'CT,,', '-a', '-i', authority.ca, '-f', dbPassword]);
  for (const f of [authority.caKey, key, p12, p12Password, join(work, 'ca.srl')]) await rm(f, { force: true });
}

/** Starts a private 389 Directory Server; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startDs389(options: Ds389Options = {}): Promise<Ds389> {
  const baseDn = options.baseDn ?? 'dc=pwsync,dc=test';
  const entries = parseLdif((typeof options.ldif === 'string' ? [options.ldif] : (options.ldif ?? [])).map((e) => e.trim()).join('\n\n'));
  const nsSlapd = which('ns-slapd');
  const { dir: templateDir, adminPassword } = await template(baseDn);
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-ds389-'));
  const p = layout(dir);
  removeAtExit(dir, p.semaphore);
  try {
    const t = layout(templateDir);
    await cp(t.config, p.config, { recursive: true });
    for (const part of ['var', 'lock', 'run', 'log', 'tmp', 'inst']) {
      await cp(join(templateDir, part), join(dir, part), { recursive: true });
    }
    await cp(join(templateDir, 'certs', 'ca.pem'), join(dir, 'ca.pem'));
    // The template's dse.ldif is unfolded, so its paths can be rewritten as plain text.
    const dse = (await readFile(p.dse, 'utf8')).split(t.config).join(p.config).split(templateDir).join(dir);

    const { first, url, ldapsUrl } = await retryLostPortRace('the private 389 Directory Server', async () => {
      const [port, securePort] = [await freePort(), await freePort()];
      await writeFile(p.dse, setAttributes(dse, 'cn=config', { 'nsslapd-port': String(port), 'nsslapd-securePort': String(securePort) }));
      const url = `ldap://127.0.0.1:${port}`;
      const launched = await launch(nsSlapd, p, url, adminPassword);
      return 'error' in launched ? launched : { first: launched, url, ldapsUrl: `ldaps://127.0.0.1:${securePort}` };
    });
    const fields: Omit<Ds389, keyof PrivateServer> = {
      url,
      ldapsUrl,
      caFile: join(dir, 'ca.pem'),
      baseDn,
      adminDn: ADMIN_DN,
      adminPassword,
      anchorAttribute: 'entryUUID',
      dir,
      errorLog: p.errorLog,
    };
    const instance = serverHandle(fields, first, {
      name: 'the private 389 Directory Server',
      async start() {
        const again = await launch(nsSlapd, p, url, adminPassword);
        if ('error' in again) throw new Error(`the private 389 Directory Server did not restart: ${again.error}`);
        return again;
      },
      // The data will not be needed again, and a clean shutdown takes about 2 s.
      stopSignal: 'SIGKILL',
      cleanUp: () => remove(dir, p.semaphore),
    });
    try {
      await addEntries(url, adminPassword, entries);
    } catch (e) {
      await instance.stop();
      throw e;
    }
    return instance;
  } catch (e) {
    await remove(dir, p.semaphore);
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

/** Runs ns-slapd until it serves binds; its output and the end of its error log when it does not. */
async function launch(nsSlapd: string, p: ReturnType<typeof layout>, url: string, adminPassword: string): Promise<ProcessGroup | Failure> {
  await rm(p.pidFile, { force: true });
  // A clean shutdown (SIGTERM) closes the database in about 2 s; 15 s before SIGKILL leaves room on a loaded machine.
  const group = startGroup(nsSlapd, ['-D', p.config, '-i', p.pidFile, '-d', '0'], { graceMs: 15_000 });
  if (group === undefined) return { error: 'ns-slapd could not be spawned' };
  if (await waitUntil(group, 30_000, () => ldapBinds(url, ADMIN_DN, adminPassword))) return group;
  await group.stop('SIGKILL');
  let log = '';
  try {
    log = readFileSync(p.errorLog, 'utf8').split('\n').filter((l) => /ERR|CRIT|EMERG|WARN/.test(l)).slice(-10).join('\n');
  } catch { /* no log yet */ }
  return { error: [group.output(), log].filter(Boolean).join('\n') };
}
