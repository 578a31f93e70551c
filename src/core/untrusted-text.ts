/**
 * Text that came from outside (a certificate's subject, an account name an agent sent, a peer's
 * error message) on its way into a message that a person reads: in the event log, a log file, a
 * terminal. Such text may hold escape sequences that clear or rewrite the operator's screen,
 * newlines that forge further lines, bidirectional overrides that show it reversed, or kilobytes
 * that drown the rest. Here it is made visible and short; nothing is ever dropped silently.
 */

/**
 * Characters that act on a terminal or hide text instead of showing themselves: controls (C0, DEL,
 * C1, among them ESC and the 8-bit CSI), format characters (bidirectional overrides, zero-width
 * ones, the BOM), line and paragraph separators, and lone surrogates.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** The longest quoted text, in characters, by default: an account name (256) fits, a 12 KB subject does not. */
export const MAX_QUOTED_CHARS = 300;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One character's escape: `\n`, `\r`, `\t`, `\xNN`, `\uNNNN` or `\u{NNNNN}`. */
function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const cp = c.codePointAt(0) ?? 0;
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/**
 * The text with every invisible character (see above) written as its escape, so that it shows
 * and acts on nothing; `keepTabs` leaves tabs as they are (free text where a tab only moves the
 * cursor right). Backslashes are left alone: for text whose escapes must be unambiguous, use
 * `quoteUntrusted`.
 */
export function escapeInvisible(text: string, keepTabs = false): string {
  return text.replace(INVISIBLE, (c) => (keepTabs && c === '\t' ? c : escapeChar(c)));
}

/**
 * Untrusted text in double quotes for a message: invisible characters escaped, `"` and `\`
 * escaped so that the quotes hold, and cut at `maxChars` characters of the result with an
 * ellipsis and the original length (`"abc…" (12345 characters)`). Every message that carries text
 * from outside carries it through this.
 */
export function quoteUntrusted(text: string, maxChars = MAX_QUOTED_CHARS): string {
  let out = '';
  let cut = false;
  for (const c of text) {
    const piece = c === '"' || c === '\\' ? `\\${c}` : c.replace(INVISIBLE, (ch) => escapeChar(ch));
    if (out.length + piece.length > maxChars) {
      cut = true;
      break;
    }
    out += piece;
  }
  return cut ? `"${out}…" (${text.length} characters)` : `"${out}"`;
}

/**
 * JSON text (as JSON.stringify makes it) with the invisible characters it left in its strings
 * written as `\uXXXX`. JSON.stringify escapes C0 controls and lone surrogates itself, but leaves
 * DEL, the C1 controls (0x9b is a terminal's CSI), bidirectional overrides and line separators as
 * they are. Outside its strings such JSON holds no character but ASCII and the tabs, newlines and
 * spaces of its layout (left as they are): so each replaced character sits in a string, where its
 * escape is the same value, and the result parses to exactly what the original did.
 */
export function visibleJson(json: string): string {
  return json.replace(INVISIBLE, (c) => (c === '\n' || c === '\r' || c === '\t' ? c : [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')));
}

/** Whether the text holds any character `escapeInvisible` would escape. */
export function hasInvisible(text: string): boolean {
  return new RegExp(INVISIBLE.source, 'u').test(text);
}
