import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import { createMemoryConnector, type MemoryConnector, type MemoryConnectorOptions } from './connectors/memory/index.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/port.ts';
import { ConnectorPool } from '../../src/sync/connector-pool.ts';
import type { EngineConfig, SyncContext } from '../../src/sync/context.ts';
import { Workers } from '../../src/sync/workers.ts';
import { lookupsFor } from '../../src/sync/lookups.ts';

/** A system in test configuration: the schema fills in defaults; `file` is a placeholder the memory connector ignores. */
export type TestSystem = Omit<ConfigInput['systems'][number], 'connector' | 'file'> & { memory?: MemoryConnectorOptions };

/** A controllable clock: tests move time instead of waiting for retry intervals. */
export class TestClock {
  constructor(public t = Date.UTC(2026, 10, 22, 9, 0, 0)) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Engine {
  readonly dir: string;
  readonly config: EngineConfig;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly ctx: SyncContext;
  readonly clock: TestClock;
  readonly connectors: ReadonlyMap<string, MemoryConnector>;
  connector(name: string): MemoryConnector;
  workers(): Workers;
  /** Reopens the store and a new context on the same files (a process restart). */
  restart(): Promise<Engine>;
  close(): Promise<void>;
}

export async function startEngine(systems: readonly TestSystem[], dir?: string, clock = new TestClock()): Promise<Engine> {
  const home = dir ?? (await mkdtemp(join(tmpdir(), 'pwsync-engine-')));
  const parsed = configSchema.parse({
    server: { workers: 4, pollInterval: 5 },
    systems: systems.map(({ memory, ...s }) => ({ ...s, connector: 'file', file: { path: `${s.name}.csv` } })),
  });
  const config: EngineConfig = { systems: parsed.systems, server: parsed.server };
  const connectors = new Map<string, MemoryConnector>();
  for (const s of systems) connectors.set(s.name, createMemoryConnector({ name: s.name, now: clock.now, ...s.memory }));
  const keyFile = join(home, 'store.key');
  const keyring = dir === undefined ? await Keyring.create(keyFile) : await Keyring.load(keyFile);
  const store = await openSqliteStore(join(home, 'pwsync.db'), { now: clock.now });
  await store.declareLookups(lookupsFor(config));
  const pool = new ConnectorPool((system) => {
    const c = connectors.get(system.name);
    if (!c) throw new Error(`no memory connector for ${system.name}`);
    return c;
  }, home);
  let workers: Workers | undefined;
  const ctx: SyncContext = { config, store, keyring, connectors: pool, log: silentLogger(), now: clock.now, wake: () => workers?.wake() };
  const engine: Engine = {
    dir: home,
    config,
    store,
    keyring,
    ctx,
    clock,
    connectors,
    connector(name) {
      const c = connectors.get(name);
      if (!c) throw new Error(`no connector ${name}`);
      return c;
    },
    workers() {
      workers ??= new Workers(ctx);
      return workers;
    },
    async restart() {
      await workers?.stop(0);
      await store.close();
      const next = await startEngine(systems, home, clock);
      // Keep the same in-memory systems: they are "the outside world".
      for (const [name, c] of connectors) (next.connectors as Map<string, MemoryConnector>).set(name, c);
      return next;
    },
    async close() {
      await workers?.stop(1000);
      await store.close();
      if (dir === undefined) await rm(home, { recursive: true, force: true });
    },
  };
  return engine;
}

/** Waits until `predicate` holds, polling; fails after `ms`. */
export async function eventually(predicate: () => Promise<boolean> | boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
