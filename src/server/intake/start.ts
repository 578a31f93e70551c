import { readFile } from 'node:fs/promises';
import type { Config } from '../../config/index.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import { loadJwePrivateKey } from '../../pki/jwe-key.ts';
import { readPrivateFile } from '../../pki/files.ts';
import { loadAgentRegistry } from './agents.ts';
import { startIntake, type RunningIntake } from './intake.ts';
import type { Connector } from '../../connectors/types.ts';
import type { SystemConfig } from '../../config/schema.ts';
import type { IntakeEngine } from './notifications-route.ts';
import { SourceProtection } from './protection.ts';

/** What the intake reads of the server's configuration. */
export type IntakeConfig = Pick<Config, 'server' | 'pki' | 'agents' | 'systems'>;

/**
 * Starts the intake when the configuration sets `server.listen`: reads the TLS files, the JWE key
 * and the registered agents' certificates first, so that anything missing stops the server at
 * start with the file named and the command that makes it. `connector` gives a source system's
 * connector, in which the accounts a source protects from agents are resolved (`source.protect`).
 */
export async function startConfiguredIntake(config: IntakeConfig, engine: IntakeEngine, log: Logger, connector: (system: SystemConfig) => Connector): Promise<RunningIntake | undefined> {
  const listen = config.server.listen;
  if (listen === undefined) {
    log.info('server.listen is not set: the notification intake is off');
    return undefined;
  }
  const hint = 'create them with "pwsync pki init", or set server.tls and server.intake.jweKey to your own';
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (e) {
      throw new ConfigError(`cannot read the ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)}): ${hint}`);
    }
  };
  const [cert, clientCa] = [await read(config.pki.cert, 'server certificate'), await read(config.pki.clientCa, 'agents\' CA certificate')];
  // Checked like every private key of ours: not readable by group or others.
  const key = Buffer.from(await readPrivateFile(config.pki.key, 'server TLS private key'));
  const jwe = await loadJwePrivateKey(config.pki.jweKey);
  const { registry: agents, warnings } = await loadAgentRegistry(config, engine.now());
  for (const warning of warnings) log.error({ warning }, 'agent certificate not usable');
  const intakeLog = log.child({ component: 'intake' });
  const protection = new SourceProtection({ systems: config.systems, connector, log: intakeLog, now: () => engine.now(), appendEvents: (events) => engine.appendEvents(events) });
  for (const line of protection.describe()) intakeLog.info({ protection: line }, 'accounts no agent may change');
  // Resolved now, so that the first notifications do not wait for the directory; a failure is logged and asked again then.
  void protection.warm();
  try {
    return await startIntake({
      engine,
      log: intakeLog,
      protection,
      listen,
      tls: { cert, key, clientCa },
      jwe,
      agents,
      replayWindowMs: config.server.intake.replayWindow,
      maxBodyBytes: config.server.intake.maxBodyBytes,
      maxBatch: config.server.intake.maxBatch,
    });
  } finally {
    key.fill(0);
  }
}
