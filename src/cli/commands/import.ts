import type { Command } from 'commander';
import { withRuntime } from '../runtime.ts';
import { runImports, type ImportCommandOptions } from './import-run.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('stream accounts from systems into the store and link them to persons (all systems, projecting ones first, when none is named)')
    .argument('[systems...]', 'system names')
    .option('--delta', 'read only what changed since the last import (a full import where no watermark is kept, or where the connector cannot)')
    .option('--allow-removals', 'remove the accounts gone from a system even beyond its removal threshold (import.removalThreshold)')
    .option('--json', 'print the reports as JSON')
    .action(async (names: string[], opts: ImportCommandOptions) => {
      await withRuntime(program, (rt) => runImports(rt.ctx, names, opts));
    });
}
