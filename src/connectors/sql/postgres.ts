import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import pg from 'pg';
import Cursor from 'pg-cursor';
import type { Secret } from '../../core/secret.ts';
import { passwordAsText } from '../../core/password-text.ts';
import type { SqlConfig } from './config.ts';
import type { RunResult, SqlDriver, SqlRow, SqlSession, SqlValue } from './driver.ts';
import { bind, type CompiledStatement } from './named-params.ts';
import { ExactlyOneWrite } from './pg-exactly-one.ts';
import { scramSha256Verifier } from './role-verifiers.ts';

/** SQLSTATE 28P01: the password did not match (a role's login, or the service account's). */
export const PG_INVALID_PASSWORD = '28P01';

/** node-postgres's TLS settings for `tls.mode`; `false` for `disable`. */
export function pgSsl(config: SqlConfig, ca: Buffer | undefined): pg.ConnectionConfig['ssl'] {
  const { mode, serverName } = config.tls;
  if (mode === 'disable') return false;
  const identity =
    mode === 'verify-ca'
      ? // The chain is still verified (rejectUnauthorized); only the name is not compared.
        { checkServerIdentity: (): undefined => undefined }
      : serverName !== undefined
        ? { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(serverName, cert) }
        : {};
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    // SNI carries names only, never addresses (RFC 6066).
    ...(serverName !== undefined && isIP(serverName) === 0 ? { servername: serverName } : {}),
    ...identity,
  };
}

/** Connection settings shared by the service pool and a role's own login. */
function connectionConfig(config: SqlConfig, ca: Buffer | undefined, port: number): pg.ConnectionConfig {
  return {
    host: config.host,
    port,
    database: config.database,
    ssl: pgSsl(config, ca),
    connectionTimeoutMillis: config.timeout,
    statement_timeout: config.timeout,
    application_name: 'pwsync',
    // Times without a zone (a delta's watermark) are read and written in UTC.
    options: '-c TimeZone=UTC',
  };
}

class PgSession implements SqlSession {
  readonly #client: pg.PoolClient;
  readonly #timeoutMs: number;

  constructor(client: pg.PoolClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  async run(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): Promise<RunResult> {
    const result = await this.#client.query<SqlRow>({ text: statement.text, values: bind(statement, values) });
    return { rows: result.rows, affected: result.rowCount ?? 0 };
  }

  runExactlyOne(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): Promise<number> {
    // Two round trips, in the protocol's implicit transaction (pg-exactly-one.ts).
    return ExactlyOneWrite.run(this.#client, statement.text, bind(statement, values));
  }

  async exec(text: string): Promise<void> {
    await this.#client.query(text);
  }

  async *cursor(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>, batchSize: number): AsyncIterable<readonly SqlRow[]> {
    // An import reads as long as the table takes: `timeout` bounds each statement of a delivery,
    // not a cursor over millions of rows (the server would cancel it part-way).
    await this.#client.query('SET statement_timeout = 0');
    // A portal read `batchSize` rows at a time: the server keeps the rest.
    const cursor = this.#client.query(new Cursor<SqlRow>(statement.text, bind(statement, values)));
    try {
      for (;;) {
        const rows = await cursor.read(batchSize);
        if (rows.length === 0) return;
        yield rows;
      }
    } finally {
      await cursor.close();
      await this.#client.query(`SET statement_timeout = ${this.#timeoutMs}`);
    }
  }

  release(broken = false): void {
    this.#client.release(broken);
  }
}

/** PostgreSQL through node-postgres: a pool of `connections` for the service account, TLS as configured. */
export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #config: SqlConfig;
  readonly #ca: Buffer | undefined;
  readonly #port: number;

  constructor(config: SqlConfig, ca: Buffer | undefined, port: number, password: Secret) {
    this.#config = config;
    this.#ca = ca;
    this.#port = port;
    this.#pool = new pg.Pool({
      ...connectionConfig(config, ca, port),
      user: config.user,
      // A JavaScript string for the driver's authentication only, made when a connection opens.
      password: () => password.use((clear) => clear.toString('utf8')),
      max: config.connections,
      idleTimeoutMillis: 60_000,
    });
    // An idle connection the server dropped: the pool discards it; the next session opens another.
    this.#pool.on('error', () => undefined);
  }

  async session(): Promise<SqlSession> {
    return new PgSession(await this.#pool.connect(), this.#config.timeout);
  }

  async rolePasswordStatement(role: string, password: Buffer): Promise<string> {
    const verifier = await scramSha256Verifier(password);
    return `ALTER ROLE ${pg.escapeIdentifier(role)} PASSWORD ${pg.escapeLiteral(verifier)}`;
  }

  async loginAs(role: string, password: Buffer): Promise<boolean> {
    const client = new pg.Client({ ...connectionConfig(this.#config, this.#ca, this.#port), user: role, password: passwordAsText(password, 'a PostgreSQL login') });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return true;
    } catch (e) {
      if (e instanceof Error && 'code' in e && e.code === PG_INVALID_PASSWORD) return false;
      throw e;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
