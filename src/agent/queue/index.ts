import { Sqlite } from '../../sqlite/db.ts';
import { openAgentDatabase } from './open.ts';
import { AgentStore, DEFAULT_MAX_QUEUE_AGE_MS, DEFAULT_MAX_QUEUE_LENGTH, DEFAULT_SCRUB_DELAY_MS, type AgentStoreOptions } from './store.ts';
import { InvalidInputError } from '../../core/errors.ts';

export { AgentStore, DEFAULT_MAX_QUEUE_AGE_MS, DEFAULT_MAX_QUEUE_LENGTH, type AgentStoreOptions } from './store.ts';
export { QueueWriter, type QueueWriterOptions, type QueueWriterStats } from './writer.ts';
export { CaptureNotFoundError, QueueFullError, TargetExistsError, TargetNotFoundError } from './errors.ts';
export { AGENT_MIGRATIONS, AGENT_SCHEMA_VERSION } from './migrations.ts';
export { DEFAULT_RETRY_INTERVAL_MS, MAX_RETRY_INTERVAL_MS, MIN_RETRY_INTERVAL_MS } from './targets.ts';
export type * from './types.ts';

/**
 * Opens the agent's database at `path` (its own file, never the server's store), creating it
 * (mode 0600, directory 0700) when missing and migrating its schema.
 *
 * Rejects with StoreError when the file is not an agent queue or is unusable, with
 * StoreSchemaTooNewError (a StoreError) when a newer pwsync wrote it, and with InvalidInputError
 * for a limit that is not a positive whole number.
 */
export function openAgentStore(path: string, options: AgentStoreOptions): Promise<AgentStore> {
  return new Promise((resolve) => {
    const now = options.now ?? Date.now;
    const maxLength = positive('maxLength', options.maxLength ?? DEFAULT_MAX_QUEUE_LENGTH);
    const maxAgeMs = positive('maxAgeMs', options.maxAgeMs ?? DEFAULT_MAX_QUEUE_AGE_MS);
    const scrubDelayMs = positive('scrubDelayMs', options.scrubDelayMs ?? DEFAULT_SCRUB_DELAY_MS);
    const sql = new Sqlite(openAgentDatabase(path, now()));
    resolve(new AgentStore(sql, { path, keyring: options.keyring, now, maxLength, maxAgeMs, scrubDelayMs }));
  });
}

function positive(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidInputError(`${what} must be a whole number ≥ 1, not ${n}`);
  return n;
}
