import { readdir, readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';

/** Samba's configuration file when `samba` is started without `-s`. */
export const DEFAULT_SMB_CONF = '/etc/samba/smb.conf';

/**
 * The process model (`-M`, `--model`) of the running `samba` that reads `smbConf`, from the
 * processes' command lines; `prefork` (Samba's default) when none is given; undefined when no
 * such command line is found — also when samba runs with a model that renames its processes
 * (prefork and standard write a title over their command line), so only `single` is certain.
 */
export async function runningSambaModel(smbConf: string): Promise<string | undefined> {
  const wanted = resolve(smbConf);
  const pids = (await readdir('/proc').catch(() => [])).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(a) - Number(b));
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const model = modelOf(cmdline.split('\0').filter((a) => a !== ''), wanted);
    if (model !== undefined) return model;
  }
  return undefined;
}

/** The model of one command line when it is a samba reading `wanted`; exported for its test. */
export function modelOf(argv: readonly string[], wanted: string): string | undefined {
  const [program, ...args] = argv;
  if (program === undefined || basename(program) !== 'samba') return undefined;
  const value = (short: string, long: string): string | undefined => {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] ?? '';
      if (arg === short || arg === long) return args[i + 1];
      if (arg.startsWith(`${long}=`)) return arg.slice(long.length + 1);
      if (arg.startsWith(short) && arg.length > short.length && short.length === 2) return arg.slice(2);
    }
    return undefined;
  };
  const conf = value('-s', '--configfile') ?? DEFAULT_SMB_CONF;
  if (resolve(conf) !== wanted) return undefined;
  return value('-M', '--model') ?? 'prefork';
}
