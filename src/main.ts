import { loadConfig, type Config } from './config/index.ts';
import { createConnector, type ConnectorFactory } from './connectors/registry.ts';
import { InvalidInputError } from './core/errors.ts';
import { Keyring } from './crypto/keyring.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { openSqliteStore } from './store/sqlite/index.ts';
import { SqliteStoreThread } from './store/sqlite/thread/store-thread.ts';
import type { Store } from './store/port.ts';
import { ConnectorPool } from './sync/connector-pool.ts';
import type { SyncContext } from './sync/context.ts';
import { Workers } from './sync/workers.ts';
import { lookupsFor } from './sync/lookups.ts';

/** An opened pwsync: configuration, store, keyring and the engine's context. */
export interface Runtime {
  readonly config: Config;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly log: Logger;
  readonly ctx: SyncContext;
  /** Present when opened with workers (the server). */
  readonly workers: Workers | undefined;
  /**
   * Settles with the error if a part the runtime cannot go on without fails for good (the store's
   * thread); never settles otherwise. The server stops on it, so that its supervisor restarts it.
   */
  readonly failed: Promise<Error>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Overrides the configured log level (commands that print their own output log only warnings). */
  readonly logLevel?: string;
  /** Start delivery workers (the server does; one-shot commands do not). */
  readonly workers?: boolean;
  /**
   * Run the store on a thread of its own (the server does: its commits then wait for `fsync`
   * without stopping the intake and the deliveries). One-shot commands keep it on their thread.
   */
  readonly storeThread?: boolean;
  /** For tests: connectors other than the registry's. */
  readonly connectorFactory?: ConnectorFactory;
  readonly now?: () => number;
}

/**
 * The only place that wires concrete implementations together. Opening refuses to run with a
 * debug switch known to print passwords.
 */
export async function openRuntime(configFile: string, options: RuntimeOptions = {}): Promise<Runtime> {
  refuseLeakyDebugSwitches(process.env);
  const config = await loadConfig(configFile);
  const log = createLogger({ level: options.logLevel ?? config.log.level, ...(config.log.file ? { destination: config.log.file } : {}) });
  const keyring = await Keyring.load(config.keyFile);
  let fail: (e: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const onFailure = (e: Error): void => {
    log.fatal({ err: e }, 'the store thread failed; every store call fails from now on');
    fail(e);
  };
  const store: Store = options.storeThread === true ? await SqliteStoreThread.open(config.storePath, { onFailure }) : await openSqliteStore(config.storePath);
  await store.declareLookups(lookupsFor(config));
  const connectors = new ConnectorPool(options.connectorFactory ?? createConnector, config.baseDir, log);
  let workers: Workers | undefined;
  const ctx: SyncContext = {
    config,
    store,
    keyring,
    connectors,
    log,
    now: options.now ?? Date.now,
    wake: () => workers?.wake(),
  };
  if (options.workers === true) {
    workers = new Workers(ctx);
    await workers.start();
  }
  let closed = false;
  return {
    config,
    store,
    keyring,
    log,
    ctx,
    workers,
    failed,
    async close() {
      if (closed) return;
      closed = true;
      await workers?.stop(config.server.shutdownGrace);
      await connectors.closeAll();
      await store.close();
      log.flush();
    },
  };
}

/**
 * `NODE_DEBUG=ldapts` makes ldapts print modify and exop values: passwords. Node matches each
 * NODE_DEBUG entry as a case-insensitive pattern where `*` stands for anything, so `ldap*` or `*`
 * switch it on too.
 */
export function refuseLeakyDebugSwitches(env: NodeJS.ProcessEnv): void {
  const entries = (env['NODE_DEBUG'] ?? '').split(/[\s,]+/).filter((s) => s !== '');
  const leaky = entries.filter((d) => new RegExp(`^${d.replace(/[|\\{}()[\]^$+?.]/g, '\\$&').replaceAll('*', '.*')}$`, 'i').test('ldapts'));
  if (leaky.length > 0) {
    throw new InvalidInputError(`NODE_DEBUG=${leaky.join(',')} makes a library print passwords; unset it before starting pwsync`);
  }
}
