import { EVENT, type EventCode } from './events.ts';

/**
 * Every error code pwsync raises: the one list (tests and callers match on these, never on message
 * text). A new error class adds its code here; the compiler refuses a code that is not listed.
 */
export const ERROR_CODES = [
  // Connector outcomes (below).
  'ERR_TRANSIENT',
  'ERR_ACCOUNT_NOT_FOUND',
  'ERR_POLICY',
  'ERR_NOT_CONFIGURED',
  'ERR_NOT_SUPPORTED',
  'ERR_INSECURE_CONNECTION',
  'ERR_SERVICE_CREDENTIALS',
  'ERR_ACCESS_DENIED',
  'ERR_CURRENT_PASSWORD',
  'ERR_TARGET_DATA',
  'ERR_WATERMARK',
  'ERR_REMOVAL_THRESHOLD',
  // Input and operator errors (below).
  'ERR_CONFIG',
  'ERR_KEY',
  'ERR_DECRYPT',
  'ERR_UNKNOWN_SYSTEM',
  'ERR_UNKNOWN_ACCOUNT',
  'ERR_PERSON_LOOKUP',
  'ERR_INVALID_INPUT',
  'ERR_REPLAY',
  'ERR_UNAUTHORIZED',
  'ERR_ACCOUNT_PROTECTED',
  'ERR_PASSWORD_REFUSED',
  'ERR_STORE',
  'ERR_NOT_ROOT_ONLY',
  // Hash formats (crypto/hash/errors.ts).
  'ERR_UNSUPPORTED_HASH',
  'ERR_MALFORMED_HASH',
  // JWE (crypto/jwe.ts).
  'ERR_JWE_INVALID',
  'ERR_JWE_DECRYPTION_FAILED',
  // The LDAP client library (ldap-client/).
  'ERR_LDAP_OPEN',
  'ERR_LDAP_RECONNECT_REFUSED',
  'ERR_LDAP_REQUEST',
  'ERR_TLS_PIN_MISMATCH',
  // The sql connector's statements (connectors/sql/named-params.ts).
  'ERR_STATEMENT_SYNTAX',
  // The agent: its queue, targets, sender, scope and capture client (agent/queue/errors.ts, agent/scope/errors.ts, agent/sender.ts, agent/capture/client.ts).
  'ERR_QUEUE_FULL',
  'ERR_TARGET_EXISTS',
  'ERR_TARGET_NOT_FOUND',
  'ERR_TARGET_UNAVAILABLE',
  'ERR_CAPTURE_NOT_FOUND',
  'ERR_CAPTURE_SOCKET_UNTRUSTED',
  'ERR_SCOPE_CONFIG',
  'ERR_SCOPE_LOOKUP',
  // Editing a PAM password stack (agent/pam/config-edit.ts).
  'ERR_PAM_NOT_A_PASSWORD_STACK',
  'ERR_PAM_UNMARKED_PWSYNC_LINE',
  'ERR_PAM_BAD_ARGUMENT',
  'ERR_PAM_MODULE_NOT_BUILT',
  'ERR_PAM_MODULE_IN_USE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Every error pwsync raises on purpose carries a stable `code`, whether it is `retryable`, and the
 * event a job ends in when it fails with it. The engine decides retries from `retryable` alone.
 */
export abstract class PwsyncError extends Error {
  abstract readonly code: ErrorCode;
  readonly retryable: boolean = false;
  /** The event a job ends in when delivery fails with this error. */
  readonly event: EventCode = EVENT.DELIVERY_FAILED;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

// Connector outcomes -------------------------------------------------------------------------

/** The network, the server or a lock was unavailable; trying again later may succeed. */
export class TransientError extends PwsyncError {
  readonly code = 'ERR_TRANSIENT';
  override readonly retryable = true;
  override readonly event = EVENT.RETRY_SCHEDULED;
}

/** The target account does not exist in the connected system (6923). */
export class AccountNotFoundError extends PwsyncError {
  readonly code = 'ERR_ACCOUNT_NOT_FOUND';
  override readonly event = EVENT.ACCOUNT_NOT_FOUND;
}

/** The target system's policy refused the password (6927). */
export class PolicyError extends PwsyncError {
  readonly code = 'ERR_POLICY';
  override readonly event = EVENT.POLICY_REFUSED;
}

/** Password management is not configured on the target system: no hash format, no field (6922). */
export class NotConfiguredError extends PwsyncError {
  readonly code = 'ERR_NOT_CONFIGURED';
  override readonly event = EVENT.SYNC_NOT_CONFIGURED;
}

/** The connector cannot set passwords (6928). */
export class NotSupportedError extends PwsyncError {
  readonly code = 'ERR_NOT_SUPPORTED';
  override readonly event = EVENT.SET_NOT_SUPPORTED;
}

/** A secure connection is required and the connection is not secure. */
export class InsecureConnectionError extends PwsyncError {
  readonly code = 'ERR_INSECURE_CONNECTION';
  override readonly event = EVENT.INSECURE_CONNECTION;
}

/** The system refused the credentials of pwsync's own service account (a bind DN, a database user). */
export class ServiceCredentialsError extends PwsyncError {
  readonly code = 'ERR_SERVICE_CREDENTIALS';
  override readonly event = EVENT.SERVICE_CREDENTIALS_REFUSED;
}

/** The service account may not do what was asked (an ACL, a missing right). */
export class AccessDeniedError extends PwsyncError {
  readonly code = 'ERR_ACCESS_DENIED';
  override readonly event = EVENT.ACCESS_DENIED;
}

/** A person's own change named a current password the system does not accept. */
export class CurrentPasswordError extends PwsyncError {
  readonly code = 'ERR_CURRENT_PASSWORD';
}

/** The target's data is unreadable (a corrupt file, an unexpected schema). Not retried. */
export class TargetDataError extends PwsyncError {
  readonly code = 'ERR_TARGET_DATA';
}

/** A delta import cannot start from the watermark it was given; a full import is needed. */
export class WatermarkError extends PwsyncError {
  readonly code = 'ERR_WATERMARK';
}

/** An import would remove more accounts than its system's removal threshold allows; nothing was removed. */
export class RemovalThresholdError extends PwsyncError {
  readonly code = 'ERR_REMOVAL_THRESHOLD';
}

// Input and operator errors ------------------------------------------------------------------

/** Configuration that cannot be used; the message names each problem with its path and line. */
export class ConfigError extends PwsyncError {
  readonly code = 'ERR_CONFIG';
  constructor(
    message: string,
    readonly problems: readonly ConfigProblem[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** A key file that is missing, unreadable, malformed or readable by others. */
export class KeyError extends PwsyncError {
  readonly code = 'ERR_KEY';
}

/** A ciphertext that does not decrypt: wrong key, unknown key id or tampering. */
export class DecryptError extends PwsyncError {
  readonly code = 'ERR_DECRYPT';
}

/** A system named on the command line or in a request is not in the configuration. */
export class UnknownSystemError extends PwsyncError {
  readonly code = 'ERR_UNKNOWN_SYSTEM';
}

/** The account a change names is not known in its source system. */
export class UnknownAccountError extends PwsyncError {
  readonly code = 'ERR_UNKNOWN_ACCOUNT';
  override readonly event = EVENT.UNKNOWN_SOURCE_ACCOUNT;
}

/** A query that should name one person names none or several. */
export class PersonLookupError extends PwsyncError {
  readonly code = 'ERR_PERSON_LOOKUP';
}

/** Input that is malformed: an empty password, a time in the future, a bad filter. */
export class InvalidInputError extends PwsyncError {
  readonly code = 'ERR_INVALID_INPUT';
}

/** A notification id that was received before: the change it carried is already committed. */
export class ReplayError extends PwsyncError {
  readonly code = 'ERR_REPLAY';
  override readonly event = EVENT.CHANGE_REJECTED;
}

/**
 * An agent sent a change for an account its source protects at the server (`source.protect`):
 * no agent may change it, whatever the agent's own scope says. Final: the agent drops the change.
 */
export class ProtectedAccountError extends PwsyncError {
  readonly code = 'ERR_ACCOUNT_PROTECTED';
  override readonly event = EVENT.ACCOUNT_PROTECTED;
}

/**
 * A password pwsync was asked to set (not one captured at a source) fails its form or the policy of
 * a target, and nothing was committed (7015). `refusals` names each target system and rule; the
 * form's failures have no system.
 */
export class PasswordRefusedError extends PwsyncError {
  readonly code = 'ERR_PASSWORD_REFUSED';
  override readonly event = EVENT.PASSWORD_REFUSED;
  constructor(
    message: string,
    readonly refusals: readonly { readonly system?: string; readonly rules: readonly string[] }[],
  ) {
    super(message);
  }
}

/** The caller is not authenticated, or may not speak for the source it names. */
export class UnauthorizedError extends PwsyncError {
  readonly code = 'ERR_UNAUTHORIZED';
  override readonly event = EVENT.NOTIFICATION_UNAUTHORIZED;
}

/** The store is unusable: newer schema than this program, corrupt file, locked too long. */
export class StoreError extends PwsyncError {
  readonly code = 'ERR_STORE';
}

/**
 * Code or configuration that root would run, load or install, but that someone other than root can
 * write (the file, or a directory above it): whoever can write it could get root. The message names
 * the path and who can write it.
 */
export class NotRootOnlyError extends PwsyncError {
  readonly code = 'ERR_NOT_ROOT_ONLY';
}


export function isPwsyncError(e: unknown): e is PwsyncError {
  return e instanceof PwsyncError;
}
