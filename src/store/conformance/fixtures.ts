import assert from 'node:assert/strict';
import { isPwsyncError, type ErrorCode } from '../../core/errors.ts';
import type { Change, EpochMs, MatchMode, PersonId, SealedSecret } from '../../core/model.ts';
import type { AccountWithLink, Lookup, Store } from '../port.ts';

/** Opens a fresh, empty store; `cleanup` closes it (if still open) and removes what it left. */
export type OpenStore = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const SYSTEMS = ['corp', 'apps', 'mail', 'hr'];
const ATTRIBUTES = ['login', 'uid', 'given', 'mail', 'address', 'name'];
const MODES: readonly MatchMode[] = ['exact', 'caseInsensitive', 'normalized'];

/** The lookups the suite's tests make (a store keeps keys for declared lookups only). */
export const SUITE_LOOKUPS: readonly Lookup[] = [
  ...SYSTEMS.flatMap((system) => ATTRIBUTES.flatMap((attribute) => MODES.map((mode): Lookup => ({ scope: 'account', system, attribute, mode })))),
  ...ATTRIBUTES.flatMap((attribute) => MODES.map((mode): Lookup => ({ scope: 'person', attribute, mode }))),
];

/**
 * Runs `fn` against a fresh store with the suite's lookups declared, and always cleans up, so one
 * failure leaves nothing behind.
 */
export async function withStore(open: OpenStore, fn: (store: Store) => Promise<void>): Promise<void> {
  const { store, cleanup } = await open();
  try {
    await store.declareLookups(SUITE_LOOKUPS);
    await fn(store);
  } finally {
    await cleanup();
  }
}

/** A stand-in for a keyring's output: the store treats it as opaque bytes with a key id. */
export function sealed(tag: string, keyId = 'k1'): SealedSecret {
  return { keyId, blob: Buffer.from(`sealed:${tag}`) };
}

export function change(id: string, personId: PersonId, changedAt: EpochMs, overrides: Partial<Change> = {}): Change {
  return {
    id,
    sourceSystem: 'corp',
    sourceAnchor: 'corp-1',
    personId,
    changedAt,
    receivedAt: changedAt + 5,
    origin: 'source',
    actor: 'agent-dc1',
    ...overrides,
  };
}

/** Asserts that `promise` rejects with one of our errors carrying `code` (never its message). */
export async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isPwsyncError(e), `expected a PwsyncError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

export function one<T>(items: readonly T[]): T {
  assert.equal(items.length, 1, `expected exactly one item, got ${items.length}`);
  const [item] = items;
  assert.ok(item !== undefined);
  return item;
}

export function at<T>(items: readonly T[], index: number): T {
  const item = items[index];
  assert.ok(item !== undefined, `no item at ${index} of ${items.length}`);
  return item;
}

export interface World {
  readonly personId: PersonId;
  readonly source: AccountWithLink;
  /** Linked accounts in the target systems `apps` and `mail`. */
  readonly apps: AccountWithLink;
  readonly mail: AccountWithLink;
}

/**
 * One person projected from `corp-<n>` in `corp`, joined by rule 0 to `apps-<n>` in `apps` and
 * `mail-<n>` in `mail`: the shape every job test starts from.
 */
export async function world(store: Store, n = 1): Promise<World> {
  const [source] = await store.upsertAccounts('corp', 'run-1', [{ anchor: `corp-${n}`, attributes: { login: `User${n}`, mail: `user${n}@corp.test` } }]);
  const [apps] = await store.upsertAccounts('apps', 'run-1', [{ anchor: `apps-${n}`, attributes: { login: `user${n}` } }]);
  const [mail] = await store.upsertAccounts('mail', 'run-1', [{ anchor: `mail-${n}`, attributes: { address: `user${n}@corp.test` } }]);
  assert.ok(source && apps && mail);
  const person = one(await store.applyLinks([{ kind: 'project', accountId: source.id }], 1000));
  await store.applyLinks(
    [
      { kind: 'join', accountId: apps.id, personId: person.id, rule: 0 },
      { kind: 'join', accountId: mail.id, personId: person.id, rule: 0 },
    ],
    1000,
  );
  const reread = async (system: string, anchor: string): Promise<AccountWithLink> => {
    const account = await store.getAccount(system, anchor);
    assert.ok(account);
    return account;
  };
  return {
    personId: person.id,
    source: await reread('corp', `corp-${n}`),
    apps: await reread('apps', `apps-${n}`),
    mail: await reread('mail', `mail-${n}`),
  };
}
