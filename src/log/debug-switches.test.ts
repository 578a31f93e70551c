import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refuseLeakyDebugSwitches } from './debug-switches.ts';

test('NODE_DEBUG that would make ldapts print passwords is refused, however it is spelled', () => {
  for (const value of ['ldapts', 'LDAPTS', 'http,ldapts', 'net ldapts', '*', 'ldap*', 'l*s', '*ts']) {
    assert.throws(() => refuseLeakyDebugSwitches({ NODE_DEBUG: value }), { code: 'ERR_INVALID_INPUT' }, value);
  }
});

test('other NODE_DEBUG values, and none, are allowed', () => {
  for (const value of [undefined, '', 'http', 'net,tls', 'ldap', 'ldaptsx', 'x*y']) {
    assert.doesNotThrow(() => refuseLeakyDebugSwitches(value === undefined ? {} : { NODE_DEBUG: value }), String(value));
  }
});
