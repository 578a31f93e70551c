import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { escapeInvisible, hasInvisible, MAX_QUOTED_CHARS, quoteUntrusted, visibleJson } from './untrusted-text.ts';

describe('untrusted text in messages', () => {
  test('escape sequences, newlines, C1 controls, bidi overrides and lone surrogates show as escapes', () => {
    const hostile = 'a\x1b[2J\nFAKE\r\t\x00\x7f\x9b31m\u202Egnp.exe\u2028\u200b\ud800z';
    const shown = escapeInvisible(hostile);
    assert.equal(shown, 'a\\x1b[2J\\nFAKE\\r\\t\\x00\\x7f\\x9b31m\\u202egnp.exe\\u2028\\u200b\\ud800z');
    assert.equal(hasInvisible(shown), false);
    assert.equal(hasInvisible(hostile), true);
    assert.equal(escapeInvisible('tab\there', true), 'tab\there');
  });

  test('ordinary text, accents and emoji pass unchanged', () => {
    for (const text of ['alice', 'Zoë Ünal-Łukasz', 'CN=agent dc1, O=Example', '名前', 'x😀y']) {
      assert.equal(escapeInvisible(text), text);
      assert.equal(quoteUntrusted(text), `"${text}"`);
    }
  });

  test('quotes and backslashes are escaped so the quotes hold', () => {
    assert.equal(quoteUntrusted('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(quoteUntrusted('x" (from 10.0.0.1)\n'), '"x\\" (from 10.0.0.1)\\n"');
  });

  test('long text is cut with an ellipsis and its length, never in the middle of an escape', () => {
    const cn = `\x1b[2J${'A'.repeat(12 * 1024)}`;
    const quoted = quoteUntrusted(cn);
    assert.ok(quoted.length < MAX_QUOTED_CHARS + 40, `${quoted.length} characters`);
    assert.match(quoted, /^"\\x1b\[2JA+…" \(12292 characters\)$/);
    const escapes = quoteUntrusted('\n'.repeat(100), 9);
    assert.equal(escapes, '"\\n\\n\\n\\n…" (100 characters)');
  });

  test('JSON keeps its layout and its values; every invisible character in its strings becomes an escape', () => {
    const value = { message: 'a\x1b[2J\n\x7f\x9b\u202e\u2028\ud800\u{e0001}z', list: ['\t'] };
    for (const json of [JSON.stringify(value), JSON.stringify(value, null, 2)]) {
      const shown = visibleJson(json);
      assert.deepEqual(JSON.parse(shown), JSON.parse(json));
      assert.equal(hasInvisible(shown.replace(/[\n ]/g, '')), false, shown);
    }
  });
});
