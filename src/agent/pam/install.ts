/*
 * Installing pam_pwsync: the module into libpam's module directory and its line into a PAM stack
 * file, as root, with the checks that keep this from becoming a way to root.
 *
 * A PAM module runs inside passwd (setuid root), login and sshd: whoever can write the module file,
 * the directory it is in, or the stack file that names it, gets root. All of them are therefore
 * refused unless they and every directory above them belong to root and are writable by no one
 * else (util/root-only.ts) — and so is the built module copied in: whoever could swap it before
 * the copy would have their code installed as root's.
 */
import { closeSync, constants, existsSync, fchmodSync, fchownSync, fsyncSync, openSync, readdirSync, realpathSync, statSync, writeSync, type Stats } from 'node:fs';
import { copyFile, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../../core/errors.ts';
import { checkRootOnly } from '../../util/root-only.ts';
import { addPwsyncLines, describeChange, PAM_MODULE_FILE, PamEditError, pamLine, removePwsyncLines, type PamModuleArgs } from './config-edit.ts';

/** The module `make -C native` builds, in this checkout. */
export const BUILT_MODULE = fileURLToPath(new URL('../../../native/build/pam_pwsync.so', import.meta.url));
export const DEFAULT_PAM_FILE = '/etc/pam.d/common-password';

/** Where libpam's modules are: the directory that holds pam_unix.so (per architecture on Debian). */
export function findModuleDir(): string {
  const candidates = new Set<string>();
  for (const root of ['/lib', '/usr/lib', '/lib64', '/usr/lib64']) {
    const dirs = [join(root, 'security')];
    try {
      for (const entry of readdirSync(root, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(join(root, entry.name, 'security'));
    } catch {
      continue;
    }
    for (const dir of dirs) {
      if (existsSync(join(dir, 'pam_unix.so'))) candidates.add(realpathSync(dir));
    }
  }
  const found = [...candidates];
  // Several (a multiarch host): the one beside the libpam that programs load.
  const beside = found.filter((dir) => existsSync(join(dirname(dir), 'libpam.so.0')));
  const pick = found.length === 1 ? found : beside;
  if (pick.length === 1 && pick[0] !== undefined) return pick[0];
  if (found.length === 0) throw new InvalidInputError('no PAM module directory found (no pam_unix.so under /lib or /usr/lib): give --module-dir');
  throw new InvalidInputError(`more than one PAM module directory (${found.join(', ')}): give --module-dir`);
}

/** Writes `data` to `file` through a temporary file in the same directory: all or nothing. */
export async function writeAtomically(file: string, data: string | Buffer, owner: { mode: number; uid: number; gid: number }): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.pwsync-tmp-${String(process.pid)}`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, owner.mode & 0o7777);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  closeSync(fd);
  try {
    await rename(temp, file);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  syncDir(dirname(file));
}

function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A copy beside the file, `<file>.pwsync-backup-<UTC time>`, with its mode and owner. */
async function backUp(file: string, text: string, st: Stats): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('.', '-');
  for (let n = 0; ; n++) {
    const name = `${file}.pwsync-backup-${stamp}${n === 0 ? '' : `-${String(n)}`}`;
    if (existsSync(name)) continue;
    await writeAtomically(name, text, st);
    return name;
  }
}

export interface PamFileChange {
  readonly pamFile: string;
  readonly before: string;
  readonly after: string;
  /** What --dry-run shows. */
  readonly diff: string;
}

export interface InstallOptions extends Omit<PamModuleArgs, 'module'> {
  readonly pamFile: string;
  readonly moduleDir: string;
  readonly force?: boolean | undefined;
  readonly dryRun?: boolean | undefined;
  /** The module to install; default the one built in this checkout. */
  readonly builtModule?: string | undefined;
}

export interface InstallReport extends PamFileChange {
  readonly moduleInstalled: string;
  readonly line: string;
  readonly backup: string | undefined;
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new InvalidInputError(`${what} edits the PAM configuration and must run as root (or use --dry-run)`);
}

async function readPamFile(pamFile: string): Promise<{ text: string; st: Stats }> {
  checkRootOnly(pamFile, 'the PAM file');
  const st = statSync(pamFile);
  if (!st.isFile()) throw new InvalidInputError(`the PAM file ${pamFile} is not a regular file`);
  return { text: await readFile(pamFile, 'utf8'), st };
}

/**
 * Copies the module into the module directory (root:root 0644) and puts its line at the end of
 * the PAM file, replacing an earlier one; backs the file up first. With `dryRun`, only checks and
 * reports what it would do.
 */
export async function installPam(options: InstallOptions): Promise<InstallReport> {
  const built = options.builtModule ?? BUILT_MODULE;
  if (!existsSync(built)) throw new PamEditError('ERR_PAM_MODULE_NOT_BUILT', `the PAM module ${built} is not built: run "make -C native" in the pwsync checkout (npm test builds it too)`);
  if (options.dryRun !== true) requireRoot('install-pam');
  checkRootOnly(built, 'the PAM module to install');
  const moduleDir = resolve(options.moduleDir);
  checkRootOnly(moduleDir, 'the module directory');
  const pamFile = resolve(options.pamFile);
  const { text, st } = await readPamFile(pamFile);
  // libpam finds a bare name in its own directory; anywhere else the line names the full path.
  const libpamDir = safeFindModuleDir();
  const module = libpamDir !== undefined && realpathSync(moduleDir) === libpamDir ? PAM_MODULE_FILE : join(moduleDir, PAM_MODULE_FILE);
  const line = pamLine({ module, socket: options.socket, agentUser: options.agentUser, timeoutMs: options.timeoutMs, source: options.source, missed: options.missed, debug: options.debug });
  const { text: after, changed } = addPwsyncLines(text, line, { force: options.force ?? false });
  const target = join(moduleDir, PAM_MODULE_FILE);
  const report = { pamFile, before: text, after, diff: describeChange(text, after), moduleInstalled: target, line };
  if (options.dryRun === true) return { ...report, backup: undefined };

  // The module first: a line that names a module not there yet would be read by the next passwd.
  const temp = join(moduleDir, `.${PAM_MODULE_FILE}.pwsync-tmp-${String(process.pid)}`);
  await copyFile(built, temp, constants.COPYFILE_EXCL);
  try {
    const fd = openSync(temp, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      fchownSync(fd, 0, 0);
      fchmodSync(fd, 0o644);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await rename(temp, target);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  syncDir(moduleDir);
  if (!changed) return { ...report, backup: undefined };
  const backup = await backUp(pamFile, text, st);
  await writeAtomically(pamFile, after, st);
  return { ...report, backup };
}

function safeFindModuleDir(): string | undefined {
  try {
    return findModuleDir();
  } catch {
    return undefined;
  }
}

export interface UninstallOptions {
  readonly pamFile: string;
  readonly moduleDir: string;
  readonly removeModule?: boolean | undefined;
  readonly dryRun?: boolean | undefined;
}

export interface UninstallReport extends PamFileChange {
  readonly removedLines: number;
  readonly backup: string | undefined;
  /** The module file removed (or that would be), when asked to. */
  readonly moduleRemoved: string | undefined;
}

/** Takes pwsync's lines out of the PAM file (a backup first) and, if asked, the module file. */
export async function uninstallPam(options: UninstallOptions): Promise<UninstallReport> {
  if (options.dryRun !== true) requireRoot('uninstall-pam');
  const pamFile = resolve(options.pamFile);
  const { text, st } = await readPamFile(pamFile);
  const { text: after, removed } = removePwsyncLines(text);
  let moduleRemoved: string | undefined;
  if (options.removeModule === true) {
    const moduleDir = resolve(options.moduleDir);
    checkRootOnly(moduleDir, 'the module directory');
    const users = await otherUsers(pamFile);
    if (namesModule(after)) users.unshift(`${pamFile} (a line "install-pam" did not write)`);
    if (users.length > 0) throw new PamEditError('ERR_PAM_MODULE_IN_USE', `not removing ${PAM_MODULE_FILE}: ${users.join(', ')} still use${users.length === 1 ? 's' : ''} it`);
    const target = join(moduleDir, PAM_MODULE_FILE);
    if (existsSync(target)) moduleRemoved = target;
  }
  const report = { pamFile, before: text, after, diff: describeChange(text, after), removedLines: removed, moduleRemoved };
  if (options.dryRun === true) return { ...report, backup: undefined };
  let backup: string | undefined;
  if (removed > 0) {
    backup = await backUp(pamFile, text, st);
    await writeAtomically(pamFile, after, st);
  }
  if (moduleRemoved !== undefined) {
    await unlink(moduleRemoved);
    syncDir(dirname(moduleRemoved));
  }
  return { ...report, backup };
}

/** The other PAM files (in the same directory) with a line that names pam_pwsync. */
async function otherUsers(pamFile: string): Promise<string[]> {
  const dir = dirname(pamFile);
  const users: string[] = [];
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    if (file === pamFile || name.includes('.pwsync-backup-') || name.startsWith('.')) continue;
    let text: string;
    try {
      if (!statSync(file).isFile()) continue;
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    if (namesModule(text)) users.push(file);
  }
  return users;
}

function namesModule(text: string): boolean {
  return text.split('\n').some((l) => !l.trim().startsWith('#') && l.includes(PAM_MODULE_FILE));
}
