import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPwsyncError } from '../../../../src/core/errors.ts';
import { Secret } from '../../../../src/core/secret.ts';
import { runConnectorConformance } from '../../../../src/connectors/conformance.ts';
import { can, type AccountDelta, type Watermark } from '../../../../src/connectors/types.ts';
import { createMemoryConnector, sha256Hex, type MemoryConnector } from './index.ts';

const ACCOUNTS = { alice: { login: 'alice', mail: 'alice@example.test' }, bob: { login: 'bob' } };

runConnectorConformance('memory', () =>
  Promise.resolve({
    connector: createMemoryConnector({ accounts: ACCOUNTS, minPasswordLength: 8 }),
    existingAnchor: 'alice',
    unknownAnchor: 'nobody',
    refusedPassword: 'short',
    cleanup: () => Promise.resolve(),
  }),
);

runConnectorConformance('memory (with delta import)', () =>
  Promise.resolve({
    connector: createMemoryConnector({ accounts: ACCOUNTS, capabilities: ['import', 'deltaImport', 'setPassword', 'verifyPassword'] }),
    existingAnchor: 'alice',
    unknownAnchor: 'nobody',
    cleanup: () => Promise.resolve(),
  }),
);

runConnectorConformance('memory (set only, insecure, no policy)', () =>
  Promise.resolve({
    connector: createMemoryConnector({ accounts: ACCOUNTS, capabilities: ['setPassword'], secure: false }),
    existingAnchor: 'bob',
    unknownAnchor: 'nobody',
    cleanup: () => Promise.resolve(),
  }),
);

async function set(c: MemoryConnector, anchor: string, password: string): Promise<void> {
  assert.ok(can(c, 'setPassword'));
  const secret = Secret.fromString(password);
  try {
    await c.setPassword(anchor, secret, {});
  } finally {
    secret.dispose();
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(isPwsyncError(err));
    return err.code;
  }
  return 'ok';
}

void describe('memory connector', () => {
  void test('records each successful set as anchor, SHA-256 and time; never the password', async () => {
    let now = 1000;
    const c = createMemoryConnector({ accounts: ACCOUNTS, now: () => now++ });
    await set(c, 'alice', 'Pässwörd-1');
    await set(c, 'bob', 'second');
    assert.deepEqual(c.deliveries, [
      { anchor: 'alice', sha256: sha256Hex('Pässwörd-1'), at: 1000 },
      { anchor: 'bob', sha256: sha256Hex(Buffer.from('second')), at: 1001 },
    ]);
    assert.doesNotMatch(JSON.stringify(c.deliveries), /Pässwörd|second/);
  });

  void test('a failure script runs first, one entry per call, then calls succeed', async () => {
    const c = createMemoryConnector({ accounts: ACCOUNTS, failures: ['transient', 'transient'] });
    assert.equal(await codeOf(set(c, 'alice', 'pw')), 'ERR_TRANSIENT');
    assert.equal(await codeOf(set(c, 'alice', 'pw')), 'ERR_TRANSIENT');
    assert.equal(await codeOf(set(c, 'alice', 'pw')), 'ok');
    c.failNext('notFound', 'ok', 'policy', 'notConfigured');
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push(await codeOf(set(c, 'alice', 'pw')));
    assert.deepEqual(codes, ['ERR_ACCOUNT_NOT_FOUND', 'ok', 'ERR_POLICY', 'ERR_NOT_CONFIGURED', 'ok']);
    assert.equal(c.setCalls, 8);
    assert.equal(c.deliveries.length, 3);
  });

  void test('transient failures are retryable; the others are not', async () => {
    const c = createMemoryConnector({ accounts: ACCOUNTS, failures: ['transient', 'notFound'] });
    const retryable: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      await set(c, 'alice', 'pw').catch((err: unknown) => retryable.push(isPwsyncError(err) && err.retryable));
    }
    assert.deepEqual(retryable, [true, false]);
  });

  void test('the length policy counts characters, not bytes', async () => {
    const c = createMemoryConnector({ accounts: ACCOUNTS, minPasswordLength: 4 });
    assert.equal(await codeOf(set(c, 'alice', 'äöü')), 'ERR_POLICY'); // 6 bytes, 3 characters
    assert.equal(await codeOf(set(c, 'alice', '日本語🔑')), 'ok');
  });

  void test('only declared abilities exist as methods; accounts can come and go', async () => {
    const c = createMemoryConnector({ capabilities: ['import'], accounts: [['a1', { x: '1' }]] });
    assert.equal(can(c, 'setPassword'), false);
    assert.equal('setPassword' in c, false);
    assert.equal('verifyPassword' in c, false);
    assert.ok(can(c, 'import'));
    c.putAccount('a2', { x: '2' });
    c.removeAccount('a1');
    const seen = [];
    for await (const a of c.importAccounts()) seen.push(a);
    assert.deepEqual(seen, [{ anchor: 'a2', attributes: { x: '2' } }]);
  });

  void test('deltaImport: changes since a watermark, changed ones first; a reset history refuses old watermarks', async () => {
    const c = createMemoryConnector({ capabilities: ['import', 'deltaImport'], accounts: ACCOUNTS });
    assert.ok(can(c, 'deltaImport'));
    const since = await c.watermark();
    const read = async (w: Watermark): Promise<AccountDelta[]> => {
      const out: AccountDelta[] = [];
      for await (const d of c.importChangesSince(w)) out.push(d);
      return out;
    };
    assert.deepEqual(await read(since), []);
    c.removeAccount('bob');
    c.putAccount('carol', { login: 'carol' });
    c.putAccount('alice', { login: 'alice2' });
    c.putAccount('dave', { login: 'dave' });
    c.removeAccount('dave');
    assert.deepEqual(await read(since), [
      { kind: 'changed', record: { anchor: 'carol', attributes: { login: 'carol' } } },
      { kind: 'changed', record: { anchor: 'alice', attributes: { login: 'alice2' } } },
      { kind: 'removed', anchor: 'bob' },
      { kind: 'removed', anchor: 'dave' },
    ]);
    const now = await c.watermark();
    assert.notEqual(now, since);
    assert.deepEqual(await read(now), []);
    c.resetHistory();
    await assert.rejects(read(now), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_WATERMARK');
    await assert.rejects(read('garbage' as Watermark), (e: unknown) => isPwsyncError(e) && e.code === 'ERR_WATERMARK');
    assert.deepEqual(await read(await c.watermark()), []);
  });

  void test('breakNextImport makes the next import fail part-way, once', async () => {
    const c = createMemoryConnector({ capabilities: ['import'], accounts: ACCOUNTS });
    assert.ok(can(c, 'import'));
    c.breakNextImport(1);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const a of c.importAccounts()) seen.push(a.anchor);
      })(),
      (e: unknown) => isPwsyncError(e) && e.code === 'ERR_TRANSIENT',
    );
    assert.deepEqual(seen, ['alice']);
    const again: string[] = [];
    for await (const a of c.importAccounts()) again.push(a.anchor);
    assert.deepEqual(again, ['alice', 'bob']);
  });

  void test('isSecure and testConnection follow the options; close is recorded', async () => {
    const c = createMemoryConnector({ secure: false });
    assert.equal(c.isSecure(), false);
    assert.equal((await c.testConnection()).secure, false);
    await c.close();
    assert.equal(c.closed, true);
    assert.equal((await c.testConnection()).ok, false);
  });
});
