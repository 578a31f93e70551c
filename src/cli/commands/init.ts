import type { Command } from 'commander';
import { configPath } from '../options.ts';
import { initDataDirectory } from '../setup.ts';
import { writeDemo } from '../demo-files.ts';
import { say } from '../output.ts';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the data directory, the store key (mode 0600) and the store; safe to run again')
    .option('--demo <dir>', 'first write a demo setup into <dir> (a source directory file and two file targets) and use its configuration')
    .action(async (opts: { demo?: string }) => {
      let file = configPath(program.opts<{ config?: string }>().config);
      if (opts.demo !== undefined) {
        file = await writeDemo(opts.demo);
        say(`demo written to ${opts.demo}`);
      }
      const report = await initDataDirectory(file);
      say(`data directory: ${report.config.dataDir}`);
      say(`store:          ${report.config.storePath}`);
      say(`store key:      ${report.config.keyFile} (${report.keyCreated ? 'created' : 'exists'}, active key ${report.keyId})`);
      if (report.config.server.listen !== undefined && !report.pkiReady) {
        say(`intake:         server.listen is set but its certificates or JWE key are missing; create them with: pwsync pki init --config ${file}`);
      }
      say(`next: pwsync import --config ${file}`);
    });
}
