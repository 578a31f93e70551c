import { isUtf8 } from 'node:buffer';
import { PolicyError } from './errors.ts';

/*
 * A password is the exact bytes captured, never transcoded. Most are UTF-8 text, but one set at a
 * source that hands over bytes (a PAM stack, a terminal in Latin-1) need not be: such a password
 * still travels as its bytes, and a target that takes bytes (an LDAP Password Modify, a hash over
 * the bytes) sets it as it is. A target or library that takes a password only as text refuses it:
 * decoding would put U+FFFD in place of each bad byte and set a password nobody chose.
 */

/** Whether the clear bytes are valid UTF-8 (no stray or truncated sequence, no encoded surrogate). */
export function isUtf8Password(clear: Uint8Array): boolean {
  return isUtf8(clear);
}

/**
 * The clear bytes as a JavaScript string, for a target that takes text only; `use` names that
 * target or library for the refusal ("the sql plaintext column").
 *
 * @throws PolicyError (6927) when the bytes are not valid UTF-8: the target is never handed a
 *   replacement character.
 */
export function passwordAsText(clear: Buffer, use: string): string {
  if (!isUtf8(clear)) throw notUtf8(use);
  return clear.toString('utf8');
}

/** The refusal of a password that is not valid UTF-8 by `use`, which takes text only (6927). */
export function notUtf8(use: string): PolicyError {
  return new PolicyError(`the password is not valid UTF-8 (its source handed it over as bytes), and ${use} takes a password as text only: it was not set, rather than set to a different password`);
}
