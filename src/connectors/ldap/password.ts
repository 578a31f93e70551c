import { transcode } from 'node:buffer';
import { InvalidInputError } from '../../core/errors.ts';
import { isUtf8Password, notUtf8 } from '../../core/password-text.ts';
import { clearBuffer } from '../../core/secret.ts';

/*
 * The two ways a clear password travels to a directory, built as bytes the caller wipes: the
 * Password Modify request (RFC 3062) and AD's `unicodePwd` value. Neither passes through a
 * JavaScript string.
 */

/** RFC 3062's OID for the Password Modify extended operation. */
export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

function berLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length <= 0xff) return Buffer.from([0x81, length]);
  if (length <= 0xffff) return Buffer.from([0x82, length >> 8, length & 0xff]);
  throw new InvalidInputError('a password modify request larger than 64 KiB');
}

function tagged(tag: number, value: Buffer): Buffer[] {
  return [Buffer.from([tag]), berLength(value.length), value];
}

/**
 * `PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OCTET STRING OPTIONAL,
 * oldPasswd [1] OCTET STRING OPTIONAL, newPasswd [2] OCTET STRING OPTIONAL }`. Without
 * `userIdentity` the request is about the bound user. The returned buffer holds the passwords:
 * the caller wipes it.
 */
export function passwordModifyRequest(fields: { readonly userDn?: string; readonly oldPassword?: Buffer; readonly newPassword: Buffer }): Buffer {
  const parts: Buffer[] = [];
  if (fields.userDn !== undefined) parts.push(...tagged(0x80, Buffer.from(fields.userDn, 'utf8')));
  if (fields.oldPassword !== undefined) parts.push(...tagged(0x81, fields.oldPassword));
  parts.push(...tagged(0x82, fields.newPassword));
  const body = joined(parts);
  const out = joined([Buffer.from([0x30]), berLength(body.length), body]);
  body.fill(0);
  return out;
}

const QUOTE = Buffer.from('"', 'utf8');

/** The parts one after the other, in memory of their own (clearBuffer says why; Buffer.concat takes from Node's pool). */
function joined(parts: readonly Buffer[]): Buffer {
  const out = clearBuffer(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) at += p.copy(out, at);
  return out;
}

/**
 * AD's `unicodePwd`: the password in double quotes, UTF-16LE. Transcoded from the UTF-8 bytes
 * directly, so characters beyond ASCII (and beyond the BMP, as surrogate pairs) are right — the
 * classic bug is to write the code units of a Latin-1 reading. Bytes that are not UTF-8 are refused:
 * they have no UTF-16 form, and a replacement character would set a password nobody knows: that is
 * a refusal of this target's (6927), as the password may still be set on a target that takes bytes.
 */
export function unicodePwd(clear: Buffer): Buffer {
  if (!isUtf8Password(clear)) throw notUtf8("Active Directory's unicodePwd (UTF-16LE)");
  const quoted = joined([QUOTE, clear, QUOTE]);
  try {
    return transcode(quoted, 'utf8', 'utf16le');
  } finally {
    quoted.fill(0);
  }
}
