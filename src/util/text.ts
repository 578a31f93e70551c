/*
 * Input that must be text is checked, never decoded leniently: Buffer#toString and a stream's
 * setEncoding put U+FFFD in place of every byte that is not UTF-8, which turns an account name into
 * another one and a password into one nobody chose. JSON can still carry half of a surrogate pair
 * as an escape ("\ud800") in a body that is valid UTF-8; it has no UTF-8 form either.
 */

/** In a `u` regular expression a surrogate range matches only a surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Whether any string in parsed JSON (a key or a value, at any depth) holds a lone surrogate. */
export function holdsLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(holdsLoneSurrogate);
  if (typeof value === 'object' && value !== null) return Object.entries(value).some(([k, v]) => LONE_SURROGATE.test(k) || holdsLoneSurrogate(v));
  return false;
}

