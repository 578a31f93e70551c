import { AccountNotFoundError, InsecureConnectionError, isPwsyncError, NotConfiguredError, TargetDataError, WatermarkError } from '../../core/errors.ts';
import type { Anchor } from '../../core/model.ts';
import { passwordAsText } from '../../core/password-text.ts';
import type { Secret } from '../../core/secret.ts';
import { hashSecret, verifySecret } from '../../crypto/hash/index.ts';
import type { HashSpec } from '../../crypto/hash/spec.ts';
import type { Logger } from '../../log/logger.ts';
import type {
  AccountDelta, AccountRecord, Capability, ConnectionReport, Connector, DeltaImport, PasswordSet, PasswordVerify, SetPasswordOptions, Watermark,
} from '../types.ts';
import type { SqlConfig } from './config.ts';
import { DIALECT_SQL, type DialectSql, type SqlDriver, type SqlRow, type SqlSession, type SqlValue } from './driver.ts';
import { mapSqlError, redact } from './errors.ts';
import { compileNamed, type CompiledStatement } from './named-params.ts';

export interface SqlConnectorOptions {
  readonly system: string;
  readonly config: SqlConfig;
  /** Opens the driver (reads the CA file, makes the pool) at the first use; never connects by itself. */
  readonly openDriver: () => Promise<SqlDriver>;
  /** The port, `sql.port` or the dialect's default. */
  readonly port: number;
  /** `import.anchor`: the column holding each account's anchor. */
  readonly anchorColumn: string;
  /** The columns to keep (`import.map`'s values); undefined keeps every column but password-like ones. */
  readonly columns: readonly string[] | undefined;
  /** Rows read from the cursor at a time (`import.batchSize`). */
  readonly batchSize: number;
  readonly hash: HashSpec | undefined;
  /** `password.requireSecure`: no password is sent over a connection that is not secure. */
  readonly requireSecure: boolean;
  readonly log: Logger;
}

/** Without `import.map`, columns whose name says they hold a password are never imported. */
const PASSWORD_LIKE = /pass(word)?|passwd|pwd|hash|secret|salt/i;
const WATERMARK_PREFIX = 'sql-time:';

/** A column's value as an attribute: text as it is, numbers and flags as text, times in ISO 8601 UTC, bytes as hex. */
function text(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('hex');
  return JSON.stringify(value);
}

/** `2026-12-04 23:05:00.123` in UTC: compares right with timestamp, timestamptz, DATETIME and TIMESTAMP in a UTC session. */
function sqlTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** What an sql connector may declare; each declares those its configuration allows. */
export const SQL_CAPABILITIES: ReadonlySet<Capability> = new Set<Capability>(['import', 'deltaImport', 'setPassword', 'verifyPassword']);

/**
 * An application database's accounts (`accounts: rows`: a users table, through the statements an
 * administrator configures) or the database's own login roles (`accounts: roles`), on PostgreSQL
 * or MariaDB/MySQL. Passwords are hashed here in `password.hash`'s format and written by one
 * parameterised statement in a transaction that must change exactly one row.
 */
export class SqlConnector implements Connector, PasswordSet, PasswordVerify, DeltaImport {
  readonly kind = 'sql';
  readonly capabilities: ReadonlySet<Capability>;
  readonly #o: SqlConnectorOptions;
  readonly #sql: DialectSql;
  readonly #identity: string;
  #driver: Promise<SqlDriver> | undefined;
  readonly #query: CompiledStatement;
  readonly #set: CompiledStatement | undefined;
  readonly #verify: CompiledStatement | undefined;
  readonly #roleExists: CompiledStatement;

  constructor(options: SqlConnectorOptions) {
    this.#o = options;
    const { config } = options;
    const dialect = config.dialect;
    this.#sql = DIALECT_SQL[dialect];
    this.#identity = `${config.user}@${config.host}:${options.port}/${config.database}`;
    this.#query = compileNamed(config.query ?? this.#sql.rolesQuery, dialect);
    this.#set = config.setPassword === undefined ? undefined : compileNamed(config.setPassword.statement, dialect);
    this.#verify = config.verifyQuery === undefined ? undefined : compileNamed(config.verifyQuery, dialect);
    this.#roleExists = compileNamed(`SELECT 1 FROM (${this.#sql.rolesQuery}) AS pwsync_roles WHERE role = :anchor`, dialect);
    const roles = config.accounts === 'roles';
    const caps: Capability[] = ['import'];
    if (config.deltaColumn !== undefined) caps.push('deltaImport');
    if (roles || this.#set !== undefined) caps.push('setPassword');
    if (roles || this.#verify !== undefined) caps.push('verifyPassword');
    this.capabilities = new Set(caps);
  }

  /**
   * TLS with the certificate verified: the chain and the name (`verify-full`), or the chain to a CA
   * of our own (`verify-ca` with `ca`; the schema refuses it without, and so does this, should a
   * configuration ever get here another way: the name unchecked against every public CA is not secure).
   */
  isSecure(): boolean {
    const { mode, ca } = this.#o.config.tls;
    return mode === 'verify-full' || (mode === 'verify-ca' && ca !== undefined);
  }

  async testConnection(): Promise<ConnectionReport> {
    const { config } = this.#o;
    const report = (ok: boolean, detail: string): ConnectionReport => ({ ok, secure: this.isSecure(), identity: this.#identity, detail });
    try {
      // The import query runs without returning a row: it parses, its tables exist and may be read.
      await this.#withSession(async (s) => {
        await s.run(compileNamed(`SELECT * FROM (${this.#query.text}) AS pwsync_rows WHERE 1 = 0`, config.dialect), {});
      });
      const tls = config.tls.mode === 'disable' ? 'no TLS' : `TLS ${config.tls.mode}`;
      return report(true, `${config.dialect} ${this.#identity} (${tls}); the ${config.accounts === 'roles' ? 'role list' : 'import query'} runs`);
    } catch (e) {
      const err = mapSqlError(e, config.dialect, this.#o.system, 'connecting to');
      return report(false, `${err.code}: ${err.message}`);
    }
  }

  /** Opens the service connections ahead of the first delivery. */
  async prepare(): Promise<void> {
    await this.#withSession(async (s) => {
      await s.exec('SELECT 1');
    });
  }

  async close(): Promise<void> {
    const driver = this.#driver;
    this.#driver = undefined;
    if (driver !== undefined) await (await driver).close();
  }

  #open(): Promise<SqlDriver> {
    this.#driver ??= this.#o.openDriver();
    return this.#driver;
  }

  // Import --------------------------------------------------------------------------------------

  importAccounts(): AsyncIterable<AccountRecord> {
    return this.#read(this.#query, {});
  }

  async watermark(): Promise<Watermark> {
    const { config } = this.#o;
    const rows = await this.#guarded(this.#o.system, 'reading the clock of', [], async (s) => (await s.run(compileNamed(this.#sql.nowQuery, config.dialect), {})).rows);
    const now = rows[0]?.['now'];
    if (!(now instanceof Date)) throw new TargetDataError(`the database's clock could not be read (${this.#sql.nowQuery})`);
    return `${WATERMARK_PREFIX}${now.toISOString()}` as Watermark;
  }

  async *importChangesSince(since: Watermark): AsyncIterable<AccountDelta> {
    const { config } = this.#o;
    const column = config.deltaColumn;
    if (column === undefined) throw new NotConfiguredError(`system "${this.#o.system}" has no sql.deltaColumn: delta imports need one`);
    const at = since.startsWith(WATERMARK_PREFIX) ? Date.parse(since.slice(WATERMARK_PREFIX.length)) : Number.NaN;
    if (Number.isNaN(at)) throw new WatermarkError(`the watermark "${since}" was not made by the sql connector`);
    const delta = compileNamed(`SELECT * FROM (${config.query ?? this.#sql.rolesQuery}) AS pwsync_rows WHERE pwsync_rows.${this.#sql.quote(column)} >= :since`, config.dialect);
    for await (const record of this.#read(delta, { since: sqlTime(at - config.deltaOverlap) })) yield { kind: 'changed', record };
  }

  /** Every row of `statement` as an account, `batchSize` rows in memory at a time. */
  async *#read(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): AsyncGenerator<AccountRecord> {
    const { config, anchorColumn, batchSize, log, system } = this.#o;
    const session = await this.#session('reading accounts of');
    let broken = true;
    let skipped = 0;
    try {
      for await (const rows of session.cursor(statement, values, batchSize)) {
        for (const row of rows) {
          const record = this.#record(row);
          if (record === undefined) skipped++;
          else yield record;
        }
      }
      broken = false;
    } catch (e) {
      throw mapSqlError(e, config.dialect, system, 'reading the accounts of');
    } finally {
      session.release(broken);
      if (skipped > 0) log.warn({ system, skipped, anchor: anchorColumn }, 'rows without an anchor value were skipped');
    }
  }

  #record(row: SqlRow): AccountRecord | undefined {
    const { anchorColumn, columns } = this.#o;
    if (!(anchorColumn in row)) throw new TargetDataError(`the import query of "${this.#o.system}" returns no column ${anchorColumn} (import.anchor)`);
    const anchor = text(row[anchorColumn]);
    if (anchor === undefined || anchor === '') return undefined;
    const attributes: Record<string, string> = {};
    for (const name of columns ?? Object.keys(row).filter((c) => !PASSWORD_LIKE.test(c))) {
      const value = text(row[name]);
      if (value !== undefined) attributes[name] = value;
    }
    return { anchor, attributes: attributes };
  }

  // Passwords -----------------------------------------------------------------------------------

  async setPassword(anchor: Anchor, secret: Secret, options: SetPasswordOptions = {}): Promise<void> {
    this.#requireSecure('set');
    if (this.#o.config.accounts === 'roles') {
      if (options.forceChangeAtNextLogon === true) this.#o.log.warn({ system: this.#o.system, anchor }, 'a login role cannot be made to change its password at next logon; set without it');
      await secret.use(async (clear) => {
        const statement = await (await this.#open()).rolePasswordStatement(anchor, clear);
        await this.#guarded(anchor, 'setting the password of', [clear], (s) => s.exec(statement));
      });
      return;
    }
    const set = this.#set;
    if (set === undefined) throw new NotConfiguredError(`system "${this.#o.system}" has no sql.setPassword statement`);
    let hash: string | undefined;
    if (set.names.has('hash')) {
      const spec = this.#o.hash;
      if (spec === undefined) throw new NotConfiguredError(`system "${this.#o.system}" writes :hash but has no password.hash format`);
      hash = await hashSecret(spec, secret);
    }
    await secret.use(async (clear) => {
      const values: Record<string, SqlValue> = { anchor, mustChange: options.forceChangeAtNextLogon === true ? 1 : 0 };
      if (hash !== undefined) values['hash'] = hash;
      // Only where the configuration says plaintext: true (checked at load); a JavaScript string
      // for the driver, which sends it as a parameter, apart from the statement's text. A text
      // column cannot hold bytes that are not UTF-8: refused (6927), never decoded with U+FFFD.
      if (set.names.has('password')) values['password'] = passwordAsText(clear, 'the sql :password parameter');
      const sent = [clear, ...(hash === undefined ? [] : [Buffer.from(hash)])];
      await this.#guarded(anchor, 'setting the password of', sent, async (s) => {
        const affected = await s.runExactlyOne(set, values);
        if (affected === 1) return;
        if (affected === 0) throw new AccountNotFoundError(`no row of "${this.#o.system}" has the anchor ${anchor}`);
        throw new TargetDataError(`the setPassword statement of "${this.#o.system}" would have changed ${affected} rows for the anchor ${anchor}; it must change exactly one, so nothing was changed (rolled back)`);
      });
    });
  }

  async verifyPassword(anchor: Anchor, secret: Secret): Promise<boolean> {
    this.#requireSecure('verify');
    if (this.#o.config.accounts === 'roles') {
      // The server answers a login of a role that does not exist as a wrong password: ask first.
      const known = await this.#guarded(anchor, 'looking up the role', [], async (s) => (await s.run(this.#roleExists, { anchor })).rows.length > 0);
      if (!known) throw new AccountNotFoundError(`no login role of "${this.#o.system}" is named ${anchor}`);
      return secret.use(async (clear) => {
        // An empty password is never sent: some servers take it for "no password".
        if (clear.length === 0) return false;
        try {
          return await (await this.#open()).loginAs(anchor, clear);
        } catch (e) {
          throw redact(mapSqlError(e, this.#o.config.dialect, anchor, 'logging in as'), [clear]);
        }
      });
    }
    const verify = this.#verify;
    if (verify === undefined) throw new NotConfiguredError(`system "${this.#o.system}" has no sql.verifyQuery`);
    const rows = await this.#guarded(anchor, 'reading the password hash of', [], async (s) => (await s.run(verify, { anchor })).rows);
    if (rows.length === 0) throw new AccountNotFoundError(`no row of "${this.#o.system}" has the anchor ${anchor}`);
    if (rows.length > 1) throw new TargetDataError(`the verifyQuery of "${this.#o.system}" returned ${rows.length} rows for the anchor ${anchor}; it must return one`);
    const first = rows[0] ?? {};
    const stored = Object.values(first)[0];
    if (stored === null || stored === undefined) return false;
    const encoded = Buffer.isBuffer(stored) ? stored.toString('utf8') : stored;
    if (typeof encoded !== 'string') throw new TargetDataError(`the verifyQuery of "${this.#o.system}" must return the stored hash as text`);
    return verifySecret(encoded, secret);
  }

  #requireSecure(what: string): void {
    if (this.#o.requireSecure && !this.isSecure()) {
      const why = this.#o.config.tls.mode === 'disable' ? 'sql.tls.mode is disable' : 'sql.tls.mode is verify-ca without sql.tls.ca';
      throw new InsecureConnectionError(`system "${this.#o.system}" requires a secure connection and ${why}: the password was not sent (${what})`);
    }
  }

  /** Runs `work` on a session; errors are mapped, with the values sent cut out of their messages. */
  async #guarded<T>(anchor: Anchor, action: string, sent: readonly Buffer[], work: (s: SqlSession) => Promise<T>): Promise<T> {
    try {
      return await this.#withSession(work);
    } catch (e) {
      throw redact(mapSqlError(e, this.#o.config.dialect, anchor, action), sent);
    }
  }

  async #session(action: string): Promise<SqlSession> {
    try {
      return await (await this.#open()).session();
    } catch (e) {
      throw mapSqlError(e, this.#o.config.dialect, this.#o.system, action);
    }
  }

  /**
   * A session for `work`. A connection on which the driver failed (perhaps inside a transaction
   * that is now aborted) is closed, not reused; one that `work` refused with our own error after
   * rolling back is sound and goes back to the pool.
   */
  async #withSession<T>(work: (s: SqlSession) => Promise<T>): Promise<T> {
    const session = await (await this.#open()).session();
    let broken = false;
    try {
      return await work(session);
    } catch (e) {
      broken = !isPwsyncError(e);
      throw e;
    } finally {
      session.release(broken);
    }
  }
}
