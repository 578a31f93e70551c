import type { SystemConfig } from '../config/schema.ts';
import type { ConnectorFactory } from '../connectors/registry.ts';
import type { Connector } from '../connectors/types.ts';
import type { Logger } from '../log/logger.ts';

/**
 * One connector per system, created on first use and kept open (connections are expensive: an
 * LDAPS handshake per change would cap throughput at a hundred changes a second).
 */
export class ConnectorPool {
  readonly #open = new Map<string, Connector>();

  constructor(
    private readonly factory: ConnectorFactory,
    private readonly baseDir: string,
    private readonly log?: Logger,
  ) {}

  get(system: SystemConfig): Connector {
    let connector = this.#open.get(system.name);
    if (!connector) {
      connector = this.factory(system, { system: system.name, baseDir: this.baseDir, ...(this.log ? { log: this.log.child({ system: system.name }) } : {}) });
      this.#open.set(system.name, connector);
    }
    return connector;
  }

  async closeAll(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}
