import type { RawConfig } from '../config/schema.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Logger } from '../log/logger.ts';
import type { Store } from '../store/port.ts';
import type { ConnectorPool } from './connector-pool.ts';

/** What the engine needs of the configuration (the loaded `Config` has more). */
export type EngineConfig = Pick<RawConfig, 'systems' | 'server'>;

/** Everything the path of a change needs, wired once by the composition root. */
export interface SyncContext {
  readonly config: EngineConfig;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly connectors: ConnectorPool;
  readonly log: Logger;
  /** Epoch milliseconds; replaced in tests. */
  readonly now: () => number;
  /** Tells in-process workers that new jobs were committed (other processes poll the store). */
  readonly wake: () => void;
}
