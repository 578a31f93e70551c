import type { KeyObject } from 'node:crypto';
import { decryptCompact } from '../../crypto/jwe.ts';
import { Secret } from '../../core/secret.ts';
import { jweBinding, JWE_BINDING, MAX_PASSWORD_BYTES, type Notification, type RejectReason } from '../../protocol/notifications.ts';
import { quoteUntrusted } from '../../core/untrusted-text.ts';

/** The server's JWE private key, and its key id when the key file names one. */
export interface JweDecryptionKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
}

/** Why a notification's password cannot be taken: the result's reason and message. */
export interface PasswordRefused {
  readonly reason: RejectReason;
  readonly message: string;
}

/**
 * Decrypts a notification's password straight into a Secret, checking algorithms and binding: the
 * protected header must hold exactly this notification's id, source, account, anchor, change time
 * and capture time (`jweBinding`), so a ciphertext moved onto another envelope, or an envelope
 * whose times were changed (an old password made newest, a replay made fresh), is refused.
 */
export function openPassword(n: Notification, jwe: JweDecryptionKey): Secret | PasswordRefused {
  let result: ReturnType<typeof decryptCompact>;
  try {
    result = decryptCompact(n.password, jwe.key);
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'error';
    const kid = headerKid(n.password);
    const which = kid !== undefined && jwe.kid !== undefined && kid !== jwe.kid ? ` (encrypted to key ${quoteUntrusted(kid, 80)}; this server's key is ${jwe.kid}: the agent holds another server key)` : '';
    return { reason: code === 'ERR_JWE_DECRYPTION_FAILED' ? 'undecryptable' : 'malformed', message: `the password cannot be decrypted with this server's key${which} [${code}]` };
  }
  const plain = result.plaintext;
  const header = result.header;
  const unbound = unboundFields(header, n);
  if (unbound.length > 0) {
    plain.fill(0);
    return { reason: 'invalid', message: `the encrypted password belongs to another notification: its protected header does not bind this notification's ${unbound.join(', ')}` };
  }
  if (plain.length === 0 || plain.length > MAX_PASSWORD_BYTES) {
    const length = plain.length;
    plain.fill(0);
    return { reason: 'invalid', message: `the password is ${length} bytes; it must be 1 to ${MAX_PASSWORD_BYTES}` };
  }
  // The plaintext buffer becomes the secret itself: no other copy of ours is left to wipe.
  return Secret.adopt(plain);
}

/** The key id a compact JWE's header names, to tell an agent holding another server key from a broken one. */
function headerKid(compact: string): string | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(compact.split('.')[0] ?? '', 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && 'kid' in header && typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The envelope fields whose value the protected header does not hold (a field bound in the header
 * but absent from the envelope counts too: the anchor). Compared as JSON values, so a time bound
 * as a string is not the number in the envelope.
 */
function unboundFields(header: Readonly<Record<string, unknown>>, n: Notification): string[] {
  const expected: Readonly<Record<string, unknown>> = jweBinding(n);
  const names = Object.entries(JWE_BINDING) as [keyof typeof JWE_BINDING, string][];
  return names.filter(([, parameter]) => header[parameter] !== expected[parameter]).map(([field]) => field);
}
