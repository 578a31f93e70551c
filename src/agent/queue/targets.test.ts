import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_RETRY_INTERVAL_MS, openAgentStore, TargetExistsError, type AgentStore } from './index.ts';
import { withStore } from './test-support.ts';

const PKI = { caFile: '/etc/pwsync/agent/ca.pem', certFile: '/etc/pwsync/agent/agent.pem', keyFile: '/etc/pwsync/agent/agent.key', serverKeyFile: '/etc/pwsync/agent/server-enc.pem' };

async function names(store: AgentStore): Promise<string[]> {
  return (await store.listTargets()).map((t) => `${t.position}:${t.name}`);
}

void describe('agent targets', () => {
  void test('add with defaults; list in failover order; every field kept', () =>
    withStore(
      async (store) => {
        const primary = await store.addTarget({ name: 'primary', url: 'https://sync1.corp.test:8443/', ...PKI });
        assert.deepEqual(primary, {
          name: 'primary',
          url: 'https://sync1.corp.test:8443/',
          ...PKI,
          enabled: true,
          retryIntervalMs: DEFAULT_RETRY_INTERVAL_MS,
          position: 1,
          addedAt: 1234,
          state: { lastSuccessAt: null, lastFailureAt: null, lastError: null, nextAttemptAt: null, consecutiveFailures: 0 },
        });
        const standby = await store.addTarget({ name: 'standby', url: 'https://sync2.corp.test', enabled: false, retryIntervalMs: 10_000 });
        assert.deepEqual([standby.position, standby.enabled, standby.retryIntervalMs, standby.caFile, standby.url], [2, false, 10_000, null, 'https://sync2.corp.test/']);
        assert.deepEqual(await names(store), ['1:primary', '2:standby']);
        assert.deepEqual(await store.getTarget('standby'), standby);
        assert.equal(await store.getTarget('nope'), undefined);
      },
      { now: () => 1234 },
    ));

  void test('validation: duplicate name, https only, retry interval range, absolute paths, positions', () =>
    withStore(async (store) => {
      await store.addTarget({ name: 'primary', url: 'https://sync1.corp.test' });
      await assert.rejects(store.addTarget({ name: 'primary', url: 'https://other.corp.test' }), (e: unknown) => {
        assert.ok(e instanceof TargetExistsError);
        assert.equal(e.code, 'ERR_TARGET_EXISTS');
        return true;
      });
      const invalid = [
        { name: 'x', url: 'http://sync1.corp.test' },
        { name: 'x', url: 'ldaps://sync1.corp.test' },
        { name: 'x', url: 'not a url' },
        { name: 'x', url: 'https://agent:secret@sync1.corp.test' },
        { name: 'x', url: 'https://sync1.corp.test/?token=abc' },
        { name: '', url: 'https://sync1.corp.test' },
        { name: 'has space', url: 'https://sync1.corp.test' },
        { name: 'x', url: 'https://sync1.corp.test', retryIntervalMs: 9_999 },
        { name: 'x', url: 'https://sync1.corp.test', retryIntervalMs: 3_600_001 },
        { name: 'x', url: 'https://sync1.corp.test', retryIntervalMs: 60_000.5 },
        { name: 'x', url: 'https://sync1.corp.test', caFile: 'relative/ca.pem' },
        { name: 'x', url: 'https://sync1.corp.test', certFile: '/abs/agent.pem' },
        { name: 'x', url: 'https://sync1.corp.test', position: 0 },
        { name: 'x', url: 'https://sync1.corp.test', position: 3 },
      ];
      for (const input of invalid) await assert.rejects(store.addTarget(input), { code: 'ERR_INVALID_INPUT' }, JSON.stringify(input));
      await assert.rejects(store.addTarget({ name: 'x', url: 'https://s', retryIntervalMs: 5 }), /10000 to 3600000/u);
      assert.deepEqual(await names(store), ['1:primary']);
      // The limits themselves are allowed.
      await store.addTarget({ name: 'fast', url: 'https://s1', retryIntervalMs: 10_000 });
      await store.addTarget({ name: 'slow', url: 'https://s2', retryIntervalMs: 3_600_000 });
    }));

  void test('positions stay 1…n through insert, move and remove', () =>
    withStore(async (store) => {
      for (const name of ['a', 'b', 'c']) await store.addTarget({ name, url: `https://${name}.corp.test` });
      await store.addTarget({ name: 'first', url: 'https://first.corp.test', position: 1 });
      assert.deepEqual(await names(store), ['1:first', '2:a', '3:b', '4:c']);
      await store.addTarget({ name: 'mid', url: 'https://mid.corp.test', position: 3 });
      assert.deepEqual(await names(store), ['1:first', '2:a', '3:mid', '4:b', '5:c']);
      await store.moveTarget('c', 1);
      assert.deepEqual(await names(store), ['1:c', '2:first', '3:a', '4:mid', '5:b']);
      await store.moveTarget('first', 5);
      assert.deepEqual(await names(store), ['1:c', '2:a', '3:mid', '4:b', '5:first']);
      await store.moveTarget('mid', 3);
      await assert.rejects(store.moveTarget('mid', 6), { code: 'ERR_INVALID_INPUT' });
      await store.removeTarget('a');
      assert.deepEqual(await names(store), ['1:c', '2:mid', '3:b', '4:first']);
      await store.removeTarget('first');
      await store.removeTarget('c');
      assert.deepEqual(await names(store), ['1:mid', '2:b']);
      await assert.rejects(store.removeTarget('c'), { code: 'ERR_TARGET_NOT_FOUND' });
      await assert.rejects(store.moveTarget('c', 1), { code: 'ERR_TARGET_NOT_FOUND' });
    }));

  void test('enable, disable and the retry interval change one target', () =>
    withStore(async (store) => {
      await store.addTarget({ name: 'primary', url: 'https://sync1.corp.test' });
      assert.equal((await store.setTargetEnabled('primary', false)).enabled, false);
      assert.equal((await store.setTargetEnabled('primary', true)).enabled, true);
      assert.equal((await store.setTargetRetryInterval('primary', 120_000)).retryIntervalMs, 120_000);
      await assert.rejects(store.setTargetRetryInterval('primary', 1000), { code: 'ERR_INVALID_INPUT' });
      await assert.rejects(store.setTargetEnabled('nope', true), { code: 'ERR_TARGET_NOT_FOUND' });
    }));

  void test('delivery bookkeeping: failures count up and name the next attempt, a success resets them', () =>
    withStore(async (store) => {
      await store.addTarget({ name: 'primary', url: 'https://sync1.corp.test' });
      const first = await store.recordTargetFailure('primary', 100, 'connect ECONNREFUSED', 60_100);
      assert.equal(first?.firstFailure, true);
      const second = await store.recordTargetFailure('primary', 200, 'TLS: certificate has expired', 60_200);
      assert.equal(second?.firstFailure, false);
      assert.deepEqual(second.target.state, {
        lastSuccessAt: null, lastFailureAt: 200, lastError: 'TLS: certificate has expired', nextAttemptAt: 60_200, consecutiveFailures: 2,
      });
      const ok = await store.recordTargetSuccess('primary', 300);
      assert.equal(ok?.recovered, true);
      assert.deepEqual(ok.target.state, { lastSuccessAt: 300, lastFailureAt: 200, lastError: 'TLS: certificate has expired', nextAttemptAt: null, consecutiveFailures: 0 });
      assert.equal((await store.recordTargetSuccess('primary', 400))?.recovered, false);
      // Removed by the CLI while a delivery was out: nothing to record, and no error.
      await store.removeTarget('primary');
      assert.equal(await store.recordTargetSuccess('primary', 500), undefined);
      assert.equal(await store.recordTargetFailure('primary', 500, 'x', 600), undefined);
    }));

  void test('a change made by another process (the CLI) is seen by the running agent at its next read', () =>
    withStore(async (agent, { path, keyring }) => {
      await agent.addTarget({ name: 'primary', url: 'https://sync1.corp.test' });
      const before = await agent.dataVersion();
      const cli = await openAgentStore(path, { keyring });
      try {
        await cli.addTarget({ name: 'standby', url: 'https://sync2.corp.test' });
        await cli.setTargetEnabled('primary', false);
      } finally {
        await cli.close();
      }
      assert.notEqual(await agent.dataVersion(), before);
      assert.deepEqual((await agent.listTargets()).map((t) => [t.name, t.enabled]), [['primary', false], ['standby', true]]);
    }));
});
