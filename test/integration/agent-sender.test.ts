import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openAgentStore, type AgentStore, type NewTarget } from '../../src/agent/queue/index.ts';
import { Sender } from '../../src/agent/sender.ts';
import { Secret } from '../../src/core/secret.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startServer } from '../../src/main.ts';
import type { RunningServer } from '../../src/server/run.ts';
import { createAgentWorld, eventually, freePort, type AgentWorld } from '../support/agent-world.ts';
import { EVENT } from '../../src/core/events.ts';
import { TransientError } from '../../src/core/errors.ts';
import { IN_SCOPE, type Scope } from '../../src/agent/scope/types.ts';

/** A scope of our own that cannot decide for the accounts in `undecided` (a directory that does not answer about them). */
function scopeUndecidedFor(undecided: Set<string>, asked: string[]): Scope {
  return {
    decide: (account) => {
      asked.push(account);
      return undecided.has(account) ? Promise.reject(new TransientError(`no answer about ${account}`)) : Promise.resolve(IN_SCOPE);
    },
    describe: () => 'test scope',
    close: () => Promise.resolve(),
  };
}

/**
 * The sender against a real server (in-process, with its HTTPS intake): failover order, disabled
 * targets, refusals that remove a change (7044) and refusals that must not (a wrong server key).
 */
describe('agent sender', () => {
  let world: AgentWorld;
  let server: RunningServer;
  let n = 0;
  const log = createLogger({ level: 'silent' });

  const files = (name = 'dc1'): Omit<NewTarget, 'name' | 'url'> => {
    const a = join(world.pki, 'agents', name);
    return { caFile: join(a, 'ca.crt'), certFile: join(a, `${name}.crt`), keyFile: join(a, `${name}.key`), serverKeyFile: join(a, 'server-jwe.pub.json'), retryIntervalMs: 10_000 };
  };

  async function withSender(fn: (store: AgentStore, sender: Sender) => Promise<void>, options: { scope?: Scope; batchSize?: number } = {}): Promise<void> {
    const dir = join(world.dir, `sender-${++n}`);
    const keyring = await Keyring.create(join(world.dir, `sender-${n}.key`));
    const store = await openAgentStore(join(dir, 'agent.db'), { keyring });
    const sender = new Sender({ store, scope: options.scope, log, now: Date.now, batchSize: options.batchSize ?? 50, timeoutMs: 5_000 });
    try {
      await fn(store, sender);
    } finally {
      await sender.stop();
      await store.close();
    }
  }
  const queue = async (store: AgentStore, account: string, password: string, scope: 'in' | 'pending' = 'in', source = 'directory'): Promise<void> => {
    await store.enqueue([{ source, account, changedAt: Date.now() - 1000, capturedAt: Date.now(), scope, secret: Secret.fromString(password) }]);
  };
  const codes = async (store: AgentStore): Promise<number[]> => (await store.listEvents({ limit: 100 })).map((e) => e.code);

  before(async () => {
    world = await createAgentWorld({ accounts: 5 });
    server = await startServer(world.serverConfig);
  });
  after(async () => {
    await server.stop();
    await world.close();
  });

  test('fails over from an unreachable first target to the second, and records the first as unavailable (7043)', () =>
    withSender(async (store, sender) => {
      await store.addTarget({ name: 'down', url: `https://127.0.0.1:${await freePort()}`, ...files() });
      await store.addTarget({ name: 'up', url: world.url, ...files() });
      await queue(store, 'u001', 'Failover-Pw-1');
      sender.start();
      await eventually(async () => (await store.stats()).length === 0, 15_000, 'delivery through the second target');
      await eventually(() => world.holds('u001', 'Failover-Pw-1'), 15_000, 'u001 to hold the password');
      const [down, up] = await store.listTargets();
      assert.ok(down && up);
      assert.equal(down.state.consecutiveFailures, 1);
      assert.match(down.state.lastError ?? '', /cannot reach .*ECONNREFUSED/);
      assert.ok((down.state.nextAttemptAt ?? 0) > Date.now(), 'the failed target waits for its backoff');
      assert.equal(up.state.consecutiveFailures, 0);
      assert.deepEqual(await codes(store), [EVENT.TARGET_UNAVAILABLE]);
    }));

  test('a disabled target is not used; enabling it delivers what waited', () =>
    withSender(async (store, sender) => {
      await store.addTarget({ name: 'main', url: world.url, enabled: false, ...files() });
      await queue(store, 'u002', 'Disabled-Pw-2');
      sender.start();
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await store.stats()).length, 1);
      await store.setTargetEnabled('main', true);
      await eventually(async () => (await store.stats()).length === 0, 15_000, 'delivery after enabling');
      await eventually(() => world.holds('u002', 'Disabled-Pw-2'), 15_000, 'u002 to hold the password');
    }));

  test('a change the server refuses for good is removed with event 7044; the next one still arrives', () =>
    withSender(async (store, sender) => {
      await store.addTarget({ name: 'main', url: world.url, ...files() });
      await queue(store, 'nobody-here', 'Refused-Pw-3');
      await queue(store, 'u003', 'After-Refusal-Pw-3');
      sender.start();
      await eventually(async () => (await store.stats()).length === 0, 15_000, 'the queue to empty');
      await eventually(() => world.holds('u003', 'After-Refusal-Pw-3'), 15_000, 'u003 to hold the password');
      const [refused] = await store.listEvents({ limit: 10, codes: [EVENT.DELIVERY_REJECTED] });
      assert.match(refused?.message ?? '', /refused the change of "nobody-here" \(unknown-account\)/);
    }));

  test('an account whose scope cannot be decided holds back its own later changes only, even more than a batch of them', async () => {
    const undecided = new Set(['u001']);
    const asked: string[] = [];
    await withSender(
      async (store, sender) => {
        await store.addTarget({ name: 'main', url: world.url, ...files() });
        await queue(store, 'u001', 'Held-Pw-1', 'pending');
        for (let i = 0; i < 5; i++) await queue(store, i % 2 === 0 ? 'u001' : 'U001', `Held-Pw-1-${i}`);
        await queue(store, 'u002', 'Passes-Pw-2', 'pending');
        await queue(store, 'u003', 'Passes-Pw-3');
        sender.start();
        await eventually(async () => (await store.peek(100)).every((c) => c.account.toLowerCase() === 'u001'), 15_000, 'u002 and u003 to leave the queue');
        assert.equal((await store.peek(100)).length, 6, 'every change of u001 waits, whatever its spelling');
        await eventually(() => world.holds('u003', 'Passes-Pw-3'), 15_000, 'u003 to hold its password');
        assert.equal(await world.holds('u001', 'Held-Pw-1-4'), false);
        assert.deepEqual([...new Set(asked)], ['u001', 'u002'], 'only the first change of a held account is asked about');
        // Asked again after a backoff (1 s, 2 s, 4 s…), not at every round.
        const before = asked.length;
        await new Promise((r) => setTimeout(r, 6000));
        assert.ok(asked.length - before <= 3, `u001 was asked ${asked.length - before} times in 6 s`);
        undecided.clear();
        sender.wake();
        await eventually(async () => (await store.stats()).length === 0, 20_000, 'u001 to follow once decided');
        await eventually(() => world.holds('u001', 'Held-Pw-1-4'), 15_000, 'u001 to hold its newest password');
      },
      { scope: scopeUndecidedFor(undecided, asked), batchSize: 2 },
    );
  });

  test('a change of a source this agent may not deliver is refused alone by the server (unknown-source): removed (7044), the rest arrive', () =>
    withSender(async (store, sender) => {
      await store.addTarget({ name: 'main', url: world.url, ...files() });
      const accounts = ['u000', 'u001', 'u002', 'u003', 'u004'];
      for (const [i, account] of accounts.entries()) {
        await queue(store, account, `Split-Pw-${i}`);
        if (i === 2) await queue(store, 'u002', 'Foreign-Pw-2', 'in', 'hr-elsewhere');
      }
      sender.start();
      await eventually(async () => (await store.stats()).length === 0, 15_000, 'the queue to empty');
      for (const [i, account] of accounts.entries()) assert.ok(await world.holds(account, `Split-Pw-${i}`), account);
      const refused = await store.listEvents({ limit: 10, codes: [EVENT.DELIVERY_REJECTED] });
      assert.equal(refused.length, 1);
      assert.match(refused[0]?.message ?? '', /refused the change of "u002" \(unknown-source\): "agent \\"dc1\\" may not deliver changes of source \\"hr-elsewhere\\"/);
      assert.equal(refused[0]?.system, 'hr-elsewhere');
      assert.equal((await store.listTargets())[0]?.state.consecutiveFailures, 0, 'the target did not fail');
    }));

  test('a change the notification schema refuses is not sent: it leaves the queue with 7044 and the others arrive', () =>
    withSender(async (store, sender) => {
      await store.addTarget({ name: 'main', url: world.url, ...files() });
      await store.enqueue([{ source: 'Not A Source', account: 'u002', changedAt: Date.now() - 1000, capturedAt: Date.now(), secret: Secret.fromString('Schema-Pw-2') }]);
      await queue(store, 'u003', 'Schema-Pw-3');
      sender.start();
      await eventually(async () => (await store.stats()).length === 0, 15_000, 'the queue to empty');
      assert.ok(await world.holds('u003', 'Schema-Pw-3'));
      const refused = await store.listEvents({ limit: 10, codes: [EVENT.DELIVERY_REJECTED] });
      assert.deepEqual(refused.map((e) => e.anchor), ['u002']);
      assert.match(refused[0]?.message ?? '', /\(malformed\): not sent: the notification schema refuses it \(source: /);
    }));

  test('a wrong server key keeps the change queued and marks the target as failing, naming --server-key', () =>
    withSender(async (store, sender) => {
      const wrong = join(world.dir, 'wrong-pki');
      const { initPki } = await import('../../src/pki/index.ts');
      await initPki(wrong, { hosts: ['127.0.0.1'] });
      await store.addTarget({ name: 'main', url: world.url, ...files(), serverKeyFile: join(wrong, 'server-jwe.pub.json') });
      await queue(store, 'u004', 'Wrong-Key-Pw-4');
      sender.start();
      await eventually(async () => ((await store.listTargets())[0]?.state.consecutiveFailures ?? 0) > 0, 15_000, 'the target to fail');
      assert.equal((await store.stats()).length, 1, 'the change waits for a right key');
      assert.match((await store.listTargets())[0]?.state.lastError ?? '', /cannot decrypt .*--server-key/);
      assert.equal(await world.holds('u004', 'Wrong-Key-Pw-4'), false);
    }));

  test('a client certificate the server does not trust: the target fails with the server\'s reason', () =>
    withSender(async (store, sender) => {
      const wrong = join(world.dir, 'stranger-pki');
      const { initPki, addAgent } = await import('../../src/pki/index.ts');
      await initPki(wrong, { hosts: ['127.0.0.1'] });
      const stranger = await addAgent(wrong, 'stranger');
      await store.addTarget({ name: 'main', url: world.url, ...files(), certFile: stranger.certFile, keyFile: stranger.keyFile });
      await queue(store, 'u004', 'Stranger-Pw-5');
      sender.start();
      await eventually(async () => ((await store.listTargets())[0]?.state.consecutiveFailures ?? 0) > 0, 15_000, 'the target to fail');
      assert.match((await store.listTargets())[0]?.state.lastError ?? '', /HTTP 401.*not trusted/);
      assert.equal((await store.stats()).length, 1);
    }));
});

describe('agent sender and a server that takes smaller batches', () => {
  test('a batch larger than the server\'s maxBatch (413) is sent in halves until each part fits: every change delivered, none removed', async () => {
    const world = await createAgentWorld({ accounts: 5, maxBatch: 2 });
    const server = await startServer(world.serverConfig);
    const dir = join(world.dir, 'sender-small');
    const store = await openAgentStore(join(dir, 'agent.db'), { keyring: await Keyring.create(join(world.dir, 'sender-small.key')) });
    const sender = new Sender({ store, scope: undefined, log: createLogger({ level: 'silent' }), now: Date.now, batchSize: 5, timeoutMs: 5_000 });
    try {
      const a = join(world.pki, 'agents', 'dc1');
      await store.addTarget({ name: 'main', url: world.url, caFile: join(a, 'ca.crt'), certFile: join(a, 'dc1.crt'), keyFile: join(a, 'dc1.key'), serverKeyFile: join(a, 'server-jwe.pub.json'), retryIntervalMs: 10_000 });
      const accounts = ['u000', 'u001', 'u002', 'u003', 'u004'];
      for (const [i, account] of accounts.entries()) {
        await store.enqueue([{ source: 'directory', account, changedAt: Date.now() - 1000, capturedAt: Date.now(), scope: 'in', secret: Secret.fromString(`Small-Batch-Pw-${i}`) }]);
      }
      sender.start();
      await eventually(async () => (await store.stats()).length === 0, 15_000, 'the queue to empty');
      for (const [i, account] of accounts.entries()) assert.ok(await world.holds(account, `Small-Batch-Pw-${i}`), account);
      assert.deepEqual(await store.listEvents({ limit: 10, codes: [EVENT.DELIVERY_REJECTED] }), []);
      assert.equal((await store.listTargets())[0]?.state.consecutiveFailures, 0, 'the target did not fail');
    } finally {
      await sender.stop();
      await store.close();
      await server.stop();
      await world.close();
    }
  });
});
