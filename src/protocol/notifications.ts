import { z } from 'zod';
import { holdsLoneSurrogate } from '../util/text.ts';

/**
 * The wire format between an agent and the server's intake: one HTTPS request carries a batch of
 * notifications, each with its password encrypted to the server (JWE compact serialisation), and
 * the answer says what became of each, in order. Both sides validate with these schemas.
 */

export const NOTIFICATIONS_PATH = '/v1/notifications';

/** The JWE algorithms, fixed: a server never accepts anything else (src/crypto/jwe.ts). */
export { JWE_ALG, JWE_ENC } from '../crypto/jwe.ts';

/**
 * Protected header parameters that bind the encrypted password to every other field of its
 * envelope: a ciphertext moved onto another account, source or notification, or given another
 * change or capture time (an old password made to look newest, a replay made to look fresh), is
 * refused. The times are JSON numbers, as in the envelope.
 */
export const JWE_BINDING = {
  id: 'pwsync.nid',
  source: 'pwsync.src',
  account: 'pwsync.acct',
  anchor: 'pwsync.anchor',
  changedAt: 'pwsync.changed',
  capturedAt: 'pwsync.captured',
} as const;

/**
 * The protected header that binds `n`'s password to `n`: what the agent seals with and the intake
 * compares with. Every envelope field but the password itself is in it.
 */
export function jweBinding(n: Omit<Notification, 'password'>): Record<string, string | number> {
  return {
    [JWE_BINDING.id]: n.id,
    [JWE_BINDING.source]: n.source,
    [JWE_BINDING.account]: n.account,
    ...(n.anchor === undefined ? {} : { [JWE_BINDING.anchor]: n.anchor }),
    [JWE_BINDING.changedAt]: n.changedAt,
    [JWE_BINDING.capturedAt]: n.capturedAt,
  };
}

/** A password longer than this is not a password (and would let a body carry anything). */
export const MAX_PASSWORD_BYTES = 1024;
const MAX_JWE_CHARS = 4096;

/** Epoch milliseconds after 1970 and within the range of a JavaScript `Date` (so that every one has an ISO form). */
const epochMs = z.number().int().positive().max(8_640_000_000_000_000);

/**
 * A login or an anchor: 1 to 256 characters of text. A control character is no login anyone has
 * (it is log injection), and half of a surrogate pair has no UTF-8 form (it would reach a target as
 * U+FFFD, another account).
 */
const name = z
  .string()
  .min(1)
  .max(256)
  .regex(/^\P{Cc}*$/u, 'must not contain control characters')
  .refine((s) => !holdsLoneSurrogate(s), 'must not hold a lone surrogate');

/**
 * The fields a capture decides, one schema each: the agent checks a capture with these before it
 * acknowledges it, and the server checks every notification with them, so that nothing the agent
 * acknowledged is refused for its shape (issue 16: a 1970 change time was acknowledged by the
 * hook, then refused by the server, and blocked the queue behind it).
 */
export const notificationFields = {
  /** The source system's name in the server's configuration. */
  source: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  /** The account as the source names it (a login). */
  account: name,
  /**
   * The account's immutable id at the source, when the capture knows it (AD's objectGUID, in its
   * string form): the server looks the account up by it first, then by `account`.
   */
  anchor: name,
  /** When the password was changed at the source. */
  changedAt: epochMs,
  /** When the agent captured it; the replay window counts from here. */
  capturedAt: epochMs,
} as const;

export const notificationSchema = z.strictObject({
  /** Chosen by the agent when it captured the change (a UUID); the change id at the server. */
  id: z.uuid(),
  source: notificationFields.source,
  account: notificationFields.account,
  anchor: notificationFields.anchor.optional(),
  changedAt: notificationFields.changedAt,
  capturedAt: notificationFields.capturedAt,
  /** The new password, JWE compact (ECDH-ES, A256GCM) to the server's key. */
  password: z.string().min(1).max(MAX_JWE_CHARS).regex(/^[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/, 'a JWE in compact serialisation'),
});

export type Notification = z.infer<typeof notificationSchema>;

/**
 * A request's envelope: only this refuses a request as a whole. Each member is checked on its own
 * with {@link notificationSchema}, and one that fails gets its own `rejected`/`malformed` result,
 * never the whole batch refused for it.
 */
export const batchEnvelopeSchema = z.strictObject({
  notifications: z.array(z.unknown()).min(1),
});

export const batchSchema = z.strictObject({
  notifications: z.array(notificationSchema).min(1),
});

export type NotificationBatch = z.infer<typeof batchSchema>;

/**
 * What became of one notification:
 * - `accepted`: committed (jobs made, or nothing to deliver); the agent deletes it;
 * - `duplicate`: this id was committed before (the agent's retry after a lost answer); deleted too;
 * - `rejected`: refused for good (unknown account, stale, undecryptable, `protected`: an account the
 *   server lets no agent change…); the agent records the
 *   reason and deletes it, except for `undecryptable`, which means the agent holds the wrong
 *   server key: that is the target's fault, not the change's, and the change waits;
 * - `retry`: not processed (a transient failure, or an earlier item failed); sent again later.
 */
export const RESULT_STATUSES = ['accepted', 'duplicate', 'rejected', 'retry'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export const REJECT_REASONS = ['malformed', 'unknown-source', 'unknown-account', 'stale', 'undecryptable', 'invalid', 'protected'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export const resultSchema = z.strictObject({
  id: z.string(),
  status: z.enum(RESULT_STATUSES),
  reason: z.enum(REJECT_REASONS).optional(),
  message: z.string().optional(),
});

export type NotificationResult = z.infer<typeof resultSchema>;

export const responseSchema = z.strictObject({
  results: z.array(resultSchema),
});

/** A refused request as a whole (authentication, size, shape): an HTTP 4xx with this body. */
export const errorBodySchema = z.strictObject({
  error: z.string(),
  message: z.string(),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;
