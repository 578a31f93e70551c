import type { Command } from 'commander';
import { loadConfig } from '../../config/index.ts';
import { Keyring } from '../../crypto/keyring.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { forgetLostKeys, rotateStoreKey } from '../../sync/key-rotation.ts';
import { pathExists } from '../../util/files.ts';
import { configPath } from '../options.ts';
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
  key
    .command('forget')
    .description('a store key is lost for good: give up the pending changes sealed under it (7031 each) so that the server can start; restore the key from its backup instead if you can')
    .argument('<keyId...>', 'the lost key ids, as init or the server named them')
    .option('--json', 'print the result as JSON')
    .action(async (keyIds: string[], opts: { json?: boolean }) => {
      // Opened without the runtime: the key file may be missing, which is why this command exists.
      const config = await loadConfig(configPath(program.opts<{ config?: string }>().config));
      const held = (await pathExists(config.keyFile)) ? (await Keyring.load(config.keyFile)).keyIds : [];
      const store = await openSqliteStore(config.storePath);
      try {
        const report = await forgetLostKeys(store, keyIds, held, Date.now);
        if (opts.json === true) printJson(report);
        else say(`${report.abandoned} pending job(s) sealed under ${report.keyIds.join(', ')} given up (event 7031); the persons concerned must change their password again`);
      } finally {
        await store.close();
      }
    });
}
