import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constantTimeEqual, decodeBase64, encodeBase64, encodeBase64Padded, parseDecimal } from './codec.ts';

void test('adapted base64 writes . for + and no padding; standard keeps +', () => {
  const bytes = Buffer.from([0xfb, 0xef, 0xbe, 0xfb]);
  assert.equal(encodeBase64(bytes, 'adapted'), '.....w');
  assert.equal(encodeBase64(bytes, 'standard'), '+++++w');
  assert.equal(encodeBase64Padded(bytes), '+++++w==');
});

void test('decodeBase64 round-trips every length in both flavours', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 97 + 251) & 0xff));
    for (const flavour of ['standard', 'adapted'] as const) {
      assert.deepEqual(decodeBase64(encodeBase64(bytes, flavour), flavour), bytes);
    }
    assert.deepEqual(decodeBase64(encodeBase64Padded(bytes), 'standard'), bytes);
  }
});

void test('adapted decoding also takes + (OpenLDAP leaves a leading + unconverted)', () => {
  assert.deepEqual(decodeBase64('+w', 'adapted'), decodeBase64('.w', 'adapted'));
});

void test('decodeBase64 refuses what Buffer.from would silently skip or truncate', () => {
  for (const text of ['ab!d', 'a', 'abcde', 'ab=c', 'ab===', 'abc=d', 'ab =', 'ab\n', 'ab.c=']) {
    assert.equal(decodeBase64(text, 'standard'), undefined, JSON.stringify(text));
  }
  for (const text of ['ab=', 'ab==', 'a b', 'a-b']) assert.equal(decodeBase64(text, 'adapted'), undefined, text);
  assert.equal(decodeBase64('ab.c', 'standard'), undefined);
});

void test('parseDecimal takes plain decimal integers only', () => {
  assert.equal(parseDecimal('0'), 0);
  assert.equal(parseDecimal('29000'), 29000);
  assert.equal(parseDecimal('9999999999'), 9_999_999_999);
  for (const text of ['', '01', '-1', '+1', '1e3', ' 1', '1 ', '0x10', '1.5', '12345678901']) assert.equal(parseDecimal(text), undefined, text);
});

void test('constantTimeEqual compares content and length', () => {
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc')), true);
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abd')), false);
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd')), false);
});
