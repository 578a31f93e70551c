import type { CompiledStatement, Dialect } from './named-params.ts';

/*
 * What the sql connector needs of a database, whatever its dialect: sessions from a small pool,
 * statements with positional parameters, a cursor, the role statements. `postgres.ts` (node-postgres)
 * and `mariadb.ts` (mysql2) implement it; everything else is the same for both.
 */

/** A value bound to a parameter. */
export type SqlValue = string | number | Date | null;

/** One row as the driver returns it: column name → value. */
export type SqlRow = Readonly<Record<string, unknown>>;

export interface RunResult {
  readonly rows: readonly SqlRow[];
  /** Rows the statement changed (matched, for an UPDATE that writes the same value). */
  readonly affected: number;
}

/** One connection taken from the pool; give it back with `release`. */
export interface SqlSession {
  run(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): Promise<RunResult>;
  /**
   * A write that must change exactly one row: committed when it changed one, rolled back otherwise
   * (nothing it did is kept). Resolves with the rows it changed, as `run`'s `affected` counts them.
   */
  runExactlyOne(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>): Promise<number>;
  /** A statement without parameters: BEGIN, COMMIT, a role statement built with escaped literals. */
  exec(text: string): Promise<void>;
  /** The rows of a query, `batchSize` at a time, through a server-side cursor or a streamed result. */
  cursor(statement: CompiledStatement, values: Readonly<Record<string, SqlValue>>, batchSize: number): AsyncIterable<readonly SqlRow[]>;
  /** Back to the pool; `broken` closes the connection instead (after an error mid-transaction). */
  release(broken?: boolean): void;
}

/** What differs between the dialects in the SQL the connector writes itself. */
export interface DialectSql {
  /** A query returning the server's clock now, in UTC, as the one column `now`. */
  readonly nowQuery: string;
  /** The query listing login roles, with the role's name as `role` (`user@host` on MariaDB). */
  readonly rolesQuery: string;
  /** A column name (checked at load: letters, digits, `_`) quoted as an identifier. */
  quote(column: string): string;
}

export const DIALECT_SQL: Readonly<Record<Dialect, DialectSql>> = {
  postgres: {
    nowQuery: 'SELECT now() AS now',
    // Roles that can log in, without PostgreSQL's own (pg_*).
    rolesQuery: "SELECT rolname AS role FROM pg_catalog.pg_roles WHERE rolcanlogin AND rolname !~ '^pg_' ORDER BY rolname",
    quote: (column) => `"${column}"`,
  },
  mariadb: {
    nowQuery: 'SELECT UTC_TIMESTAMP(6) AS now',
    rolesQuery: "SELECT CONCAT(User, '@', Host) AS role FROM mysql.user WHERE User <> '' AND is_role = 'N' ORDER BY User, Host",
    quote: (column) => `\`${column}\``,
  },
};

export interface SqlDriver {
  readonly dialect: Dialect;
  session(): Promise<SqlSession>;
  /** The statement that gives `role` the password whose server-side verifier is computed here. */
  rolePasswordStatement(role: string, password: Buffer): Promise<string>;
  /** Whether `role` can log in with `password` (a connection of its own, closed at once). */
  loginAs(role: string, password: Buffer): Promise<boolean>;
  close(): Promise<void>;
}
