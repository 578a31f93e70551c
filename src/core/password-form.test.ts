import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPasswordForm } from './password-form.ts';

const rules = (bytes: Uint8Array): string[] => checkPasswordForm(bytes).map((v) => v.rule);
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

test('a password of visible characters, spaces inside or around them, has the form', () => {
  for (const ok of ['Correct horse 1', ' padded ', 'Zoë-密码-😀', '\u3000x\u3000']) assert.deepEqual(rules(utf8(ok)), [], JSON.stringify(ok));
});

test('empty, not UTF-8, control characters and only white space each fail their rule', () => {
  assert.deepEqual(rules(new Uint8Array()), ['empty']);
  assert.deepEqual(rules(Buffer.from([0x43, 0x61, 0x66, 0xe9])), ['utf8'], 'Latin-1 é');
  assert.deepEqual(rules(Buffer.from([0xed, 0xa0, 0x80])), ['utf8'], 'an encoded surrogate');
  for (const c of ['\0', '\t', '\n', '\r', '\x1b', '\x7f', '\u0085', '\u009f']) assert.deepEqual(rules(utf8(`abc${c}def`)), ['control'], JSON.stringify(c));
  for (const blank of [' ', '          ', '\u00a0\u2003\u3000', '\u2028']) assert.deepEqual(rules(utf8(blank)), ['blank'], JSON.stringify(blank));
  assert.deepEqual(rules(utf8(' \t ')), ['control', 'blank'], 'every failure at once');
});

test('no message names a character of the password', () => {
  for (const v of checkPasswordForm(utf8('s3cr3t\x1bX'))) assert.ok(!/s3cr3t|X/.test(v.message), v.message);
});
