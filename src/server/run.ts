import type { Logger } from '../log/logger.ts';
import type { Store } from '../store/port.ts';
import type { EngineConfig } from '../sync/context.ts';
import { acquireProcessLock } from '../util/process-lock.ts';
import type { RunningIntake } from './intake/intake.ts';

/** What the server runs on: the engine the composition root opened (store, connectors, workers). */
export interface ServerEngine {
  readonly config: EngineConfig;
  readonly store: Pick<Store, 'description'>;
  readonly log: Logger;
  /** Settles with the error if a part the engine cannot go on without fails for good (the store's thread). */
  readonly failed: Promise<Error>;
  /** Stops claiming, waits for deliveries in progress (up to `server.shutdownGrace`), closes. */
  close(): Promise<void>;
}

/** The server's parts, as the composition root builds them; the server opens them in order. */
export interface ServerParts<E extends ServerEngine> {
  /** The store's path: the lock beside it keeps a second server off. */
  readonly storePath: string;
  /** Opens the engine (called once the lock is held). */
  open(): Promise<E>;
  /** Starts the notification intake on the engine, or answers undefined when it is off. */
  startIntake(engine: E): Promise<RunningIntake | undefined>;
}

export interface RunningServer<E extends ServerEngine = ServerEngine> {
  readonly runtime: E;
  /** The notification intake, when `server.listen` is set. */
  readonly intake: RunningIntake | undefined;
  /** Stops taking notifications, then lets deliveries in progress finish (`server.shutdownGrace`), closes. */
  stop(): Promise<void>;
}

/**
 * Runs the sync server on its parts: recovers jobs a dead server left in progress, then delivers
 * (the engine's workers), and takes notifications (the intake). Only one server may run on an
 * embedded store: a second one would requeue the first one's deliveries, so the store is locked
 * for as long as the server runs, and before it is even opened (a second server must not even
 * recover jobs).
 */
export async function runServer<E extends ServerEngine>(parts: ServerParts<E>): Promise<RunningServer<E>> {
  // Released by the kernel if this process dies, so a restart after kill -9 is never refused.
  const lock = acquireProcessLock(`${parts.storePath}.server-lock`, `another pwsync server is running on ${parts.storePath}; stop it first`);
  const release = (): Promise<void> => Promise.resolve(lock.release());

  let runtime: E;
  try {
    runtime = await parts.open();
  } catch (e) {
    await release();
    throw e;
  }
  let intake: RunningIntake | undefined;
  try {
    intake = await parts.startIntake(runtime);
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
