import { Command, CommanderError } from 'commander';
import { isPwsyncError } from '../core/errors.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { registerInit } from './commands/init.ts';
import { registerConfig } from './commands/config.ts';
import { registerServer } from './commands/server.ts';
import { registerImport } from './commands/import.ts';
import { registerPersons } from './commands/persons.ts';
import { registerEvents } from './commands/events.ts';
import { registerQueue } from './commands/queue.ts';
import { registerChange } from './commands/change.ts';
import { registerKey } from './commands/key.ts';
import { registerDemo } from './commands/demo.ts';

const program = new Command('pwsync')
  .description('password synchronization: one change, every account')
  .option('-c, --config <file>', 'configuration file (default: $PWSYNC_CONFIG or ./pwsync.yaml)')
  .showHelpAfterError()
  .exitOverride();

for (const register of [registerInit, registerConfig, registerServer, registerImport, registerPersons, registerEvents, registerQueue, registerChange, registerKey, registerDemo]) {
  register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // Commander has printed its message already; --help and --version end here too.
    return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (isPwsyncError(e)) {
    // A ConfigError's message lists every problem with its file, line and path.
    console.error(`pwsync: ${e.message}`);
  } else if (e instanceof Error) {
    // Unexpected: say what it was without echoing input that might hold a secret.
    console.error(`pwsync: unexpected ${e.name}: ${e.message}`);
  } else {
    console.error('pwsync: unexpected failure');
  }
  return exitCodeFor(e);
}
