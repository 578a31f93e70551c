import { hostname } from 'node:os';
import type { ClaimedJob, FinishedJob } from '../store/port.ts';
import { GroupCommit } from '../util/group-commit.ts';
import type { SyncContext } from './context.ts';
import { deliver } from './deliver.ts';

/**
 * The delivery loop. Claims due jobs from the store and delivers up to `server.workers` of them
 * at once. It wakes when this process commits a change (`wake()`), when another process commits
 * to the store (seen through the store's data version, polled every `server.pollInterval`), and
 * when the earliest scheduled retry is due.
 */
export class Workers {
  readonly #ctx: SyncContext;
  readonly #id = `${hostname()}:${process.pid}`;
  readonly #inFlight = new Set<Promise<void>>();
  #running = false;
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wakeUp: (() => void) | undefined;
  #dirty = true;
  /**
   * Deliveries that end together (a file target's group write ends a whole group at once) record
   * their outcomes in one transaction: one fsync instead of one each, on the thread that also
   * serves the intake.
   */
  readonly #finishes: GroupCommit<FinishedJob>;

  constructor(ctx: SyncContext) {
    this.#ctx = ctx;
    this.#finishes = new GroupCommit((list) => ctx.store.finishJobs(list));
  }

  get id(): string {
    return this.#id;
  }

  /** Queues again the jobs a dead process left in progress, then starts the loop. */
  async start(): Promise<void> {
    if (this.#running) return;
    const recovered = await this.#ctx.store.recoverInProgress(this.#ctx.now());
    if (recovered > 0) this.#ctx.log.warn({ recovered }, 'jobs left in progress by a stopped server queued again');
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Something may be due: look now instead of at the next poll. */
  wake(): void {
    this.#dirty = true;
    if (this.#inFlight.size < this.#ctx.config.server.workers || !this.#running) this.#wakeUp?.();
  }

  /**
   * Stops claiming and waits up to `graceMs` for deliveries in progress. A delivery still running
   * after that stays `in_progress` in the store and is queued again at the next start.
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
  }

  async #run(): Promise<void> {
    const { store, config, log } = this.#ctx;
    let seenVersion = -1;
    while (this.#running) {
      try {
        const free = (): number => config.server.workers - this.#inFlight.size;
        // Woken by this process (a change committed, a slot freed), the loop claims at once; only
        // an idle poll asks the store whether another process committed or a retry fell due.
        let due = this.#dirty;
        let version = seenVersion;
        if (!due && free() > 0) {
          version = await store.dataVersion();
          const nextRetry = await store.nextRetryAt();
          due = version !== seenVersion || (nextRetry !== undefined && nextRetry <= this.#ctx.now());
        }
        const slots = free();
        if (due && slots > 0) {
          this.#dirty = false;
          seenVersion = version;
          const jobs = await store.claimJobs(this.#id, this.#ctx.now(), slots);
          for (const job of jobs) this.#track(job);
          // A full batch may mean more are waiting.
          if (jobs.length === slots) this.#dirty = true;
        }
      } catch (e) {
        log.error({ err: e }, 'worker loop failed; trying again');
      }
      await this.#sleep(config.server.pollInterval);
    }
  }

  #track(job: ClaimedJob): void {
    const run = this.#deliverOne(job).finally(() => {
      this.#inFlight.delete(run);
      // A slot is free, and this account may have a newer job waiting.
      this.wake();
    });
    this.#inFlight.add(run);
  }

  async #deliverOne(job: ClaimedJob): Promise<void> {
    const { outcome, event } = await deliver(this.#ctx, job);
    try {
      await this.#finishes.submit({ jobId: job.id, outcome, event });
    } catch (e) {
      // The job stays in progress and is recovered at the next start; the password was (or was
      // not) set, and setting it again is harmless.
      this.#ctx.log.error({ err: e, jobId: job.id }, 'could not record the outcome of a delivery');
    }
  }

  #sleep(ms: number): Promise<void> {
    // A wake-up only matters when a slot is free to act on it; with every worker busy, the next
    // finishing delivery wakes the loop.
    const free = this.#ctx.config.server.workers > this.#inFlight.size;
    if ((this.#dirty && free) || !this.#running) return Promise.resolve();
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
