import { v7 as uuidv7 } from 'uuid';
import { InvalidInputError } from '../../core/errors.ts';
import { EVENT, EVENTS } from '../../core/events.ts';
import type { EpochMs } from '../../core/model.ts';
import type { Secret } from '../../core/secret.ts';
import type { Keyring } from '../../crypto/keyring.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { guard } from '../../sqlite/db.ts';
import { checkLimit, inList } from '../../sqlite/sql.ts';
import { CaptureNotFoundError, QueueFullError } from './errors.ts';
import { eventLog } from './events.ts';
import type { CaptureScope, EnqueueOutcome, NewCapture, QueuedCapture, QueueStats, SealedCapture } from './types.ts';

/** What the queue operations work with: the SQLite toolkit's context, the keyring and the limits. */
export interface QueueCtx extends Ctx {
  readonly keyring: Keyring;
  readonly maxLength: number;
  readonly maxAgeMs: number;
}

const COLUMNS = 'seq, id, source, account, anchor, changed_at, captured_at, scope, attempts, last_attempt_at, last_error';

interface CaptureRow {
  readonly seq: number;
  readonly id: string;
  readonly source: string;
  readonly account: string;
  readonly anchor: string | null;
  readonly changed_at: number;
  readonly captured_at: number;
  readonly scope: CaptureScope;
  readonly attempts: number;
  readonly last_attempt_at: number | null;
  readonly last_error: string | null;
}

/** Longest text kept, for names and error messages alike: a queue row stays small. */
const MAX_TEXT = 1000;
/** SQLite binds at most 32,766 parameters; lists of ids go in chunks well below that. */
const CHUNK = 500;

/**
 * The context a capture's ciphertext is bound to: its id, under a prefix of its own so that a blob
 * of the agent's queue never opens as a server change of the same id under a shared key.
 */
export function sealContext(id: string): string {
  return `agent-capture:${id}`;
}

/** Checks a capture, gives it its id and seals its secret (the caller keeps the Secret). */
export function sealCapture(keyring: Keyring, capture: NewCapture): SealedCapture {
  checkText('source', capture.source);
  checkText('account', capture.account);
  if (capture.anchor !== undefined) checkText('anchor', capture.anchor);
  checkTime('changedAt', capture.changedAt);
  checkTime('capturedAt', capture.capturedAt);
  const scope = capture.scope ?? 'in';
  if (!(['in', 'pending'] as readonly string[]).includes(scope)) throw new InvalidInputError(`scope must be "in" or "pending", not ${JSON.stringify(scope)}`);
  checkSecret(capture.secret);
  const id = uuidv7();
  return {
    id,
    source: capture.source,
    account: capture.account,
    anchor: capture.anchor ?? null,
    changedAt: capture.changedAt,
    capturedAt: capture.capturedAt,
    scope,
    sealed: keyring.seal(capture.secret, sealContext(id)),
  };
}

/**
 * Commits sealed captures in one transaction, in the order given, as far as the length limit
 * allows; the rest are refused, each with a 7042 event in the same transaction. A capture whose id
 * is queued already (a batch sent again after its answer was lost) is answered as it stands.
 */
export function enqueueSealed(ctx: Ctx & Pick<QueueCtx, 'maxLength'>, captures: readonly SealedCapture[]): EnqueueOutcome[] {
  if (captures.length === 0) return [];
  return ctx.sql.write(() => {
    let length = ctx.sql.prepare<{ length: number }>('SELECT length FROM queue_length WHERE one = 1').get()?.length ?? 0;
    const existing = ctx.sql.prepare<CaptureRow>(`SELECT ${COLUMNS} FROM captures WHERE id = ?`);
    const insert = ctx.sql.prepare<CaptureRow>(
      `INSERT INTO captures (id, source, account, anchor, changed_at, captured_at, scope, key_id, secret)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
    );
    const now = ctx.now();
    return captures.map((c): EnqueueOutcome => {
      const queued = existing.get(c.id);
      if (queued !== undefined) return { ok: true, item: toCapture(queued) };
      if (length >= ctx.maxLength) {
        eventLog.insert(ctx, { at: now, code: EVENT.QUEUE_FULL, system: c.source, anchor: c.account, changeId: c.id, message: `${EVENTS[EVENT.QUEUE_FULL].text} (limit ${ctx.maxLength})` });
        return { ok: false, error: new QueueFullError(ctx.maxLength) };
      }
      const row = insert.get(c.id, c.source, c.account, c.anchor, c.changedAt, c.capturedAt, c.scope, c.sealed.keyId, c.sealed.blob);
      if (row === undefined) throw new InvalidInputError(`capture ${c.id} was not inserted`);
      length++;
      return { ok: true, item: toCapture(row) };
    });
  });
}

/** The oldest queued changes in delivery order, after `afterSeq` when given. */
export function peek(ctx: QueueCtx, limit: number, afterSeq = 0): QueuedCapture[] {
  checkLimit(limit);
  checkLimit(afterSeq, 'afterSeq');
  return ctx.sql.prepare<CaptureRow>(`SELECT ${COLUMNS} FROM captures WHERE seq > ? ORDER BY seq LIMIT ?`).all(afterSeq, limit).map(toCapture);
}

/** Opens one queued change's secret; the caller disposes it. */
export async function openSecret(ctx: QueueCtx, id: string): Promise<Secret> {
  const row = guard(() => ctx.sql.prepare<{ key_id: string; secret: Buffer }>('SELECT key_id, secret FROM captures WHERE id = ?').get(id));
  if (row === undefined) throw new CaptureNotFoundError(id);
  try {
    return await ctx.keyring.open({ keyId: row.key_id, blob: row.secret }, sealContext(id));
  } finally {
    row.secret.fill(0);
  }
}

/** Deletes the given changes (delivered, or refused for good); answers how many were queued. */
export function remove(ctx: QueueCtx, ids: readonly string[]): number {
  if (ids.length === 0) return 0;
  const removed = ctx.sql.write(() => {
    let n = 0;
    for (const chunk of chunks(ids)) n += ctx.sql.prepare(`DELETE FROM captures WHERE id IN ${inList(chunk.length)}`).run(...chunk).changes;
    return n;
  });
  if (removed > 0) ctx.wiped();
  return removed;
}

/** Drops the changes captured more than the age limit before `now`, each with a 7041 event. */
export function expire(ctx: QueueCtx, now: EpochMs): QueuedCapture[] {
  checkTime('now', now);
  const dropped = ctx.sql.write(() => {
    const rows = ctx.sql.prepare<CaptureRow>(`SELECT ${COLUMNS} FROM captures WHERE captured_at < ? ORDER BY seq`).all(now - ctx.maxAgeMs).map(toCapture);
    const del = ctx.sql.prepare('DELETE FROM captures WHERE seq = ?');
    const hours = Math.round((ctx.maxAgeMs / 3_600_000) * 100) / 100;
    for (const item of rows) {
      del.run(item.seq);
      const why = `limit ${hours} h; captured ${new Date(item.capturedAt).toISOString()}, ${item.attempts} attempts${item.lastError === null ? '' : `, last error: ${item.lastError}`}`;
      eventLog.insert(ctx, { at: now, code: EVENT.QUEUE_AGE_LIMIT, system: item.source, anchor: item.account, changeId: item.id, message: clip(`${EVENTS[EVENT.QUEUE_AGE_LIMIT].text} (${why})`) });
    }
    return rows;
  });
  if (dropped.length > 0) ctx.wiped();
  return dropped;
}

/**
 * Settles a pending scope check: `in` keeps the change for delivery, `out` removes it with a 7040
 * event (saying `reason`, when given). Answers false when the change is no longer queued.
 */
export function setScope(ctx: QueueCtx, id: string, scope: 'in' | 'out', at: EpochMs, reason?: string): boolean {
  // The type says so; a caller from JavaScript or JSON may not.
  if (!(['in', 'out'] as readonly string[]).includes(scope)) throw new InvalidInputError(`scope must be "in" or "out", not ${JSON.stringify(scope)}`);
  if (scope === 'in') {
    return ctx.sql.write(() => ctx.sql.prepare("UPDATE captures SET scope = 'in' WHERE id = ?").run(id).changes === 1);
  }
  const removed = ctx.sql.write(() => {
    const row = ctx.sql.prepare<{ source: string; account: string }>('DELETE FROM captures WHERE id = ? RETURNING source, account').get(id);
    if (row === undefined) return false;
    eventLog.insert(ctx, { at, code: EVENT.OUT_OF_SCOPE, system: row.source, anchor: row.account, changeId: id, ...(reason === undefined ? {} : { message: clip(`change of "${row.account}" not delivered: ${reason}`) }) });
    return true;
  });
  if (removed) ctx.wiped();
  return removed;
}

/** Counts a delivery attempt on each change; the error text must not carry a secret. */
export function recordAttempt(ctx: QueueCtx, ids: readonly string[], attempt: { readonly at: EpochMs; readonly error: string | null }): number {
  checkTime('at', attempt.at);
  if (ids.length === 0) return 0;
  const error = attempt.error === null ? null : clip(attempt.error);
  return ctx.sql.write(() => {
    let n = 0;
    for (const chunk of chunks(ids)) {
      n += ctx.sql
        .prepare(`UPDATE captures SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE id IN ${inList(chunk.length)}`)
        .run(attempt.at, error, ...chunk).changes;
    }
    return n;
  });
}

export function stats(ctx: QueueCtx): QueueStats {
  return ctx.sql.read(() => {
    const length = ctx.sql.prepare<{ length: number }>('SELECT length FROM queue_length WHERE one = 1').get()?.length ?? 0;
    const oldest = ctx.sql.prepare<{ at: number | null }>('SELECT min(captured_at) AS at FROM captures').get()?.at ?? null;
    const pendingScope = ctx.sql.prepare<{ n: number }>("SELECT count(*) AS n FROM captures WHERE scope = 'pending'").get()?.n ?? 0;
    const pages = ctx.sql.prepare<{ n: number }>('SELECT (page_count - freelist_count) * page_size AS n FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()').get()?.n ?? 0;
    return { length, oldestCapturedAt: oldest, pendingScope, bytes: pages };
  });
}

function toCapture(row: CaptureRow): QueuedCapture {
  return {
    seq: row.seq,
    id: row.id,
    source: row.source,
    account: row.account,
    anchor: row.anchor,
    changedAt: row.changed_at,
    capturedAt: row.captured_at,
    scope: row.scope,
    attempts: row.attempts,
    lastAttemptAt: row.last_attempt_at,
    lastError: row.last_error,
  };
}

function* chunks(ids: readonly string[]): Generator<string[]> {
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += CHUNK) yield unique.slice(i, i + CHUNK);
}

function clip(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}…`;
}

function checkText(what: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) {
    throw new InvalidInputError(`${what} must be text of 1 to ${MAX_TEXT} characters`);
  }
}

function checkTime(what: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidInputError(`${what} must be a time in epoch milliseconds`);
}

function checkSecret(secret: Secret): void {
  if (secret.disposed) throw new InvalidInputError('the captured secret was disposed before it was queued');
  if (secret.length === 0) throw new InvalidInputError('the captured password is empty');
}
