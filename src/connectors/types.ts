import type { Anchor, Attributes } from '../core/model.ts';
import type { Secret } from '../core/secret.ts';
import type { Logger } from '../log/logger.ts';

/**
 * What a connector can do beyond the required interface. The engine never asks a connector for
 * an ability it has not declared; {@link can} joins the declaration to the method's type.
 */
export type Capability = 'import' | 'deltaImport' | 'lookupAccount' | 'setPassword' | 'verifyPassword' | 'changePassword' | 'groupMembers';

/** The result of {@link Connector.testConnection}: it connects; `validate` at config load never does. */
export interface ConnectionReport {
  readonly ok: boolean;
  /** Whether the transport is secure (TLS verified, or a local file). */
  readonly secure: boolean;
  /** Who the connector acts as, where the system tells (a bind DN, a database user, a file path). */
  readonly identity: string;
  readonly detail: string;
}

/** The required interface every connector implements. */
export interface Connector {
  /** The connector kind, as in the configuration (`file`, `ldap`, `sql`, …). */
  readonly kind: string;
  readonly capabilities: ReadonlySet<Capability>;
  testConnection(): Promise<ConnectionReport>;
  /** Whether the connection the connector would use is secure; checked for `password.requireSecure`. */
  isSecure(): boolean;
  /**
   * Optional: opens ahead of the first delivery what deliveries need (connections, a cache of where
   * accounts are), so that the first changes after a start do not wait for it. The server calls it
   * at start for every system it delivers to, without waiting; a failure is only logged, since the
   * deliveries report their own.
   */
  prepare?(): Promise<void>;
  close(): Promise<void>;
}

/** One account as read from its system. */
export interface AccountRecord {
  readonly anchor: Anchor;
  readonly attributes: Attributes;
}

/** Streams every account of the system; never holds them all in memory. */
export interface AccountImport {
  importAccounts(): AsyncIterable<AccountRecord>;
}

/** What {@link AccountLookup.lookupAccount} looks for: an account by its anchor, or by a login, or either. */
export interface AccountQuery {
  readonly anchor?: Anchor;
  /** A login in the connector's own attribute (`import.map`'s value, not pwsync's name). */
  readonly login?: { readonly attribute: string; readonly value: string };
}

/**
 * Finds one account of the system as the import would read it, without importing the rest (the
 * server meets a change for an account created after the last import). Declared by connectors
 * whose system can be asked for one account.
 */
export interface AccountLookup {
  /**
   * The accounts the import would read that have the query's anchor or login (the login compared as
   * loosely as the system does: the engine decides among them), at most a few; none when the system
   * has no such account. Throws {@link TransientError} (core/errors) when the system cannot be asked now.
   */
  lookupAccount(query: AccountQuery): Promise<readonly AccountRecord[]>;
}

/**
 * Where a system's change history stood, as only the connector that made it can read it (a
 * directory's USN with the server it belongs to, a time stamp). Opaque to the engine, which keeps
 * it in the store between imports.
 */
export type Watermark = string & { readonly __watermark: unique symbol };

/** One item of a delta import: an account added or changed, or one removed from the system. */
export type AccountDelta =
  | { readonly kind: 'changed'; readonly record: AccountRecord }
  | { readonly kind: 'removed'; readonly anchor: Anchor };

/**
 * Reads only what changed since an earlier import. Declared by connectors whose system keeps a
 * change history that can be asked (LDAP `modifyTimestamp` / AD `uSNChanged`).
 */
export interface DeltaImport {
  /**
   * Where the system's history stands now. The engine asks before a full import, so that the next
   * delta import reads everything that changed while the full import ran (reading it twice is
   * harmless: imports are idempotent).
   */
  watermark(): Promise<Watermark>;
  /**
   * Accounts changed since `since` (and possibly a few before it), then removed ones where the
   * system can tell. Throws `WatermarkError` (core/errors) when `since` cannot be read from here (another
   * server's USN, a restored directory): the engine then runs a full import.
   */
  importChangesSince(since: Watermark): AsyncIterable<AccountDelta>;
}

export interface SetPasswordOptions {
  /** Ask the system to make the person change the password at next logon, where it can. */
  readonly forceChangeAtNextLogon?: boolean;
  /**
   * Which attempt of one delivery this is (1 the first). On a retry the earlier attempt may have
   * taken effect with its answer lost, which a connector may check for before calling a refusal
   * final (a history policy refuses "the same password again").
   */
  readonly attempt?: number;
}

/** An administrator's reset: sets the password without knowing the old one. */
export interface PasswordSet {
  /**
   * Throws {@link AccountNotFoundError} for an unknown anchor, {@link PolicyError} when the
   * system's policy refuses the password, {@link NotConfiguredError} when no hash format or
   * field is configured, {@link TransientError} when trying again later may succeed.
   */
  setPassword(anchor: Anchor, secret: Secret, options: SetPasswordOptions): Promise<void>;
}

/** A person's own change: the system checks the old password. */
export interface PasswordChange {
  changePassword(anchor: Anchor, current: Secret, next: Secret): Promise<void>;
}

/** Checks a password against the system (self-service sign-in at the source). */
export interface PasswordVerify {
  verifyPassword(anchor: Anchor, secret: Secret): Promise<boolean>;
}

/** What {@link GroupMembers.membersOf} looks for: the accounts a source protects from its agents. */
export interface MembersQuery {
  /** Group names, as the directory's group name attribute holds them; members are followed through nested groups. */
  readonly groups: readonly string[];
  /** Logins, found by `accountAttribute` (the directory's attribute) among the system's accounts. */
  readonly accounts: readonly string[];
  readonly accountAttribute: string;
  /** Also every entry the directory itself marks as privileged (Active Directory: `adminCount=1`). */
  readonly marked: boolean;
}

/** What {@link GroupMembers.membersOf} found. */
export interface Members {
  /** Each entry found, by its anchor in the import's form, with why it was found (for the event). */
  readonly anchors: ReadonlyMap<Anchor, string>;
  /** Groups that do not exist or name several entries: the configuration is wrong, nothing was guessed. */
  readonly problems: readonly string[];
  /** Directory reads made, for the log (the cost of one resolution). */
  readonly searches: number;
}

/**
 * Group membership in the system's directory (a directory has groups; a table or a file has none).
 * Used by the server to resolve the accounts a source protects from its agents (`source.protect`).
 */
export interface GroupMembers {
  /**
   * Every entry in `query.groups` (directly, through nested groups, or by an AD primary group),
   * every account named in `query.accounts`, and the marked entries. Never guesses: throws
   * {@link TransientError} (core/errors) when the directory cannot be asked, and a non-retryable
   * error when the groups are too many to be a list of privileged accounts.
   */
  membersOf(query: MembersQuery): Promise<Members>;
}

interface CapabilityMap {
  import: AccountImport;
  deltaImport: DeltaImport;
  lookupAccount: AccountLookup;
  setPassword: PasswordSet;
  verifyPassword: PasswordVerify;
  changePassword: PasswordChange;
  groupMembers: GroupMembers;
}

/** Narrows a connector to one that has declared `cap` (and so implements its interface). */
export function can<C extends Capability>(connector: Connector, cap: C): connector is Connector & CapabilityMap[C] {
  return connector.capabilities.has(cap);
}

/** What every connector factory gets: its validated system configuration and where it runs. */
export interface ConnectorContext {
  /** The system's name, for error messages. */
  readonly system: string;
  /** Relative paths in the configuration resolve against this directory. */
  readonly baseDir: string;
  /** For what a connector notices on its own (a reconnect, skipped entries); silent when absent. */
  readonly log?: Logger;
}
