import { hostname } from 'node:os';
import type { ClaimedJob, FinishedJob } from '../store/port.ts';
import type { SyncContext } from './context.ts';
import { deliver } from './deliver.ts';

/**
 * The delivery loop. Claims due jobs from the store and delivers up to `server.workers` of them
 * at once. It wakes when this process commits a change (`wake()`), when a delivery ends, when
 * another process commits to the store (seen through the store's data version, polled every
 * `server.pollInterval`), and when the earliest scheduled retry is due.
 *
 * A worker is busy for the delivery only. Its outcome waits in `#outcomes` for the loop's next
 * turn, which records every outcome waiting and claims jobs for the free workers in one store call
 * (one commit instead of one per outcome group and one per claim): waiting for each outcome's own
 * commit, queued on the store's thread behind an intake batch, left a third of the workers idle
 * (docs/benchmarks.md, LDAP password sets). A job stays in progress until its outcome is recorded,
 * so no newer job of the same account is claimed before that.
 */
export class Workers {
  readonly #ctx: SyncContext;
  readonly #id = `${hostname()}:${process.pid}`;
  readonly #inFlight = new Set<Promise<void>>();
  /** Outcomes delivered and not yet recorded. */
  #outcomes: FinishedJob[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wakeUp: (() => void) | undefined;
  #dirty = true;

  constructor(ctx: SyncContext) {
    this.#ctx = ctx;
  }

  get id(): string {
    return this.#id;
  }

  /** Queues again the jobs a dead process left in progress, then starts the loop. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#prepareTargets();
    const recovered = await this.#ctx.store.recoverInProgress(this.#ctx.now());
    if (recovered > 0) this.#ctx.log.warn({ recovered }, 'jobs left in progress by a stopped server queued again');
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Lets each target's connector open what deliveries need while the first changes are committed. */
  #prepareTargets(): void {
    const { config, connectors, log } = this.#ctx;
    for (const system of config.systems) {
      if (!system.password.sync) continue;
      let connector;
      try {
        connector = connectors.get(system);
      } catch (e) {
        log.warn({ err: e, system: system.name }, 'the connector of a target system could not be created');
        continue;
      }
      connector.prepare?.().then(
        () => log.debug({ system: system.name }, 'target prepared'),
        (e: unknown) => log.warn({ err: e, system: system.name }, 'preparing a target system failed; deliveries will try again'),
      );
    }
  }

  /** Something may be due: look now instead of at the next poll. */
  wake(): void {
    this.#dirty = true;
    if (this.#outcomes.length > 0 || this.#inFlight.size < this.#ctx.config.server.workers || !this.#running) this.#wakeUp?.();
  }

  /**
   * Stops claiming and waits up to `graceMs` for deliveries in progress, then records their
   * outcomes. A delivery still running after that stays `in_progress` in the store and is queued
   * again at the next start.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.wake();
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
    clearTimeout(timer);
    // What failed to record is logged by #record and recovered at the next start.
    await this.#record(0).catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { store, config, log } = this.#ctx;
    let seenVersion = -1;
    while (this.#running) {
      try {
        const free = (): number => config.server.workers - this.#inFlight.size;
        // Woken by this process (a change committed, a delivery ended), the loop claims at once;
        // only an idle poll asks the store whether another process committed or a retry fell due.
        let due = this.#dirty;
        let version = seenVersion;
        if (!due && free() > 0) {
          version = await store.dataVersion();
          const nextRetry = await store.nextRetryAt();
          due = version !== seenVersion || (nextRetry !== undefined && nextRetry <= this.#ctx.now());
        }
        const slots = due ? free() : 0;
        if (slots > 0 || this.#outcomes.length > 0) {
          if (due) {
            this.#dirty = false;
            seenVersion = version;
          }
          const jobs = await this.#record(slots);
          for (const job of jobs) this.#track(job);
          // A full batch may mean more are waiting.
          if (slots > 0 && jobs.length === slots) this.#dirty = true;
        }
      } catch (e) {
        log.error({ err: e }, 'worker loop failed; trying again');
      }
      await this.#sleep(config.server.pollInterval);
    }
  }

  /** Records the outcomes waiting and claims up to `slots` jobs, in one store call. */
  async #record(slots: number): Promise<readonly ClaimedJob[]> {
    const outcomes = this.#outcomes;
    if (outcomes.length === 0 && slots === 0) return [];
    this.#outcomes = [];
    const { store, log } = this.#ctx;
    let answer;
    try {
      answer = await store.finishAndClaim(outcomes, this.#id, this.#ctx.now(), slots);
    } catch (e) {
      // The jobs stay in progress and are recovered at the next start; each password was (or was
      // not) set, and setting it again is harmless.
      for (const o of outcomes) log.error({ err: e, jobId: o.jobId }, 'could not record the outcome of a delivery');
      throw e;
    }
    answer.finished.forEach((e, i) => {
      if (e !== undefined) log.error({ err: e, jobId: outcomes[i]?.jobId }, 'could not record the outcome of a delivery');
    });
    // Accounts whose job just ended may have a newer job waiting.
    if (outcomes.length > 0) this.#dirty = true;
    return answer.claimed;
  }

  #track(job: ClaimedJob): void {
    const run = deliver(this.#ctx, job)
      .then(({ outcome, event }) => {
        this.#outcomes.push({ jobId: job.id, outcome, event });
      })
      .finally(() => {
        this.#inFlight.delete(run);
        this.wake();
      });
    this.#inFlight.add(run);
  }

  #sleep(ms: number): Promise<void> {
    // A wake-up only matters when a slot is free to act on it or an outcome waits to be recorded;
    // with every worker busy and nothing to record, the next finishing delivery wakes the loop.
    // (Holding turns back under load to record more outcomes in each was measured: fewer commits,
    // the same CPU a set, lower throughput; docs/benchmarks.md.)
    const free = this.#ctx.config.server.workers > this.#inFlight.size;
    if ((this.#dirty && free) || this.#outcomes.length > 0 || !this.#running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(this.#timer);
        this.#wakeUp = undefined;
        resolve();
      };
      this.#timer = setTimeout(done, ms);
      this.#wakeUp = done;
    });
  }
}
