import type { Command } from 'commander';
import { loadAgentConfig, agentConfigPath } from '../../agent/config.ts';
import { sendCapture } from '../../agent/capture/client.ts';
import { InvalidInputError, TransientError } from '../../core/errors.ts';
import { parseTime } from '../options.ts';
import { readSecretFromStream } from '../read-secret.ts';
import { say } from '../output.ts';

/**
 * `pwsync capture`: the thinnest capture hook, for scripts and for hooks that can run a command
 * (PAM and Samba have ready-made hooks: docs/sources/). It speaks the capture socket's protocol,
 * which any hook may speak itself (docs/agent.md).
 */
export function registerCapture(program: Command): void {
  program
    .command('capture')
    .description("hand one password change to the local agent (password on standard input's first line); exits 0 once it is queued")
    .requiredOption('--account <name>', 'the account whose password changed, as the source names it')
    .option('--source <system>', "the source system (default: the agent's first)")
    .option('--changed-at <time>', 'when it changed (ISO 8601); default now')
    .option('--socket <path>', "the agent's capture socket (default: from the agent's configuration)")
    .action(async (opts: { account: string; source?: string; changedAt?: string; socket?: string }) => {
      const socket = opts.socket ?? (await loadAgentConfig(agentConfigPath(program.opts<{ config?: string }>().config))).socketPath;
      const changedAt = opts.changedAt === undefined ? undefined : parseTime(opts.changedAt);
      // Set at the source already: forwarded as its bytes, UTF-8 or not.
      const secret = await readSecretFromStream(process.stdin, 'any');
      try {
        const answer = await sendCapture(socket, { account: opts.account, ...(opts.source ? { source: opts.source } : {}), ...(changedAt ? { changedAt } : {}), secret });
        if (!answer.ok) {
          if (answer.error === 'queue-full' || answer.error === 'unavailable') throw new TransientError(`the agent refused the change: ${answer.message}`);
          throw new InvalidInputError(`the agent refused the change: ${answer.message}`);
        }
        say(answer.status === 'queued' ? `queued ${answer.id}` : `out of scope: ${answer.reason}`);
      } finally {
        secret.dispose();
      }
    });
}
