import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadAgentConfig, type AgentConfig } from '../../agent/config.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { say } from '../output.ts';

/**
 * `pwsync agent install-pam` and `uninstall-pam`: pam_pwsync into libpam's module directory and its
 * line at the end of a PAM password stack (docs/sources/linux-pam.md).
 */
export function registerAgentPam(agent: Command, configFile: () => string, configGiven: () => boolean): void {
  agent
    .command('install-pam')
    .description('install the PAM capture module (pam_pwsync) and add it at the end of a PAM password stack; run as root; again to change its arguments')
    .option('--pam-file <file>', 'the PAM stack file to edit', '/etc/pam.d/common-password')
    .option('--socket <path>', "the agent's capture socket (default: the agent configuration's, else the module's default)")
    .option('--agent-user <name>', "the agent's user: the module gives a password only to a socket this user or root listens at (default: the owner of the socket's directory)")
    .option('--timeout <ms>', 'how long a password change may wait for the agent, 100 to 10000 ms', '2000')
    .option('--source <system>', "the source system the changes belong to (default: the agent's first)")
    .option('--missed <path>', "where the module records changes it could not hand over (default: the agent configuration's capture.pam.missedFile, else the module's default)")
    .option('--module-dir <dir>', "libpam's module directory (default: the one that holds pam_unix.so)")
    .option('--debug', "the module's debug argument: one more syslog line per change (never a password)")
    .option('--force', 'edit a file that has no password line, or has a pam_pwsync line added by hand')
    .option('--dry-run', 'check and show what would change; change nothing')
    .action(async (opts: { pamFile: string; socket?: string; agentUser?: string; timeout: string; source?: string; missed?: string; moduleDir?: string; debug?: boolean; force?: boolean; dryRun?: boolean }) => {
      const { findModuleDir, installPam } = await import('../../agent/pam/install.ts');
      const config = await agentConfigIfAny(configFile(), configGiven());
      const timeoutMs = Number(opts.timeout);
      if (!/^\d+$/.test(opts.timeout) || timeoutMs < 100 || timeoutMs > 10_000) throw new InvalidInputError(`--timeout must be whole milliseconds from 100 to 10000, not "${opts.timeout}"`);
      const socket = opts.socket === undefined ? config?.socketPath : resolve(opts.socket);
      const missed = opts.missed === undefined ? config?.pamMissedFile : resolve(opts.missed);
      const agentUser = opts.agentUser ?? ownerOfDirectory(socket ?? DEFAULT_SOCKET);
      if (opts.source !== undefined && config !== undefined && !config.sources.includes(opts.source)) {
        throw new InvalidInputError(`--source ${opts.source}: the agent captures for ${config.sources.join(', ')}`);
      }
      const report = await installPam({
        pamFile: opts.pamFile,
        moduleDir: opts.moduleDir ?? findModuleDir(),
        socket,
        agentUser,
        timeoutMs,
        source: opts.source,
        missed,
        debug: opts.debug,
        force: opts.force,
        dryRun: opts.dryRun,
      });
      const verb = opts.dryRun === true ? 'would ' : '';
      say(`${verb}${opts.dryRun === true ? 'install' : 'installed'} ${report.moduleInstalled} (root:root 0644)`);
      if (report.diff === '') {
        say(`${report.pamFile} already has the line; ${verb}leave it as it is`);
      } else {
        if (report.backup !== undefined) say(`backed up ${report.pamFile} to ${report.backup}`);
        say(`${opts.dryRun === true ? 'would change' : 'changed'} ${report.pamFile}:`, ...report.diff.split('\n'));
      }
      if (agentUser === undefined) {
        say(`note: the agent's user is not known (no --agent-user, and ${dirname(socket ?? DEFAULT_SOCKET)} does not exist yet): the module takes the owner of the socket's directory, and only when that directory's parent is root's alone`);
      }
      if (config !== undefined && config.pamMissedFile === undefined) {
        say(`note: the agent reports changes the module could not hand over only with capture.pam.missedFile set in ${config.file}`);
      }
    });

  agent
    .command('uninstall-pam')
    .description('take the lines "install-pam" added out of the PAM file (and the module, with --remove-module); run as root')
    .option('--pam-file <file>', 'the PAM stack file to edit', '/etc/pam.d/common-password')
    .option('--module-dir <dir>', "libpam's module directory (default: the one that holds pam_unix.so)")
    .option('--remove-module', 'also delete pam_pwsync.so from the module directory (refused while another PAM file names it)')
    .option('--dry-run', 'check and show what would change; change nothing')
    .action(async (opts: { pamFile: string; moduleDir?: string; removeModule?: boolean; dryRun?: boolean }) => {
      const { findModuleDir, uninstallPam } = await import('../../agent/pam/install.ts');
      const report = await uninstallPam({
        pamFile: opts.pamFile,
        moduleDir: opts.moduleDir ?? (opts.removeModule === true ? findModuleDir() : '/'),
        removeModule: opts.removeModule,
        dryRun: opts.dryRun,
      });
      const would = opts.dryRun === true;
      if (report.removedLines === 0) say(`${report.pamFile} has no line of pwsync's; ${would ? 'would leave' : 'left'} it as it is`);
      else {
        if (report.backup !== undefined) say(`backed up ${report.pamFile} to ${report.backup}`);
        say(`${would ? 'would change' : 'changed'} ${report.pamFile}:`, ...report.diff.split('\n'));
      }
      if (report.moduleRemoved !== undefined) say(`${would ? 'would remove' : 'removed'} ${report.moduleRemoved}`);
    });
}

/** The module's default socket (native/pam-pwsync.c, DEFAULT_SOCKET). */
const DEFAULT_SOCKET = '/var/lib/pwsync-agent/capture.sock';

/** The name of the user who owns the socket's directory (the agent made it), when it exists. */
function ownerOfDirectory(socket: string): string | undefined {
  let uid: number;
  try {
    uid = statSync(dirname(socket)).uid;
  } catch {
    return undefined;
  }
  const entry = spawnSync('getent', ['passwd', String(uid)], { encoding: 'utf8' });
  const name = entry.status === 0 ? entry.stdout.split(':')[0] : undefined;
  if (name === undefined || name === '') throw new InvalidInputError(`the socket's directory ${dirname(socket)} belongs to uid ${String(uid)}, which has no name here: give --agent-user`);
  return name;
}

/**
 * The agent's configuration when there is one: given (--config, $PWSYNC_AGENT_CONFIG) it must
 * load; the implicit ./pwsync-agent.yaml is used only when it exists.
 */
async function agentConfigIfAny(file: string, given: boolean): Promise<AgentConfig | undefined> {
  if (!given && !existsSync(file)) return undefined;
  return loadAgentConfig(file);
}
