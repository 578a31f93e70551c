import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountNotFoundError } from '../../core/errors.ts';
import { mapFileError } from './errors.ts';
import { EVENT } from '../../core/events.ts';

const errno = (code: string): Error => Object.assign(new Error(`${code}: something`), { code });

void test('busy, exhausted, missing and locked are transient; permissions and the like are not', () => {
  for (const code of ['EBUSY', 'EAGAIN', 'EMFILE', 'ENFILE', 'ENOSPC', 'EIO', 'ENOENT', 'ELOCKED']) {
    const e = mapFileError(errno(code), '/x/accounts.csv', 'writing');
    assert.deepEqual([e.code, e.retryable, e.event], ['ERR_TRANSIENT', true, EVENT.RETRY_SCHEDULED], code);
    assert.ok(e.message.startsWith('/x/accounts.csv: '), e.message);
    assert.ok(e.cause instanceof Error);
  }
  for (const code of ['EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOTDIR']) {
    const e = mapFileError(errno(code), '/x/accounts.csv', 'writing');
    assert.deepEqual([e.code, e.retryable], ['ERR_TARGET_DATA', false], code);
    assert.match(e.message, new RegExp(code));
  }
  assert.equal(mapFileError(new TypeError('odd'), '/x', 'reading').code, 'ERR_TARGET_DATA');
});

void test('our own errors pass through unchanged', () => {
  const own = new AccountNotFoundError('no row');
  assert.equal(mapFileError(own, '/x', 'reading'), own);
});
