import { mkdir } from 'node:fs/promises';
import { KeyError } from '../core/errors.ts';
import { Keyring } from '../crypto/keyring.ts';
import { pathExists } from '../util/files.ts';
import { loadAgentConfig, type AgentConfig } from './config.ts';
import { openAgentStore, type AgentStore } from './queue/index.ts';

/** The agent's database and key, opened for the agent or for a `pwsync agent …` command. */
export interface AgentData {
  readonly config: AgentConfig;
  readonly store: AgentStore;
  readonly keyring: Keyring;
  close(): Promise<void>;
}

/**
 * Opens (creating on first use) the agent's data directory (0700), its key (0600) and its queue
 * database. The CLI commands and the running agent share the database.
 */
export async function openAgentData(configFile: string, now: () => number = Date.now): Promise<AgentData> {
  const config = await loadAgentConfig(configFile);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  let keyring: Keyring;
  if (await pathExists(config.keyFile)) keyring = await Keyring.load(config.keyFile);
  else if (await pathExists(config.queuePath)) {
    // A new key would open nothing already queued, and the queue would stall until the age limit.
    throw new KeyError(
      `the agent key ${config.keyFile} is missing but its queue ${config.queuePath} exists: restore the key from the backup taken with the queue, ` +
        'or move the queue away to start empty (what it holds cannot be decrypted without the key)',
    );
  } else keyring = await Keyring.create(config.keyFile);
  const store = await openAgentStore(config.queuePath, { keyring, now, maxAgeMs: config.queue.maxAge, maxLength: config.queue.maxLength });
  return { config, store, keyring, close: () => store.close() };
}

/** The lock a running agent holds (released by the kernel when it dies). */
export function agentLockPath(config: Pick<AgentConfig, 'queuePath'>): string {
  return `${config.queuePath}.agent-lock`;
}
