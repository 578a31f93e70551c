/*
 * Files that root runs, loads or installs must be root's alone. Whoever can write such a file, or
 * any directory above it (and so replace the file), can make root run their code: a PAM module that
 * passwd loads, the Samba hook and the samba-tool wrapper the agent runs, the core-dump helper the
 * server and the agent load, a program found on PATH. The one check for all of them is here.
 */
import { accessSync, closeSync, constants, lstatSync, openSync, readFileSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { InvalidInputError, NotRootOnlyError } from '../core/errors.ts';

/** Whether this process runs as root (and so must not run what others can write). */
export function runningAsRoot(): boolean {
  return process.geteuid?.() === 0;
}

/**
 * Refuses `path` unless it and every directory above it belong to root and can be written by
 * neither group nor others: both the directories as named (a writable one could swap a symbolic
 * link in it) and those of the file the links lead to (what is really opened).
 */
export function checkRootOnly(path: string, what: string): void {
  const named = resolve(path);
  let real: string;
  try {
    real = realpathSync(named);
  } catch (e) {
    throw new InvalidInputError(`${what} ${path} cannot be used: ${e instanceof Error ? e.message : 'not found'}`);
  }
  for (let p = dirname(named); ; p = dirname(p)) {
    check(p, lstatSync(p), path, what);
    if (p === dirname(p)) break;
  }
  for (let p = real; ; p = dirname(p)) {
    check(p, statSync(p), path, what);
    if (p === dirname(p)) break;
  }
}

/** `checkRootOnly`, when this process runs as root; as any other user it runs nothing with more rights than its own. */
export function checkRootOnlyWhenRoot(path: string, what: string): void {
  if (runningAsRoot()) checkRootOnly(path, what);
}

function check(p: string, st: Stats, path: string, what: string): void {
  // A symbolic link's own mode means nothing; what counts is its directory and its target.
  if (st.isSymbolicLink()) return;
  const subject = p === path ? path : `${path}: ${p}`;
  if (st.uid !== 0) {
    throw new NotRootOnlyError(`${what} ${subject} is owned by ${userName(st.uid)}, not root: that user could make root run their code. Refusing (chown root it, and each directory above it)`);
  }
  if ((st.mode & 0o022) !== 0) {
    const who = [(st.mode & 0o020) !== 0 ? `its group ${groupName(st.gid)}` : '', (st.mode & 0o002) !== 0 ? 'everyone' : ''].filter((w) => w !== '').join(' and ');
    throw new NotRootOnlyError(`${what} ${subject} is writable by ${who} (mode ${(st.mode & 0o7777).toString(8)}): they could make root run their code. Refusing (chmod go-w it)`);
  }
}

function userName(uid: number): string {
  const name = nameIn('/etc/passwd', uid);
  return name === undefined ? `uid ${String(uid)}` : `uid ${String(uid)} (${name})`;
}

function groupName(gid: number): string {
  const name = nameIn('/etc/group', gid);
  return name === undefined ? `gid ${String(gid)}` : `${name} (gid ${String(gid)})`;
}

/** The name of an id in a passwd or group file; only for messages (names from NSS elsewhere show as numbers). */
function nameIn(file: string, id: number): string | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[2] === String(id)) return fields[0];
    }
  } catch { /* a number is enough */ }
  return undefined;
}

/**
 * The program root would run for `command`: an absolute path as it is, a bare name found on `PATH`
 * (as execvp finds it; sbin added, where Debian keeps samba-tool's peers). Running as root, the
 * program, the interpreter its `#!` line names, and the directories above each are checked with
 * `checkRootOnly`. Run the returned path, never the name: a directory on `PATH` that others can
 * write then cannot slip a program in later.
 */
export function findProgram(command: string, what: string, path: string = process.env['PATH'] ?? '/usr/bin:/bin'): string {
  let found: string | undefined;
  if (command.includes('/')) {
    found = resolve(command);
    if (!executable(found)) throw new InvalidInputError(`${what} ${command} is not an executable file`);
  } else {
    const dirs = [...path.split(delimiter), '/usr/sbin', '/sbin'].filter((d) => isAbsolute(d));
    found = dirs.map((d) => join(d, command)).find(executable);
    if (found === undefined) throw new InvalidInputError(`${what}: ${command} is not found on PATH (${dirs.join(':')})`);
  }
  if (runningAsRoot()) {
    checkRootOnly(found, what);
    const interpreter = interpreterOf(found);
    if (interpreter !== undefined) checkRootOnly(interpreter, `the interpreter of ${what} ${found} (its #! line)`);
  }
  return found;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The program a `#!` line names (`/usr/bin/env NAME`: NAME on PATH), or undefined for a binary. */
function interpreterOf(file: string): string | undefined {
  const head = Buffer.alloc(256);
  const fd = openSync(file, constants.O_RDONLY);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const text = head.subarray(0, n).toString('latin1');
  if (!text.startsWith('#!')) return undefined;
  const [program, argument] = text.slice(2).split('\n')[0]?.trim().split(/[ \t]+/) ?? [];
  if (program === undefined || program === '') return undefined;
  if (/\/env$/.test(program) && argument !== undefined && !argument.startsWith('-')) {
    checkRootOnly(program, `the interpreter of ${file} (its #! line)`);
    return findProgram(argument, `the interpreter of ${file} (its #! line)`);
  }
  return program;
}

