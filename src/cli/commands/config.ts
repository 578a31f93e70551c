import type { Command } from 'commander';
import { checkConfig, formatProblems } from '../../config/index.ts';
import { EXIT } from '../exit-codes.ts';
import { configPath } from '../options.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with the configuration file');
  config
    .command('check')
    .description('validate a configuration file without starting anything; every problem is reported with its line')
    .argument('[file]', 'the file (default: the global --config)')
    .option('--json', 'print problems and warnings as JSON')
    .action(async (file: string | undefined, opts: { json?: boolean }) => {
      const path = file ?? configPath(program.opts<{ config?: string }>().config);
      const result = await checkConfig(path);
      if (opts.json === true) {
        console.log(JSON.stringify({ file: path, ok: result.problems.length === 0, problems: result.problems, warnings: result.warnings }, null, 2));
      } else {
        if (result.problems.length > 0) {
          console.error(`${path}: ${result.problems.length} problem(s)`);
          console.error(formatProblems(path, result.problems));
        }
        if (result.warnings.length > 0) {
          console.error(`${path}: ${result.warnings.length} warning(s)`);
          console.error(formatProblems(path, result.warnings));
        }
        if (result.problems.length === 0) console.log(`${path}: ok (${result.config?.systems.length ?? 0} systems)`);
      }
      process.exitCode = result.problems.length === 0 ? EXIT.ok : EXIT.usage;
    });
}
