import { acquireProcessLock } from '../util/process-lock.ts';
import { loadConfig } from '../config/index.ts';
import { openRuntime, type Runtime } from '../main.ts';
import type { RunningIntake } from './intake/intake.ts';
import { startConfiguredIntake } from './intake/start.ts';

export interface RunningServer {
  readonly runtime: Runtime;
  /** The notification intake, when `server.listen` is set. */
  readonly intake: RunningIntake | undefined;
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

  // Released by the kernel if this process dies, so a restart after kill -9 is never refused.
  const lock = acquireProcessLock(`${storePath}.server-lock`, `another pwsync server is running on ${storePath}; stop it first`);
  const release = (): Promise<void> => Promise.resolve(lock.release());

  let runtime: Runtime;
  try {
    runtime = await openRuntime(configFile, { workers: true, storeThread: true });
  } catch (e) {
    await release();
    throw e;
  }
  let intake: RunningIntake | undefined;
  try {
    intake = await startConfiguredIntake(runtime);
  } catch (e) {
    await runtime.close();
    await release();
    throw e;
  }
  runtime.log.info({ store: runtime.store.description, systems: runtime.config.systems.map((s) => s.name), workers: runtime.config.server.workers }, 'server started');
  let stopped: Promise<void> | undefined;
  return {
    runtime,
    intake,
    stop() {
      stopped ??= (async () => {
        runtime.log.info('server stopping');
        // No new notifications first; then the deliveries in progress get their grace.
        await intake?.close();
        await runtime.close();
        await release();
      })();
      return stopped;
    },
  };
}
