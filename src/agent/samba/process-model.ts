import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findProgram } from '../../util/root-only.ts';

/**
 * Whether the running `samba` that reads `smbConf` uses its single-process model: its master
 * (the pid in `samba.pid` of smb.conf's `pid directory`, read with `testparm`) has no child
 * processes then; prefork and standard fork one per service. Samba writes a title over its command
 * line in every model, so `-M` cannot be read there. Undefined when no running samba is found.
 */
export async function runningSambaModel(smbConf: string): Promise<'single' | 'multi' | undefined> {
  const pidDirectory = await execFileText(findProgram('testparm', 'testparm (package samba-common-bin)'), ['-s', '--parameter-name=pid directory', smbConf]);
  if (pidDirectory === undefined || pidDirectory === '') return undefined;
  const master = Number.parseInt(await readFile(join(pidDirectory, 'samba.pid'), 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(master) || master <= 1 || !(await readFile(`/proc/${master}/stat`, 'utf8').catch(() => undefined))) return undefined;
  for (const pid of (await readdir('/proc').catch(() => [])).filter((name) => /^\d+$/.test(name))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (parentOf(stat) === master) return 'multi';
  }
  return 'single';
}

/** The parent pid in a /proc/PID/stat line (the field after the state, which follows the name in parentheses). */
export function parentOf(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number.parseInt(fields[1] ?? '', 10);
  return Number.isInteger(ppid) ? ppid : undefined;
}

async function execFileText(file: string, args: readonly string[]): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)(file, args, { timeout: 10_000, encoding: 'utf8' });
    return stdout.trim();
  } catch {
    return undefined;
  }
}
