import { InvalidInputError, StoreError } from '../../core/errors.ts';
import { EVENT, EVENTS } from '../../core/events.ts';
import type { Change, EpochMs, Job, NewEvent, SealedSecret } from '../../core/model.ts';
import type { ClaimedJob, CommitResult, CommitUnit, CommitUnitResult, FinishAndClaim, FinishedJob, JobFilter, JobOutcome, JobTarget } from '../port.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { eventLog, rememberNotification } from './events.ts';
import { JOB_COLUMNS, toJob, toOrigin, type JobRow } from './rows.ts';
import { OPEN_STATES, wipeClosedSecrets } from './secrets.ts';
import { checkLimit, Where } from '../../sqlite/sql.ts';

interface TargetRow {
  readonly id: number;
  readonly system: string;
  readonly anchor: string;
  readonly last_applied_at: number | null;
}

interface OpenJobRow {
  readonly id: number;
  readonly change_id: string;
  readonly changed_at: number;
  readonly state: string;
}

/**
 * Commits a change and its jobs, applying the ordering rules per target account (see the port).
 * A job in progress with a newer change time also makes this change out of date: the worker holds
 * the newer password, and this older one must not follow it. Ties in change time go to the change
 * committed last. The change's secret is wiped at once when no job was created for it.
 */
export function commitChange(ctx: Ctx, change: Change, secret: SealedSecret, targets: readonly JobTarget[], events: readonly NewEvent[]): CommitResult {
  return ctx.sql.write(() => commitOne(ctx, change, secret, targets, events));
}

/** Several units in one transaction (see the port); a replayed notification skips its unit only. */
export function commitChanges(ctx: Ctx, units: readonly CommitUnit[]): CommitUnitResult[] {
  return ctx.sql.write(() =>
    units.map((unit): CommitUnitResult => {
      // A savepoint per unit: a replay is detected before anything of the unit is written, but
      // the unit's own writes must still be all or nothing within the batch.
      return ctx.sql.write(() => {
        const n = unit.notification;
        if (n !== undefined && !rememberNotification(ctx, n.id, n.at, n.forgetBefore)) {
          for (const event of unit.onReplay ?? []) eventLog.insert(ctx, event);
          return { kind: 'replay' };
        }
        if (unit.change === undefined) {
          for (const event of unit.events) eventLog.insert(ctx, event);
          return { kind: 'committed', result: { jobs: [], outOfDate: [], superseded: [] } };
        }
        const { change, secret, targets } = unit.change;
        return { kind: 'committed', result: commitOne(ctx, change, secret, targets, unit.events) };
      });
    }),
  );
}

function commitOne(ctx: Ctx, change: Change, secret: SealedSecret, targets: readonly JobTarget[], events: readonly NewEvent[]): CommitResult {
  const now = ctx.now();
  {
    if (ctx.sql.prepare('SELECT 1 FROM changes WHERE id = ?').get(change.id) !== undefined) {
      throw new InvalidInputError(`change ${change.id} was committed before`);
    }
    ctx.sql
      .prepare(
        `INSERT INTO changes (id, source_system, source_anchor, person_id, changed_at, received_at, origin, actor, key_id, secret)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(change.id, change.sourceSystem, change.sourceAnchor, change.personId, change.changedAt, change.receivedAt, change.origin, change.actor, secret.keyId, secret.blob);
    for (const event of events) eventLog.insert(ctx, event, { changeId: change.id, personId: change.personId });

    const findTarget = ctx.sql.prepare<TargetRow>('SELECT id, system, anchor, last_applied_at FROM accounts WHERE id = ?');
    const openJobs = ctx.sql.prepare<OpenJobRow>(`SELECT id, change_id, changed_at, state FROM jobs WHERE account_id = ? AND state IN ${OPEN_STATES}`);
    const supersede = ctx.sql.prepare("UPDATE jobs SET state = 'superseded', superseded_by = ?, ended_at = ?, updated_at = ?, next_at = NULL WHERE id = ?");
    const insertJob = ctx.sql.prepare(
      `INSERT INTO jobs (change_id, account_id, system, anchor, person_id, changed_at, created_at, updated_at, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
    );

    const jobs: { accountId: number; jobId: number }[] = [];
    const outOfDate: number[] = [];
    const superseded: number[] = [];
    const touched = [change.id];
    for (const accountId of new Set(targets.map((t) => t.accountId))) {
      const target = findTarget.get(accountId);
      if (target === undefined) throw new InvalidInputError(`target account ${accountId} does not exist`);
      const context = { system: target.system, anchor: target.anchor, personId: change.personId, changeId: change.id };
      const open = openJobs.all(accountId);
      const newerApplied = target.last_applied_at !== null && target.last_applied_at > change.changedAt;
      if (newerApplied || open.some((job) => job.changed_at > change.changedAt)) {
        outOfDate.push(accountId);
        eventLog.insert(ctx, { at: now, code: EVENT.TIMESTAMP_OUT_OF_DATE, message: EVENTS[EVENT.TIMESTAMP_OUT_OF_DATE].text }, context);
        continue;
      }
      for (const job of open) {
        if (job.state === 'in_progress') continue;
        supersede.run(change.id, now, now, job.id);
        eventLog.insert(ctx, { at: now, code: EVENT.SUPERSEDED, message: `${EVENTS[EVENT.SUPERSEDED].text}: change ${job.change_id} by change ${change.id}` }, { ...context, changeId: job.change_id, jobId: job.id });
        superseded.push(job.id);
        touched.push(job.change_id);
      }
      const jobId = Number(insertJob.run(change.id, accountId, target.system, target.anchor, change.personId, change.changedAt, now, now).lastInsertRowid);
      jobs.push({ accountId, jobId });
    }
    wipeClosedSecrets(ctx, touched, now);
    return { jobs, outOfDate, superseded };
  }
}

interface ClaimRow extends JobRow {
  readonly key_id: string | null;
  readonly secret: Buffer | null;
  readonly origin: string;
  readonly last_applied_at: number | null;
}

/** Claims due jobs in change order, at most one per account and none for an account already busy. */
export function claimJobs(ctx: Ctx, worker: string, now: EpochMs, limit: number): ClaimedJob[] {
  checkLimit(limit);
  if (limit === 0) return [];
  return ctx.sql.writeWithoutSync(() => {
    const ids: number[] = [];
    const accounts = new Set<number>();
    const due = ctx.sql.prepare<{ id: number; account_id: number }>(
      `SELECT j.id, j.account_id FROM jobs j INDEXED BY jobs_due
        WHERE j.state IN ('pending', 'retry_scheduled')
          AND (j.state = 'pending' OR j.next_at <= ?)
          AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.account_id = j.account_id AND k.state = 'in_progress')
        ORDER BY j.changed_at, j.id`,
    );
    // jobs_due walks due jobs in change order, so a long queue is read only as far as `limit`
    // distinct accounts and never sorted; INDEXED BY keeps the planner from preferring jobs_state.
    for (const row of due.iterate(now)) {
      if (accounts.has(row.account_id)) continue;
      accounts.add(row.account_id);
      ids.push(row.id);
      if (ids.length === limit) break;
    }
    const claim = ctx.sql.prepare(
      "UPDATE jobs SET state = 'in_progress', worker = ?, since = ?, attempts = attempts + 1, updated_at = ?, next_at = NULL WHERE id = ?",
    );
    const read = ctx.sql.prepare<ClaimRow>(
      `SELECT ${JOB_COLUMNS}, c.key_id, c.secret, c.origin, a.last_applied_at
         FROM jobs j JOIN changes c ON c.id = j.change_id LEFT JOIN accounts a ON a.id = j.account_id
        WHERE j.id = ?`,
    );
    return ids.map((id) => {
      claim.run(worker, now, now, id);
      const row = read.get(id);
      if (row === undefined || row.secret === null || row.key_id === null) throw new StoreError(`job ${id} is open but its change has no secret`);
      return { ...toJob(row), secret: { keyId: row.key_id, blob: row.secret }, lastAppliedAt: row.last_applied_at, origin: toOrigin(row.origin) };
    });
  });
}

/** Ends or reschedules a job in progress, with its event and the wiping of a secret no longer needed. */
export function finishJob(ctx: Ctx, jobId: number, outcome: JobOutcome, event: NewEvent): void {
  ctx.sql.writeWithoutSync(() => {
    const job = ctx.sql.prepare<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.id = ?`).get(jobId);
    if (job === undefined) throw new InvalidInputError(`job ${jobId} does not exist`);
    // Finishing twice, or a job recovered meanwhile, must not overwrite what happened since.
    if (job.state !== 'in_progress') throw new InvalidInputError(`job ${jobId} is not in progress (it is ${job.state})`);
    switch (outcome.kind) {
      case 'done':
        ctx.sql.prepare("UPDATE jobs SET state = 'done', ended_at = ?, updated_at = ?, worker = NULL, since = NULL WHERE id = ?").run(outcome.at, outcome.at, jobId);
        // max(): the last applied time never moves back, whatever order workers finish in.
        ctx.sql.prepare('UPDATE accounts SET last_applied_at = max(coalesce(last_applied_at, ?), ?) WHERE id = ?').run(job.changed_at, job.changed_at, job.account_id);
        break;
      case 'retry':
        ctx.sql
          .prepare("UPDATE jobs SET state = 'retry_scheduled', next_at = ?, last_error = ?, updated_at = ?, worker = NULL, since = NULL WHERE id = ?")
          .run(outcome.nextAt, outcome.error, outcome.at, jobId);
        break;
      case 'failed':
        ctx.sql
          .prepare("UPDATE jobs SET state = 'failed', event = ?, last_error = ?, ended_at = ?, updated_at = ?, worker = NULL, since = NULL WHERE id = ?")
          .run(outcome.event, outcome.error, outcome.at, outcome.at, jobId);
        break;
    }
    eventLog.insert(ctx, event, { system: job.system, anchor: job.anchor, personId: job.person_id, changeId: job.change_id, jobId });
    wipeClosedSecrets(ctx, [job.change_id], outcome.at);
  });
}

/** Several finishes in one transaction; a job that cannot be finished is answered, not thrown. */
export function finishJobs(ctx: Ctx, list: readonly FinishedJob[]): (Error | undefined)[] {
  return ctx.sql.writeWithoutSync(() =>
    list.map((f) => {
      try {
        // A savepoint each: a refused finish leaves nothing of itself behind.
        finishJob(ctx, f.jobId, f.outcome, f.event);
        return undefined;
      } catch (e) {
        if (e instanceof InvalidInputError) return e;
        throw e;
      }
    }),
  );
}

/** Queues again the jobs a dead process left in progress; their attempts stay counted. */
export function recoverInProgress(ctx: Ctx, at: EpochMs): number {
  return ctx.sql.write(() => {
    const jobs = ctx.sql.prepare<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.state = 'in_progress' ORDER BY j.id`).all();
    const requeue = ctx.sql.prepare("UPDATE jobs SET state = 'pending', worker = NULL, since = NULL, updated_at = ? WHERE id = ?");
    for (const job of jobs) {
      requeue.run(at, job.id);
      eventLog.insert(
        ctx,
        { at, code: EVENT.JOB_RECOVERED, message: `${EVENTS[EVENT.JOB_RECOVERED].text} (worker ${job.worker ?? 'unknown'}, attempt ${job.attempts})` },
        { system: job.system, anchor: job.anchor, personId: job.person_id, changeId: job.change_id, jobId: job.id },
      );
    }
    return jobs.length;
  });
}

export function abandonSealedUnder(ctx: Ctx, keyIds: readonly string[], at: EpochMs): number {
  if (keyIds.length === 0) return 0;
  return ctx.sql.write(() => {
    const marks = keyIds.map(() => '?').join(', ');
    const jobs = ctx.sql
      .prepare<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs j JOIN changes c ON c.id = j.change_id WHERE c.secret IS NOT NULL AND c.key_id IN (${marks}) AND j.state IN ${OPEN_STATES} ORDER BY j.id`)
      .all(...keyIds);
    const text = EVENTS[EVENT.KEY_LOST].text;
    const fail = ctx.sql.prepare("UPDATE jobs SET state = 'failed', event = ?, last_error = ?, ended_at = ?, updated_at = ?, worker = NULL, since = NULL, next_at = NULL WHERE id = ?");
    for (const job of jobs) {
      fail.run(EVENT.KEY_LOST, text, at, at, job.id);
      eventLog.insert(ctx, { at, code: EVENT.KEY_LOST, message: text }, { system: job.system, anchor: job.anchor, personId: job.person_id, changeId: job.change_id, jobId: job.id });
    }
    wipeClosedSecrets(ctx, jobs.map((j) => j.change_id), at);
    return jobs.length;
  });
}

export function nextRetryAt(ctx: Ctx): EpochMs | undefined {
  const row = ctx.sql.prepare<{ next: number | null }>("SELECT min(next_at) AS next FROM jobs INDEXED BY jobs_next_retry WHERE state = 'retry_scheduled'").get();
  return row?.next ?? undefined;
}

/** Newest first. */
export function listJobs(ctx: Ctx, filter: JobFilter): Job[] {
  checkLimit(filter.limit);
  const where = new Where()
    .in('j.state', filter.states)
    .compare('j.system', '=', filter.system)
    .compare('j.person_id', '=', filter.personId)
    .compare('j.change_id', '=', filter.changeId);
  if (where.matchesNothing) return [];
  return ctx.sql.prepare<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs j ${where.clause} ORDER BY j.id DESC LIMIT ?`).all(...where.params, filter.limit).map(toJob);
}

/** finishJobs then claimJobs in one transaction (see the port). */
export function finishAndClaim(ctx: Ctx, finished: readonly FinishedJob[], worker: string, now: EpochMs, limit: number): FinishAndClaim {
  checkLimit(limit);
  return ctx.sql.writeWithoutSync(() => ({ finished: finishJobs(ctx, finished), claimed: claimJobs(ctx, worker, now, limit) }));
}
