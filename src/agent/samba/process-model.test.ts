import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parentOf, runningSambaModel } from './process-model.ts';

test('the parent pid is read from /proc/PID/stat, also when the name holds spaces and parentheses', () => {
  assert.equal(parentOf('10464 (samba: tfork (x)) S 10463 10463 10463 0 -1'), 10463);
  assert.equal(parentOf('1 (systemd) S 0 1 1 0 -1'), 0);
  assert.equal(parentOf('garbage'), undefined);
});

test('no samba reading a configuration that does not exist: not known', async () => {
  assert.equal(await runningSambaModel('/nonexistent/smb.conf'), undefined);
});
