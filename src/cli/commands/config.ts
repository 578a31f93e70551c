import type { Command } from 'commander';
import { checkConfig, formatProblems, type Config } from '../../config/index.ts';
import { createConnector } from '../../connectors/registry.ts';
import type { ConnectionReport } from '../../connectors/types.ts';
import { EXIT } from '../exit-codes.ts';
import { configPath } from '../options.ts';
import { printJson, say, sayError } from '../output.ts';

interface SystemReport extends ConnectionReport {
  readonly system: string;
  readonly connector: string;
}

/** Connects to every system (a bind, a file read) and reports; nothing is written. */
async function connectAll(config: Config): Promise<SystemReport[]> {
  return Promise.all(
    config.systems.map(async (system): Promise<SystemReport> => {
      const connector = createConnector(system, { system: system.name, baseDir: config.baseDir });
      try {
        return { system: system.name, connector: system.connector, ...(await connector.testConnection()) };
      } catch (e) {
        const detail = e instanceof Error ? e.message : 'unexpected failure';
        return { system: system.name, connector: system.connector, ok: false, secure: connector.isSecure(), identity: '', detail };
      } finally {
        await connector.close();
      }
    }),
  );
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with the configuration file');
  config
    .command('check')
    .description('validate a configuration file without starting anything; every problem is reported with its line')
    .argument('[file]', 'the file (default: the global --config)')
    .option('--json', 'print problems and warnings as JSON')
    .option('--connect', 'also connect to every system (TLS, bind, base DNs, files) and report; nothing is written')
    .action(async (file: string | undefined, opts: { json?: boolean; connect?: boolean }) => {
      const path = file ?? configPath(program.opts<{ config?: string }>().config);
      const result = await checkConfig(path);
      const connections = opts.connect === true && result.config !== undefined ? await connectAll(result.config) : undefined;
      const ok = result.problems.length === 0 && (connections ?? []).every((c) => c.ok);
      if (opts.json === true) {
        printJson({ file: path, ok, problems: result.problems, warnings: result.warnings, ...(connections ? { connections } : {}) });
      } else {
        if (result.problems.length > 0) {
          sayError(`${path}: ${result.problems.length} problem(s)`);
          sayError(...formatProblems(path, result.problems).split('\n'));
        }
        if (result.warnings.length > 0) {
          sayError(`${path}: ${result.warnings.length} warning(s)`);
          sayError(...formatProblems(path, result.warnings).split('\n'));
        }
        for (const c of connections ?? []) {
          const line = `${c.system} (${c.connector}): ${c.ok ? 'connected' : 'FAILED'}${c.secure ? '' : ', NOT SECURE'}${c.identity ? ` as ${c.identity}` : ''}: ${c.detail}`;
          if (c.ok) say(line);
          else sayError(line);
        }
        if (ok) say(`${path}: ok (${result.config?.systems.length ?? 0} systems${connections ? ', all connected' : ''})`);
      }
      process.exitCode = ok ? EXIT.ok : EXIT.usage;
    });
}
