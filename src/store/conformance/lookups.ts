import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchKey } from '../../core/join.ts';
import { one, rejectsWithCode, withStore, type OpenStore } from './fixtures.ts';

/** Declared lookups: keys exist for what the engine declared, and a declaration can change. */
export function lookupTests(open: OpenStore): void {
  describe('lookups', () => {
    test('a lookup that was not declared is refused, never answered with "no match"', () =>
      withStore(open, async (store) => {
        await store.declareLookups([{ scope: 'account', system: 'corp', attribute: 'login', mode: 'caseInsensitive' }]);
        await store.upsertAccounts('corp', 'r1', [{ anchor: 'c1', attributes: { login: 'Alice', mail: 'a@x.test' } }]);
        assert.equal(one(await store.findAccountsByKey('corp', 'login', 'caseInsensitive', 'alice')).anchor, 'c1');
        await rejectsWithCode(store.findAccountsByKey('corp', 'login', 'exact', 'Alice'), 'ERR_INVALID_INPUT');
        await rejectsWithCode(store.findAccountsByKey('corp', 'mail', 'caseInsensitive', 'a@x.test'), 'ERR_INVALID_INPUT');
        await rejectsWithCode(store.findAccountsByKey('apps', 'login', 'caseInsensitive', 'alice'), 'ERR_INVALID_INPUT');
        await rejectsWithCode(store.findPersonsByKey('login', 'caseInsensitive', 'alice', 2), 'ERR_INVALID_INPUT');
      }));

    test('a lookup declared after the import finds what was imported; one withdrawn is refused; declared again, it works', () =>
      withStore(open, async (store) => {
        await store.declareLookups([]);
        const [account] = await store.upsertAccounts('corp', 'r1', [{ anchor: 'c1', attributes: { login: 'Zoë', mail: 'Zoe@X.test' } }]);
        assert.ok(account);
        const person = one(await store.applyLinks([{ kind: 'project', accountId: account.id }], 1));
        const lookups = [
          { scope: 'account', system: 'corp', attribute: 'login', mode: 'normalized' },
          { scope: 'person', attribute: 'mail', mode: 'caseInsensitive' },
        ] as const;
        await store.declareLookups(lookups);
        assert.equal(one(await store.findAccountsByKey('corp', 'login', 'normalized', matchKey('zoe', 'normalized'))).id, account.id);
        assert.deepEqual(await store.findPersonsByKey('mail', 'caseInsensitive', 'zoe@x.test', 2), [person.id]);
        await store.declareLookups(lookups); // unchanged: nothing happens
        await store.declareLookups([lookups[0]]);
        await rejectsWithCode(store.findPersonsByKey('mail', 'caseInsensitive', 'zoe@x.test', 2), 'ERR_INVALID_INPUT');
        await store.declareLookups(lookups);
        assert.deepEqual(await store.findPersonsByKey('mail', 'caseInsensitive', 'zoe@x.test', 2), [person.id]);
      }));

    test('person keys follow the source account, and stay when the account is removed', () =>
      withStore(open, async (store) => {
        await store.declareLookups([{ scope: 'person', attribute: 'mail', mode: 'caseInsensitive' }]);
        const [account] = await store.upsertAccounts('corp', 'r1', [{ anchor: 'c1', attributes: { mail: 'old@x.test' } }]);
        assert.ok(account);
        const person = one(await store.applyLinks([{ kind: 'project', accountId: account.id }], 1));
        await store.upsertAccounts('corp', 'r2', [{ anchor: 'c1', attributes: { mail: 'New@X.test' } }]);
        assert.deepEqual(await store.findPersonsByKey('mail', 'caseInsensitive', 'old@x.test', 2), []);
        assert.deepEqual(await store.findPersonsByKey('mail', 'caseInsensitive', 'new@x.test', 2), [person.id]);
        await store.removeAccountsNotIn('corp', 'r3', 5);
        assert.deepEqual(await store.findPersonsByKey('mail', 'caseInsensitive', 'new@x.test', 2), [person.id]);
      }));
  });
}
