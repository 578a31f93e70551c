/**
 * The one table of event codes. The reference's six (6919–6928) keep their meaning and are never
 * retried; pwsync's own codes sit beside them in the 7000 range.
 */
export const EVENTS = {
  // The reference's codes.
  6919: { name: 'TIMESTAMP_OUT_OF_DATE', severity: 'info', text: 'not applied: a newer change for that account was already applied or is pending' },
  6921: { name: 'SYNC_NOT_ENABLED', severity: 'error', text: 'password management is not enabled on the target system' },
  6922: { name: 'SYNC_NOT_CONFIGURED', severity: 'error', text: 'password management is not configured on the target system' },
  6923: { name: 'ACCOUNT_NOT_FOUND', severity: 'warning', text: 'the target account could not be found in the connected system' },
  6927: { name: 'POLICY_REFUSED', severity: 'error', text: 'the password does not satisfy the policy of the target system' },
  6928: { name: 'SET_NOT_SUPPORTED', severity: 'error', text: 'the target connector does not support setting passwords' },
  // pwsync's own codes.
  7001: { name: 'CHANGE_ACCEPTED', severity: 'info', text: 'password change accepted and routed' },
  7002: { name: 'PASSWORD_SET', severity: 'info', text: 'password set on the target account' },
  7003: { name: 'RETRY_SCHEDULED', severity: 'warning', text: 'transient failure; retry scheduled' },
  7004: { name: 'RETRIES_EXHAUSTED', severity: 'error', text: 'transient failures until the retry limit; given up' },
  7005: { name: 'INSECURE_CONNECTION', severity: 'error', text: 'a secure connection is required but the connection to the target is not secure' },
  7006: { name: 'CHANGE_REJECTED', severity: 'warning', text: 'password change notification rejected' },
  7007: { name: 'UNKNOWN_SOURCE_ACCOUNT', severity: 'warning', text: 'the source account of a change is unknown' },
  7008: { name: 'SUPERSEDED', severity: 'info', text: 'a pending change was superseded by a newer change for the same account' },
  7009: { name: 'NO_TARGETS', severity: 'info', text: 'the person has no other account with password sync enabled' },
  7010: { name: 'DELIVERY_FAILED', severity: 'error', text: 'the password could not be set for a reason that is not retried' },
  7011: { name: 'JOB_RECOVERED', severity: 'warning', text: 'a job that was in progress when the server stopped was queued again' },
  7012: { name: 'NOTIFICATION_UNAUTHORIZED', severity: 'warning', text: 'a notification was refused: the caller is not authenticated or may not speak for that source' },
  7013: { name: 'SERVICE_CREDENTIALS_REFUSED', severity: 'error', text: 'the target system refused the credentials of pwsync\'s service account' },
  7014: { name: 'ACCESS_DENIED', severity: 'error', text: 'the service account lacks the rights to set this account\'s password' },
  7015: { name: 'PASSWORD_REFUSED', severity: 'warning', text: 'a password pwsync was asked to set was refused before anything was committed: its form, or the policy of a target' },
  7016: { name: 'NOT_SENT', severity: 'warning', text: 'a change made with --partial was not sent to a target whose policy the password does not satisfy' },
  7017: { name: 'ACCOUNT_PROTECTED', severity: 'warning', text: 'an agent sent a change for an account the server protects (source.protect); refused, nothing delivered' },
  7018: { name: 'PROTECTION_UNAVAILABLE', severity: 'error', text: 'the protected accounts of a source could not be resolved; its notifications are answered retry until they can' },
  7020: { name: 'AMBIGUOUS_JOIN', severity: 'warning', text: 'an account matches more than one person; no link was made' },
  7021: { name: 'ACCOUNT_UNLINKED', severity: 'info', text: 'an account removed from its system was unlinked' },
  7022: { name: 'IMPORT_COMPLETED', severity: 'info', text: 'import completed' },
  7023: { name: 'ARRIVAL_LOOKED_UP', severity: 'info', text: 'a change named a source account the store did not know; it was held and the account looked up at the source' },
  7024: { name: 'ARRIVAL_IMPORTED', severity: 'info', text: 'the source account a change named was found at the source and imported on arrival' },
  7025: { name: 'ARRIVAL_LOOKUP_FAILED', severity: 'warning', text: 'the source of an account a change named could not be asked for it; the change was answered retry' },
  7026: { name: 'IMPORT_STOPPED', severity: 'error', text: 'an import stopped before removing more accounts than the removal threshold allows; nothing was removed' },
  7027: { name: 'ACCOUNT_RELINKED', severity: 'info', text: 'an account that came back to its system was linked to its person again (remembered link)' },
  7030: { name: 'KEY_ROTATED', severity: 'info', text: 'store key rotated; pending secrets re-encrypted' },
  7031: { name: 'KEY_LOST', severity: 'error', text: 'a pending change was given up: its password was sealed under a store key that was lost (pwsync key forget)' },
  // The agent's codes (its own event log, in its own data directory).
  7040: { name: 'OUT_OF_SCOPE', severity: 'info', text: 'a captured change is out of the agent\'s scope (include/exclude groups); not delivered' },
  7041: { name: 'QUEUE_AGE_LIMIT', severity: 'error', text: 'a queued change reached the queue age limit undelivered and was dropped' },
  7042: { name: 'QUEUE_FULL', severity: 'error', text: 'the agent queue reached its length limit; a captured change was refused' },
  7043: { name: 'TARGET_UNAVAILABLE', severity: 'warning', text: 'a server could not be reached or refused the agent; delivery retried later' },
  7044: { name: 'DELIVERY_REJECTED', severity: 'error', text: 'a server refused a queued change for good; it was removed from the queue' },
  7045: { name: 'TARGET_AVAILABLE', severity: 'info', text: 'a server that was unavailable accepts deliveries again' },
  7046: { name: 'SCOPE_UNRESOLVED', severity: 'warning', text: 'group membership could not be resolved; the change stays queued and is checked again' },
  7047: { name: 'CAPTURE_UNREADABLE', severity: 'error', text: 'the source reported an account in a form the agent cannot read; that report was skipped' },
  7048: { name: 'NO_CLEARTEXT', severity: 'error', text: 'a password changed at the source, but the source holds no cleartext of it to forward' },
  7049: { name: 'CAPTURE_FEED_RESTARTED', severity: 'warning', text: 'the source\'s change feed stopped; it was started again and resumes from its cursor' },
  7050: { name: 'CAPTURE_MISSED', severity: 'error', text: 'a password change was made while the agent could not take it; it was not forwarded: ask the person to change it again or reset it' },
} as const satisfies Record<number, { name: string; severity: Severity; text: string }>;

export type Severity = 'info' | 'warning' | 'error';
export type EventCode = keyof typeof EVENTS;
export type EventName = (typeof EVENTS)[EventCode]['name'];

export const EVENT_CODES = Object.keys(EVENTS).map(Number) as EventCode[];

/**
 * The codes by name, derived from the table: code writes `EVENT.POLICY_REFUSED`, never `6927`
 * (the architecture test refuses an event-code number anywhere but in this file).
 */
export const EVENT = Object.fromEntries(EVENT_CODES.map((code) => [EVENTS[code].name, code])) as {
  readonly [C in EventCode as (typeof EVENTS)[C]['name']]: C;
};

export function isEventCode(n: number): n is EventCode {
  return Object.hasOwn(EVENTS, n);
}

export function severityOf(code: EventCode): Severity {
  return EVENTS[code].severity;
}

/** Codes of the reference that end a job at once, whatever its retry policy says. */
export const NEVER_RETRIED: readonly EventCode[] = [
  EVENT.TIMESTAMP_OUT_OF_DATE,
  EVENT.SYNC_NOT_ENABLED,
  EVENT.SYNC_NOT_CONFIGURED,
  EVENT.ACCOUNT_NOT_FOUND,
  EVENT.POLICY_REFUSED,
  EVENT.SET_NOT_SUPPORTED,
];
