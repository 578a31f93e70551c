import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { isPwsyncError } from '../../core/errors.ts';
import type { ImportReport } from '../../sync/importer.ts';
import { startEngine, type Engine, type TestSystem } from '../../../test/support/engine.ts';
import { runImports, type ImportCommandOptions } from './import-run.ts';

// The command's logic on memory connectors (one with delta import, one without); the spawned CLI
// on the demo's file connectors is tested in test/e2e/cli-import.e2e.test.ts.

const SYSTEMS: TestSystem[] = [
  {
    name: 'hr',
    source: { accountAttribute: 'login' },
    import: { anchor: 'id' },
    memory: { capabilities: ['import', 'deltaImport'], accounts: { '1': { login: 'alice', mail: 'alice@example.org' } } },
  },
  {
    name: 'apps',
    import: { anchor: 'id' },
    join: [{ person: 'mail', account: 'email', match: 'caseInsensitive' }],
    memory: { capabilities: ['import', 'setPassword'], accounts: { a1: { email: 'alice@example.org' } } },
  },
];

async function withEngine(fn: (engine: Engine) => Promise<void>): Promise<void> {
  const engine = await startEngine(SYSTEMS);
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Runs the command, returning what it printed on standard output and standard error. */
async function run(t: TestContext, engine: Engine, names: string[], opts: ImportCommandOptions): Promise<{ stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = t.mock.method(console, 'log', (...args: unknown[]) => {
    out.push(args.map(String).join(' '));
  });
  const write = t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
    err.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    await runImports(engine.ctx, names, opts);
  } finally {
    log.mock.restore();
    write.mock.restore();
  }
  return { stdout: out.join('\n'), stderr: err.join('') };
}

describe('pwsync import', () => {
  test('--delta on every system: a delta where the connector can, a full import with a note where it cannot', (t) =>
    withEngine(async (engine) => {
      const first = await run(t, engine, [], { delta: true, json: true });
      const reports = JSON.parse(first.stdout) as ImportReport[];
      assert.deepEqual(
        reports.map((r) => [r.system, r.mode, r.read, r.fallback !== undefined]),
        [
          ['hr', 'full', 1, true],
          ['apps', 'full', 1, true],
        ],
      );
      assert.match(reports[0]?.fallback ?? '', /watermark/);
      assert.match(reports[1]?.fallback ?? '', /no delta import/);
      assert.match(first.stderr, /import hr: 1 accounts in [\d.]+ s \(full: /);

      engine.connector('hr').putAccount('2', { login: 'bob', mail: 'bob@example.org' });
      const second = await run(t, engine, [], { delta: true });
      const lines = second.stdout.split('\n');
      assert.match(lines[0] ?? '', /^SYSTEM +MODE +READ +PROJECTED/);
      assert.match(lines[1] ?? '', /^hr +delta +1 +1 /);
      assert.match(lines[2] ?? '', /^apps +full +1 +0 /);
      assert.ok(lines.includes('apps: full import instead of delta: its memory connector has no delta import'));
      assert.match(second.stderr, /import hr: 1 changed, 0 removed in [\d.]+ s \(delta\)/);
      assert.equal((await engine.store.counts()).persons, 2);
    }));

  test('--delta naming a system whose connector cannot is refused before anything is imported', (t) =>
    withEngine(async (engine) => {
      await assert.rejects(run(t, engine, ['hr', 'apps'], { delta: true }), (e: unknown) => {
        assert.ok(isPwsyncError(e));
        assert.equal(e.code, 'ERR_INVALID_INPUT');
        assert.ok(e.message.includes('"apps"'));
        return true;
      });
      assert.equal((await engine.store.counts()).accounts, 0);
      const named = JSON.parse((await run(t, engine, ['hr'], { delta: true, json: true })).stdout) as ImportReport[];
      assert.deepEqual(named.map((r) => [r.system, r.mode]), [['hr', 'full']]);
    }));

  test('without --delta every import is full and the table shows the mode', (t) =>
    withEngine(async (engine) => {
      const { stdout } = await run(t, engine, [], {});
      assert.match(stdout, /^hr +full +1 +1 +0 /m);
      assert.match(stdout, /^apps +full +1 +0 +1 /m);
      assert.doesNotMatch(stdout, /instead of delta/);
    }));
});
