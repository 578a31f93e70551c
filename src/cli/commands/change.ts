import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { InvalidInputError } from '../../core/errors.ts';
import { TERMINAL_STATES, type Job } from '../../core/model.ts';
import type { Secret } from '../../core/secret.ts';
import { checkChange, whyNoTarget } from '../../sync/check-password.ts';
import { submitChange } from '../../sync/submit-change.ts';
import { EXIT } from '../exit-codes.ts';
import { parseTime } from '../options.ts';
import { iso, printJson, printTable, say, sayError } from '../output.ts';
import { promptNewSecret, readSecretFromStream } from '../read-secret.ts';
import { withRuntime } from '../runtime.ts';
import { detail } from './queue.ts';

interface ChangeOptions {
  system?: string;
  anchor?: boolean;
  stdin?: boolean;
  at?: string;
  wait?: string | true;
  partial?: boolean;
  json?: boolean;
}

export function registerChange(program: Command): void {
  program
    .command('change')
    .description("set a person's password on every linked account in systems with sync enabled, as if changed at the source")
    .argument('<account>', "the person's account in the source system (its login), or its anchor with --anchor")
    .option('--system <name>', 'the source system (needed when there is more than one)')
    .option('--anchor', 'ACCOUNT is an anchor, not a login')
    .option('--stdin', 'read the password from the first line of standard input instead of prompting')
    .option('--at <time>', 'when the change was made (ISO 8601); default now')
    .option('--wait [seconds]', 'wait until every target has an outcome (default 30 s); exit 4 if any failed')
    .option('--partial', "when the password does not satisfy a target's password.policy, send it where it fits instead of nowhere")
    .option('--json', 'print the receipt as JSON')
    .action(async (account: string, opts: ChangeOptions) => {
      const changedAt = opts.at === undefined ? Date.now() : parseTime(opts.at);
      const waitMs = opts.wait === undefined ? 0 : opts.wait === true ? 30_000 : Number(opts.wait) * 1000;
      if (!Number.isFinite(waitMs) || waitMs < 0) throw new InvalidInputError(`--wait takes a number of seconds, not "${String(opts.wait)}"`);
      await withRuntime(program, async (rt) => {
        const sources = rt.config.systems.filter((s) => s.source !== undefined);
        const sourceSystem = opts.system ?? (sources.length === 1 ? sources[0]?.name : undefined);
        if (sourceSystem === undefined) {
          throw new InvalidInputError(`name the source system with --system (sources: ${sources.map((s) => s.name).join(', ') || 'none configured'})`);
        }
        const secret: Secret = opts.stdin === true ? await readSecretFromStream(process.stdin) : await promptNewSecret();
        let receipt;
        try {
          const request = {
            sourceSystem,
            account: opts.anchor === true ? { anchor: account } : { name: account },
            secret,
            changedAt,
            origin: 'admin',
            actor: `cli:${userInfo().username}`,
          } as const;
          // Checked before anything is committed: a password one target refuses goes nowhere (or, with --partial, where it fits).
          receipt = await submitChange(rt.ctx, await checkChange(rt.ctx, request, { partial: opts.partial === true }));
        } finally {
          secret.dispose();
        }
        const nowhere = whyNoTarget(receipt, sourceSystem);
        const jobs = waitMs > 0 && receipt.jobs.length > 0 ? await waitForOutcomes(rt.store, receipt.changeId, waitMs) : undefined;
        if (opts.json === true) printJson({ ...receipt, outcomes: jobs, ...(nowhere === undefined ? {} : { reachedNoTarget: nowhere }) });
        else {
          say(`change ${receipt.changeId} for person ${receipt.personId || '(not linked)'}: ${receipt.jobs.length} target(s) queued`);
          for (const t of receipt.outOfDate) say(`  not queued for ${t.system}/${t.anchor}: a newer change is applied or pending there (6919)`);
          for (const t of receipt.notEnabled) say(`  not queued for ${t.system}/${t.anchor}: password sync is not enabled there (6921)`);
          for (const t of receipt.withheld) say(`  not sent to ${t.system}/${t.anchor}: ${t.reason} (7016)`);
          if (jobs) printTable(['SYSTEM', 'ACCOUNT', 'STATE', 'DETAIL'], jobs.map((j) => [j.system, j.anchor, j.state.kind, detail(j)]));
          else if (receipt.jobs.length > 0) say('the server delivers them; follow with "pwsync queue --change ' + receipt.changeId + '"');
        }
        if (nowhere !== undefined) {
          sayError(`pwsync change: ${nowhere}`);
          process.exitCode = EXIT.noTarget;
        } else if (jobs?.some((j) => j.state.kind !== 'done')) process.exitCode = EXIT.partial;
      });
    });
}

async function waitForOutcomes(store: { listJobs: (f: { changeId: string; limit: number }) => Promise<readonly Job[]> }, changeId: string, waitMs: number): Promise<readonly Job[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const jobs = await store.listJobs({ changeId, limit: 10_000 });
    const open = jobs.filter((j) => !TERMINAL_STATES.includes(j.state.kind));
    if (open.length === 0 || Date.now() >= deadline) {
      if (open.length > 0) sayError(`still open after ${waitMs / 1000} s (is "pwsync server" running?): ${open.length} job(s); last look ${iso(Date.now())}`);
      return jobs;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
