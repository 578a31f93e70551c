import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, InvalidInputError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import { pathExists } from '../../util/files.ts';
import { findProgram } from '../../util/root-only.ts';
import type { AgentStore } from '../queue/index.ts';
import type { SambaCapture } from './capture.ts';
import type { SambaCaptureConfig } from './config.ts';
import { runningSambaModel } from './process-model.ts';
import { EVENT } from '../../core/events.ts';

/**
 * What syncpasswords is asked for, fixed in its cursor: the account, its ids, its change time and
 * key version, and the password as Samba keeps it, encrypted to its GPG key, with the NT hash it is
 * checked against. The agent decrypts (gpg.ts): asking syncpasswords to (`--decrypt-samba-gpg`)
 * costs a gpg process per account, about 60 ms, one account after the other.
 */
export const SYNC_ATTRIBUTES = ['objectGUID', 'sAMAccountName', 'userPrincipalName', 'pwdLastSet', 'msDS-KeyVersionNumber', 'userAccountControl', 'virtualSambaGPG', 'unicodePwd'];

const MAX_RESTART_DELAY_MS = 60_000;
/** A run this long resets the restart delay: it was working. */
const HEALTHY_RUN_MS = 60_000;
/**
 * syncpasswords blocked in its notification wait does not act on SIGTERM; it is killed after this.
 * That is safe: it updates its cursor in one ldb transaction per account handed over.
 */
const STOP_GRACE_MS = 2000;
const TAIL_LINES = 30;

/** Kept beside the cursor: when it was made, and whether its first pass (over every account) finished. */
interface CursorState {
  readonly createdAt: number;
  readonly firstPassDone: boolean;
}

export interface SambaSupervisorOptions {
  readonly config: SambaCaptureConfig;
  readonly socketPath: string;
  readonly capture: Pick<SambaCapture, 'beginFirstPass' | 'endFirstPass'>;
  readonly store: Pick<AgentStore, 'appendEvents'>;
  readonly log: Logger;
  readonly now: () => number;
}

/**
 * Runs `samba-tool user syncpasswords` for the agent and keeps it running: creates its cursor the
 * first time (its first pass reports every account; see SambaCapture), starts its loop, and when
 * it stops (its hook failed because the agent could not take a change, the directory went away,
 * it crashed) starts it again after a delay, from its cursor, so nothing it had not handed over is
 * lost. It dies with the agent (parent-death signal), and one left by an agent that was killed is
 * stopped before a new one starts.
 */
export class SambaSupervisor {
  readonly #o: SambaSupervisorOptions;
  #child: ChildProcess | undefined;
  #stopping = false;
  #running: Promise<void> | undefined;
  #resume: (() => void) | undefined;
  /** How the running syncpasswords waits for changes (PWSYNC_SAMBA_WAKE). */
  #wake: 'notify' | 'poll' | 'samba' = 'poll';
  #starts = 0;
  /** setpriv and syncpasswords' command, as found at start (absolute, checked root-only when root). */
  #programs: { readonly setpriv: string; readonly command: string } | undefined;

  constructor(options: SambaSupervisorOptions) {
    this.#o = options;
  }

  /** How many times syncpasswords' loop was started (for status and tests). */
  get starts(): number {
    return this.#starts;
  }

  /** Checks what syncpasswords needs, creates the cursor when there is none, then supervises in the background. */
  async start(): Promise<void> {
    const { config } = this.#o;
    if (!(await pathExists(config.smbConf))) throw new ConfigError(`capture.samba.smbConf: ${config.smbConf} does not exist`);
    // All three run as root on a DC: each must be root's alone, with every directory above it
    // (util/root-only.ts), and is run by the path found here, never looked up again.
    try {
      findProgram(config.hook, 'capture.samba.hook');
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      throw new ConfigError(`capture.samba.hook: ${config.hook} is not an executable file; build it with "make -C native" in the pwsync directory (needs gcc)`, [], { cause: e });
    }
    const [command] = config.command;
    if (command === undefined) throw new ConfigError('capture.samba.command is empty');
    this.#programs = { setpriv: findProgram('setpriv', 'setpriv (util-linux)'), command: findProgram(command, 'capture.samba.command') };
    this.#running = this.#supervise();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#resume?.();
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      const grace = sleep(STOP_GRACE_MS).then(() => 'late' as const);
      if ((await Promise.race([exited, grace])) === 'late') child.kill('SIGKILL');
    }
    await this.#running;
  }

  #stopRequested(): boolean {
    return this.#stopping;
  }

  async #supervise(): Promise<void> {
    const { log, store, config } = this.#o;
    let delay = config.restartDelay;
    while (!this.#stopping) {
      const started = this.#o.now();
      let outcome: RunOutcome;
      try {
        outcome = await this.#runOnce();
      } catch (e) {
        outcome = { code: null, signal: null, tail: [e instanceof Error ? e.message : String(e)] };
      }
      // Read again: stop() may have been called while it ran.
      if (this.#stopRequested()) break;
      const ranFor = this.#o.now() - started;
      if (ranFor >= HEALTHY_RUN_MS) delay = config.restartDelay;
      const why = describeExit(outcome);
      log.warn({ exitCode: outcome.code, signal: outcome.signal, ranForMs: ranFor, restartInMs: delay, tail: outcome.tail.slice(-5) }, 'syncpasswords stopped; starting it again from its cursor');
      await store.appendEvents([{ code: EVENT.CAPTURE_FEED_RESTARTED, system: config.source, message: `samba-tool user syncpasswords stopped (${why}); started again in ${Math.round(delay / 100) / 10} s from its cursor` }]);
      await new Promise<void>((resume) => {
        this.#resume = resume;
        setTimeout(resume, delay).unref();
      });
      this.#resume = undefined;
      delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
    }
  }

  /** Creates the cursor or finishes its first pass when needed, then runs the loop until it exits. */
  async #runOnce(): Promise<RunOutcome> {
    const { config, capture, log } = this.#o;
    await this.#stopOrphan();
    let state = await this.#readState();
    if (state === undefined) {
      const createdAt = this.#o.now();
      if (await pathExists(config.cursor)) {
        throw new ConfigError(`${config.cursor} exists but ${stateFile(config.cursor)} does not: it is not a cursor this agent made. Move it away to start capture afresh`);
      }
      const filter = config.filter === undefined ? [] : [`--filter=${config.filter}`];
      const init = await this.#run(['--cache-ldb-initialize', `--script=${config.hook}`, `--attributes=${SYNC_ATTRIBUTES.join(',')}`, ...filter]);
      if (init.code !== 0) throw new Error(`creating the syncpasswords cursor failed (${describeExit(init)}): ${init.tail.slice(-3).join(' | ')}`);
      state = { createdAt, firstPassDone: false };
      await this.#writeState(state);
      log.info({ cursor: config.cursor }, 'syncpasswords cursor created');
    }
    if (!state.firstPassDone) {
      // Every account is reported once; passwords set before the cursor was made are not changes.
      capture.beginFirstPass(state.createdAt);
      try {
        const pass = await this.#run(['--no-wait']);
        if (pass.code !== 0) return pass;
      } finally {
        capture.endFirstPass();
      }
      state = { ...state, firstPassDone: true };
      await this.#writeState(state);
      log.info('syncpasswords first pass done; capturing changes');
    }
    this.#wake = await this.#chooseWake();
    this.#starts++;
    return this.#run([]);
  }

  /** `auto`: Samba's notification answers at once only in its single-process model. */
  async #chooseWake(): Promise<'notify' | 'poll' | 'samba'> {
    const { config, log } = this.#o;
    if (config.wake !== 'auto') return config.wake;
    const model = await runningSambaModel(config.smbConf);
    const wake = model === 'single' ? 'notify' : 'poll';
    log.info({ sambaModel: model ?? 'samba not found running', wake, pollIntervalMs: wake === 'poll' ? config.pollInterval : undefined }, 'syncpasswords wake-up chosen');
    return wake;
  }

  /** Runs one syncpasswords command to its end, its output kept for the log. */
  #run(args: readonly string[]): Promise<RunOutcome> {
    const { config, socketPath, log } = this.#o;
    if (this.#stopping) return Promise.resolve({ code: null, signal: 'SIGTERM', tail: [] });
    const programs = this.#programs;
    if (programs === undefined) throw new ConfigError('the syncpasswords supervisor was not started');
    const [, ...prefix] = config.command;
    const { setpriv, command } = programs;
    const argv = [...prefix, 'user', 'syncpasswords', '-s', config.smbConf, `--cache-ldb=${config.cursor}`, ...args];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PWSYNC_SAMBA_WAKE: this.#wake === 'poll' ? `poll:${config.pollInterval}` : this.#wake,
      PWSYNC_CAPTURE_SOCKET: socketPath,
      PWSYNC_HOOK_TIMEOUT_MS: String(config.hookTimeout),
    };
    // setpriv --pdeathsig: syncpasswords gets SIGTERM when the agent dies, however it dies.
    const child = spawn(setpriv, ['--pdeathsig', 'SIGTERM', '--', command, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const tail: string[] = [];
    const take = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        const text = line.trim();
        if (text === '') continue;
        tail.push(text.slice(0, 500));
        if (tail.length > TAIL_LINES) tail.shift();
        log.trace({ syncpasswords: text.slice(0, 500) }, 'syncpasswords output');
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    return new Promise<RunOutcome>((resolve) => {
      child.once('error', (e) => resolve({ code: null, signal: null, tail: [...tail, `cannot run ${command}: ${e.message}`] }));
      child.once('close', (code, signal) => resolve({ code, signal, tail }));
    });
  }

  /** A syncpasswords left running by an agent that was killed holds the cursor's lock: stop it. */
  async #stopOrphan(): Promise<void> {
    const { config, log } = this.#o;
    const text = await readFile(`${config.cursor}.pid`, 'utf8').catch(() => '');
    const pid = Number.parseInt(text, 10);
    if (!Number.isInteger(pid) || pid <= 1) return;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('syncpasswords') || !cmdline.includes(config.cursor)) return;
    log.warn({ pid }, 'stopping a syncpasswords left running by an earlier agent');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100; i++) {
      await sleep(50);
      if (!(await pathExists(`/proc/${pid}`))) return;
    }
    process.kill(pid, 'SIGKILL');
  }

  async #readState(): Promise<CursorState | undefined> {
    const text = await readFile(stateFile(this.#o.config.cursor), 'utf8').catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    });
    if (text === undefined) return undefined;
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || !('createdAt' in value) || typeof value.createdAt !== 'number' || !('firstPassDone' in value) || typeof value.firstPassDone !== 'boolean') {
      throw new ConfigError(`${stateFile(this.#o.config.cursor)} is not a syncpasswords cursor state this agent wrote`);
    }
    return { createdAt: value.createdAt, firstPassDone: value.firstPassDone };
  }

  async #writeState(state: CursorState): Promise<void> {
    const file = stateFile(this.#o.config.cursor);
    await writeFile(`${file}.tmp`, `${JSON.stringify(state)}\n`, { mode: 0o600, flush: true });
    await rename(`${file}.tmp`, file);
  }
}

interface RunOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines it printed (no secrets: syncpasswords redacts them, the hook prints none). */
  readonly tail: readonly string[];
}

function stateFile(cursor: string): string {
  return `${cursor}.pwsync.json`;
}

function describeExit(outcome: RunOutcome): string {
  const last = [...outcome.tail].reverse().find((l) => /error|exception|failed|not taken|refused/i.test(l)) ?? outcome.tail.at(-1) ?? '';
  const how = outcome.signal !== null ? `signal ${outcome.signal}` : `exit code ${outcome.code ?? 'unknown'}`;
  return last === '' ? how : `${how}: ${last.slice(0, 300)}`;
}
