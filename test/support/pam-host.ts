/*
 * The PAM and users of a test's private host (test/support/private-host.ts: copies of /etc and
 * libpam's module directory in a mount namespace of the test's own; it refuses to work anywhere
 * else), given back in every exit path of a run that ends normally, so that a test can check what
 * it left: the PAM file's bytes, the module directory, throwaway users and groups, and the `-`
 * backups that useradd and userdel rewrite (`/etc/passwd-` …). The host's own files are never
 * touched, even by a run killed with SIGKILL, when none of this runs. Everything here is
 * synchronous so that it can run from a process 'exit' handler and from SIGINT/SIGTERM handlers as
 * well as from `after`.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { insidePrivateHost } from './private-host.ts';

export const PAM_FILE = '/etc/pam.d/common-password';
const SHADOW_BACKUPS = ['/etc/passwd-', '/etc/shadow-', '/etc/group-', '/etc/gshadow-', '/etc/subuid-', '/etc/subgid-'];
const ACCOUNT_FILES = ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow'];

interface Saved {
  readonly data: Buffer;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

function save(path: string): Saved | null {
  if (!existsSync(path)) return null;
  const st = statSync(path);
  return { data: readFileSync(path), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** Puts `saved` back at `path` (temporary file and rename), or removes the path when it was absent. */
function put(path: string, saved: Saved | null): void {
  if (saved === null) {
    if (existsSync(path)) unlinkSync(path);
    return;
  }
  const current = existsSync(path) ? readFileSync(path) : undefined;
  if (current?.equals(saved.data) === true) return;
  const temp = `${path}.pwsync-test-restore`;
  writeFileSync(temp, saved.data, { mode: 0o600 });
  chownSync(temp, saved.uid, saved.gid);
  chmodSync(temp, saved.mode);
  renameSync(temp, path);
}

export function run(file: string, args: readonly string[], input?: string | Buffer): SpawnSyncReturns<Buffer> {
  return spawnSync(file, args, { input: input ?? '', timeout: 30_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
}

function must(r: SpawnSyncReturns<Buffer>, what: string): void {
  if (r.status !== 0) throw new Error(`${what} failed (${String(r.status ?? r.signal)}): ${r.stderr.toString()}`);
}

/** Blocks until process `pid` is dead (gone, or a zombie not yet reaped), at most 5 s. */
function waitGone(pid: number): void {
  const deadline = Date.now() + 5000;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1]?.[0];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    Atomics.wait(sleeper, 0, 0, 20);
  }
}

export class PamHost {
  /** `pwst` + random hex: the prefix of every user and group this test makes. */
  readonly prefix = `pwst${randomBytes(3).toString('hex')}`;
  readonly #pam: Saved;
  readonly #pamDirEntries: Set<string>;
  readonly #backups = new Map<string, Saved | null>();
  readonly #moduleFile: string;
  readonly #module: Saved | null;
  readonly #users: string[] = [];
  readonly #groups: string[] = [];
  readonly #children = new Set<ChildProcess>();
  readonly #dirs: string[] = [];
  #syslogPath: string | undefined;
  #restored = false;
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#restoreReporting();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  readonly #onExit = (): void => this.#restoreReporting();

  #restoreReporting(): void {
    try {
      this.restore();
    } catch (e) {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  constructor(moduleDir: string) {
    if (!insidePrivateHost()) throw new Error('PamHost changes /etc and libpam\'s module directory: only in a private host (call runInPrivateHost first)');
    const pam = save(PAM_FILE);
    if (pam === null) throw new Error(`${PAM_FILE} does not exist`);
    this.#pam = pam;
    this.#pamDirEntries = new Set(readdirSync('/etc/pam.d'));
    for (const f of SHADOW_BACKUPS) this.#backups.set(f, save(f));
    this.#moduleFile = join(moduleDir, 'pam_pwsync.so');
    this.#module = save(this.#moduleFile);
    process.on('exit', this.#onExit);
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  /** A group of this host (`groupadd`), removed at the end. */
  group(suffix: string): string {
    const name = `${this.prefix}${suffix}`;
    this.#groups.push(name);
    must(run('groupadd', ['--', name]), `groupadd ${name}`);
    return name;
  }

  /** A user of this host without a home or subordinate ids, in `groups`, removed at the end. */
  user(suffix: string, groups: readonly string[] = []): string {
    const name = `${this.prefix}${suffix}`;
    this.#users.push(name);
    const extra = groups.length > 0 ? ['-G', groups.join(',')] : [];
    must(run('useradd', ['-M', '-s', '/usr/sbin/nologin', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', ...extra, '--', name]), `useradd ${name}`);
    return name;
  }

  /** A directory to remove when the test ends, however it ends. */
  removeLater(dir: string): void {
    this.#dirs.push(dir);
  }

  /** A process to kill when the test ends, however it ends. */
  track(child: ChildProcess): void {
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
  }

  /**
   * A listener on /dev/log that appends every syslog datagram to `file`, when this host has no
   * syslog of its own (a container); undefined when /dev/log exists (its lines go there).
   */
  async listenSyslog(file: string): Promise<boolean> {
    if (existsSync('/dev/log')) return false;
    const script = [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      "s.bind('/dev/log')",
      "print('ready', flush=True)",
      "out = open(sys.argv[1], 'ab', buffering=0)",
      'while True:',
      "    out.write(s.recv(65536) + b'\\n')",
    ].join('\n');
    const child = spawn('/usr/bin/python3', ['-c', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.track(child);
    this.#syslogPath = '/dev/log';
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the syslog listener exited (${String(code)})`)));
    });
    return true;
  }

  /** The PAM file as it was before the test. */
  get originalPam(): Buffer {
    return this.#pam.data;
  }

  /** Gives everything back; safe to call more than once. */
  restore(): void {
    if (this.#restored) return;
    this.#restored = true;
    // Killed and gone before anything is restored: a pwsync install-pam still running would
    // otherwise write the PAM file after it was given back.
    for (const child of this.#children) child.kill('SIGKILL');
    for (const child of this.#children) if (child.pid !== undefined) waitGone(child.pid);
    if (this.#syslogPath !== undefined && existsSync(this.#syslogPath)) unlinkSync(this.#syslogPath);
    const problems: string[] = [];
    const attempt = (what: string, fn: () => void): void => {
      try {
        fn();
      } catch (e) {
        problems.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    attempt(PAM_FILE, () => put(PAM_FILE, this.#pam));
    for (const name of readdirSync('/etc/pam.d')) {
      if (!this.#pamDirEntries.has(name) && (name.includes('.pwsync-backup-') || name.includes('pwsync-tmp'))) attempt(name, () => unlinkSync(join('/etc/pam.d', name)));
    }
    attempt(this.#moduleFile, () => put(this.#moduleFile, this.#module));
    for (const user of this.#users) {
      run('userdel', ['--', user]);
      if (existsSync(`/var/mail/${user}`)) attempt(user, () => unlinkSync(`/var/mail/${user}`));
    }
    for (const group of this.#groups) run('groupdel', ['--', group]);
    for (const [file, saved] of this.#backups) attempt(file, () => put(file, saved));
    for (const dir of this.#dirs) attempt(dir, () => rmSync(dir, { recursive: true, force: true }));
    for (const file of ACCOUNT_FILES) {
      if (readFileSync(file, 'utf8').split('\n').some((l) => l.startsWith(this.prefix))) problems.push(`${file} still has an entry ${this.prefix}…`);
    }
    process.off('exit', this.#onExit);
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
    if (problems.length > 0) throw new Error(`restoring the host: ${problems.join('; ')}`);
  }
}
