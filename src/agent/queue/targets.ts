import { isAbsolute } from 'node:path';
import { InvalidInputError } from '../../core/errors.ts';
import type { EpochMs } from '../../core/model.ts';
import type { Ctx } from '../../sqlite/context.ts';
import { TargetExistsError, TargetNotFoundError } from './errors.ts';
import type { NewTarget, Target } from './types.ts';

/** The reference's default and range for a target's retry interval. */
export const DEFAULT_RETRY_INTERVAL_MS = 60_000;
export const MIN_RETRY_INTERVAL_MS = 10_000;
export const MAX_RETRY_INTERVAL_MS = 3_600_000;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u;
const MAX_ERROR = 1000;

const COLUMNS = `name, url, ca_file, cert_file, key_file, server_key_file, enabled, retry_interval_ms, position, added_at,
  last_success_at, last_failure_at, last_error, next_attempt_at, consecutive_failures`;

interface TargetRow {
  readonly name: string;
  readonly url: string;
  readonly ca_file: string | null;
  readonly cert_file: string | null;
  readonly key_file: string | null;
  readonly server_key_file: string | null;
  readonly enabled: number;
  readonly retry_interval_ms: number;
  readonly position: number;
  readonly added_at: number;
  readonly last_success_at: number | null;
  readonly last_failure_at: number | null;
  readonly last_error: string | null;
  readonly next_attempt_at: number | null;
  readonly consecutive_failures: number;
}

export function addTarget(ctx: Ctx, input: NewTarget, at: EpochMs): Target {
  const name = checkName(input.name);
  const url = checkUrl(input.url);
  const files = {
    ca: checkFile('caFile', input.caFile),
    cert: checkFile('certFile', input.certFile),
    key: checkFile('keyFile', input.keyFile),
    serverKey: checkFile('serverKeyFile', input.serverKeyFile),
  };
  if ((files.cert === null) !== (files.key === null)) throw new InvalidInputError('certFile and keyFile go together: give both or neither');
  const retry = checkRetryInterval(input.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS);
  const enabled = input.enabled ?? true;
  if (typeof enabled !== 'boolean') throw new InvalidInputError('enabled must be true or false');
  return ctx.sql.write(() => {
    if (find(ctx, name) !== undefined) throw new TargetExistsError(name);
    const count = countTargets(ctx);
    const position = checkPosition(input.position ?? count + 1, count + 1);
    shift(ctx, position, count, 1);
    ctx.sql
      .prepare(
        `INSERT INTO targets (name, url, ca_file, cert_file, key_file, server_key_file, enabled, retry_interval_ms, position, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(name, url, files.ca, files.cert, files.key, files.serverKey, enabled ? 1 : 0, retry, position, at);
    return get(ctx, name);
  });
}

export function removeTarget(ctx: Ctx, name: string): void {
  ctx.sql.write(() => {
    const target = get(ctx, name);
    ctx.sql.prepare('DELETE FROM targets WHERE name = ?').run(name);
    shift(ctx, target.position + 1, countTargets(ctx) + 1, -1);
  });
}

export function setTargetEnabled(ctx: Ctx, name: string, enabled: boolean): Target {
  return ctx.sql.write(() => {
    get(ctx, name);
    ctx.sql.prepare('UPDATE targets SET enabled = ? WHERE name = ?').run(enabled ? 1 : 0, name);
    return get(ctx, name);
  });
}

export function setTargetRetryInterval(ctx: Ctx, name: string, retryIntervalMs: number): Target {
  const retry = checkRetryInterval(retryIntervalMs);
  return ctx.sql.write(() => {
    get(ctx, name);
    ctx.sql.prepare('UPDATE targets SET retry_interval_ms = ? WHERE name = ?').run(retry, name);
    return get(ctx, name);
  });
}

/** Moves a target to `position` (1…n); the ones between move one place to make room. */
export function moveTarget(ctx: Ctx, name: string, position: number): Target {
  return ctx.sql.write(() => {
    const from = get(ctx, name).position;
    const to = checkPosition(position, countTargets(ctx));
    if (to === from) return get(ctx, name);
    // Out of the way first, so that the shift below never meets it.
    ctx.sql.prepare('UPDATE targets SET position = 0 WHERE name = ?').run(name);
    if (to < from) shift(ctx, to, from - 1, 1);
    else shift(ctx, from + 1, to, -1);
    ctx.sql.prepare('UPDATE targets SET position = ? WHERE name = ?').run(to, name);
    return get(ctx, name);
  });
}

/** In failover order. */
export function listTargets(ctx: Ctx): Target[] {
  return ctx.sql.prepare<TargetRow>(`SELECT ${COLUMNS} FROM targets ORDER BY position`).all().map(toTarget);
}

export function getTarget(ctx: Ctx, name: string): Target | undefined {
  return find(ctx, name);
}

/**
 * Records a delivery the target accepted. `recovered`: it had failed before (the caller's cue for
 * event 7045). Undefined when the target was removed meanwhile (by the CLI, while delivering).
 */
export function recordTargetSuccess(ctx: Ctx, name: string, at: EpochMs): { target: Target; recovered: boolean } | undefined {
  return ctx.sql.write(() => {
    const before = find(ctx, name);
    if (before === undefined) return undefined;
    ctx.sql
      .prepare('UPDATE targets SET last_success_at = ?, consecutive_failures = 0, next_attempt_at = NULL WHERE name = ?')
      .run(at, name);
    return { target: get(ctx, name), recovered: before.state.consecutiveFailures > 0 };
  });
}

/**
 * Records a failed delivery and when to try again. `firstFailure`: it had been working (the
 * caller's cue for event 7043). Undefined when the target was removed meanwhile.
 */
export function recordTargetFailure(ctx: Ctx, name: string, at: EpochMs, error: string, nextAttemptAt: EpochMs): { target: Target; firstFailure: boolean } | undefined {
  const text = error.length <= MAX_ERROR ? error : `${error.slice(0, MAX_ERROR - 1)}…`;
  return ctx.sql.write(() => {
    const before = find(ctx, name);
    if (before === undefined) return undefined;
    ctx.sql
      .prepare('UPDATE targets SET last_failure_at = ?, last_error = ?, next_attempt_at = ?, consecutive_failures = consecutive_failures + 1 WHERE name = ?')
      .run(at, text, nextAttemptAt, name);
    return { target: get(ctx, name), firstFailure: before.state.consecutiveFailures === 0 };
  });
}

export function checkRetryInterval(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < MIN_RETRY_INTERVAL_MS || ms > MAX_RETRY_INTERVAL_MS) {
    throw new InvalidInputError(
      `retryIntervalMs must be a whole number of milliseconds from ${MIN_RETRY_INTERVAL_MS} to ${MAX_RETRY_INTERVAL_MS} (10 s to 1 h), not ${ms}`,
    );
  }
  return ms;
}

/**
 * Moves positions first…last by `delta` in two steps through negative values: SQLite checks
 * UNIQUE row by row, so a plain `position + 1` would collide with the neighbour not yet moved.
 */
function shift(ctx: Ctx, first: number, last: number, delta: 1 | -1): void {
  if (first > last) return;
  ctx.sql.prepare('UPDATE targets SET position = -(position + ?) WHERE position BETWEEN ? AND ?').run(delta, first, last);
  ctx.sql.prepare('UPDATE targets SET position = -position WHERE position < 0').run();
}

function countTargets(ctx: Ctx): number {
  return ctx.sql.prepare<{ n: number }>('SELECT count(*) AS n FROM targets').get()?.n ?? 0;
}

function find(ctx: Ctx, name: string): Target | undefined {
  const row = ctx.sql.prepare<TargetRow>(`SELECT ${COLUMNS} FROM targets WHERE name = ?`).get(name);
  return row === undefined ? undefined : toTarget(row);
}

function get(ctx: Ctx, name: string): Target {
  const target = find(ctx, name);
  if (target === undefined) throw new TargetNotFoundError(name);
  return target;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidInputError('a target name is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  return name;
}

function checkUrl(text: unknown): string {
  if (typeof text !== 'string') throw new InvalidInputError('url must be text');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidInputError(`url "${text}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw new InvalidInputError(`url must start with https:// (the agent never sends a password in clear), not ${url.protocol}//`);
  // A password in the URL would rest in the table and show in `target list`.
  if (url.username !== '' || url.password !== '') throw new InvalidInputError('url must not carry a user name or password');
  if (url.hostname === '') throw new InvalidInputError('url must name a host');
  if (url.search !== '' || url.hash !== '') throw new InvalidInputError('url must not carry a query or fragment');
  return url.href;
}

function checkFile(what: string, path: string | null | undefined): string | null {
  if (path === undefined || path === null) return null;
  if (typeof path !== 'string' || path.length === 0 || !isAbsolute(path)) {
    throw new InvalidInputError(`${what} must be an absolute path (the running agent reads it from its own directory)`);
  }
  return path;
}

function checkPosition(position: number, max: number): number {
  if (!Number.isSafeInteger(position) || position < 1 || position > max) throw new InvalidInputError(`position must be a whole number from 1 to ${max}, not ${position}`);
  return position;
}

function toTarget(row: TargetRow): Target {
  return {
    name: row.name,
    url: row.url,
    caFile: row.ca_file,
    certFile: row.cert_file,
    keyFile: row.key_file,
    serverKeyFile: row.server_key_file,
    enabled: row.enabled === 1,
    retryIntervalMs: row.retry_interval_ms,
    position: row.position,
    addedAt: row.added_at,
    state: {
      lastSuccessAt: row.last_success_at,
      lastFailureAt: row.last_failure_at,
      lastError: row.last_error,
      nextAttemptAt: row.next_attempt_at,
      consecutiveFailures: row.consecutive_failures,
    },
  };
}
