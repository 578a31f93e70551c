import { InvalidInputError } from '../../core/errors.ts';
import type { EpochMs } from '../../core/model.ts';
import type { Ctx } from '../../sqlite/context.ts';

/**
 * How far each source account's password has been taken: a number that grows with every new
 * password at the source (AD's msDS-KeyVersionNumber). A capture source that reports an account's
 * whole current state whenever any of its attributes changes (Samba's syncpasswords) is told a
 * new password from the same one reported again by it.
 */
export function getMark(ctx: Ctx, source: string, accountKey: string): number | undefined {
  return ctx.sql.read(() => ctx.sql.prepare<{ mark: number }>('SELECT mark FROM capture_marks WHERE source = ? AND account_key = ?').get(source, accountKey)?.mark);
}

/**
 * Records `mark` unless a higher one is recorded already (marks never go back). Without an fsync
 * of its own (the next durable commit carries it): a mark lost with the machine only means the same
 * password is forwarded once more, and this write comes once per captured change.
 */
export function setMark(ctx: Ctx, source: string, accountKey: string, mark: number, at: EpochMs): void {
  if (!Number.isSafeInteger(mark) || mark < 0) throw new InvalidInputError(`a capture mark must be a non-negative integer, not ${String(mark)}`);
  ctx.sql.writeWithoutSync(() =>
    ctx.sql
      .prepare(
        `INSERT INTO capture_marks (source, account_key, mark, at) VALUES (?, ?, ?, ?)
         ON CONFLICT (source, account_key) DO UPDATE SET mark = excluded.mark, at = excluded.at WHERE excluded.mark > capture_marks.mark`,
      )
      .run(source, accountKey, mark, at),
  );
}
