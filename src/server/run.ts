import lockfile from 'proper-lockfile';
import { InvalidInputError } from '../core/errors.ts';
import { loadConfig } from '../config/index.ts';
import { openRuntime, type Runtime } from '../main.ts';

export interface RunningServer {
  readonly runtime: Runtime;
  /** Stops claiming, waits for deliveries in progress (up to `server.shutdownGrace`), closes. */
  stop(): Promise<void>;
}

/**
 * Starts the sync server on a configuration: recovers jobs a dead server left in progress, then
 * delivers. Only one server may run on an embedded store: a second one would requeue the first
 * one's deliveries, so the store is locked for as long as the server runs.
 */
export async function startServer(configFile: string): Promise<RunningServer> {
  // The lock comes before the store is opened (a second server must not even recover jobs).
  const { storePath } = await loadConfig(configFile);

  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(storePath, {
      realpath: false,
      stale: 30_000,
      update: 5_000,
      retries: 0,
      onCompromised: (err) => {
        // Someone removed or took our lock: two servers may now be delivering; stop this one.
        process.emitWarning(`store lock lost: ${err.message}`);
        process.exit(1);
      },
    });
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'ELOCKED') {
      throw new InvalidInputError(`another pwsync server is running on ${storePath} (lock ${storePath}.lock); stop it first`);
    }
    throw e;
  }

  let runtime: Runtime;
  try {
    runtime = await openRuntime(configFile, { workers: true });
  } catch (e) {
    await release();
    throw e;
  }
  runtime.log.info({ store: runtime.store.description, systems: runtime.config.systems.map((s) => s.name), workers: runtime.config.server.workers }, 'server started');
  let stopped: Promise<void> | undefined;
  return {
    runtime,
    stop() {
      stopped ??= (async () => {
        runtime.log.info('server stopping');
        await runtime.close();
        await release();
      })();
      return stopped;
    },
  };
}
