import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { openRuntime, startAgent } from './main.ts';

// The composition root refuses a debug switch known to print passwords before it reads anything:
// the configuration named here does not exist, and the refusal comes first all the same.
const MISSING = '/nonexistent/pwsync-main-test.yaml';
let saved: string | undefined;
beforeEach(() => {
  saved = process.env['NODE_DEBUG'];
  process.env['NODE_DEBUG'] = 'ldap*';
});
afterEach(() => {
  if (saved === undefined) delete process.env['NODE_DEBUG'];
  else process.env['NODE_DEBUG'] = saved;
});

test('the engine (every command, the server) is not opened with NODE_DEBUG that prints passwords', async () => {
  await assert.rejects(openRuntime(MISSING), { code: 'ERR_INVALID_INPUT' });
});

test('the agent is not started with NODE_DEBUG that prints passwords', async () => {
  await assert.rejects(startAgent(MISSING), { code: 'ERR_INVALID_INPUT' });
});
