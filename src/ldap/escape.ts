/*
 * Escaping of values spliced into LDAP text. pwsync builds filters as ldapts filter objects where
 * it can (their values travel as bytes, nothing to escape); these are for the places where text is
 * composed: a filter template of the configuration, a DN built from a name.
 */

/**
 * A value for an RFC 4515 filter: `*`, `(`, `)`, `\` and NUL as `\XX`, and every byte outside
 * printable ASCII too, so that the filter text is plain ASCII whatever the value holds.
 */
export function escapeFilterValue(value: string | Uint8Array): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  let out = '';
  for (const byte of bytes) {
    const special = byte === 0x2a || byte === 0x28 || byte === 0x29 || byte === 0x5c || byte < 0x20 || byte >= 0x7f;
    out += special ? `\\${byte.toString(16).padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/**
 * An attribute value for an RFC 4514 DN: `"`, `+`, `,`, `;`, `<`, `>`, `\` and `=` with a
 * backslash, a leading `#` or space and a trailing space too, NUL and other control characters as
 * `\XX`. Characters beyond ASCII stay as they are (a DN is UTF-8 text).
 */
export function escapeDnValue(value: string): string {
  let out = '';
  // Code points are what matters here (escaping looks at ASCII only); grapheme clusters are not.
  const chars = Array.from(value);
  chars.forEach((ch, i) => {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, '0')}`;
    else if ('"+,;<>\\='.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === '#' || ch === ' ')) || (i === chars.length - 1 && ch === ' ')) out += `\\${ch}`;
    else out += ch;
  });
  return out;
}
