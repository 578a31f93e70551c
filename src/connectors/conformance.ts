import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isPwsyncError } from '../core/errors.ts';
import type { Anchor } from '../core/model.ts';
import { Secret } from '../core/secret.ts';
import { kindCapabilities } from './registry.ts';
import { can, type AccountRecord, type Capability, type Connector } from './types.ts';
import { EVENT } from '../core/events.ts';

/**
 * The contract every connector passes, whatever it talks to. A connector's own tests call
 * {@link runConnectorConformance} with a setup that builds a fresh fixture against a real
 * system (a temp file, a private slapd, a throwaway database).
 */
export interface ConformanceFixture {
  readonly connector: Connector;
  /** An account that exists in the system and whose password may be set. */
  readonly existingAnchor: Anchor;
  /** An anchor no account has. */
  readonly unknownAnchor: Anchor;
  /**
   * Checks a password by logging in as the account (an LDAP bind, a database login). Without it
   * the suite uses `verifyPassword` when the connector declares it, and otherwise only checks
   * that setting succeeds.
   */
  readonly login?: (anchor: Anchor, secret: Secret) => Promise<boolean>;
  /** A password the system's policy refuses; the policy case runs only when it is given. */
  readonly refusedPassword?: string;
  /**
   * The same system reached over a transport that is not secure (plain LDAP, TLS unverified), with
   * a secure connection required. For connectors whose transport can be insecure; the case that
   * checks no password is sent then runs.
   */
  readonly insecure?: () => Connector;
  /** Removes what setup made. The suite closes the connector itself before calling it. */
  cleanup(): Promise<void>;
}

interface Case {
  readonly name: string;
  /** Cases that do not apply to a fixture are not registered at all (never reported as skipped). */
  readonly applies: (f: ConformanceFixture) => boolean;
  readonly run: (f: ConformanceFixture) => Promise<void>;
}

/** The method each capability promises. */
const METHODS: Readonly<Record<Capability, string>> = {
  import: 'importAccounts',
  deltaImport: 'importChangesSince',
  lookupAccount: 'lookupAccount',
  setPassword: 'setPassword',
  verifyPassword: 'verifyPassword',
  changePassword: 'changePassword',
  groupMembers: 'membersOf',
};

function fresh(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('base64url')}-9a!`;
}

function loginOf(f: ConformanceFixture): ((anchor: Anchor, secret: Secret) => Promise<boolean>) | undefined {
  if (f.login !== undefined) return f.login;
  const c = f.connector;
  return can(c, 'verifyPassword') ? (anchor, secret) => c.verifyPassword(anchor, secret) : undefined;
}

async function logsIn(f: ConformanceFixture, anchor: Anchor, password: string): Promise<boolean | undefined> {
  const login = loginOf(f);
  if (login === undefined) return undefined;
  const secret = Secret.fromString(password);
  try {
    return await login(anchor, secret);
  } finally {
    secret.dispose();
  }
}

async function setTo(f: ConformanceFixture, anchor: Anchor, password: string): Promise<void> {
  const c = f.connector;
  assert.ok(can(c, 'setPassword'));
  const secret = Secret.fromString(password);
  try {
    await c.setPassword(anchor, secret, {});
    // The caller owns the secret (it may retry with it); a connector only borrows it.
    assert.equal(secret.disposed, false, 'setPassword must not dispose the secret it was given');
  } finally {
    secret.dispose();
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, event: number): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isPwsyncError(err), `expected a pwsync error, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.event, event);
    assert.equal(err.retryable, false);
    return true;
  });
}

const CASES: readonly Case[] = [
  {
    name: 'testConnection reports ok, an identity, and the security isSecure() declares',
    applies: () => true,
    run: async ({ connector }) => {
      const report = await connector.testConnection();
      assert.equal(report.ok, true, report.detail);
      assert.equal(report.secure, connector.isSecure());
      assert.equal(typeof report.identity, 'string');
      assert.notEqual(report.identity, '');
    },
  },
  {
    name: 'every declared capability has its method',
    applies: () => true,
    run: ({ connector }) => {
      assert.equal(typeof connector.kind, 'string');
      assert.notEqual(connector.kind, '');
      for (const method of ['testConnection', 'isSecure', 'close'] as const) assert.equal(typeof connector[method], 'function', method);
      const methods = connector as unknown as Readonly<Record<string, unknown>>;
      // A declared capability has its method. A method without its capability is allowed: some
      // connectors declare by configuration (an sql system without a verifyQuery cannot verify),
      // and the engine only ever calls what `can()` finds declared.
      for (const [cap, method] of Object.entries(METHODS) as [Capability, string][]) {
        if (connector.capabilities.has(cap)) assert.equal(typeof methods[method], 'function', `capability ${cap} → method ${method}`);
      }
      return Promise.resolve();
    },
  },
  {
    name: "declares only abilities its kind's definition lists",
    // A registered kind's definition says what its connectors may do; a test's own kind has none.
    applies: (f) => kindCapabilities(f.connector.kind) !== undefined,
    run: ({ connector }) => {
      const allowed = kindCapabilities(connector.kind) ?? new Set();
      for (const cap of connector.capabilities) assert.ok(allowed.has(cap), `${connector.kind} declares ${cap}, which its definition does not list`);
      return Promise.resolve();
    },
  },
  {
    name: 'set then log in with the new password; the old one no longer works',
    applies: (f) => can(f.connector, 'setPassword'),
    run: async (f) => {
      const first = fresh('First');
      const second = fresh('Second');
      await setTo(f, f.existingAnchor, first);
      const firstWorks = await logsIn(f, f.existingAnchor, first);
      if (firstWorks !== undefined) assert.equal(firstWorks, true, 'the password just set logs in');
      await setTo(f, f.existingAnchor, second);
      if (loginOf(f) !== undefined) {
        assert.equal(await logsIn(f, f.existingAnchor, second), true, 'the new password logs in');
        assert.equal(await logsIn(f, f.existingAnchor, first), false, 'the old password no longer logs in');
      }
    },
  },
  {
    name: 'a non-ASCII password is set and logs in',
    applies: (f) => can(f.connector, 'setPassword'),
    run: async (f) => {
      const password = fresh('Pässwörd-Ünïcødé-日本語-🔑');
      await setTo(f, f.existingAnchor, password);
      const works = await logsIn(f, f.existingAnchor, password);
      if (works !== undefined) assert.equal(works, true);
    },
  },
  {
    name: 'setPassword on an unknown anchor is ERR_ACCOUNT_NOT_FOUND (6923)',
    applies: (f) => can(f.connector, 'setPassword'),
    run: (f) => rejectsWithCode(setTo(f, f.unknownAnchor, fresh('Unknown')), 'ERR_ACCOUNT_NOT_FOUND', EVENT.ACCOUNT_NOT_FOUND),
  },
  {
    name: 'verifyPassword on an unknown anchor is ERR_ACCOUNT_NOT_FOUND (6923)',
    applies: (f) => can(f.connector, 'verifyPassword'),
    run: async ({ connector, unknownAnchor }) => {
      assert.ok(can(connector, 'verifyPassword'));
      const secret = Secret.fromString(fresh('Unknown'));
      try {
        await rejectsWithCode(connector.verifyPassword(unknownAnchor, secret), 'ERR_ACCOUNT_NOT_FOUND', EVENT.ACCOUNT_NOT_FOUND);
      } finally {
        secret.dispose();
      }
    },
  },
  {
    name: 'a password the policy refuses is ERR_POLICY (6927) and does not take effect',
    applies: (f) => can(f.connector, 'setPassword') && f.refusedPassword !== undefined,
    run: async (f) => {
      const refused = f.refusedPassword ?? '';
      await rejectsWithCode(setTo(f, f.existingAnchor, refused), 'ERR_POLICY', EVENT.POLICY_REFUSED);
      const works = await logsIn(f, f.existingAnchor, refused);
      if (works !== undefined) assert.equal(works, false);
    },
  },
  {
    name: 'over an insecure transport with a secure connection required, no password is sent (7005)',
    applies: (f) => f.insecure !== undefined && can(f.connector, 'setPassword'),
    run: async (f) => {
      const before = fresh('Before');
      await setTo(f, f.existingAnchor, before);
      const insecure = f.insecure?.();
      assert.ok(insecure !== undefined && can(insecure, 'setPassword'));
      try {
        assert.equal(insecure.isSecure(), false);
        const secret = Secret.fromString(fresh('Insecure'));
        try {
          await assert.rejects(insecure.setPassword(f.existingAnchor, secret, {}), (err: unknown) => {
            assert.ok(isPwsyncError(err));
            assert.equal(err.code, 'ERR_INSECURE_CONNECTION');
            assert.equal(err.event, EVENT.INSECURE_CONNECTION);
            return true;
          });
        } finally {
          secret.dispose();
        }
      } finally {
        await insecure.close();
      }
      const works = await logsIn(f, f.existingAnchor, before);
      if (works !== undefined) assert.equal(works, true, 'the password is unchanged');
    },
  },
  {
    name: 'import yields the known anchor and not the unknown one',
    applies: (f) => can(f.connector, 'import'),
    run: async ({ connector, existingAnchor, unknownAnchor }) => {
      assert.ok(can(connector, 'import'));
      const seen = new Set<Anchor>();
      for await (const account of connector.importAccounts()) {
        assert.equal(seen.has(account.anchor), false, 'each anchor once');
        seen.add(account.anchor);
        assert.equal(typeof account.attributes, 'object');
      }
      assert.ok(seen.has(existingAnchor));
      assert.equal(seen.has(unknownAnchor), false);
    },
  },
  {
    name: 'lookupAccount finds the known anchor as the import reads it, and nothing for the unknown one',
    applies: (f) => can(f.connector, 'lookupAccount') && can(f.connector, 'import'),
    run: async ({ connector, existingAnchor, unknownAnchor }) => {
      assert.ok(can(connector, 'lookupAccount') && can(connector, 'import'));
      let imported: AccountRecord | undefined;
      for await (const account of connector.importAccounts()) if (account.anchor === existingAnchor) imported = account;
      assert.deepEqual(await connector.lookupAccount({ anchor: existingAnchor }), [imported]);
      assert.deepEqual(await connector.lookupAccount({ anchor: unknownAnchor }), []);
    },
  },
];

/**
 * Registers the conformance tests for one connector under `node:test`. Each case gets a fresh
 * fixture from `setup`; whether a case applies is decided from that fixture, so cases that do
 * not apply (no policy, a capability not declared) are simply not registered.
 */
export function runConnectorConformance(name: string, setup: () => Promise<ConformanceFixture>): void {
  void test(`${name}: connector conformance`, async (t) => {
    for (const c of CASES) {
      const fixture = await setup();
      try {
        if (c.applies(fixture)) await t.test(c.name, () => c.run(fixture));
      } finally {
        await fixture.connector.close();
        await fixture.cleanup();
      }
    }
  });
}
