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
  7020: { name: 'AMBIGUOUS_JOIN', severity: 'warning', text: 'an account matches more than one person; no link was made' },
  7021: { name: 'ACCOUNT_UNLINKED', severity: 'info', text: 'an account removed from its system was unlinked' },
  7022: { name: 'IMPORT_COMPLETED', severity: 'info', text: 'import completed' },
  7030: { name: 'KEY_ROTATED', severity: 'info', text: 'store key rotated; pending secrets re-encrypted' },
} as const satisfies Record<number, { name: string; severity: Severity; text: string }>;

export type Severity = 'info' | 'warning' | 'error';
export type EventCode = keyof typeof EVENTS;
export type EventName = (typeof EVENTS)[EventCode]['name'];

export const EVENT_CODES = Object.keys(EVENTS).map(Number) as EventCode[];

export function isEventCode(n: number): n is EventCode {
  return Object.hasOwn(EVENTS, n);
}

export function severityOf(code: EventCode): Severity {
  return EVENTS[code].severity;
}

/** Codes of the reference that end a job at once, whatever its retry policy says. */
export const NEVER_RETRIED: readonly EventCode[] = [6919, 6921, 6922, 6923, 6927, 6928];
