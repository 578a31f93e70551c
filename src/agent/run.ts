import { mkdir } from 'node:fs/promises';
import type { Logger } from '../log/logger.ts';
import { acquireProcessLock } from '../util/process-lock.ts';
import { CaptureAcceptor } from './capture/accept.ts';
import { listenCaptureHttp, type CaptureHttp } from './capture/http.ts';
import { listenCaptureSocket, type CaptureSocket } from './capture/socket.ts';
import { MissedChanges } from './capture/missed.ts';
import type { AgentConfig } from './config.ts';
import { QueueWriter, type AgentStore } from './queue/index.ts';
import { agentLockPath, openAgentData } from './data.ts';
import { SambaCapture } from './samba/capture.ts';
import { loadSambaGpgKeys } from './samba/gpg.ts';
import { SambaSupervisor } from './samba/supervisor.ts';
import { openScope } from './scope/scope.ts';
import type { Scope } from './scope/types.ts';
import { Sender } from './sender.ts';

export interface RunningAgent {
  readonly config: AgentConfig;
  readonly store: AgentStore;
  readonly log: Logger;
  readonly socketPath: string;
  /** The HTTP hook's URL, when configured. */
  readonly httpUrl: string | undefined;
  stop(): Promise<void>;
}

/** What the composition root hands the agent: its configuration, where it was read from, a logger and a clock. */
export interface AgentParts {
  /** The configuration file (`pwsync agent …` commands open the same data through it). */
  readonly configFile: string;
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly now: () => number;
}

/**
 * Runs the agent: checks its scope against the directory (a missing group stops it here), opens
 * the queue (one agent per data directory, enforced by a lock), listens for capture hooks and
 * delivers what is queued — including what an earlier run left — to its targets.
 */
export async function runAgent(parts: AgentParts): Promise<RunningAgent> {
  const { configFile, config, log, now } = parts;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  // One agent per data directory; released by the kernel if this process dies (kill -9, a crash).
  const lock = acquireProcessLock(agentLockPath(config), `another pwsync agent is running on ${config.dataDir}; stop it first`);
  const release = (): Promise<void> => Promise.resolve(lock.release());

  const cleanups: (() => Promise<void>)[] = [release];
  const undo = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const scope: Scope | undefined = config.scope === undefined ? undefined : await openScope(config.scope, { log, baseDir: config.baseDir });
    if (scope !== undefined) cleanups.push(() => scope.close());
    const data = await openAgentData(configFile, now);
    cleanups.push(() => data.close());
    const { store } = data;
    const writer = new QueueWriter(store);
    cleanups.push(() => writer.close());
    const sender = new Sender({ store, scope, log, now, batchSize: config.delivery.batchSize, timeoutMs: config.delivery.timeout });
    const acceptor = new CaptureAcceptor({ config, store, writer, scope, log, now, queued: () => sender.wake() });

    const sambaLog = log.child({ capture: 'samba' });
    let samba: SambaCapture | undefined;
    if (config.samba !== undefined) {
      const keys = await loadSambaGpgKeys(config.samba.smbConf, config.samba.gnupgHome);
      sambaLog.info({ gpgKeys: keys.fingerprints }, 'GPG keys of Samba\'s password copies loaded');
      samba = new SambaCapture({ source: config.samba.source, existingPasswords: config.samba.existingPasswords, acceptor, keys, store, log: sambaLog, now });
    }
    const socket: CaptureSocket = await listenCaptureSocket(config.socketPath, { acceptor, ...(samba === undefined ? {} : { samba }) }, log);
    cleanups.push(() => socket.close());
    let http: CaptureHttp | undefined;
    if (config.capture.http !== undefined) {
      http = await listenCaptureHttp(config.capture.http.listen, config.capture.http.token, acceptor, log);
      cleanups.push(() => http?.close() ?? Promise.resolve());
    }
    sender.start();
    cleanups.push(() => sender.stop());
    if (config.samba !== undefined && samba !== undefined) {
      // Stopped first (cleanups run in reverse): syncpasswords' last hook still finds the socket.
      const supervisor = new SambaSupervisor({ config: config.samba, socketPath: socket.path, capture: samba, store, log: sambaLog, now });
      await supervisor.start();
      cleanups.push(() => supervisor.stop());
    }
    if (config.pamMissedFile !== undefined) {
      // After the socket: a change made from now on is taken, not missed.
      const missed = new MissedChanges({ file: config.pamMissedFile, store, log, sources: config.sources });
      cleanups.push(() => missed.stop());
      await missed.start();
    }

    const stats = await store.stats();
    const targets = await store.listTargets();
    log.info(
      { sources: config.sources, socket: socket.path, http: http?.url, samba: config.samba?.smbConf, scope: scope?.describe() ?? 'everyone', queued: stats.length, targets: targets.map((t) => `${t.name}${t.enabled ? '' : ' (disabled)'}`) },
      'agent started',
    );
    if (targets.filter((t) => t.enabled).length === 0) log.warn('no enabled target: changes are queued but not delivered until one is added (pwsync agent target add)');

    let stopped: Promise<void> | undefined;
    return {
      config,
      store,
      log,
      socketPath: socket.path,
      httpUrl: http?.url,
      stop() {
        stopped ??= (async () => {
          log.info('agent stopping');
          await undo();
          log.flush();
        })();
        return stopped;
      },
    };
  } catch (e) {
    await undo();
    throw e;
  }
}
