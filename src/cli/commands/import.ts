import type { Command } from 'commander';
import { can } from '../../connectors/types.ts';
import { importSystem, type ImportReport } from '../../sync/importer.ts';
import { printJson, printTable, progressReporter } from '../output.ts';
import { withRuntime } from '../runtime.ts';
import { systemByName } from '../../config/index.ts';
import { projectsPersons } from '../../config/schema.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('stream accounts from systems into the store and link them to persons (all systems, projecting ones first, when none is named)')
    .argument('[systems...]', 'system names')
    .option('--json', 'print the reports as JSON')
    .action(async (names: string[], opts: { json?: boolean }) => {
      await withRuntime(program, async (rt) => {
        const systems =
          names.length > 0
            ? names.map((n) => systemByName(rt.config, n))
            : [...rt.config.systems].filter((s) => can(rt.ctx.connectors.get(s), 'import')).sort((a, b) => Number(projectsPersons(b)) - Number(projectsPersons(a)));
        const reports: ImportReport[] = [];
        for (const system of systems) {
          const progress = progressReporter(`import ${system.name}`);
          const report = await importSystem(rt.ctx, system.name, (p) => progress.update(`${p.read.toLocaleString('en')} accounts read`));
          progress.done(`${report.read.toLocaleString('en')} accounts in ${(report.ms / 1000).toFixed(1)} s`);
          reports.push(report);
        }
        if (opts.json === true) {
          printJson(reports);
          return;
        }
        printTable(
          ['SYSTEM', 'READ', 'PROJECTED', 'JOINED', 'AMBIGUOUS', 'UNMATCHED', 'REMOVED', 'SECONDS'],
          reports.map((r) => [r.system, String(r.read), String(r.projected), String(r.joined), String(r.ambiguous), String(r.unmatched), String(r.removed), (r.ms / 1000).toFixed(1)]),
        );
        if (reports.some((r) => r.ambiguous > 0)) console.log('ambiguous accounts were not linked: see "pwsync events --code 7020"');
      });
    });
}
