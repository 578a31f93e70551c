/*
 * Changes a hook could not hand over, made visible. pam_pwsync never lets the agent's absence
 * fail a password change: the change is made at the host and not forwarded. The module then
 * appends one line, without the password, to the "missed" file (`capture.pam.missedFile`):
 *
 *   {"account":"jdoe","at":1795316362599,"source":"corp","reason":"the agent is not reachable (…)"}
 *
 * The agent reads it at start and every 10 s, writes one event 7050 per line and logs it, and
 * empties the file. It takes the file by renaming it to `<file>.taking` first and reads that: the
 * module, after writing, checks that its file is still the one at the path and writes again into
 * the new one if not, so a line written during the take is read now or next time, never lost
 * (in that race it may be reported twice). A `.taking` file left by an agent that stopped half way
 * is read before anything else, and nothing is renamed onto it while it is there.
 */
import { readFile, rename, unlink } from 'node:fs/promises';
import { z } from 'zod';
import type { Logger } from '../../log/logger.ts';
import type { AgentStore, NewAgentEvent } from '../queue/index.ts';
import { EVENT } from '../../core/events.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';

export const MISSED_CHECK_INTERVAL_MS = 10_000;

const missedLineSchema = z.object({
  account: z.string(),
  at: z.number().int().nonnegative(),
  source: z.string().optional(),
  reason: z.string(),
});

/** Nothing from the file reaches an event or a log line as it is: no control characters, bounded. */
function clean(text: string, max: number): string {
  const cleaned = text.replace(/\p{Cc}/gu, '?');
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}

export interface MissedOptions {
  readonly file: string;
  readonly store: AgentStore;
  readonly log: Logger;
  /** The agent's sources: a line's source must be one of them; the first is the default. */
  readonly sources: readonly string[];
  readonly intervalMs?: number;
}

export class MissedChanges {
  readonly #o: MissedOptions;
  readonly #taking: string;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> = Promise.resolve(0);
  #stopped = false;
  #lastError = '';

  constructor(options: MissedOptions) {
    this.#o = options;
    this.#taking = `${options.file}.taking`;
  }

  /** Reads what is there now, then again every interval. */
  async start(): Promise<void> {
    await this.check();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.check().finally(() => this.#schedule());
    }, this.#o.intervalMs ?? MISSED_CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  /** One pass; resolves with the number of lines reported. Passes never overlap. */
  check(): Promise<number> {
    this.#running = this.#running.then(() => this.#check());
    return this.#running;
  }

  async #check(): Promise<number> {
    try {
      // A take an earlier pass left half way first; it throws rather than let anything be renamed onto it.
      let reported = await this.#takeAndReport();
      try {
        await rename(this.#o.file, this.#taking);
      } catch (e) {
        if (errorCode(e) !== 'ENOENT') throw e;
        this.#lastError = '';
        return reported;
      }
      reported += await this.#takeAndReport();
      this.#lastError = '';
      return reported;
    } catch (e) {
      // Once per distinct failure: a permission problem would otherwise log every 10 s.
      const message = e instanceof Error ? e.message : 'unknown error';
      if (message !== this.#lastError) this.#o.log.error({ err: e, file: this.#o.file }, 'cannot read the missed-changes file (capture.pam.missedFile)');
      this.#lastError = message;
      return 0;
    }
  }

  /** Reports the lines of the `.taking` file and removes it; 0 when there is none. */
  async #takeAndReport(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.#taking, 'utf8');
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return 0;
      throw e;
    }
    const { sources, store, log } = this.#o;
    const events: NewAgentEvent[] = [];
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    lines.forEach((line, i) => {
      let parsed: z.infer<typeof missedLineSchema> | undefined;
      try {
        const result = missedLineSchema.safeParse(JSON.parse(line));
        parsed = result.success ? result.data : undefined;
      } catch {
        parsed = undefined;
      }
      if (parsed === undefined) {
        // The line's content is not repeated: whatever it holds, it is not ours to log.
        events.push({ code: EVENT.CAPTURE_MISSED, system: sources[0] ?? null, message: `line ${String(i + 1)} of ${this.#o.file} cannot be read; a password change may not have been forwarded: look for "NOT forwarded" in the host's authpriv log` });
        log.error({ file: this.#o.file, line: i + 1 }, 'a line of the missed-changes file cannot be read');
        return;
      }
      const account = clean(parsed.account, 256);
      const source = parsed.source !== undefined && sources.includes(parsed.source) ? parsed.source : (sources[0] ?? null);
      const reason = clean(parsed.reason, 500);
      const at = new Date(parsed.at).toISOString();
      events.push({
        code: EVENT.CAPTURE_MISSED,
        system: source,
        anchor: account,
        message: `the password change of ${quoteUntrusted(parsed.account)} at ${at} was made while the agent could not take it (${reason}); it was not forwarded: ask the person to change it again or reset it`,
      });
      log.error({ source, account, changedAt: at, reason }, 'password change missed: made while the agent could not take it; not forwarded');
    });
    await store.appendEvents(events);
    await unlink(this.#taking);
    return events.length;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
  }
}

function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
