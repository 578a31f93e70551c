import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PWSYNC = fileURLToPath(new URL('../../bin/pwsync.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `pwsync ARGS` to completion, feeding `input` on standard input. */
export function runCli(args: readonly string[], options: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PWSYNC, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running `pwsync` process (the server) whose output is collected until it stops. */
export class CliProcess {
  readonly child: ChildProcess;
  #out: Buffer[] = [];
  #exited: Promise<number | null>;

  constructor(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(process.execPath, [PWSYNC, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (b: Buffer) => this.#out.push(b));
    this.child.stderr?.on('data', (b: Buffer) => this.#out.push(b));
    this.#exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get output(): string {
    return Buffer.concat(this.#out).toString('utf8');
  }

  get outputBytes(): Buffer {
    return Buffer.concat(this.#out);
  }

  /** Waits until the output contains `text`. */
  async waitFor(text: string | RegExp, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    const found = (): boolean => (typeof text === 'string' ? this.output.includes(text) : text.test(this.output));
    while (!found()) {
      if (this.child.exitCode !== null) throw new Error(`process exited (${this.child.exitCode}) before printing ${String(text)}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(text)}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits until the process exits by itself; its exit code. */
  wait(): Promise<number | null> {
    return this.#exited;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.#exited;
  }
}
