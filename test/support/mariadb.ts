/*
 * A private MariaDB server for tests (see /work/shared/SERVICES.md): its own temporary directory,
 * a listener on 127.0.0.1 at a free port and a Unix socket in that directory, TLS required of
 * every TCP client (`--require-secure-transport=ON`) with a certificate for IP 127.0.0.1 and DNS
 * localhost signed by a throwaway CA, and `--no-defaults` so nothing of the machine's own MariaDB
 * configuration (/etc/mysql) applies.
 *
 * mariadb-install-db takes about 0.5 s and copying its result a few tens of milliseconds, so each
 * test process installs once (a template, with the CA and certificate) and every `startMariaDb`
 * copies it and starts mariadbd there (about 0.15 s). The template's root accounts get their
 * password while it is made, through mariadb-install-db's `--extra-file`: that runs in bootstrap
 * mode, where a failing statement fails the installation, unlike an `--init-file`, whose first
 * failing statement silently skips the rest of the file. The file holds the password's
 * mysql_native_password hash, never the password, and is deleted at once. root's password is
 * therefore one per test process (random); every start proves it by logging in with it over TLS.
 *
 * mariadbd runs in the foreground as the leader of its own process group (it drops to `mysql`
 * itself when started as root). `stop()` and `restart()` shut it down cleanly (SIGTERM); `kill()`
 * SIGKILLs it, for tests of a server that dies mid-run, and `restart()` then recovers the same data
 * on the same port (commits are written to the OS at commit, so a killed server keeps them).
 * Every instance still running when this process exits — a failed `before`, `--test-force-exit`,
 * Ctrl-C — is killed and its directory removed.
 *
 * Needs the Debian package mariadb-server (mariadbd, mariadb-install-db) and openssl; a missing one
 * fails with the package to install.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection, type ConnectionOptions, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import {
  commands, type Failure, freePort, makeCa, makeServerCertificate, portOpen, type PrivateServer, type ProcessGroup,
  oncePerProcess, type Owner, remove, removeAtExit, retryLostPortRace, serverHandle, startGroup, systemOwner, waitUntil,
} from './daemon.ts';

export interface MariaDbOptions {
  /** Extra server options, each passed as `--name=value` after the harness's own (so they win). */
  readonly settings?: Readonly<Record<string, string>>;
}

/** Who connects: root (with its password) and no default database unless said. */
export interface MariaDbLogin {
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
}

export interface MariaDbUserOptions {
  /** The account's host part. Default `%` (clients come from 127.0.0.1; names are not resolved). */
  readonly host?: string;
  /** Grant ALL PRIVILEGES on this database (`db`.*). */
  readonly database?: string;
}

/** `stop()`/`restart()` shut down cleanly (SIGTERM); `kill()` SIGKILLs the server. */
export interface MariaDb extends PrivateServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The CA certificate (PEM file) that signed the server's certificate (SAN IP:127.0.0.1, DNS:localhost). */
  readonly caFile: string;
  /** The same CA certificate, PEM text. */
  readonly ca: string;
  /** `root` (accounts root@localhost for the socket and root@127.0.0.1; no other root, no anonymous account). */
  readonly rootUser: string;
  /** Random, one per test process (every instance is a copy of one installation). */
  readonly rootPassword: string;
  /** The server's version, e.g. `10.11.19-MariaDB-0+deb12u1`. */
  readonly version: string;
  /** The instance's private directory (data, certificates, socket); `stop()` removes it. */
  readonly dir: string;
  readonly dataDir: string;
  /** The Unix socket (in `dir`; it counts as secure transport, so TLS is not asked there). */
  readonly socket: string;
  /** mysql2 settings for a TLS connection verified against `ca` (chain and name), as root unless `login` says otherwise. */
  connectionOptions(login?: MariaDbLogin): ConnectionOptions;
  /** Runs `use` with a connection (root unless `login` names someone), ended afterwards. */
  admin<T>(use: (connection: Connection) => Promise<T>, login?: MariaDbLogin): Promise<T>;
  /** One statement as root (in `database` when given): the rows of a query, the result header of anything else. */
  sql<T extends RowDataPacket[] | ResultSetHeader = RowDataPacket[]>(text: string, params?: readonly unknown[], database?: string): Promise<T>;
  createDatabase(name: string): Promise<void>;
  /**
   * An account that logs in with `password` (mysql_native_password, MariaDB's default). The
   * statement carries the password's hash made here, never the password.
   */
  createUser(name: string, password: string, options?: MariaDbUserOptions): Promise<void>;
}

const ROOT = 'root';
const HOST = '127.0.0.1';
const SERVER_PACKAGE = 'mariadb-server';
const { which, run } = commands({ mariadbd: SERVER_PACKAGE, 'mariadb-install-db': SERVER_PACKAGE, cp: 'coreutils', chown: 'coreutils' });

/** Options both mariadb-install-db and every start need (the redo log's size is fixed at install). */
const STORAGE = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=4M'];

/** mysql_native_password's stored form: `*` and the upper-case hex of SHA1(SHA1(password)). */
function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  const hash = `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
  inner.fill(0);
  return hash;
}

/** `'text'` for SQL, for the harness's own statements (names and hashes it made or was given). */
function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

function quoteName(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

interface Template {
  readonly dir: string;
  readonly password: string;
  readonly mariadbd: string;
  readonly version: string;
  /** `mysql` when running as root: mariadbd switches to it, and its files must be that user's. */
  readonly owner: Owner | undefined;
}

/** mariadb-install-db once per test process; every instance copies it. */
const processTemplate = oncePerProcess(provision);

/** mariadb-install-db with root's password set, the CA and the server certificate; what every instance copies. */
async function provision(): Promise<Template> {
  const mariadbd = which('mariadbd');
  which('mariadb-install-db');
  const owner = await systemOwner('mysql', SERVER_PACKAGE);
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-mariadb-template-'));
  removeAtExit(dir);
  try {
    const authority = await makeCa(dir, 'pwsync test MariaDB CA');
    await makeServerCertificate(dir, authority, HOST, ['localhost']);
    await rm(authority.caKey);
    await rm(join(dir, 'ca.srl'), { force: true });
    const password = randomBytes(18).toString('base64url');
    const hash = quote(nativePasswordHash(password));
    // Bootstrap runs without the privilege system: FLUSH PRIVILEGES loads it, so that ALTER USER works.
    // Kept: root@localhost (the private socket) and root@127.0.0.1 (TCP); the server listens on nothing else.
    const extra = join(dir, 'root.sql');
    await writeFile(extra, [
      `DELETE FROM mysql.global_priv WHERE User = '' OR (User = '${ROOT}' AND Host NOT IN ('localhost', '${HOST}'));`,
      `DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';`,
      'FLUSH PRIVILEGES;',
      `ALTER USER '${ROOT}'@'localhost' IDENTIFIED BY PASSWORD ${hash};`,
      `ALTER USER '${ROOT}'@'${HOST}' IDENTIFIED BY PASSWORD ${hash};`,
      '',
    ].join('\n'), { mode: 0o600 });
    if (owner !== undefined) await run('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
    await run('mariadb-install-db', ['--no-defaults', ...(owner === undefined ? [] : ['--user=mysql']), `--datadir=${join(dir, 'data')}`,
      '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', `--extra-file=${extra}`, ...STORAGE], { timeout: 120_000 });
    await rm(extra);
    // "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
    const version = /\bVer\s+(\S+)/.exec(await run('mariadbd', ['--version']))?.[1] ?? 'unknown';
    return { dir, password, mariadbd, version, owner };
  } catch (e) {
    await remove(dir);
    throw e;
  }
}

/** Starts a private MariaDB; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const t = await processTemplate();
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-mariadb-'));
  removeAtExit(dir);
  try {
    // --reflink: a copy-on-write clone where the file system can (btrfs, xfs), a plain copy elsewhere.
    await run('cp', ['-a', '--reflink=auto', `${t.dir}/.`, dir]);
    await mkdir(join(dir, 'tmp'));
    if (t.owner !== undefined) {
      await chown(dir, t.owner.uid, t.owner.gid);
      await chown(join(dir, 'tmp'), t.owner.uid, t.owner.gid);
    }
    const caFile = join(dir, 'ca.pem');
    const ca = await readFile(caFile, 'utf8');
    const dataDir = join(dir, 'data');
    const socket = join(dir, 'mariadb.sock');
    const settings: Readonly<Record<string, string>> = {
      datadir: dataDir,
      socket,
      'pid-file': join(dir, 'mariadb.pid'),
      tmpdir: join(dir, 'tmp'),
      'bind-address': HOST,
      'ssl-cert': join(dir, 'server.pem'),
      'ssl-key': join(dir, 'server-key.pem'),
      'require-secure-transport': 'ON',
      // Without /etc/mysql's configuration the server's character set would be latin1.
      'character-set-server': 'utf8mb4',
      'collation-server': 'utf8mb4_general_ci',
      // Written to the OS at each commit (survives a killed server), flushed to disk once a second.
      'innodb-flush-log-at-trx-commit': '2',
      ...options.settings,
    };
    const args = (port: number): string[] => [
      // --no-defaults must come first.
      '--no-defaults', ...(t.owner === undefined ? [] : ['--user=mysql']), `--port=${port}`, '--skip-name-resolve', '--skip-log-bin',
      ...STORAGE, ...Object.entries(settings).map(([name, value]) => `--${name}=${value}`),
    ];
    const connectionOptions = (port: number, login: MariaDbLogin = {}): ConnectionOptions => {
      const user = login.user ?? ROOT;
      const password = login.password ?? (user === ROOT ? t.password : undefined);
      return {
        host: HOST, port, user, ...(password === undefined ? {} : { password }), ...(login.database === undefined ? {} : { database: login.database }),
        // mysql2 checks the certificate's name only with verifyIdentity: rejectUnauthorized alone checks the chain.
        ssl: { ca, rejectUnauthorized: true, verifyIdentity: true }, connectTimeout: 5000,
      };
    };

    const { first, port } = await retryLostPortRace('the private MariaDB', async () => {
      const port = await freePort();
      const launched = await launch(t.mariadbd, args(port), connectionOptions(port));
      return 'error' in launched ? launched : { first: launched, port };
    });

    const admin = async <T>(use: (connection: Connection) => Promise<T>, login?: MariaDbLogin): Promise<T> => {
      const connection = await mysql.createConnection(connectionOptions(port, login));
      // A server that goes away mid-session makes the connection emit 'error'; unheard, that ends the test process.
      connection.on('error', () => undefined);
      try {
        return await use(connection);
      } finally {
        await connection.end().catch(() => undefined);
      }
    };
    const fields: Omit<MariaDb, keyof PrivateServer> = {
      host: HOST,
      port,
      caFile,
      ca,
      rootUser: ROOT,
      rootPassword: t.password,
      version: t.version,
      dir,
      dataDir,
      socket,
      connectionOptions: (login) => connectionOptions(port, login),
      admin,
      sql: <T extends RowDataPacket[] | ResultSetHeader = RowDataPacket[]>(text: string, params: readonly unknown[] = [], database?: string) =>
        admin(async (c) => (await c.query<T>(text, [...params]))[0], database === undefined ? {} : { database }),
      createDatabase: (name) => admin(async (c) => {
        await c.query(`CREATE DATABASE ${quoteName(name)}`);
      }),
      createUser: (name, password, userOptions = {}) => admin(async (c) => {
        const account = `${quote(name)}@${quote(userOptions.host ?? '%')}`;
        await c.query(`CREATE USER ${account} IDENTIFIED BY PASSWORD ${quote(nativePasswordHash(password))}`);
        if (userOptions.database !== undefined) await c.query(`GRANT ALL PRIVILEGES ON ${quoteName(userOptions.database)}.* TO ${account}`);
      }),
    };
    return serverHandle(fields, first, {
      name: 'the private MariaDB',
      async start() {
        const again = await launch(t.mariadbd, args(port), connectionOptions(port));
        if ('error' in again) throw new Error(`the private MariaDB did not restart: ${again.error}`);
        return again;
      },
      killSignal: 'SIGKILL',
      cleanUp: () => remove(dir),
    });
  } catch (e) {
    await remove(dir);
    throw e;
  }
}

/** Runs mariadbd until root logs in over TLS with its password; its output (the error log: stderr) when it does not. */
async function launch(mariadbd: string, args: readonly string[], login: ConnectionOptions): Promise<ProcessGroup | Failure> {
  // A clean shutdown takes some tens of milliseconds with this small buffer pool.
  const group = startGroup(mariadbd, args, { graceMs: 10_000 });
  if (group === undefined) return { error: 'mariadbd could not be spawned' };
  // The grant tables are loaded before the server listens: a refused login is final, not a server
  // still starting; so is a certificate the client does not trust (mysql2 reports every TLS failure
  // as HANDSHAKE_SSL_ERROR, the TLS error's own code overwritten).
  let refused: string | undefined;
  const serves = async (): Promise<boolean> => {
    if (login.port === undefined || !(await portOpen(HOST, login.port))) return false;
    try {
      await (await mysql.createConnection(login)).end();
      return true;
    } catch (e) {
      if (e instanceof Error && 'code' in e && (e.code === 'ER_ACCESS_DENIED_ERROR' || e.code === 'HANDSHAKE_SSL_ERROR')) refused = e.message;
      return refused !== undefined;
    }
  };
  if (await waitUntil(group, 30_000, serves) && refused === undefined) return group;
  await group.stop('SIGKILL');
  return { error: refused === undefined ? group.output() : `root's login over TLS failed: ${refused}` };
}
