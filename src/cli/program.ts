import { Command } from 'commander';
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
import { registerPki } from './commands/pki.ts';
import { registerAgent } from './commands/agent.ts';
import { registerCapture } from './commands/capture.ts';

/** The whole `pwsync` command tree, without running it (the docs test walks it). */
export function buildProgram(): Command {
  const program = new Command('pwsync')
    .description('password synchronization: one change, every account')
    .option('-c, --config <file>', 'configuration file (default: $PWSYNC_CONFIG or ./pwsync.yaml)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [registerInit, registerConfig, registerServer, registerImport, registerPersons, registerEvents, registerQueue, registerChange, registerKey, registerPki, registerAgent, registerCapture, registerDemo]) {
    register(program);
  }
  // Every subcommand throws instead of exiting, so that usage errors end in exit code 2.
  const override = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride();
      override(sub);
    }
  };
  override(program);
  return program;
}
