import type { SealedSecret } from '../../core/model.ts';
import type { Ctx } from '../../sqlite/context.ts';

/** The job states that still need their change's secret. */
export const OPEN_STATES = "('pending', 'in_progress', 'retry_scheduled')";

/**
 * Sets the sealed secret of each change to NULL when it has no open job left, in the current
 * transaction. With secure_delete on, SQLite overwrites the freed bytes in the page.
 */
export function wipeClosedSecrets(ctx: Ctx, changeIds: Iterable<string>, at: number): void {
  const wipe = ctx.sql.prepare(
    `UPDATE changes SET secret = NULL, key_id = NULL, wiped_at = ?
      WHERE id = ? AND secret IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE change_id = changes.id AND state IN ${OPEN_STATES})`,
  );
  let wiped = 0;
  for (const id of new Set(changeIds)) wiped += wipe.run(at, id).changes;
  if (wiped > 0) ctx.wiped();
}

export function sealedSecrets(ctx: Ctx): { changeId: string; secret: SealedSecret }[] {
  return ctx.sql
    .prepare<{ id: string; key_id: string; secret: Buffer }>('SELECT id, key_id, secret FROM changes WHERE secret IS NOT NULL ORDER BY id')
    .all()
    .map((row) => ({ changeId: row.id, secret: { keyId: row.key_id, blob: row.secret } }));
}

/**
 * Replaces sealed secrets in one transaction. A secret wiped since it was read (its last job ended
 * during the rotation) stays wiped: resealing must never bring a secret back.
 */
export function resealSecrets(ctx: Ctx, secrets: readonly { changeId: string; secret: SealedSecret }[]): void {
  ctx.sql.write(() => {
    const update = ctx.sql.prepare('UPDATE changes SET key_id = ?, secret = ? WHERE id = ? AND secret IS NOT NULL');
    for (const { changeId, secret } of secrets) update.run(secret.keyId, secret.blob, changeId);
  });
}
