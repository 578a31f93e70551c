import { z } from 'zod';
import { MAX_PASSWORD_BYTES, notificationFields } from '../../protocol/notifications.ts';

/**
 * The capture socket's framing. A hook writes one header line of JSON, `\n`, then exactly
 * `length` bytes of password (raw, so that no password ever has to pass through a JSON string),
 * and reads one line of JSON back. Several frames may follow on one connection.
 */
export const MAX_HEADER_BYTES = 4096;
/** The notification's limit: a longer password could be captured but never delivered. */
export { MAX_PASSWORD_BYTES } from '../../protocol/notifications.ts';

export const passwordHeaderSchema = z.strictObject({
  v: z.literal(1),
  account: notificationFields.account,
  /** Optional: the agent's first source. */
  source: z.string().min(1).max(63).optional(),
  /** Epoch milliseconds of the change at the source; default the agent's clock. The notification's own schema. */
  changedAt: notificationFields.changedAt.optional(),
  length: z.number().int().min(1).max(MAX_PASSWORD_BYTES),
});

/** syncpasswords' LDIF of one account is a few KiB; the hook refuses more than this, and so does the socket. */
export const MAX_LDIF_BYTES = 65_536;

/**
 * A frame whose payload is one account's LDIF as `samba-tool user syncpasswords` hands it to its
 * `--script` (pwsync-samba-hook sends it as it is): the agent reads the account, its objectGUID,
 * its pwdLastSet and the cleartext from it.
 */
export const sambaHeaderSchema = z.strictObject({
  v: z.literal(1),
  format: z.literal('samba-syncpasswords'),
  /** Optional: the Samba capture's source. */
  source: z.string().min(1).max(63).optional(),
  length: z.number().int().min(1).max(MAX_LDIF_BYTES),
});

export type PasswordHeader = z.infer<typeof passwordHeaderSchema>;
export type SambaHeader = z.infer<typeof sambaHeaderSchema>;
export type CaptureHeader = PasswordHeader | SambaHeader;

/** A header line's JSON checked against the frame its `format` names (none: a password frame). */
export function parseCaptureHeader(value: unknown): z.ZodSafeParseResult<CaptureHeader> {
  const isSamba = typeof value === 'object' && value !== null && 'format' in value;
  return isSamba ? sambaHeaderSchema.safeParse(value) : passwordHeaderSchema.safeParse(value);
}

/**
 * What a hook is told: `queued` (committed; the hook may exit), `out-of-scope`, `skipped` (there is
 * no new password to forward: a Samba report of an unchanged password, say), or an error.
 */
export type CaptureAnswer =
  | { readonly ok: true; readonly status: 'queued'; readonly id: string }
  | { readonly ok: true; readonly status: 'out-of-scope'; readonly reason: string }
  | { readonly ok: true; readonly status: 'skipped'; readonly reason: string }
  | { readonly ok: false; readonly error: CaptureErrorCode; readonly message: string };

export type CaptureErrorCode = 'malformed' | 'unknown-source' | 'queue-full' | 'unavailable' | 'unauthorized';

export const captureAnswerSchema = z.union([
  z.object({ ok: z.literal(true), status: z.literal('queued'), id: z.string() }),
  z.object({ ok: z.literal(true), status: z.literal('out-of-scope'), reason: z.string() }),
  z.object({ ok: z.literal(true), status: z.literal('skipped'), reason: z.string() }),
  z.object({ ok: z.literal(false), error: z.enum(['malformed', 'unknown-source', 'queue-full', 'unavailable', 'unauthorized']), message: z.string() }),
]);
