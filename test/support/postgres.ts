/*
 * A private PostgreSQL server for tests (see /work/shared/SERVICES.md): its own temporary
 * directory, a listener on 127.0.0.1 at a free port and a Unix socket in that directory only, and
 * TLS enforced by pg_hba (`hostssl … scram-sha-256`, every `hostnossl` connection rejected) with a
 * certificate for IP 127.0.0.1 and DNS localhost signed by a throwaway CA, so clients verify it as
 * libpq's `sslmode=verify-full` would (node-postgres: `ssl: { ca }`, which checks the address).
 *
 * initdb takes about 0.5 s, so each test process runs it once (a template, with the CA and
 * certificate) and every `startPostgres` copies it with `cp -a` and starts `postgres` there (about
 * 0.1 s in all; the copy, some 1,000 files, is what a busy disk slows down: TMPDIR=/dev/shm keeps it
 * at 50 ms). The superuser's password is therefore one per test process (random). The server runs as the `postgres` user when the tests run as root (postgres
 * refuses root), so the directories belong to that user.
 *
 * postgres runs in the foreground as the leader of its own process group. `stop()` and `restart()`
 * use the fast shutdown (SIGINT: open sessions are ended; SIGTERM would wait for every client to
 * disconnect); `kill()` SIGKILLs the whole group, for tests of a server that dies mid-run, and
 * `restart()` then recovers the same data on the same port. Dynamic shared memory lives in the data
 * directory (`dynamic_shared_memory_type=mmap`); the one System V segment a killed postmaster
 * leaves is removed when the instance is stopped, or by the exit hook. Every instance still running
 * when this process exits — a failed `before`, `--test-force-exit`, Ctrl-C — is killed and its
 * directory removed.
 *
 * Needs the Debian package postgresql-<version> (initdb and postgres in /usr/lib/postgresql/<version>/bin;
 * the newest installed is used) and openssl; a missing one fails with the package to install.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import saslprep from '@mongodb-js/saslprep';
import pg, { type ClientConfig, type QueryResultRow } from 'pg';
import {
  atExit, commands, type Failure, freePort, installHint, makeCa, makeServerCertificate, portOpen, type PrivateServer, type ProcessGroup,
  oncePerProcess, type Owner, remove, removeAtExit, retryLostPortRace, serverHandle, startGroup, systemOwner, waitUntil,
} from './daemon.ts';

export interface PostgresOptions {
  /** Extra server settings, each passed as `-c name=value` after the harness's own (so they win). */
  readonly settings?: Readonly<Record<string, string>>;
}

/** Who connects: the superuser (with its password) and the `postgres` database by default. */
export interface PostgresLogin {
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
}

export interface RoleOptions {
  readonly superuser?: boolean;
  readonly createDb?: boolean;
  readonly createRole?: boolean;
}

/** `stop()`/`restart()` shut down fast (SIGINT); `kill()` SIGKILLs the whole process group. */
export interface Postgres extends PrivateServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The CA certificate (PEM file) that signed the server's certificate (SAN IP:127.0.0.1, DNS:localhost). */
  readonly caFile: string;
  /** The same CA certificate, PEM text. */
  readonly ca: string;
  /** `postgres`. */
  readonly superuser: string;
  /** Random, one per test process (every instance is a copy of one initdb). */
  readonly superuserPassword: string;
  /** The server's major version, e.g. `15`. */
  readonly version: string;
  /** The instance's private directory (data, certificates, Unix socket); `stop()` removes it. */
  readonly dir: string;
  /** PGDATA. */
  readonly dataDir: string;
  /** node-postgres settings for a TLS connection verified against `ca`, as the superuser unless `login` says otherwise. */
  clientConfig(login?: PostgresLogin): ClientConfig;
  /** Runs `use` with a connected client (superuser unless `login` names someone), ended afterwards. */
  admin<T>(use: (client: pg.Client) => Promise<T>, login?: PostgresLogin): Promise<T>;
  /** One statement as the superuser (in `database`, default `postgres`); its rows. */
  sql<R extends QueryResultRow = QueryResultRow>(text: string, params?: readonly unknown[], database?: string): Promise<R[]>;
  createDatabase(name: string, options?: { readonly owner?: string }): Promise<void>;
  /**
   * A role that can log in with `password`. The statement carries a SCRAM-SHA-256 verifier made
   * here, never the password, so it cannot reach the server's log.
   */
  createRole(name: string, password: string, options?: RoleOptions): Promise<void>;
}

const SUPERUSER = 'postgres';
const HOST = '127.0.0.1';
const PG_ROOT = '/usr/lib/postgresql';
const { run } = commands({ runuser: 'util-linux', env: 'coreutils', cp: 'coreutils', chown: 'coreutils' });

/** TLS or nothing: the socket is private to the directory anyway, and hostnossl is refused on every address. */
const PG_HBA = `# written by test/support/postgres.ts
local     all  all                scram-sha-256
hostssl   all  all  127.0.0.1/32  scram-sha-256
hostnossl all  all  0.0.0.0/0     reject
hostnossl all  all  ::/0          reject
`;

/** The newest /usr/lib/postgresql/<version>/bin that has both initdb and the server. */
function serverBinaries(): { bin: string; version: string } {
  let versions: string[] = [];
  try {
    versions = readdirSync(PG_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch { /* not installed at all */ }
  for (const version of versions) {
    const bin = join(PG_ROOT, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return { bin, version };
  }
  throw new Error(`PostgreSQL's initdb and postgres not found in ${PG_ROOT}/<version>/bin: ${installHint('postgresql-15')}`);
}

interface Template {
  readonly dir: string;
  readonly password: string;
  readonly bin: string;
  readonly version: string;
  readonly owner: Owner | undefined;
}

/** initdb once per test process; every instance copies it. */
const processTemplate = oncePerProcess(provision);

/** initdb, the CA and the server certificate, pg_hba; the stopped result is what every instance copies. */
async function provision(): Promise<Template> {
  const { bin, version } = serverBinaries();
  const owner = await systemOwner(SUPERUSER, 'postgresql-15');
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-postgres-template-'));
  removeAtExit(dir);
  try {
    const authority = await makeCa(dir, 'pwsync test PostgreSQL CA');
    const { key } = await makeServerCertificate(dir, authority, HOST, ['localhost']);
    await rm(authority.caKey);
    await rm(join(dir, 'ca.srl'), { force: true });
    // postgres refuses a key that others can read.
    await chmod(key, 0o600);
    const password = randomBytes(18).toString('base64url');
    const pwFile = join(dir, 'superuser.pw');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (owner !== undefined) await run('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
    const initdb = [join(bin, 'initdb'), '-D', join(dir, 'data'), '-U', SUPERUSER, `--pwfile=${pwFile}`, '-A', 'scram-sha-256',
      // 1 MB WAL segments instead of 16: the template, copied for every instance, shrinks from 39 MB to 29 MB.
      '--no-sync', '--no-instructions', '--wal-segsize=1', '-E', 'UTF8', '--locale=C.UTF-8'];
    // `env` runs a program by its absolute path (run() looks names up on PATH).
    await (owner === undefined ? run('env', initdb) : run('runuser', ['-u', SUPERUSER, '--', ...initdb]));
    await rm(pwFile);
    const hba = join(dir, 'data', 'pg_hba.conf');
    await writeFile(hba, PG_HBA);
    if (owner !== undefined) await chown(hba, owner.uid, owner.gid);
    return { dir, password, bin, version, owner };
  } catch (e) {
    await remove(dir);
    throw e;
  }
}

/** PGDATA of instances not yet stopped, for the exit hook: a killed postmaster leaves a System V segment. */
const running = new Set<string>();
atExit(() => {
  for (const dataDir of running) removeSharedMemory(dataDir);
});

/**
 * A postmaster that did not shut down leaves its postmaster.pid, whose 7th line holds the key and
 * id of its System V segment; once no process holds it, only IPC_RMID frees it. (A new postmaster
 * on the same data removes it itself, so this is for instances that end killed.)
 */
function removeSharedMemory(dataDir: string): void {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return; // shut down cleanly, or never started
  }
  const shmid = /^\s*\d+\s+(\d+)\s*$/.exec(lines[6] ?? '')?.[1];
  if (shmid !== undefined) spawnSync('ipcrm', ['-m', shmid], { stdio: 'ignore', timeout: 5000 });
}

/** Starts a private PostgreSQL; see the file comment. The caller must `stop()` it (an `after` hook). */
export async function startPostgres(options: PostgresOptions = {}): Promise<Postgres> {
  const t = await processTemplate();
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-postgres-'));
  removeAtExit(dir);
  const dataDir = join(dir, 'data');
  try {
    // --reflink: a copy-on-write clone where the file system can (btrfs, xfs), a plain copy elsewhere.
    await run('cp', ['-a', '--reflink=auto', `${t.dir}/.`, dir]);
    if (t.owner !== undefined) await chown(dir, t.owner.uid, t.owner.gid);
    const caFile = join(dir, 'ca.pem');
    const ca = await readFile(caFile, 'utf8');
    const settings: Readonly<Record<string, string>> = {
      listen_addresses: HOST,
      unix_socket_directories: dir,
      ssl: 'on',
      ssl_cert_file: join(dir, 'server.pem'),
      ssl_key_file: join(dir, 'server-key.pem'),
      // Throwaway data: no durability against a machine crash. A killed server still keeps every
      // acknowledged commit, since a commit still write()s its WAL; synchronous_commit=off would
      // acknowledge before that and lose the last commits to a SIGKILL, and full_page_writes=off
      // could leave a page torn by a SIGKILL between its two 4 kB halves that recovery cannot mend.
      fsync: 'off',
      // In PGDATA rather than /dev/shm, so that a killed server leaves none of it behind.
      dynamic_shared_memory_type: 'mmap',
      shared_buffers: '16MB',
      max_connections: '50',
      ...options.settings,
    };
    const settingArgs = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
    const config = (port: number, login: PostgresLogin = {}): ClientConfig => {
      const user = login.user ?? SUPERUSER;
      const password = login.password ?? (user === SUPERUSER ? t.password : undefined);
      return {
        host: HOST, port, user, database: login.database ?? 'postgres', ...(password === undefined ? {} : { password }),
        ssl: { ca, rejectUnauthorized: true }, connectionTimeoutMillis: 5000,
      };
    };

    const { first, port } = await retryLostPortRace('the private PostgreSQL', async () => {
      const port = await freePort();
      const launched = await launch(t, dataDir, ['-D', dataDir, '-p', String(port), ...settingArgs], config(port));
      return 'error' in launched ? launched : { first: launched, port };
    });
    running.add(dataDir);

    const admin = async <T>(use: (client: pg.Client) => Promise<T>, login?: PostgresLogin): Promise<T> => {
      const client = new pg.Client(config(port, login));
      // A server that goes away mid-session (kill, restart) makes the client emit 'error'; unheard, that ends the test process.
      client.on('error', () => undefined);
      await client.connect();
      try {
        return await use(client);
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    const fields: Omit<Postgres, keyof PrivateServer> = {
      host: HOST,
      port,
      caFile,
      ca,
      superuser: SUPERUSER,
      superuserPassword: t.password,
      version: t.version,
      dir,
      dataDir,
      clientConfig: (login) => config(port, login),
      admin,
      sql: <R extends QueryResultRow = QueryResultRow>(text: string, params: readonly unknown[] = [], database?: string) =>
        admin(async (client) => (await client.query<R>(text, [...params])).rows, database === undefined ? {} : { database }),
      createDatabase: (name, { owner } = {}) => admin(async (client) => {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${owner === undefined ? '' : ` OWNER ${pg.escapeIdentifier(owner)}`}`);
      }),
      createRole: (name, password, roleOptions = {}) => admin(async (client) => {
        const flags = [
          roleOptions.superuser === true ? 'SUPERUSER' : '',
          roleOptions.createDb === true ? 'CREATEDB' : '',
          roleOptions.createRole === true ? 'CREATEROLE' : '',
        ].filter(Boolean).join(' ');
        await client.query(`CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN ${flags} PASSWORD ${pg.escapeLiteral(scramVerifier(password))}`);
      }),
    };
    return serverHandle(fields, first, {
      name: 'the private PostgreSQL',
      async start() {
        const again = await launch(t, dataDir, ['-D', dataDir, '-p', String(port), ...settingArgs], config(port));
        if ('error' in again) throw new Error(`the private PostgreSQL did not restart: ${again.error}`);
        return again;
      },
      shutdownSignal: 'SIGINT',
      killSignal: 'SIGKILL',
      async cleanUp() {
        removeSharedMemory(dataDir);
        running.delete(dataDir);
        await remove(dir);
      },
    });
  } catch (e) {
    removeSharedMemory(dataDir);
    await remove(dir);
    throw e;
  }
}

/** Runs postgres until the superuser logs in over TLS; its output when it does not. */
async function launch(t: Template, dataDir: string, args: readonly string[], config: ClientConfig): Promise<ProcessGroup | Failure> {
  // Backends outlive a SIGKILLed postmaster for a moment, attached to its shared memory: a restart
  // before they are gone would refuse to start, so stopping waits for the whole group.
  const group = startGroup(join(t.bin, 'postgres'), args, {
    graceMs: 10_000, waitForWholeGroup: true, ...(t.owner === undefined ? {} : { uid: t.owner.uid, gid: t.owner.gid }),
  });
  if (group === undefined) return { error: 'postgres could not be spawned' };
  // Refused while "the database system is starting up" (57P03): tried again. A refused login
  // (28P01 wrong password, 28000 pg_hba) is final, and so is a certificate the client does not trust.
  let refused: string | undefined;
  const serves = async (): Promise<boolean> => {
    if (config.port === undefined || !(await portOpen(HOST, config.port))) return false;
    const client = new pg.Client(config);
    client.on('error', () => undefined);
    try {
      await client.connect();
      return true;
    } catch (e) {
      const code = e instanceof Error && 'code' in e ? String(e.code) : '';
      if (e instanceof Error && /^28(P01|000)$|^ERR_TLS_|CERT|UNABLE_TO_/.test(code)) refused = e.message;
      return refused !== undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  if (await waitUntil(group, 30_000, serves) && refused === undefined) return group;
  await group.stop('SIGKILL');
  removeSharedMemory(dataDir);
  return { error: refused === undefined ? group.output() : `the superuser's login over TLS failed: ${refused}` };
}

/**
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, RFC 7677), as
 * pg_authid.rolpassword holds it and CREATE ROLE … PASSWORD takes it: SASLprep of the password
 * when it passes, its bytes as they are otherwise (as the server does).
 */
function scramVerifier(password: string, iterations = 4096): string {
  let prepared = password;
  try {
    prepared = saslprep(password);
  } catch { /* a prohibited character: the server uses the password as it is */ }
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(Buffer.from(prepared, 'utf8'), salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  salted.fill(0);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
