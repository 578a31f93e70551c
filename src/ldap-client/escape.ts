/*
 * Escaping of a value spliced into a DN built from a name. Filters need no function here: values
 * pwsync puts in a filter travel as ldapts filter objects (bytes, nothing to escape), and where a
 * configured filter template takes a value, ldapts' own `Filter.escape` is the one that matches
 * how its parser reads the text back (it turns each `\xx` into one character, so escaping the
 * bytes of a UTF-8 character would change them).
 */

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

/**
 * A DN's key for comparing DNs: without case and without spaces around separators, so the same
 * entry spelled differently by two searches (or by a person in a configuration) compares equal.
 */
export function dnKey(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, (_, separator: string) => separator);
}
