import type { Command } from 'commander';
import { rotateStoreKey } from '../../sync/key-rotation.ts';
import { printJson, say } from '../output.ts';
import { withRuntime } from '../runtime.ts';

export function registerKey(program: Command): void {
  const key = program.command('key').description('manage the store key');
  key
    .command('rotate')
    .description('add a new store key that encrypts from now on and re-encrypt every pending secret; old keys still decrypt')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withRuntime(program, async (rt) => {
        const report = await rotateStoreKey(rt.store, rt.keyring, rt.log, Date.now);
        if (opts.json === true) printJson(report);
        else {
          say(`new active key ${report.newKeyId}; ${report.resealed} pending secret(s) re-encrypted`);
          say(`keys in ${rt.keyring.file}: ${report.keyIds.join(', ')}`);
        }
      });
    });
}
