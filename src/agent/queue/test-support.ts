import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../../core/secret.ts';
import { Keyring } from '../../crypto/keyring.ts';
import { openAgentStore, type AgentStore, type AgentStoreOptions, type NewCapture } from './index.ts';

/** A fresh directory with a keyring, the queue file's path in a subdirectory; removed afterwards. */
export async function withDir(fn: (dir: { path: string; keyring: Keyring; keyFile: string; root: string }) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'pwsync-agent-queue-'));
  try {
    const keyFile = join(root, 'agent.key');
    const keyring = await Keyring.create(keyFile);
    await fn({ path: join(root, 'data', 'agent.db'), keyring, keyFile, root });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** An open store in a fresh directory, closed afterwards. */
export async function withStore(
  fn: (store: AgentStore, dir: { path: string; keyring: Keyring; root: string }) => Promise<void>,
  options: Omit<AgentStoreOptions, 'keyring'> = {},
): Promise<void> {
  await withDir(async (dir) => {
    const store = await openAgentStore(dir.path, { ...options, keyring: dir.keyring });
    try {
      await fn(store, dir);
    } finally {
      await store.close();
    }
  });
}

/** A capture of `account` with password `password`; times default to 1,000 and 2,000. */
export function capture(account: string, password: string, times: { changedAt?: number; capturedAt?: number } = {}): NewCapture {
  return { source: 'corp', account, changedAt: times.changedAt ?? 1000, capturedAt: times.capturedAt ?? 2000, secret: Secret.fromString(password) };
}
