/**
 * The form every password pwsync itself is about to set must have (`pwsync change`, later the
 * helpdesk and self-service), whatever the targets' policies say: a password that one target would
 * take and another would refuse, or take differently, must not be started at all. A password
 * captured at a source is not held to it: it is already set there, its bytes travel as they are.
 *
 * The rules, and why:
 * - **UTF-8.** A target that takes text would decode other bytes into U+FFFD and set a password
 *   nobody chose; one that takes bytes would set the bytes: the person's passwords would differ.
 * - **No control character** (Unicode Cc: U+0000–U+001F, U+007F–U+009F: NUL, tab, line breaks,
 *   escape). NUL ends a C string (PAM, crypt, many SQL drivers); a line break ends a line of a file
 *   target or of `--stdin`; none can be typed at a login prompt the same way everywhere.
 * - **Not only white space** (Unicode White_Space: spaces, no-break and ideographic spaces): many
 *   systems trim, and a password of spaces is one nobody can see being typed.
 * - **Not empty.**
 * Nothing here names a character of the password: messages give counts and rule names only.
 */
import { codePoints, INVALID } from './password-policy.ts';

/** The form rules a password can fail. */
export type FormRule = 'empty' | 'utf8' | 'control' | 'blank';

/** One form rule a password fails; the message is a clause about the password, never a character of it. */
export interface FormViolation {
  readonly rule: FormRule;
  readonly message: string;
}

const WHITE_SPACE = /^\p{White_Space}$/u;

/** Every form rule `clear` (the password's bytes, as `Secret.use` lends them) fails; empty when it has the form. */
export function checkPasswordForm(clear: Uint8Array): FormViolation[] {
  if (clear.length === 0) return [{ rule: 'empty', message: 'is empty' }];
  let controls = 0;
  let visible = false;
  for (const cp of codePoints(clear)) {
    if (cp === INVALID) return [{ rule: 'utf8', message: 'is not valid UTF-8 text' }];
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) controls++;
    // Outside ASCII the property is tested on a one-character string of its own, never more of the password.
    else if (!visible && (cp < 0x80 ? cp !== 0x20 : !WHITE_SPACE.test(String.fromCodePoint(cp)))) visible = true;
  }
  const out: FormViolation[] = [];
  if (controls > 0) out.push({ rule: 'control', message: `contains ${controls} control character${controls === 1 ? '' : 's'} (NUL, tab, line break, escape and the like: Unicode Cc)` });
  if (!visible) out.push({ rule: 'blank', message: 'is only white space' });
  return out;
}
