import { systemByName } from '../../config/index.ts';
import { projectsPersons, type SystemConfig } from '../../config/schema.ts';
import { can } from '../../connectors/types.ts';
import { InvalidInputError } from '../../core/errors.ts';
import type { SyncContext } from '../../sync/context.ts';
import { importSystem, type ImportMode, type ImportReport } from '../../sync/importer.ts';
import { printJson, printTable, progressReporter, say } from '../output.ts';

export interface ImportCommandOptions {
  readonly delta?: boolean;
  readonly json?: boolean;
  readonly allowRemovals?: boolean;
}

/**
 * `pwsync import`: imports the named systems, or every system that can import (projecting ones
 * first), and prints the reports. With `--delta`, a named system whose connector has no delta import
 * is refused before anything is read; unnamed ones run a full import instead, with a note. A system
 * whose import would pass its removal threshold stops the command (non-zero, nothing removed)
 * unless `--allow-removals`.
 */
export async function runImports(ctx: SyncContext, names: readonly string[], opts: ImportCommandOptions): Promise<void> {
  const systems =
    names.length > 0
      ? names.map((n) => systemByName(ctx.config, n))
      : [...ctx.config.systems].filter((s) => can(ctx.connectors.get(s), 'import')).sort((a, b) => Number(projectsPersons(b)) - Number(projectsPersons(a)));
  const delta = opts.delta === true;
  if (delta && names.length > 0) {
    for (const system of systems) {
      const connector = ctx.connectors.get(system);
      if (!can(connector, 'deltaImport')) throw new InvalidInputError(`"${system.name}" cannot be imported with --delta: its ${connector.kind} connector has no delta import`);
    }
  }

  const reports: ImportReport[] = [];
  for (const system of systems) {
    const { mode, note } = modeFor(ctx, system, delta);
    const progress = progressReporter(`import ${system.name}`);
    const report = await importSystem(ctx, system.name, (p) => progress.update(`${p.read.toLocaleString('en')} ${p.mode === 'delta' ? 'changed accounts' : 'accounts'} read`), { mode, allowRemovals: opts.allowRemovals === true });
    const done = note === undefined ? report : { ...report, fallback: note };
    progress.done(summary(done));
    reports.push(done);
  }

  if (opts.json === true) {
    printJson(reports);
    return;
  }
  printTable(
    ['SYSTEM', 'MODE', 'READ', 'PROJECTED', 'JOINED', 'RELINKED', 'AMBIGUOUS', 'UNMATCHED', 'REMOVED', 'SECONDS'],
    reports.map((r) => [r.system, r.mode, String(r.read), String(r.projected), String(r.joined), String(r.relinked), String(r.ambiguous), String(r.unmatched), String(r.removed), (r.ms / 1000).toFixed(1)]),
  );
  for (const r of reports) if (r.fallback !== undefined) say(`${r.system}: full import instead of delta: ${r.fallback}`);
  if (reports.some((r) => r.ambiguous > 0)) say('ambiguous accounts were not linked: see "pwsync events --code 7020"');
}

/** The mode to ask for, and why a delta import asked for becomes a full one before it starts. */
function modeFor(ctx: SyncContext, system: SystemConfig, delta: boolean): { mode: ImportMode; note?: string } {
  if (!delta) return { mode: 'full' };
  const connector = ctx.connectors.get(system);
  return can(connector, 'deltaImport') ? { mode: 'delta' } : { mode: 'full', note: `its ${connector.kind} connector has no delta import` };
}

function summary(r: ImportReport): string {
  const seconds = `${(r.ms / 1000).toFixed(1)} s`;
  if (r.mode === 'delta') return `${r.read.toLocaleString('en')} changed, ${r.removed.toLocaleString('en')} removed in ${seconds} (delta)`;
  const full = r.fallback === undefined ? '' : ` (full: ${r.fallback})`;
  return `${r.read.toLocaleString('en')} accounts in ${seconds}${full}`;
}
