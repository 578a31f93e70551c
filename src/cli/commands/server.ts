import type { Command } from 'commander';
import { startServer } from '../../main.ts';
import type { RunningServer } from '../../server/run.ts';
import { configPath } from '../options.ts';
import { say, sayError } from '../output.ts';

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run the sync server: deliver queued changes to every target until stopped (SIGINT/SIGTERM)')
    .action(async () => {
      const server = await startServer(configPath(program.opts<{ config?: string }>().config));
      say(server.intake ? `server running; intake listening on ${server.intake.url}` : 'server running (no intake: server.listen is not set)');
      await untilSignal(server);
    });
}

/**
 * Runs until SIGINT or SIGTERM, then stops gracefully; a second signal stops at once. A runtime
 * that fails for good (its store thread) stops the server too, with exit code 1, so that a
 * supervisor restarts it rather than leave it refusing every change.
 */
export async function untilSignal(server: RunningServer): Promise<void> {
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const signalled = new Promise<void>((resolve) => {
    onSignal = (signal: NodeJS.Signals): void => {
      process.once(signal, () => process.exit(130));
      sayError('', `${signal}: stopping (deliveries in progress get ${server.runtime.config.server.shutdownGrace / 1000} s)`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  const failure = await Promise.race([signalled.then(() => undefined), server.runtime.failed]);
  if (onSignal !== undefined) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (failure !== undefined) {
    sayError(`pwsync server: ${failure.message}; stopping`);
    process.exitCode = 1;
  }
  await server.stop();
}
