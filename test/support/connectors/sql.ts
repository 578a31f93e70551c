import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { systemSchema } from '../../../src/config/schema.ts';
import { withSecretContext } from '../../../src/fields/secret-ref.ts';
import type { PrivateServer } from '../daemon.ts';
import { startMariaDb } from '../mariadb.ts';
import { startPostgres, type Postgres } from '../postgres.ts';
import { createSqlConnector, type SqlConnector, type SqlSystemConfig } from '../../../src/connectors/sql/index.ts';
import type { Dialect } from '../../../src/connectors/sql/named-params.ts';

/*
 * An application database for the sql connector's tests and benchmarks, on a private server with
 * TLS required (test/support/postgres.ts, mariadb.ts): a table of users the way applications keep
 * them (with a CHECK constraint that refuses salted SHA-1 hashes), a function that hashes a clear password itself and refuses short ones (echoing the
 * password in its error, as careless code does, so that the redaction is tested), a service
 * account with column grants and the right to manage login roles, and one without the UPDATE grant.
 */

export const APP_DATABASE = 'app';
export const SERVICE_USER = 'pwsync_svc';
/** Reads, but may not update: for the 7014 test. */
export const READ_ONLY_USER = 'pwsync_ro';
/** The statement the tests configure by default: the hash computed by pwsync. */
export const SET_HASH = 'UPDATE app_users SET password_hash = :hash WHERE id = :anchor';
/** The database hashes the clear password itself, and refuses one shorter than 12 characters. */
export const SET_PLAINTEXT = 'UPDATE app_users SET password_hash = app_hash(:password) WHERE id = :anchor';
export const VERIFY = 'SELECT password_hash FROM app_users WHERE id = :anchor';
export const IMPORT = 'SELECT id, login, email, updated_at FROM app_users';

export interface SqlWorld {
  readonly dialect: Dialect;
  readonly server: PrivateServer & { readonly host: string; readonly port: number; readonly caFile: string };
  readonly servicePassword: string;
  /** One statement as the superuser in the application database; its rows. */
  exec(text: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** A row of app_users; returns its id (the anchor). */
  addUser(login: string, email?: string): Promise<string>;
  storedHash(anchor: string): Promise<string | null>;
  /** A login role with `password` (CREATE ROLE / CREATE USER as the superuser); returns its anchor. */
  addRole(name: string, password: string): Promise<string>;
  /** Whether `anchor` (a role) logs in with `password`, checked with the driver directly, not the connector. */
  roleLogsIn(anchor: string, password: string): Promise<boolean>;
  /** A validated system configuration for this database; `sql` and `system` override. */
  system(sql?: Record<string, unknown>, system?: Record<string, unknown>): SqlSystemConfig;
  connector(sql?: Record<string, unknown>, system?: Record<string, unknown>): SqlConnector;
  stop(): Promise<void>;
}

interface Backend {
  readonly server: SqlWorld['server'];
  readonly exec: (text: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;
  readonly roleLogsIn: (anchor: string, password: string) => Promise<boolean>;
  readonly addRole: (name: string, password: string) => Promise<string>;
  readonly insertUser: (login: string, email: string | null) => Promise<string>;
}

const PG_SCHEMA = (service: string, readOnly: string): string[] => [
  'CREATE EXTENSION pgcrypto',
  `CREATE TABLE app_users (
     id serial PRIMARY KEY,
     login text UNIQUE NOT NULL,
     email text,
     password_hash text CHECK (password_hash IS NULL OR length(password_hash) < 300),
     CONSTRAINT no_salted_sha1 CHECK (password_hash IS NULL OR password_hash NOT LIKE '{SSHA}%'),
     must_change boolean NOT NULL DEFAULT false,
     updated_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$`,
  'CREATE TRIGGER app_users_touch BEFORE UPDATE ON app_users FOR EACH ROW EXECUTE FUNCTION touch()',
  `CREATE FUNCTION app_hash(p text) RETURNS text LANGUAGE plpgsql AS $$
   BEGIN
     IF char_length(p) < 12 THEN RAISE EXCEPTION 'password % is too short', p; END IF;
     RETURN crypt(p, gen_salt('bf', 4));
   END $$`,
  `GRANT SELECT ON app_users TO ${service}, ${readOnly}`,
  `GRANT UPDATE (password_hash, must_change) ON app_users TO ${service}`,
  `GRANT EXECUTE ON FUNCTION app_hash(text) TO ${service}`,
];

async function postgresBackend(settings: ServerSettings): Promise<Backend & { servicePassword: string }> {
  const server: Postgres = await startPostgres({ settings });
  const servicePassword = randomBytes(12).toString('hex');
  await server.createDatabase(APP_DATABASE);
  await server.createRole(SERVICE_USER, servicePassword, { createRole: true });
  await server.createRole(READ_ONLY_USER, servicePassword);
  for (const statement of PG_SCHEMA(SERVICE_USER, READ_ONLY_USER)) await server.sql(statement, [], APP_DATABASE);
  const exec = (text: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> => server.sql(text, params, APP_DATABASE);
  return {
    server,
    servicePassword,
    exec,
    async insertUser(login, email) {
      const rows = await exec('INSERT INTO app_users (login, email) VALUES ($1, $2) RETURNING id', [login, email]);
      return String(rows[0]?.['id']);
    },
    async addRole(name, password) {
      await server.createRole(name, password);
      return name;
    },
    async roleLogsIn(anchor, password) {
      const client = new pg.Client(server.clientConfig({ user: anchor, password, database: APP_DATABASE }));
      client.on('error', () => undefined);
      try {
        await client.connect();
        return true;
      } catch (e) {
        if (e instanceof Error && 'code' in e && e.code === '28P01') return false;
        throw e;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

/** Server settings over the harness's own (PostgreSQL's `-c name=value`, MariaDB's `--name=value`). */
export type ServerSettings = Readonly<Record<string, string>>;

/** A private database server of `dialect` with the application's schema; `settings` over the harness's. */
export async function startSqlWorld(dialect: Dialect, settings: ServerSettings = {}): Promise<SqlWorld> {
  const backend = dialect === 'postgres' ? await postgresBackend(settings) : await mariadbBackend(settings);
  const { server, servicePassword } = backend;
  const system = (sql: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}): SqlSystemConfig => {
    const parsed = withSecretContext({ env: { DB_PW: servicePassword }, baseDir: '/', created: [] }, () =>
      systemSchema.parse({
        name: 'app',
        connector: 'sql',
        sql: {
          dialect,
          host: server.host,
          port: server.port,
          database: APP_DATABASE,
          user: SERVICE_USER,
          password: '${DB_PW}',
          tls: { ca: server.caFile },
          query: IMPORT,
          setPassword: { statement: SET_HASH },
          verifyQuery: VERIFY,
          ...sql,
        },
        import: { anchor: 'id', map: { login: 'login', mail: 'email' } },
        password: { sync: true, hash: 'bcrypt' },
        ...overrides,
      }),
    );
    if (parsed.connector !== 'sql') throw new Error('not an sql system');
    return parsed;
  };
  return {
    dialect,
    server,
    servicePassword,
    exec: backend.exec,
    addUser: (login, email) => backend.insertUser(login, email ?? null),
    async storedHash(anchor) {
      const rows = await backend.exec(dialect === 'postgres' ? 'SELECT password_hash FROM app_users WHERE id = $1' : 'SELECT password_hash FROM app_users WHERE id = ?', [Number(anchor)]);
      const value = rows[0]?.['password_hash'];
      return typeof value === 'string' ? value : null;
    },
    addRole: backend.addRole,
    roleLogsIn: backend.roleLogsIn,
    system,
    connector: (sql, overrides) => createSqlConnector(system(sql, overrides), { system: 'app', baseDir: '/' }),
    stop: () => server.stop(),
  };
}

const MARIADB_SCHEMA = (service: string, readOnly: string): string[] => [
  `CREATE TABLE app_users (
     id INT AUTO_INCREMENT PRIMARY KEY,
     login VARCHAR(200) NOT NULL UNIQUE,
     email VARCHAR(200),
     password_hash VARCHAR(400),
     must_change BOOLEAN NOT NULL DEFAULT FALSE,
     updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
     CONSTRAINT hash_len CHECK (password_hash IS NULL OR CHAR_LENGTH(password_hash) < 300),
     CONSTRAINT no_salted_sha1 CHECK (password_hash IS NULL OR password_hash NOT LIKE '{SSHA}%')
   ) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,
  // {SSHA512}: base64 of SHA-512(password bytes + salt) and the salt, which pwsync verifies.
  `CREATE FUNCTION app_hash(p VARCHAR(300) CHARACTER SET utf8mb4) RETURNS VARCHAR(300) NOT DETERMINISTIC NO SQL
   BEGIN
     DECLARE msg VARCHAR(500);
     DECLARE salt VARBINARY(8);
     IF CHAR_LENGTH(p) < 12 THEN
       SET msg = CONCAT('password ', p, ' is too short');
       SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
     END IF;
     SET salt = RANDOM_BYTES(8);
     RETURN CONCAT('{SSHA512}', REPLACE(TO_BASE64(CONCAT(UNHEX(SHA2(CONCAT(CAST(p AS BINARY), salt), 512)), salt)), '\\n', ''));
   END`,
  `GRANT SELECT ON ${APP_DATABASE}.app_users TO '${service}'@'%', '${readOnly}'@'%'`,
  `GRANT UPDATE (password_hash, must_change) ON ${APP_DATABASE}.app_users TO '${service}'@'%'`,
  `GRANT EXECUTE ON FUNCTION ${APP_DATABASE}.app_hash TO '${service}'@'%'`,
  // Login roles: ALTER USER, and the list of accounts.
  `GRANT CREATE USER ON *.* TO '${service}'@'%'`,
  `GRANT SELECT ON mysql.user TO '${service}'@'%'`,
];

async function mariadbBackend(settings: ServerSettings): Promise<Backend & { servicePassword: string }> {
  const server = await startMariaDb({ settings });
  const servicePassword = randomBytes(12).toString('hex');
  await server.createDatabase(APP_DATABASE);
  await server.createUser(SERVICE_USER, servicePassword);
  await server.createUser(READ_ONLY_USER, servicePassword);
  for (const statement of MARIADB_SCHEMA(SERVICE_USER, READ_ONLY_USER)) await server.sql(statement, [], APP_DATABASE);
  const exec = async (text: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> => {
    const result = await server.sql(text, params, APP_DATABASE);
    return Array.isArray(result) ? result : [];
  };
  return {
    server,
    servicePassword,
    exec,
    async insertUser(login, email) {
      await exec('INSERT INTO app_users (login, email) VALUES (?, ?)', [login, email]);
      const rows = await exec('SELECT id FROM app_users WHERE login = ?', [login]);
      return String(rows[0]?.['id']);
    },
    async addRole(name, password) {
      await server.createUser(name, password);
      return `${name}@%`;
    },
    async roleLogsIn(anchor, password) {
      const user = anchor.slice(0, anchor.lastIndexOf('@'));
      let conn: mysql.Connection | undefined;
      try {
        conn = await mysql.createConnection(server.connectionOptions({ user, password }));
        return true;
      } catch (e) {
        if (e instanceof Error && 'errno' in e && e.errno === 1045) return false;
        throw e;
      } finally {
        await conn?.end().catch(() => undefined);
      }
    },
  };
}
