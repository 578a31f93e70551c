import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { escapeDnValue } from './escape.ts';

/** A small deterministic generator (mulberry32), so that a failure reproduces. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random string of code points from ASCII, Latin, the BMP beyond and the astral planes (no lone surrogates). */
function randomString(next: () => number): string {
  const length = Math.floor(next() * 12);
  let out = '';
  for (let i = 0; i < length; i++) {
    const bucket = next();
    let cp: number;
    if (bucket < 0.5) cp = Math.floor(next() * 0x80);
    else if (bucket < 0.7) cp = 0x80 + Math.floor(next() * 0x780);
    else if (bucket < 0.9) cp = 0x800 + Math.floor(next() * (0xd800 - 0x800));
    else cp = 0x10000 + Math.floor(next() * 0xfffff);
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** Strings that have broken DNs and filters somewhere. */
const HOSTILE = [
  '',
  ' ',
  '  ',
  '#',
  '# ',
  ' #',
  '#abc',
  'a#b',
  'trail ',
  ' lead',
  ' both ',
  'in side',
  ',',
  '+',
  '"',
  '\\',
  '<',
  '>',
  ';',
  '=',
  '*',
  '(',
  ')',
  '()',
  '*)(uid=*))(|(uid=*',
  'cn=admin,dc=example,dc=org',
  'a+b=c',
  'Smith, John',
  '"quoted"',
  'back\\slash',
  '\\2c',
  '\\',
  '\0',
  'nul\0inside',
  '\n',
  'tab\there',
  '\r\n',
  '\x1f',
  '\x7f',
  '\u0080',
  '\u00a0',
  'Lučić',
  'Pässwörd',
  'Ελληνικά',
  '日本語',
  '🔑',
  'key🔑 ',
  '\ufeff',
  '\uffff',
];

/*
 * RFC 4514 §3's grammar for an attribute value in its string form, and the unescaping of §4: a test
 * oracle written from the RFC, independent of the code under test. ldapts' DN class only builds DNs
 * (it has no parser), so the test parses them itself.
 *
 *   string   = [ ( leadchar / pair ) [ *( stringchar / pair ) ( trailchar / pair ) ] ]
 *   leadchar = LUTF1 / UTFMB     LUTF1 = %x01-1F / %x21 / %x24-2A / %x2D-3A / %x3D / %x3F-5B / %x5D-7F
 *   trailchar= TUTF1 / UTFMB     TUTF1 = %x01-1F / %x21 / %x23-2A / %x2D-3A / %x3D / %x3F-5B / %x5D-7F
 *   stringchar = SUTF1 / UTFMB   SUTF1 = %x01-21 / %x23-2A / %x2D-3A / %x3D / %x3F-5B / %x5D-7F
 *   pair     = ESC ( ESC / special / hexpair )
 *   special  = escaped / SPACE / SHARP / EQUALS;  escaped = DQUOTE / PLUS / COMMA / SEMI / LANGLE / RANGLE
 */
const SPECIAL = '"+,;<> #=\\';

function inRanges(code: number, ranges: readonly (readonly [number, number])[]): boolean {
  return ranges.some(([lo, hi]) => code >= lo && code <= hi);
}
const COMMON: readonly (readonly [number, number])[] = [[0x24, 0x2a], [0x2d, 0x3a], [0x3d, 0x3d], [0x3f, 0x5b], [0x5d, 0x7f]];
const LUTF1 = [[0x01, 0x1f], [0x21, 0x21], ...COMMON] as const;
const TUTF1 = [[0x01, 0x1f], [0x21, 0x21], [0x23, 0x23], ...COMMON] as const;
const SUTF1 = [[0x01, 0x21], [0x23, 0x23], ...COMMON] as const;

/** One token of a value: an unescaped character, or a pair (an escape). */
type Token = { readonly kind: 'char'; readonly text: string } | { readonly kind: 'pair'; readonly bytes: number[] };

/** Splits `text` (one attribute value, as written in a DN) into tokens; throws where RFC 4514 does not allow it. */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch !== '\\') {
      out.push({ kind: 'char', text: ch });
      continue;
    }
    const next = chars[i + 1];
    if (next === undefined) throw new Error(`a lone backslash at the end of ${JSON.stringify(text)}`);
    if (SPECIAL.includes(next)) {
      out.push({ kind: 'pair', bytes: [next.charCodeAt(0)] });
      i += 1;
      continue;
    }
    const hex = `${next}${chars[i + 2] ?? ''}`;
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`a backslash followed by ${JSON.stringify(hex)} in ${JSON.stringify(text)}`);
    out.push({ kind: 'pair', bytes: [Number.parseInt(hex, 16)] });
    i += 2;
  }
  return out;
}

/** The value an RFC 4514 string denotes; throws when the string is not one. */
function unescapeDnValue(text: string): string {
  const list = tokens(text);
  list.forEach((token, i) => {
    if (token.kind === 'pair') return;
    const code = token.text.codePointAt(0) ?? 0;
    if (code >= 0x80) return; // UTFMB: allowed anywhere
    const ranges = i === 0 ? LUTF1 : i === list.length - 1 ? TUTF1 : SUTF1;
    // A one-character value is both lead and trail: it must satisfy both.
    const ok = inRanges(code, ranges) && (list.length !== 1 || inRanges(code, TUTF1));
    if (!ok) throw new Error(`${JSON.stringify(token.text)} may not appear unescaped at ${i} of ${JSON.stringify(text)}`);
  });
  const bytes: number[] = [];
  for (const token of list) {
    if (token.kind === 'pair') bytes.push(...token.bytes);
    else bytes.push(...Buffer.from(token.text, 'utf8'));
  }
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(bytes));
}

/** Splits a DN into its `type=value` pairs (RDN by RDN, multi-valued RDNs flattened), unescaping values. */
function parseDn(dn: string): [string, string][] {
  const pairs: [string, string][] = [];
  let current = '';
  const flush = (): void => {
    const eq = current.indexOf('=');
    if (eq < 1) throw new Error(`no attribute type in ${JSON.stringify(current)}`);
    const type = current.slice(0, eq);
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(type)) throw new Error(`a bad attribute type ${JSON.stringify(type)}`);
    pairs.push([type, unescapeDnValue(current.slice(eq + 1))]);
    current = '';
  };
  const chars = Array.from(dn);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch === '\\') {
      current += ch + (chars[i + 1] ?? '');
      i += 1;
    } else if (ch === ',' || ch === '+') {
      flush();
    } else {
      current += ch;
    }
  }
  flush();
  return pairs;
}

void describe('escapeDnValue (RFC 4514)', () => {
  void test('the special characters get a backslash', () => {
    assert.equal(escapeDnValue(','), '\\,');
    assert.equal(escapeDnValue('+'), '\\+');
    assert.equal(escapeDnValue('"'), '\\"');
    assert.equal(escapeDnValue('\\'), '\\\\');
    assert.equal(escapeDnValue('<'), '\\<');
    assert.equal(escapeDnValue('>'), '\\>');
    assert.equal(escapeDnValue(';'), '\\;');
    assert.equal(escapeDnValue('='), '\\=');
    assert.equal(escapeDnValue('Smith, John <jsmith>'), 'Smith\\, John \\<jsmith\\>');
    assert.equal(escapeDnValue('a+b=c;d"e\\f'), 'a\\+b\\=c\\;d\\"e\\\\f');
  });

  void test('a leading # or space and a trailing space are escaped; inner ones are not', () => {
    assert.equal(escapeDnValue('#abc'), '\\#abc');
    assert.equal(escapeDnValue('a#b#'), 'a#b#');
    assert.equal(escapeDnValue(' lead'), '\\ lead');
    assert.equal(escapeDnValue('trail '), 'trail\\ ');
    assert.equal(escapeDnValue(' both '), '\\ both\\ ');
    assert.equal(escapeDnValue('in side'), 'in side');
    assert.equal(escapeDnValue(' '), '\\ ');
    assert.equal(escapeDnValue('  '), '\\ \\ ');
    assert.equal(escapeDnValue('   '), '\\  \\ ');
    assert.equal(escapeDnValue('#'), '\\#');
    assert.equal(escapeDnValue('# '), '\\#\\ ');
  });

  void test('NUL and control characters as \\XX; DEL too', () => {
    assert.equal(escapeDnValue('\0'), '\\00');
    assert.equal(escapeDnValue('a\nb'), 'a\\0ab');
    assert.equal(escapeDnValue('\t\x1f\x7f'), '\\09\\1f\\7f');
  });

  void test('characters beyond ASCII stay as they are, astral ones included', () => {
    assert.equal(escapeDnValue('Lučić'), 'Lučić');
    assert.equal(escapeDnValue('日本語'), '日本語');
    assert.equal(escapeDnValue('🔑'), '🔑');
    assert.equal(escapeDnValue('🔑 '), '🔑\\ ');
    assert.equal(escapeDnValue('\u00a0'), '\u00a0');
  });

  void test('the empty value stays empty', () => {
    assert.equal(escapeDnValue(''), '');
  });

  void test('cn=<escaped>,dc=x is a valid RFC 4514 DN with two RDNs whose cn is the value', () => {
    const check = (value: string): void => {
      const dn = `cn=${escapeDnValue(value)},dc=x`;
      let pairs: [string, string][];
      try {
        pairs = parseDn(dn);
      } catch (e) {
        assert.fail(`${JSON.stringify(value)} → ${JSON.stringify(dn)}: ${(e as Error).message}`);
      }
      assert.deepEqual(pairs, [['cn', value], ['dc', 'x']], `${JSON.stringify(value)} → ${JSON.stringify(dn)}`);
    };
    for (const value of HOSTILE) check(value);
    const next = random(4514);
    for (let i = 0; i < 1000; i++) check(randomString(next));
  });

  void test('the test oracle itself refuses what RFC 4514 refuses', () => {
    for (const bad of ['a,b', ' a', 'a ', '#a', 'a\\', 'a\\zz', 'a"b', 'a<b', 'a;b', '\0']) {
      assert.throws(() => unescapeDnValue(bad), Error, JSON.stringify(bad));
    }
    assert.equal(unescapeDnValue('Lu\\c4\\8di\\c4\\87'), 'Lučić');
    assert.equal(unescapeDnValue('a=b'), 'a=b');
  });
});
