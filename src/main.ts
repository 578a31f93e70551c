// The composition root: the only place that wires concrete implementations together. Everything
// below it (server, agent, sync, store, connectors, config, core) is handed what it needs and
// imports nothing of this file; only the CLI (and tests and benchmarks) do. The server's intake
// and the agent are loaded when their command starts them: a one-shot command needs neither an
// HTTPS server nor the capture code.
import { loadConfig, type Config } from './config/index.ts';
import { createConnector, type ConnectorFactory } from './connectors/registry.ts';
import { Keyring } from './crypto/keyring.ts';
import { refuseLeakyDebugSwitches } from './log/debug-switches.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { openSqliteStore } from './store/sqlite/index.ts';
import { SqliteStoreThread } from './store/sqlite/thread/store-thread.ts';
import type { Store } from './store/port.ts';
import { ConnectorPool } from './sync/connector-pool.ts';
import type { SyncContext } from './sync/context.ts';
import { Workers } from './sync/workers.ts';
import { lookupsFor } from './sync/lookups.ts';
import { submitChanges } from './sync/submit-change.ts';
import { assertStoreKeysPresent } from './sync/key-rotation.ts';
import type { RunningAgent } from './agent/run.ts';
import type { IntakeEngine } from './server/intake/notifications-route.ts';
import { runServer, type RunningServer } from './server/run.ts';
import { preventCoreDumps, type CoreDumpProtection } from './util/no-core-dumps.ts';

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
 * Opens the engine every command runs on: configuration, logger, keyring, store, connectors and,
 * for the server, the delivery workers. Opening refuses to run with a debug switch known to print
 * passwords.
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
  if (options.workers === true) {
    // The server refuses a keyring that cannot open the store's pending secrets, rather than fail
    // their jobs one by one (7010); one-shot commands still run, to inspect the queue.
    try {
      await assertStoreKeysPresent(store, keyring.file, keyring.keyIds);
    } catch (e) {
      await store.close();
      throw e;
    }
  }
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
 * `pwsync server`: the engine with its workers and the store on its own thread, and the intake
 * when `server.listen` is set, handed to the server, which opens them in order under its lock.
 */
export async function startServer(configFile: string): Promise<RunningServer<Runtime>> {
  // First of all: the process will hold passwords (docs/security.md).
  const coreDumps = preventCoreDumps();
  const { startConfiguredIntake } = await import('./server/intake/start.ts');
  // Only the store's path, first: the server takes its lock before the store is opened.
  const { storePath } = await loadConfig(configFile);
  return runServer({
    storePath,
    open: async () => {
      const runtime = await openRuntime(configFile, { workers: true, storeThread: true });
      reportCoreDumps(runtime.log, coreDumps);
      return runtime;
    },
    startIntake: (runtime) => {
      const { ctx } = runtime;
      const engine: IntakeEngine = {
        submitChanges: (requests, owed, guard) => submitChanges(ctx, requests, owed, guard),
        appendEvents: (events) => ctx.store.appendEvents(events),
        now: ctx.now,
      };
      return startConfiguredIntake(runtime.config, engine, runtime.log, (system) => ctx.connectors.get(system));
    },
  });
}

/** `pwsync agent`: its configuration, logger and clock, handed to the agent, which opens its own parts. */
export async function startAgent(configFile: string, options: { now?: () => number } = {}): Promise<RunningAgent> {
  const coreDumps = preventCoreDumps();
  refuseLeakyDebugSwitches(process.env);
  const [{ runAgent }, { loadAgentConfig }] = await Promise.all([import('./agent/run.ts'), import('./agent/config.ts')]);
  const config = await loadAgentConfig(configFile);
  const log = createLogger({ level: config.log.level, ...(config.log.file ? { destination: config.log.file } : {}) }).child({ component: 'agent' });
  reportCoreDumps(log, coreDumps);
  return runAgent({ configFile, config, log, now: options.now ?? Date.now });
}

/** Says in the log how the process protected itself from core dumps, and what is missing when it could not fully. */
function reportCoreDumps(log: Logger, coreDumps: CoreDumpProtection): void {
  if (coreDumps.method === 'prctl') {
    log.info({ coreDumps }, 'core dumps off and this process not dumpable (native helper: setrlimit and prctl)');
  } else if (coreDumps.method === 'prlimit') {
    log.warn({ coreDumps }, 'core dumps off (prlimit --core=0:0), but this process stays dumpable (readable through ptrace by its user): the native helper was not used; build it with "make -C native"');
  } else {
    log.error({ coreDumps }, 'core dumps could NOT be switched off: set LimitCORE=0 in the service unit, and build the native helper with "make -C native"');
  }
}
