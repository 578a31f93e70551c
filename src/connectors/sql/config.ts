import { z } from 'zod';
import { durationSchema } from '../../fields/duration.ts';
import { secretRef } from '../../fields/secret-ref.ts';
import { nonBlank } from '../../fields/strings.ts';
import { whenValid } from '../../fields/refine-when.ts';
import { compileNamed, StatementSyntaxError, type Dialect } from './named-params.ts';

/** The databases the connector speaks to. `mariadb` covers MySQL too (the same protocol). */
export const SQL_DIALECTS = ['postgres', 'mariadb'] as const satisfies readonly Dialect[];

export const DEFAULT_PORTS: Readonly<Record<Dialect, number>> = { postgres: 5432, mariadb: 3306 };

/**
 * `rows`: the accounts are rows of the application's own users table, read and written by the
 * statements configured here. `roles`: the accounts are the database's own login roles (users whose
 * application logs in as a database user); pwsync sets a role's password with `ALTER ROLE` /
 * `ALTER USER`, as a verifier computed here (the password itself never reaches the server).
 */
export const SQL_ACCOUNT_KINDS = ['rows', 'roles'] as const;

/** The parameters each configured statement may use, and the ones it must. */
const PARAMETERS = {
  query: { allowed: [], required: [] },
  statement: { allowed: ['anchor', 'hash', 'password', 'mustChange'], required: ['anchor'] },
  verifyQuery: { allowed: ['anchor'], required: ['anchor'] },
} as const;

/** An SQL identifier for a column name: letters, digits, `_`, not starting with a digit. */
const column = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'a column name (letters, digits, _)');

const sqlText = z.string().refine((s) => s.trim() !== '', 'must not be empty');

export const sqlTlsSchema = z
  .strictObject({
    /**
     * `verify-full` (the default): TLS, the certificate chains to `ca` (or the system's CAs) and
     * names the host. `verify-ca`: the chain to `ca` only, which it requires (a server reached by
     * an address its certificate does not name). `disable`: no TLS — never secure, so only with `password.requireSecure: false`.
     */
    mode: z.enum(['verify-full', 'verify-ca', 'disable']).default('verify-full'),
    /** A PEM file of the CA(s) to trust instead of the system's, relative to the configuration file. */
    ca: nonBlank.optional(),
    /** The name to check the certificate against, when it is not `host`. */
    serverName: nonBlank.optional(),
  })
  .superRefine((v, ctx) => {
    // verify-ca skips the name; with the system's CAs, any certificate any public CA issued, for
    // any host, would pass, and the connection would still count as secure for requireSecure.
    if (v.mode === 'verify-ca' && v.ca === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: "tls.mode verify-ca needs tls.ca, the CA that signs the database's certificate: without it every public CA is trusted for any host name; set tls.ca, or use verify-full (with tls.serverName when the certificate names another host)" });
    }
  }, whenValid('mode', 'ca'))
  .prefault({});

/** The `sql:` block of a system with `connector: sql`. */
export const sqlConfigSchema = z
  .strictObject({
    dialect: z.enum(SQL_DIALECTS),
    host: nonBlank,
    /** Default 5432 (postgres) or 3306 (mariadb). */
    port: z.number().int().min(1).max(65_535).optional(),
    database: nonBlank,
    /** The service account pwsync logs in as. */
    user: nonBlank,
    password: secretRef(),
    tls: sqlTlsSchema,
    accounts: z.enum(SQL_ACCOUNT_KINDS).default('rows'),
    /**
     * The import: a SELECT returning the anchor column (`import.anchor`) and the attributes.
     * Read through a cursor, `import.batchSize` rows at a time. With `accounts: roles` a default
     * lists the roles that can log in.
     */
    query: sqlText.optional(),
    /**
     * Delta imports: a timestamp column of `query`'s rows that every insert and update sets (e.g.
     * `updated_at`). Rows whose value is at or after the last watermark less `deltaOverlap` are
     * read again. Deleted rows are not seen: a full import (nightly) finds them.
     */
    deltaColumn: column.optional(),
    deltaOverlap: durationSchema.default(10 * 60_000),
    /**
     * Setting a password (`accounts: rows`): one UPDATE with `:anchor` and `:hash` (the password
     * hashed here in `password.hash`'s format) or, with `plaintext: true`, `:password` for a
     * database that hashes it itself; `:mustChange` is 1 when the person must change it at next
     * logon (a helpdesk reset that asks for it), else 0. It must change exactly one row: none is 6923, more is refused
     * and rolled back.
     */
    setPassword: z
      .strictObject({
        statement: sqlText,
        /** Whether `:password` (the clear password) may be sent. Off unless an administrator says so. */
        plaintext: z.boolean().default(false),
      })
      .optional(),
    /** Checking a password (`accounts: rows`): a SELECT with `:anchor` returning the stored hash. */
    verifyQuery: sqlText.optional(),
    /** Connections kept open for deliveries (an import takes one more while it runs). */
    connections: z.number().int().min(1).max(32).default(2),
    /** Per connection attempt and per statement of a delivery; an import's cursor is not bounded by it. */
    timeout: durationSchema.default(10_000).refine((ms) => ms > 0, 'must be more than 0'),
  })
  .superRefine((v, ctx) => {
    const check = (field: 'query' | 'statement' | 'verifyQuery', text: string | undefined, path: (string | number)[]): void => {
      if (text === undefined) return;
      let names: ReadonlySet<string>;
      try {
        names = compileNamed(text, v.dialect).names;
      } catch (e) {
        if (!(e instanceof StatementSyntaxError)) throw e;
        ctx.addIssue({ code: 'custom', path, message: e.message });
        return;
      }
      const { allowed, required } = PARAMETERS[field];
      for (const name of names) {
        if (!(allowed as readonly string[]).includes(name)) {
          ctx.addIssue({ code: 'custom', path, message: allowed.length === 0 ? `takes no parameters (found :${name})` : `unknown parameter :${name} (it may use ${allowed.map((a) => `:${a}`).join(', ')})` });
        }
      }
      for (const name of required) if (!names.has(name)) ctx.addIssue({ code: 'custom', path, message: `must use :${name}` });
      if (field === 'statement') {
        if (!names.has('hash') && !names.has('password')) ctx.addIssue({ code: 'custom', path, message: 'must use :hash (or :password with plaintext: true): it would not write the password' });
        if (names.has('password') && v.setPassword?.plaintext !== true) {
          ctx.addIssue({ code: 'custom', path, message: 'uses :password, the clear password: set plaintext: true to allow it (only for a database that hashes it itself)' });
        }
      }
    };
    check('query', v.query, ['query']);
    check('statement', v.setPassword?.statement, ['setPassword', 'statement']);
    check('verifyQuery', v.verifyQuery, ['verifyQuery']);
    if (v.accounts === 'roles') {
      if (v.setPassword !== undefined) ctx.addIssue({ code: 'custom', path: ['setPassword'], message: "a role's password is set with ALTER ROLE/USER by the connector: remove setPassword with accounts: roles" });
      if (v.verifyQuery !== undefined) ctx.addIssue({ code: 'custom', path: ['verifyQuery'], message: 'a role is verified by logging in as it: remove verifyQuery with accounts: roles' });
    } else if (v.query === undefined) {
      ctx.addIssue({ code: 'custom', path: ['query'], message: 'required with accounts: rows (the SELECT that lists the accounts)' });
    }
    if (v.deltaColumn !== undefined && v.query === undefined) {
      ctx.addIssue({ code: 'custom', path: ['deltaColumn'], message: 'needs a query whose rows have that column (the default list of roles has none)' });
    }
  });

export type SqlConfig = z.output<typeof sqlConfigSchema>;
