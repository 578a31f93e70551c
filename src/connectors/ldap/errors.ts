import { ResultCodeError } from 'ldapts';
import {
  AccessDeniedError, AccountNotFoundError, InsecureConnectionError, isPwsyncError, PolicyError, ServiceCredentialsError,
  TargetDataError, TransientError, type PwsyncError,
} from '../../core/errors.ts';
import { describeLdapError, isLdapClientError, LdapOpenError } from '../../ldap-client/connection.ts';
import { errnoOf, isTlsError, TRANSIENT_ERRNO } from '../../util/net-errors.ts';

/*
 * LDAP result codes (RFC 4511 §4.1.9) and socket errors → our typed errors. The engine retries on
 * `retryable` alone, so this table decides what is retried:
 *
 * - Policy (6927): constraint violation (19) — OpenLDAP ppolicy ("fails quality checking", "too
 *   young", "in history"), AD's `0000052D`; 389 DS answers the same.
 * - Not found (6923): no such object (32) on the account's entry.
 * - Retried: busy (51), unavailable (52), time limit (3), admin limit (11), other (80, which
 *   OpenLDAP answers when a backend is briefly unusable); socket errors, timeouts, a lost
 *   connection, and anything that is not an LDAP answer at all (bounded by the retry count).
 * - The service account: invalid credentials (49) at its bind → 7013; insufficient access (50) →
 *   7014. Both final: a person must fix the account or its ACL, and retrying a refused bind
 *   can lock the service account out.
 * - TLS that fails (untrusted or mismatched certificate, StartTLS refused, a pin that does not
 *   match) → 7005, the reference's "insecure connection": final, it needs someone to act.
 * - Anything else the server refuses (unwilling to perform 53, object class violation 65, …) is
 *   final with the server's code and diagnostic in the event.
 */

const CONSTRAINT_VIOLATION = 19;
const NO_SUCH_OBJECT = 32;
const INVALID_CREDENTIALS = 49;
const INSUFFICIENT_ACCESS = 50;
const SIZE_LIMIT_EXCEEDED = 4;
/** Load and availability: trying later may work. */
const TRANSIENT_CODES = new Set([3, 11, 51, 52, 80]);

/** Whether a non-LDAP error means the connection or the wait failed (not the request). */
function isConnectionFailure(e: unknown): boolean {
  const code = errnoOf(e);
  if (code !== undefined && TRANSIENT_ERRNO.has(code)) return true;
  const name = e instanceof Error ? e.name : '';
  const message = e instanceof Error ? e.message : '';
  // ldapts: "Connection closed", "... timeout", a reconnect we refused (see LdapConnection).
  return /Timeout|Reconnect/i.test(name) || /timed? ?out|connection (closed|lost|reset)|socket|not connected|reopened/i.test(message);
}

/**
 * Maps `e`, raised while doing `action` on `target` (a DN, or the system), to a PwsyncError; ours
 * pass unchanged. The message holds the result code and the server's diagnostic, never a value
 * that was sent.
 */
export function mapLdapError(e: unknown, target: string, action: string): PwsyncError {
  if (isPwsyncError(e) && !isLdapClientError(e)) return e;
  const phase = e instanceof LdapOpenError ? e.phase : undefined;
  const cause = e instanceof LdapOpenError ? e.cause : e;
  const what = `${action} ${target}: ${describeLdapError(cause)}`;
  if (isTlsError(cause) || (phase === 'starttls' && cause instanceof ResultCodeError)) {
    return new InsecureConnectionError(`TLS failed, so ${action} was not attempted: ${describeLdapError(cause)}`, { cause: e });
  }
  if (cause instanceof ResultCodeError) {
    if (phase === 'bind' && cause.code === INVALID_CREDENTIALS) return new ServiceCredentialsError(`the service account's bind was refused: ${describeLdapError(cause)}`, { cause: e });
    if (cause.code === CONSTRAINT_VIOLATION) return new PolicyError(what, { cause: e });
    if (cause.code === NO_SUCH_OBJECT) return new AccountNotFoundError(what, { cause: e });
    if (cause.code === INSUFFICIENT_ACCESS) return new AccessDeniedError(what, { cause: e });
    if (TRANSIENT_CODES.has(cause.code)) return new TransientError(what, { cause: e });
    if (cause.code === SIZE_LIMIT_EXCEEDED) {
      return new TargetDataError(`${what}: the directory's size limit for the service account stops the search; lift it for that account (OpenLDAP: limits dn.exact="BIND DN" size=unlimited size.prtotal=unlimited)`, { cause: e });
    }
    return new TargetDataError(what, { cause: e });
  }
  // Not an answer from the server: the connection or the wait failed. An error nobody classified
  // is retried too, bounded by the system's retry count (as the engine does with foreign errors).
  return new TransientError(isConnectionFailure(cause) ? what : `${what} (unclassified)`, { cause: e });
}
