import type { Command } from 'commander';
import type { RunningServer } from '../../server/run.ts';
import { configPath } from '../options.ts';

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run the sync server: deliver queued changes to every target until stopped (SIGINT/SIGTERM)')
    .action(async () => {
      // Loaded here: the intake (an HTTPS server) is not needed by the other commands.
      const { startServer } = await import('../../server/run.ts');
      const server = await startServer(configPath(program.opts<{ config?: string }>().config));
      console.log(server.intake ? `server running; intake listening on ${server.intake.url}` : 'server running (no intake: server.listen is not set)');
      await untilSignal(server);
    });
}

/** Runs until SIGINT or SIGTERM, then stops gracefully; a second signal stops at once. */
export async function untilSignal(server: RunningServer): Promise<void> {
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once(signal, () => process.exit(130));
      console.error(`\n${signal}: stopping (deliveries in progress get ${server.runtime.config.server.shutdownGrace / 1000} s)`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await server.stop();
}
