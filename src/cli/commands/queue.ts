import type { Command } from 'commander';
import { InvalidInputError } from '../../core/errors.ts';
import { JOB_STATES, type Job, type JobStateKind } from '../../core/model.ts';
import { collect, parseLimit } from '../options.ts';
import { iso, printJson, printTable, say } from '../output.ts';
import { withRuntime } from '../runtime.ts';

export function registerQueue(program: Command): void {
  program
    .command('queue')
    .description('show delivery jobs and their states: pending, in_progress, retry_scheduled, done, failed, superseded')
    .option('--state <states>', 'only these states (comma-separated); "open" means pending,in_progress,retry_scheduled', collect)
    .option('--system <name>', 'only jobs for this system')
    .option('--person <id>', 'only jobs for this person')
    .option('--change <id>', 'only jobs of this change')
    .option('--limit <n>', 'at most this many (the newest)', parseLimit, 50)
    .option('--json', 'print as JSON')
    .action(async (opts: { state?: string[]; system?: string; person?: string; change?: string; limit: number; json?: boolean }) => {
      const states = opts.state?.flatMap((s): JobStateKind[] => {
        if (s === 'open') return ['pending', 'in_progress', 'retry_scheduled'];
        if (!(JOB_STATES as readonly string[]).includes(s)) throw new InvalidInputError(`unknown state "${s}" (${JOB_STATES.join(', ')}, open)`);
        return [s as JobStateKind];
      });
      await withRuntime(program, async (rt) => {
        const jobs = await rt.store.listJobs({
          limit: opts.limit,
          ...(states ? { states } : {}),
          ...(opts.system === undefined ? {} : { system: opts.system }),
          ...(opts.person === undefined ? {} : { personId: opts.person }),
          ...(opts.change === undefined ? {} : { changeId: opts.change }),
        });
        if (opts.json === true) {
          printJson(jobs);
          return;
        }
        const counts = await rt.store.counts();
        say(
          JOB_STATES.map((s) => `${s} ${counts.jobsByState[s]}`).join(' · '),
        );
        printTable(['JOB', 'CHANGE', 'SYSTEM', 'ACCOUNT', 'CHANGED AT', 'ATTEMPTS', 'STATE', 'DETAIL'], jobs.map(row), '(no jobs)');
      });
    });
}

function row(j: Job): string[] {
  return [String(j.id), j.changeId.slice(0, 8), j.system, j.anchor, iso(j.changedAt), String(j.attempts), j.state.kind, detail(j)];
}

export function detail(j: Job): string {
  switch (j.state.kind) {
    case 'pending':
      return '';
    case 'in_progress':
      return `by ${j.state.worker} since ${iso(j.state.since)}`;
    case 'retry_scheduled':
      return `next ${iso(j.state.nextAt)}: ${j.state.lastError}`;
    case 'done':
      return `at ${iso(j.state.at)}`;
    case 'failed':
      return `${j.state.event} at ${iso(j.state.at)}: ${j.state.lastError}`;
    case 'superseded':
      return `by change ${j.state.by.slice(0, 8)}`;
  }
}
