import {
  AccessDeniedError, AccountNotFoundError, InsecureConnectionError, isPwsyncError, PolicyError, ServiceCredentialsError, TargetDataError, TransientError,
  type PwsyncError,
} from '../../core/errors.ts';
import { errnoOf, isTlsError, TRANSIENT_ERRNO } from '../../util/net-errors.ts';
import type { Dialect } from './named-params.ts';

/*
 * Database errors → our typed errors; the engine retries on `retryable` alone, so this decides
 * what is retried. PostgreSQL by SQLSTATE (`code`), MariaDB/MySQL by error number (`errno`):
 *
 * - Not found (6923): a role that does not exist (ALTER ROLE/USER of `accounts: roles`); for
 *   `rows` the connector counts the rows its statement changed instead.
 * - Policy (6927): a CHECK constraint, a trigger that raises (PostgreSQL RAISE EXCEPTION, MariaDB
 *   SIGNAL), a value too long for its column, MariaDB's password validation plugins.
 * - Retried: the connection failed or was lost, the server is starting or shutting down, too many
 *   connections, a deadlock, a serialization failure, a lock or statement timeout.
 * - The service account: its login refused → 7013; a privilege missing → 7014. Final: a person must
 *   fix the account or its grants, and retrying a refused login can lock it out.
 * - TLS that fails, or a server that refuses plain connections while pwsync has TLS off → 7005.
 * - Anything else the server answers (a syntax error in a configured statement, a missing table)
 *   is final, with the server's code and message; a failure that is no answer at all is retried.
 *
 * Only the server's code and message are kept, never the driver's error itself: its DETAIL
 * (PostgreSQL's "Failing row contains (…)" holds the row: the hash, or a clear password) and its
 * query and parameters would reach the log as the error's cause. A message that quotes a value
 * sent (a trigger that echoes it) has the value cut out by {@link redact} before the error leaves
 * the connector.
 */

const PG_TRANSIENT_CLASSES = ['08', '53', '57P', '40001', '40P01', '55P03', '57014'];
const PG_POLICY = new Set(['23514', 'P0001', '22001']);
const PG_CREDENTIALS = new Set(['28P01', '28000']);
const PG_ACCESS = new Set(['42501']);
/** undefined_object: ALTER ROLE of a role that does not exist. */
const PG_NOT_FOUND = new Set(['42704']);

/** MariaDB/MySQL server errors. */
const MY_POLICY = new Set([3819, 4025, 1644, 1819, 1406]);
const MY_TRANSIENT = new Set([1040, 1053, 1205, 1213, 1927, 1969, 3024, 4031, 1152, 1158, 1159, 1160, 1161]);
const MY_CREDENTIALS = new Set([1045]);
const MY_ACCESS = new Set([1044, 1142, 1143, 1227, 1370]);
/** ER_CANNOT_USER: ALTER USER of a user that does not exist. */
const MY_NOT_FOUND = new Set([1396]);
/** MySQL 3159 and MariaDB 4036: plain connections are refused by `require_secure_transport`. */
const MY_SECURE_TRANSPORT = new Set([3159, 4036]);
/** mysql2's own codes for a connection that failed or went away. */
const MY_CLIENT_TRANSIENT = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ECONNRESET', 'ER_SERVER_SHUTDOWN']);

function field(e: unknown, name: string): unknown {
  return e instanceof Error && name in e ? (e as unknown as Record<string, unknown>)[name] : undefined;
}

/** The server's own error, as `code: message` (no DETAIL, no query text). */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return 'unexpected non-error failure';
  const sqlstate = field(e, 'code');
  const errno = field(e, 'errno');
  const code = typeof errno === 'number' ? `${errno}` : typeof sqlstate === 'string' ? sqlstate : e.name;
  return `${code}: ${e.message}`;
}

/** Whether `e` is an answer from the server (it carries a SQLSTATE or an error number). */
function serverCode(e: unknown, dialect: Dialect): string | number | undefined {
  if (dialect === 'postgres') {
    const code = field(e, 'code');
    return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  }
  const errno = field(e, 'errno');
  const sqlState = field(e, 'sqlState');
  return typeof errno === 'number' && typeof sqlState === 'string' ? errno : undefined;
}

/**
 * Maps `e`, raised while doing `action` on `target` (an account, or the system), to a PwsyncError;
 * ours pass unchanged.
 */
export function mapSqlError(e: unknown, dialect: Dialect, target: string, action: string): PwsyncError {
  if (isPwsyncError(e)) return e;
  const what = `${action} ${target}: ${describe(e)}`;
  const message = e instanceof Error ? e.message : '';
  if (isTlsError(e) || /does not support (SSL|secure)|SSL (is )?(required|off)|no encryption/i.test(message)) {
    return new InsecureConnectionError(`TLS failed or was refused, so ${action} was not attempted: ${describe(e)}`);
  }
  const code = serverCode(e, dialect);
  if (typeof code === 'string') {
    if (PG_CREDENTIALS.has(code)) return new ServiceCredentialsError(`the service account's login was refused: ${describe(e)}`);
    if (PG_ACCESS.has(code)) return new AccessDeniedError(what);
    if (PG_NOT_FOUND.has(code)) return new AccountNotFoundError(what);
    if (PG_POLICY.has(code)) return new PolicyError(what);
    if (PG_TRANSIENT_CLASSES.some((prefix) => code.startsWith(prefix))) return new TransientError(what);
    return new TargetDataError(what);
  }
  if (typeof code === 'number') {
    if (MY_SECURE_TRANSPORT.has(code)) return new InsecureConnectionError(`the server refuses connections without TLS: ${describe(e)}`);
    if (MY_CREDENTIALS.has(code)) return new ServiceCredentialsError(`the service account's login was refused: ${describe(e)}`);
    if (MY_ACCESS.has(code)) return new AccessDeniedError(what);
    if (MY_NOT_FOUND.has(code)) return new AccountNotFoundError(what);
    if (MY_POLICY.has(code)) return new PolicyError(what);
    if (MY_TRANSIENT.has(code)) return new TransientError(what);
    return new TargetDataError(what);
  }
  // Not an answer from the server: the connection or the wait failed. An error nobody classified
  // is retried too, bounded by the system's retry count (as the engine does with foreign errors).
  const errno = errnoOf(e);
  const known = (errno !== undefined && (TRANSIENT_ERRNO.has(errno) || MY_CLIENT_TRANSIENT.has(errno))) || /timeout|terminated|closed|ended|connection/i.test(message);
  return new TransientError(known ? what : `${what} (unclassified)`);
}

/**
 * `error` with every occurrence of the `values` sent (the password, its hash) cut out of its
 * message. The values stay bytes: the message is searched as UTF-8.
 */
export function redact<E extends PwsyncError>(error: E, values: readonly Buffer[]): E {
  let bytes = Buffer.from(error.message, 'utf8');
  let changed = false;
  for (const value of values) {
    if (value.length === 0) continue;
    for (let at = bytes.indexOf(value); at !== -1; at = bytes.indexOf(value)) {
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from('[redacted]'), bytes.subarray(at + value.length)]);
      changed = true;
    }
  }
  if (!changed) return error;
  Object.defineProperty(error, 'message', { value: bytes.toString('utf8') });
  return error;
}
