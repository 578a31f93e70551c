/*
 * The server and the agent hold passwords in memory: a core dump (a crash, a SIGQUIT, an
 * administrator's gcore) would write them to disk, and a process that stays dumpable can be read
 * through ptrace or /proc/PID/mem by any process of its user. Node has no prctl, so the native
 * helper built from native/no-dump.c does it: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0. Where it is not
 * built (a fresh machine without gcc) `prlimit --core=0:0` sets the limit alone, and the result
 * says so, for the log.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkRootOnlyWhenRoot, findProgram } from './root-only.ts';

/** Where `make -C native` puts the helper, in this checkout. */
export const NO_DUMP_ADDON = fileURLToPath(new URL('../../native/build/pwsync-no-dump.node', import.meta.url));

export interface CoreDumpProtection {
  /** `prctl`: the native helper, limit and flag; `prlimit`: the limit alone; `none`: neither held. */
  readonly method: 'prctl' | 'prlimit' | 'none';
  /** The core file size limit in force afterwards, soft and hard (`/proc/self/limits`), e.g. `0/0`. */
  readonly coreLimit: string | undefined;
  /** Whether the process is still dumpable (readable by its user's processes); undefined when unknown (no helper to ask). */
  readonly dumpable: boolean | undefined;
  /** Why the native helper was not used, when it was not (not built, refused, failed). */
  readonly helperUnused: string | undefined;
  /** Why prlimit did not help, when it was tried and failed. */
  readonly prlimitFailed: string | undefined;
}

interface NoDumpHelper {
  protect(): { core: number; dumpable: number };
  dumpable(): number;
}

/**
 * Switches core dumps off for this process (and, through the limit, its children) and makes it
 * non-dumpable. Never throws: what it could not do is in the result, for the caller to log.
 */
export function preventCoreDumps(options: { helper?: string } = {}): CoreDumpProtection {
  const helperFile = options.helper ?? NO_DUMP_ADDON;
  let helper: NoDumpHelper | string;
  try {
    helper = loadHelper(helperFile);
  } catch (e) {
    helper = describe(e);
  }
  if (typeof helper !== 'string') {
    const result = helper.protect();
    if (result.core === 0 && result.dumpable === 0) {
      return { method: 'prctl', coreLimit: coreLimit(), dumpable: helper.dumpable() !== 0, helperUnused: undefined, prlimitFailed: undefined };
    }
    helper = `${helperFile} failed (setrlimit errno ${String(result.core)}, prctl errno ${String(result.dumpable)})`;
  }
  try {
    const prlimit = findProgram('prlimit', 'prlimit (package util-linux)', '/usr/bin:/bin');
    execFileSync(prlimit, ['--pid', String(process.pid), '--core=0:0'], { stdio: 'ignore', timeout: 10_000 });
    return { method: 'prlimit', coreLimit: coreLimit(), dumpable: undefined, helperUnused: helper, prlimitFailed: undefined };
  } catch (e) {
    return { method: 'none', coreLimit: coreLimit(), dumpable: undefined, helperUnused: helper, prlimitFailed: describe(e) };
  }
}

/** The helper's functions; throws when it is not built, not root's alone (as root), or not ours. */
function loadHelper(file: string): NoDumpHelper {
  if (!existsSync(file)) throw new Error(`${file} is not built (make -C native; needs gcc and Node's headers)`);
  // Loading it runs its code in this process: as root, only when no one else can write it.
  checkRootOnlyWhenRoot(file, 'the core-dump helper');
  const module: { exports: unknown } = { exports: {} };
  process.dlopen(module, file);
  const { exports } = module;
  if (typeof exports !== 'object' || exports === null || !('protect' in exports) || !('dumpable' in exports)) throw new Error(`${file} is not pwsync's core-dump helper`);
  const { protect, dumpable } = exports;
  if (!isCallable(protect) || !isCallable(dumpable)) throw new Error(`${file} is not pwsync's core-dump helper`);
  return {
    protect: () => {
      const r: unknown = protect();
      if (typeof r !== 'object' || r === null || !('core' in r) || !('dumpable' in r) || typeof r.core !== 'number' || typeof r.dumpable !== 'number') throw new Error(`${file} answered something else`);
      return { core: r.core, dumpable: r.dumpable };
    },
    dumpable: () => {
      const d: unknown = dumpable();
      return typeof d === 'number' ? d : 1;
    },
  };
}

function isCallable(v: unknown): v is () => unknown {
  return typeof v === 'function';
}

/** `soft/hard` of "Max core file size" in /proc/self/limits. */
function coreLimit(): string | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max core file size'));
    const [soft, hard] = line?.slice('Max core file size'.length).trim().split(/\s+/) ?? [];
    return soft === undefined || hard === undefined ? undefined : `${soft}/${hard}`;
  } catch {
    return undefined;
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
