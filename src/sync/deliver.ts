import { isPwsyncError } from '../core/errors.ts';
import { enforcePasswordPolicy } from '../core/password-policy.ts';
import { EVENT, type EventCode } from '../core/events.ts';
import type { NewEvent } from '../core/model.ts';
import { can } from '../connectors/types.ts';
import type { ClaimedJob, JobOutcome } from '../store/port.ts';
import { findSystem } from '../config/index.ts';
import type { SyncContext } from './context.ts';

export interface Delivery {
  readonly outcome: JobOutcome;
  readonly event: NewEvent;
}

/**
 * Delivers one claimed job through its system's connector and decides what becomes of it. Never
 * throws: every failure is classified into a final event or a scheduled retry. The secret is
 * decrypted only for the connector call and wiped when it returns.
 */
export async function deliver(ctx: SyncContext, job: ClaimedJob): Promise<Delivery> {
  const base = { system: job.system, anchor: job.anchor, personId: job.personId, changeId: job.changeId, jobId: job.id };
  const fail = (event: EventCode, error: string): Delivery => {
    const at = ctx.now();
    return { outcome: { kind: 'failed', at, event, error }, event: { ...base, at, code: event, message: error } };
  };

  const system = findSystem(ctx.config, job.system);
  if (!system) return fail(EVENT.SYNC_NOT_ENABLED, `system "${job.system}" is no longer configured`);
  if (!system.password.sync) return fail(EVENT.SYNC_NOT_ENABLED, `password sync is not enabled on system "${job.system}"`);
  if (job.lastAppliedAt !== null && job.changedAt < job.lastAppliedAt) {
    return fail(EVENT.TIMESTAMP_OUT_OF_DATE, `a newer change (${new Date(job.lastAppliedAt).toISOString()}) was already applied to this account`);
  }

  const started = ctx.now();
  try {
    const connector = ctx.connectors.get(system);
    if (!can(connector, 'setPassword')) return fail(EVENT.SET_NOT_SUPPORTED, `the ${connector.kind} connector of "${job.system}" cannot set passwords`);
    if (system.password.requireSecure && !connector.isSecure()) {
      return fail(EVENT.INSECURE_CONNECTION, `system "${job.system}" requires a secure connection and its connection is not secure`);
    }
    const secret = await ctx.keyring.open(job.secret, job.changeId);
    try {
      // The administrator's description of what the system accepts: a refusal is a PolicyError,
      // a final 6927 below, and the connector is never asked.
      const { policy } = system.password;
      if (policy !== undefined) secret.useSync((clear) => enforcePasswordPolicy(policy, clear, system.name));
      await connector.setPassword(job.anchor, secret, { attempt: job.attempts });
    } finally {
      secret.dispose();
    }
    const at = ctx.now();
    ctx.log.info({ ...base, attempt: job.attempts, ms: at - started }, 'password set');
    return { outcome: { kind: 'done', at }, event: { ...base, at, code: EVENT.PASSWORD_SET, message: `password set (attempt ${job.attempts}, ${at - started} ms)` } };
  } catch (e) {
    return classifyFailure(ctx, job, e, base, system.password.retry);
  }
}

function classifyFailure(
  ctx: SyncContext,
  job: ClaimedJob,
  e: unknown,
  base: Omit<NewEvent, 'code' | 'message'>,
  retry: { readonly count: number; readonly interval: number },
): Delivery {
  const at = ctx.now();
  // Our errors say whether a retry can help. Anything else is a connector that failed to classify
  // a native error: retry it (the count bounds the cost) rather than drop a password on a guess.
  const retryable = isPwsyncError(e) ? e.retryable : true;
  const error = describe(e);
  if (!retryable) {
    const code = isPwsyncError(e) ? e.event : EVENT.DELIVERY_FAILED;
    ctx.log.warn({ ...base, code, err: e }, 'delivery failed');
    return { outcome: { kind: 'failed', at, event: code, error }, event: { ...base, at, code, message: error } };
  }
  // `attempts` counts this one; `retry.count` is how many retries follow the first attempt.
  if (job.attempts <= retry.count) {
    const nextAt = at + retry.interval;
    ctx.log.warn({ ...base, attempt: job.attempts, nextAt: new Date(nextAt).toISOString(), err: e }, 'delivery failed; retry scheduled');
    return {
      outcome: { kind: 'retry', at, nextAt, error },
      event: { ...base, at, code: EVENT.RETRY_SCHEDULED, message: `${error}; retry ${job.attempts} of ${retry.count} at ${new Date(nextAt).toISOString()}` },
    };
  }
  ctx.log.error({ ...base, attempts: job.attempts, err: e }, 'delivery failed; retries exhausted');
  return {
    outcome: { kind: 'failed', at, event: EVENT.RETRIES_EXHAUSTED, error },
    event: { ...base, at, code: EVENT.RETRIES_EXHAUSTED, message: `${error}; gave up after ${job.attempts} attempts` },
  };
}

/** A one-line description for the event log: our errors' code and message, others' name only. */
export function describe(e: unknown): string {
  if (isPwsyncError(e)) return `${e.code}: ${e.message}`;
  if (e instanceof Error) {
    // A foreign error's message may quote its input; keep only what identifies it.
    const code = 'code' in e && typeof e.code === 'string' ? ` ${e.code}` : '';
    return `unexpected ${e.name}${code}`;
  }
  return 'unexpected non-error failure';
}
