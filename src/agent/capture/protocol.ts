import { z } from 'zod';

/**
 * The capture socket's framing. A hook writes one header line of JSON, `\n`, then exactly
 * `length` bytes of password (raw, so that no password ever has to pass through a JSON string),
 * and reads one line of JSON back. Several frames may follow on one connection.
 */
export const MAX_HEADER_BYTES = 4096;
export const MAX_PASSWORD_BYTES = 1024;

export const captureHeaderSchema = z.strictObject({
  v: z.literal(1),
  account: z.string().min(1).max(256),
  /** Optional: the agent's first source. */
  source: z.string().min(1).max(63).optional(),
  /** Epoch milliseconds of the change at the source; default the agent's clock. */
  changedAt: z.number().int().positive().optional(),
  length: z.number().int().min(1).max(MAX_PASSWORD_BYTES),
});

export type CaptureHeader = z.infer<typeof captureHeaderSchema>;

/** What a hook is told: `queued` (committed; the hook may exit), `out-of-scope`, or an error. */
export type CaptureAnswer =
  | { readonly ok: true; readonly status: 'queued'; readonly id: string }
  | { readonly ok: true; readonly status: 'out-of-scope'; readonly reason: string }
  | { readonly ok: false; readonly error: CaptureErrorCode; readonly message: string };

export type CaptureErrorCode = 'malformed' | 'unknown-source' | 'queue-full' | 'unavailable' | 'unauthorized';

export const captureAnswerSchema = z.union([
  z.object({ ok: z.literal(true), status: z.literal('queued'), id: z.string() }),
  z.object({ ok: z.literal(true), status: z.literal('out-of-scope'), reason: z.string() }),
  z.object({ ok: z.literal(false), error: z.enum(['malformed', 'unknown-source', 'queue-full', 'unavailable', 'unauthorized']), message: z.string() }),
]);
