import type { Anchor, Attributes, EpochMs } from '../../../../src/core/model.ts';
import type { Secret } from '../../../../src/core/secret.ts';
import type { AccountImport, Capability, Connector, DeltaImport, PasswordSet, PasswordVerify, Watermark } from '../../../../src/connectors/types.ts';
import { MemoryState, type Delivery, type MemoryFailure } from './connector.ts';

export { sha256Hex } from './connector.ts';
export type { Delivery, MemoryFailure } from './connector.ts';

/**
 * An in-memory system for engine unit tests. It is not a connector kind users can configure and
 * is not in the registry.
 */

/** The abilities a memory connector can declare. */
export type MemoryCapability = Extract<Capability, 'import' | 'deltaImport' | 'setPassword' | 'verifyPassword'>;

export interface MemoryConnectorOptions {
  /** Shown in the identity and messages; default `memory`. */
  readonly name?: string;
  /**
   * Default: import, setPassword, verifyPassword. Only declared abilities get their methods. With
   * `deltaImport`, the watermark counts the puts and removes made since the connector was created.
   */
  readonly capabilities?: readonly MemoryCapability[];
  /** anchor → attributes. */
  readonly accounts?: Readonly<Record<Anchor, Attributes>> | Iterable<readonly [Anchor, Attributes]>;
  /** The policy: passwords with fewer characters are refused with a PolicyError (6927). Default 0. */
  readonly minPasswordLength?: number;
  /** What `isSecure()` and `testConnection()` report. Default true. */
  readonly secure?: boolean;
  /** What the next `setPassword` calls do, one entry per call, before anything else. */
  readonly failures?: readonly MemoryFailure[];
  /** The clock deliveries are stamped with. Default `Date.now`. */
  readonly now?: () => EpochMs;
}

/** A memory connector: the connector methods it declared, and what tests look at. */
export interface MemoryConnector extends Connector, Partial<AccountImport & DeltaImport & PasswordSet & PasswordVerify> {
  /** Every successful `setPassword`, in order. */
  readonly deliveries: readonly Delivery[];
  /** Every `setPassword` call, failed ones included. */
  readonly setCalls: number;
  readonly closed: boolean;
  /** Appends to the failure script. */
  failNext(...failures: MemoryFailure[]): void;
  /** Adds or replaces an account. */
  putAccount(anchor: Anchor, attributes: Attributes): void;
  /** Removes an account, as when it is deleted in the system. */
  removeAccount(anchor: Anchor): void;
  /** Forgets the change history (a restored directory): earlier watermarks get a WatermarkError. */
  resetHistory(): void;
  /** Makes the next import, full or delta, fail with a TransientError after yielding `afterItems` items. */
  breakNextImport(afterItems: number): void;
}

const ALL: readonly MemoryCapability[] = ['import', 'setPassword', 'verifyPassword'];

export function createMemoryConnector(options: MemoryConnectorOptions = {}): MemoryConnector {
  const accounts = options.accounts ?? {};
  const state = new MemoryState({
    name: options.name ?? 'memory',
    accounts: Symbol.iterator in accounts ? accounts : Object.entries(accounts),
    minPasswordLength: options.minPasswordLength ?? 0,
    secure: options.secure ?? true,
    failures: options.failures ?? [],
    now: options.now ?? Date.now,
  });
  const capabilities = new Set<Capability>(options.capabilities ?? ALL);
  return {
    kind: 'memory',
    capabilities,
    get deliveries() {
      return state.deliveries;
    },
    get setCalls() {
      return state.setCalls;
    },
    get closed() {
      return state.closed;
    },
    failNext: (...failures) => state.failNext(failures),
    putAccount: (anchor, attributes) => state.putAccount(anchor, attributes),
    removeAccount: (anchor) => state.removeAccount(anchor),
    resetHistory: () => state.resetHistory(),
    breakNextImport: (afterItems) => state.breakNextImport(afterItems),
    testConnection: () => state.testConnection(),
    isSecure: () => state.secure,
    close: () => state.close(),
    // Only the declared abilities exist as methods: the engine must never find an undeclared one.
    ...(capabilities.has('import') ? { importAccounts: () => state.importAccounts() } : {}),
    ...(capabilities.has('deltaImport') ? { watermark: () => state.watermark(), importChangesSince: (since: Watermark) => state.importChangesSince(since) } : {}),
    ...(capabilities.has('setPassword') ? { setPassword: (anchor: Anchor, secret: Secret) => state.setPassword(anchor, secret) } : {}),
    ...(capabilities.has('verifyPassword') ? { verifyPassword: (anchor: Anchor, secret: Secret) => state.verifyPassword(anchor, secret) } : {}),
  };
}
