/*
 * An impostor at a capture socket's path, for the tests that prove a hook gives it nothing: a
 * listener (python3, so that it can bind as root and then drop to another user before listen(),
 * the moment SO_PEERCRED records) that counts connections and keeps every byte it receives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export interface Impostor {
  readonly child: ChildProcess;
  /** How many connections it accepted. */
  connections(): number;
  /** Every byte it was sent. */
  received(): Buffer;
  /** Killed, its socket removed. */
  stop(): Promise<void>;
}

const SCRIPT = [
  'import os, socket, sys',
  'path, log, uid = sys.argv[1], sys.argv[2], sys.argv[3]',
  "conns = open(log + '.connections', 'ab', buffering=0)",
  "data = open(log + '.bytes', 'ab', buffering=0)",
  'if os.path.lexists(path): os.unlink(path)',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
  's.bind(path)',
  'os.chmod(path, 0o777)',
  "if uid != '-': os.setgid(int(uid)); os.setuid(int(uid))",
  's.listen(8)',
  "print('ready', flush=True)",
  'while True:',
  '    c, _ = s.accept()',
  "    conns.write(b'c')",
  '    c.settimeout(3)',
  '    try:',
  '        while True:',
  '            d = c.recv(65536)',
  '            if not d: break',
  '            data.write(d)',
  '    except OSError: pass',
  '    c.close()',
].join('\n');

/**
 * Listens at `socket` as `uid` (undefined: root), recording into `log`.connections and `log`.bytes.
 * Run as root.
 */
export async function startImpostor(socket: string, log: string, uid: number | undefined): Promise<Impostor> {
  writeFileSync(`${log}.connections`, '');
  writeFileSync(`${log}.bytes`, '');
  const child = spawn('/usr/bin/python3', ['-c', SCRIPT, socket, log, uid === undefined ? '-' : String(uid)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the impostor exited (${String(code)})`)));
  });
  return {
    child,
    connections: () => readFileSync(`${log}.connections`).length,
    received: () => readFileSync(`${log}.bytes`),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
      rmSync(socket, { force: true });
    },
  };
}
