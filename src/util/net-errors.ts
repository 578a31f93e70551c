/*
 * What a Node socket or TLS error says, for every connector that talks over the network (LDAP,
 * SQL): whether the TLS layer refused the peer, and whether the connection itself failed in a way
 * that trying again later may not meet.
 */

/** The `code` of a Node error (`ECONNREFUSED`, `CERT_HAS_EXPIRED`), if it has one. */
export function errnoOf(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/** Whether `e` says the TLS layer failed: an untrusted or mismatched certificate, a handshake error. */
export function isTlsError(e: unknown): boolean {
  return /CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|HOSTNAME/.test(errnoOf(e) ?? '');
}

/** Socket-level failures: the server is down, restarting, or unreachable for now. */
export const TRANSIENT_ERRNO: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED',
]);
