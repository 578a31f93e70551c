import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchKey } from './join.ts';

test('exact keeps the value', () => {
  assert.equal(matchKey('Alice', 'exact'), 'Alice');
  assert.notEqual(matchKey('Alice', 'exact'), matchKey('alice', 'exact'));
});

test('caseInsensitive folds case, also beyond ASCII, and NFC-normalises', () => {
  assert.equal(matchKey('ÄRGER', 'caseInsensitive'), matchKey('ärger', 'caseInsensitive'));
  assert.equal(matchKey('A\u0308', 'caseInsensitive'), matchKey('ä', 'caseInsensitive'));
  assert.notEqual(matchKey('ä', 'caseInsensitive'), matchKey('a', 'caseInsensitive'));
});

test('normalized drops marks, case, whitespace, dots, hyphens and underscores', () => {
  assert.equal(matchKey('Zoë-Ann Smith', 'normalized'), matchKey('zoeann.smith', 'normalized'));
  assert.equal(matchKey('Åström', 'normalized'), 'astrom');
  assert.equal(matchKey('ﬁona', 'normalized'), 'fiona');
  assert.notEqual(matchKey('bob', 'normalized'), matchKey('rob', 'normalized'));
});
