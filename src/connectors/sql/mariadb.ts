import mysql, { type Pool, type PoolConnection, type QueryResult } from 'mysql2';
import type { Secret } from '../../core/secret.ts';
import { passwordAsText } from '../../core/password-text.ts';
import type { SqlConfig } from './config.ts';
import type { RunResult, SqlDriver, SqlRow, SqlSession, SqlValue } from './driver.ts';
import { bind, type CompiledStatement } from './named-params.ts';
import { mysqlNativePasswordHash } from './role-verifiers.ts';

/** ER_ACCESS_DENIED_ERROR: the user or its password was refused at login. */
export const MY_ACCESS_DENIED = 1045;

/** mysql2's TLS settings for `tls.mode`; undefined (no TLS) for `disable`. */
export function mysqlSsl(config: SqlConfig, ca: Buffer | undefined): mysql.SslOptions | undefined {
  if (config.tls.mode === 'disable') return undefined;
  // mysql2 checks the name against `host` (an address against the certificate's IP names).
  return { rejectUnauthorized: true, verifyIdentity: config.tls.mode === 'verify-full', ...(ca === undefined ? {} : { ca }) };
}

/** Connection settings shared by the service pool and a role's own login (which names no database). */
function connectionOptions(config: SqlConfig, ca: Buffer | undefined, port: number, database: string | null = config.database): mysql.ConnectionOptions {
  const ssl = mysqlSsl(config, ca);
  return {
    host: config.host,
    port,
    ...(database === null ? {} : { database }),
    ...(ssl === undefined ? {} : { ssl }),
    connectTimeout: config.timeout,
    // Dates are read and written in UTC (the session's time_zone is set to match below).
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: false,
  };
}

/** Per session: UTC, and statements stopped by the server after the configured timeout. */
function sessionSetup(config: SqlConfig): string {
  return `SET SESSION time_zone = '+00:00', SESSION max_statement_time = ${(config.timeout / 1000).toFixed(3)}`;
}

/** `user@host` → its parts; `user` alone is `user@%`. The last `@` separates them. */
export function splitRole(role: string): { user: string; host: string } {
  const at = role.lastIndexOf('@');
  return at === -1 ? { user: role, host: '%' } : { user: role.slice(0, at), host: role.slice(at + 1) };
}

class MariaDbSession implements SqlSession {
  readonly #conn: PoolConnection;

  readonly #config: SqlConfig;

  constructor(conn: PoolConnection, config: SqlConfig) {
    this.#conn = conn;
    this.#config = config;
  }

  #query(sql: string, values: SqlValue[]): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      this.#conn.query<QueryResult>({ sql, values }, (err, result) => (err ? reject(err) : resolve(result)));
    });
  }

  async run(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): Promise<RunResult> {
    const result = await this.#query(statement.text, bind(statement, values));
    if (Array.isArray(result)) return { rows: result as SqlRow[], affected: 0 };
    // With CLIENT_FOUND_ROWS (mysql2's default) affectedRows counts matched rows.
    return { rows: [], affected: 'affectedRows' in result ? result.affectedRows : 0 };
  }

  async runExactlyOne(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): Promise<number> {
    // The text protocol has no implicit transaction to end later: BEGIN, the statement, then
    // COMMIT or ROLLBACK, three round trips.
    await this.exec('BEGIN');
    const { affected } = await this.run(statement, values);
    await this.exec(affected === 1 ? 'COMMIT' : 'ROLLBACK');
    return affected;
  }

  async exec(text: string): Promise<void> {
    await this.#query(text, []);
  }

  async *cursor(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>, batchSize: number): AsyncIterable<readonly SqlRow[]> {
    // An import reads as long as the table takes: `timeout` bounds each statement of a delivery,
    // not a result of millions of rows (the server would stop it part-way).
    await this.exec('SET SESSION max_statement_time = 0');
    // The result is streamed: rows are read from the socket as they are consumed, never buffered whole.
    const stream = this.#conn.query({ sql: statement.text, values: bind(statement, values) }).stream({ highWaterMark: batchSize });
    let batch: SqlRow[] = [];
    try {
      for await (const row of stream) {
        batch.push(row as SqlRow);
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } finally {
      stream.destroy();
      await this.exec(sessionSetup(this.#config));
    }
  }

  release(broken = false): void {
    if (broken) this.#conn.destroy();
    else this.#conn.release();
  }
}

/** MariaDB (and MySQL) through mysql2: a pool of `connections` for the service account, TLS as configured. */
export class MariaDbDriver implements SqlDriver {
  readonly dialect = 'mariadb' as const;
  readonly #pool: Pool;
  readonly #config: SqlConfig;
  readonly #ca: Buffer | undefined;
  readonly #port: number;

  constructor(config: SqlConfig, ca: Buffer | undefined, port: number, password: Secret) {
    this.#config = config;
    this.#ca = ca;
    this.#port = port;
    this.#pool = mysql.createPool({
      ...connectionOptions(config, ca, port),
      user: config.user,
      // A JavaScript string for the driver's authentication only: mysql2 takes no callback here.
      password: password.useSync((clear) => clear.toString('utf8')),
      connectionLimit: config.connections,
      maxIdle: config.connections,
      idleTimeout: 60_000,
    });
    this.#pool.on('connection', (conn) => conn.query(sessionSetup(config)));
  }

  session(): Promise<SqlSession> {
    return new Promise((resolve, reject) => {
      this.#pool.getConnection((err, conn) => (err ? reject(err) : resolve(new MariaDbSession(conn, this.#config))));
    });
  }

  rolePasswordStatement(role: string, password: Buffer): Promise<string> {
    const { user, host } = splitRole(role);
    return Promise.resolve(`ALTER USER ${mysql.escape(user)}@${mysql.escape(host)} IDENTIFIED BY PASSWORD ${mysql.escape(mysqlNativePasswordHash(password))}`);
  }

  async loginAs(role: string, password: Buffer): Promise<boolean> {
    const { user } = splitRole(role);
    // No database: a login role need not have rights on the application's.
    const conn = mysql.createConnection({ ...connectionOptions(this.#config, this.#ca, this.#port, null), user, password: passwordAsText(password, 'a MariaDB login') }).promise();
    try {
      await conn.connect();
      return true;
    } catch (e) {
      if (e instanceof Error && 'errno' in e && e.errno === MY_ACCESS_DENIED) return false;
      throw e;
    } finally {
      conn.destroy();
    }
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.#pool.end((err) => (err ? reject(err) : resolve())));
  }
}
