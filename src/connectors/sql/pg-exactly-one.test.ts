import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tagRowCount } from './pg-exactly-one.ts';

test("a command tag's row count: the last number, none for a command that counts nothing", () => {
  assert.equal(tagRowCount('UPDATE 1'), 1);
  assert.equal(tagRowCount('UPDATE 0'), 0);
  assert.equal(tagRowCount('UPDATE 12345'), 12345);
  assert.equal(tagRowCount('INSERT 0 1'), 1);
  assert.equal(tagRowCount('SELECT 2'), 2);
  assert.equal(tagRowCount('MERGE 1'), 1);
  assert.equal(tagRowCount('CALL'), 0);
  assert.equal(tagRowCount('DO'), 0);
});
