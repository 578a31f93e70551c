import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';

/**
 * The suite must fail connectors that break the contract. Each broken connector below runs the
 * suite in a child test process; the cases that must fail, fail, and the rest pass.
 */

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const repo = fileURLToPath(new URL('../../', import.meta.url));

const SCRIPT = `
import { runConnectorConformance } from ${JSON.stringify(here('./conformance.ts'))};
import { createMemoryConnector } from ${JSON.stringify(here('../../test/support/connectors/memory/index.ts'))};
import { AccountNotFoundError, PolicyError, TransientError } from ${JSON.stringify(here('../core/errors.ts'))};

const accounts = { alice: { login: 'alice' } };
const fixture = (connector, extra = {}) => async () => ({ connector, existingAnchor: 'alice', unknownAnchor: 'nobody', cleanup: async () => {}, ...extra });

// Declares verifyPassword without the method.
runConnectorConformance('undeclared-method', fixture(Object.assign(createMemoryConnector({ accounts, capabilities: ['import', 'setPassword'] }), { capabilities: new Set(['import', 'setPassword', 'verifyPassword']) })));

// Silently accepts unknown anchors.
{
  const c = createMemoryConnector({ accounts });
  const set = c.setPassword;
  runConnectorConformance('silent-unknown', fixture({ ...c, capabilities: c.capabilities, setPassword: async (a, s, o) => { try { await set(a, s, o); } catch (e) { if (!(e instanceof AccountNotFoundError)) throw e; } } }));
}

// Verifies every password.
{
  const c = createMemoryConnector({ accounts });
  runConnectorConformance('verifies-anything', fixture({ ...c, capabilities: c.capabilities, verifyPassword: async (a, s) => { await c.verifyPassword(a, s); return true; } }));
}

// Reports a policy refusal as transient.
{
  const c = createMemoryConnector({ accounts, minPasswordLength: 8 });
  const set = c.setPassword;
  runConnectorConformance('policy-as-transient', fixture({ ...c, capabilities: c.capabilities, setPassword: async (a, s, o) => { try { await set(a, s, o); } catch (e) { throw e instanceof PolicyError ? new TransientError('busy') : e; } } }, { refusedPassword: 'short' }));
}

// Disposes the secret it was lent.
{
  const c = createMemoryConnector({ accounts });
  const set = c.setPassword;
  runConnectorConformance('disposes-secret', fixture({ ...c, capabilities: c.capabilities, setPassword: async (a, s, o) => { await set(a, s, o); s.dispose(); } }));
}
`;

const EXPECTED_FAILURES: Readonly<Record<string, readonly string[]>> = {
  'undeclared-method': [
    'every declared capability has its method',
    // The suite believes the declaration, so every case that logs in through verifyPassword fails too.
    'set then log in with the new password; the old one no longer works',
    'a non-ASCII password is set and logs in',
    'verifyPassword on an unknown anchor is ERR_ACCOUNT_NOT_FOUND (6923)',
  ],
  'silent-unknown': ['setPassword on an unknown anchor is ERR_ACCOUNT_NOT_FOUND (6923)'],
  'verifies-anything': ['set then log in with the new password; the old one no longer works'],
  'policy-as-transient': ['a password the policy refuses is ERR_POLICY (6927) and does not take effect'],
  'disposes-secret': ['set then log in with the new password; the old one no longer works', 'a non-ASCII password is set and logs in'],
};

void test('the conformance suite fails connectors that break the contract, and only in the broken case', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-conformance-'));
  try {
    const script = join(dir, 'broken.test.mjs');
    await writeFile(script, SCRIPT);
    // Without the runner's context variable, which would make the child report in its own binary protocol.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', script], { cwd: repo, env });
    const out = await run.then(
      (r) => r.stdout,
      (err: unknown) => (err as { stdout?: string }).stdout ?? '',
    );
    // "# Subtest: NAME: connector conformance" opens a suite; its cases report as "    not ok N - CASE".
    const failed = new Map<string, string[]>();
    let suite = '';
    for (const line of out.split('\n')) {
      const named = /^# Subtest: (.+): connector conformance$/.exec(line);
      if (named?.[1] !== undefined) suite = named[1];
      const bad = /^ {4}not ok \d+ - (.+)$/.exec(line);
      if (bad?.[1] !== undefined) failed.set(suite, [...(failed.get(suite) ?? []), bad[1]]);
    }
    assert.deepEqual(Object.fromEntries(failed), EXPECTED_FAILURES, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
