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
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  commands, type Failure, freePort, ldapBinds, makeCa, makeServerCertificate, type PrivateServer, type ProcessGroup, remove,
  removeAtExit, retryLostPortRace, serverHandle, startGroup, waitUntil,
} from './daemon.ts';

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

/** `stop()` ends slapd with SIGTERM (SIGKILL after 5 s); `restart()` brings it back on the same ports. */
export interface Slapd extends PrivateServer {
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
}

const DEFAULT_SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];
const { which, run } = commands({ slapd: 'slapd', slapadd: 'slapd' });

/** A CA and a server certificate for 127.0.0.1 and localhost. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const authority = await makeCa(dir);
  return { ca: authority.ca, ...(await makeServerCertificate(dir, authority, '127.0.0.1', ['localhost'])) };
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
  const slapd = which('slapd');
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-slapd-'));
  removeAtExit(dir);
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

    const { first, url, ldapsUrl, listen } = await retryLostPortRace('the private slapd', async () => {
      const port = await freePort();
      const tlsPort = certs ? await freePort() : undefined;
      const url = `ldap://127.0.0.1:${port}`;
      const ldapsUrl = tlsPort === undefined ? undefined : `ldaps://127.0.0.1:${tlsPort}`;
      const listen = [url, ...(ldapsUrl === undefined ? [] : [ldapsUrl])].map((u) => `${u}/`).join(' ');
      const launched = await launch(slapd, conf, listen, url, adminDn, adminPassword);
      return 'error' in launched ? launched : { first: launched, url, ldapsUrl, listen };
    });
    const fields: Omit<Slapd, keyof PrivateServer> = {
      url,
      ...(ldapsUrl === undefined ? {} : { ldapsUrl }),
      ...(certs ? { caFile: certs.ca } : {}),
      baseDn,
      adminDn,
      adminPassword,
      dir,
    };
    return serverHandle(fields, first, {
      name: 'the private slapd',
      async start() {
        const again = await launch(slapd, conf, listen, url, adminDn, adminPassword);
        if ('error' in again) throw new Error(`the private slapd did not restart: ${again.error}`);
        return again;
      },
      cleanUp: () => remove(dir),
    });
  } catch (e) {
    await remove(dir);
    throw e;
  }
}

/** Runs slapd until it serves binds; its output when it does not. */
async function launch(slapd: string, conf: string, listen: string, url: string, adminDn: string, adminPassword: string): Promise<ProcessGroup | Failure> {
  const group = startGroup(slapd, ['-d', '0', '-f', conf, '-h', listen], { graceMs: 5000 });
  if (group === undefined) return { error: 'slapd could not be spawned' };
  if (await waitUntil(group, 10_000, () => ldapBinds(url, adminDn, adminPassword))) return group;
  await group.stop();
  return { error: group.output() };
}
