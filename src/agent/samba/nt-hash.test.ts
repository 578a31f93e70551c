import assert from 'node:assert/strict';
import { test } from 'node:test';
import { md4, ntHash, utf16leToUtf8 } from './nt-hash.ts';

test('MD4: the test suite of RFC 1320', () => {
  const vectors: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [text, hex] of vectors) assert.equal(md4(Buffer.from(text, 'latin1')).toString('hex'), hex, text);
});

test('the NT hash of "password" is the well-known 8846f7ea…', () => {
  assert.equal(ntHash(Buffer.from('password', 'utf16le')).toString('hex'), '8846f7eaee8fb117ad06bdd830b7586c');
});

test('UTF-16LE to UTF-8: ASCII, accents, CJK, astral plane; invalid input refused', () => {
  for (const text of ['', 'Pw-1', 'Ålice-Nÿ-Pässwörd-1', '密码-Ünïcødé', 'x\u{1F600}y']) {
    assert.equal(utf16leToUtf8(Buffer.from(text, 'utf16le'))?.toString('utf8'), text);
  }
  assert.equal(utf16leToUtf8(Buffer.from([0x41])), undefined);
  assert.equal(utf16leToUtf8(Buffer.from([0x00, 0xd8, 0x41, 0x00])), undefined); // a high surrogate alone
  assert.equal(utf16leToUtf8(Buffer.from([0x00, 0xdc])), undefined); // a low surrogate alone
});
