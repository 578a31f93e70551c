import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchKey } from '../../core/join.ts';
import { at, one, rejectsWithCode, withStore, world, type OpenStore } from './fixtures.ts';
import { EVENT } from '../../core/events.ts';

/** Persons and links: projection, joins, manual links, lookups, search, counts. */
export function personTests(open: OpenStore): void {
  describe('persons and links', () => {
    test('lookupSources answers each lookup in order: accounts by anchor or key, the person of a single linked one', () =>
      withStore(open, async (store) => {
        const w = await world(store, 1);
        await world(store, 2);
        const [stray] = await store.upsertAccounts('corp', 'run-1', [{ anchor: 'corp-stray', attributes: { login: 'Twin' } }, { anchor: 'corp-twin', attributes: { login: 'twin' } }]);
        assert.ok(stray);
        const found = await store.lookupSources([
          { system: 'corp', anchor: 'corp-1' },
          { system: 'corp', name: 'login', mode: 'caseInsensitive', key: matchKey('USER2', 'caseInsensitive') },
          { system: 'corp', anchor: 'nobody' },
          { system: 'corp', name: 'login', mode: 'caseInsensitive', key: matchKey('twin', 'caseInsensitive') },
          { system: 'corp', anchor: 'corp-stray' },
        ]);
        assert.deepEqual(found.map((f) => [f.accounts.map((a) => a.anchor), f.person?.id ?? null]), [
          [['corp-1'], w.personId],
          [['corp-2'], found[1]?.accounts[0]?.personId ?? 'missing'],
          [[], null],
          [['corp-stray', 'corp-twin'], null],
          [['corp-stray'], null],
        ]);
        assert.deepEqual(found[0]?.person?.accounts.map((a) => a.anchor).sort(), ['apps-1', 'corp-1', 'mail-1']);
        assert.deepEqual(await store.lookupSources([]), []);
      }));

    test('lookupSources by anchor with orKey: the key only when no account has the anchor', () =>
      withStore(open, async (store) => {
        const w = await world(store, 1);
        await world(store, 2);
        const user2 = { name: 'login', mode: 'caseInsensitive', key: matchKey('USER2', 'caseInsensitive') } as const;
        const found = await store.lookupSources([
          { system: 'corp', anchor: 'corp-1', orKey: user2 },
          { system: 'corp', anchor: 'objectGUID-not-imported', orKey: user2 },
          { system: 'corp', anchor: 'nobody', orKey: { ...user2, key: matchKey('nobody', 'caseInsensitive') } },
        ]);
        assert.deepEqual(found.map((f) => [f.accounts.map((a) => a.anchor), f.person?.id ?? null]), [
          [['corp-1'], w.personId],
          [['corp-2'], found[1]?.accounts[0]?.personId ?? 'missing'],
          [[], null],
        ]);
        assert.notEqual(found[1]?.person?.id, undefined, 'the person of the account found by the key');
      }));

    test('applyLinks projects a person with the account attributes and joins others to it', () =>
      withStore(open, async (store) => {
        const [src, joined] = await store.upsertAccounts('corp', 'r', [
          { anchor: 's', attributes: { login: 'Zoë', mail: 'zoe@corp.test' } },
          { anchor: 'j', attributes: { login: 'zoe' } },
        ]);
        assert.ok(src && joined);
        const person = one(await store.applyLinks([{ kind: 'project', accountId: src.id }], 1234));
        assert.deepEqual(person.attributes, { login: 'Zoë', mail: 'zoe@corp.test' });
        assert.equal(person.createdAt, 1234);
        assert.match(person.id, /\S/u);
        assert.deepEqual(await store.applyLinks([{ kind: 'join', accountId: joined.id, personId: person.id, rule: 2 }], 1300), []);

        const view = await store.getPerson(person.id);
        assert.ok(view);
        assert.deepEqual(view.attributes, person.attributes);
        assert.equal(view.createdAt, 1234);
        const byId = new Map(view.accounts.map((a) => [a.id, a]));
        assert.deepEqual(byId.get(src.id)?.link, { accountId: src.id, personId: person.id, reason: { kind: 'projection' }, linkedAt: 1234 });
        assert.deepEqual(byId.get(joined.id)?.link, { accountId: joined.id, personId: person.id, reason: { kind: 'join', rule: 2 }, linkedAt: 1300 });
        assert.equal(byId.get(joined.id)?.personId, person.id);
        assert.equal((await store.getAccount('corp', 's'))?.personId, person.id);
        assert.equal(await store.getPerson('no-such-person'), undefined);
      }));

    test('applyLinks is one batch: persons in decision order, linked accounts left as they are', () =>
      withStore(open, async (store) => {
        const accounts = await store.upsertAccounts(
          'corp',
          'r',
          [1, 2, 3].map((n) => ({ anchor: `a${n}`, attributes: { n: String(n) } })),
        );
        const [a1, a2, a3] = [at(accounts, 0), at(accounts, 1), at(accounts, 2)];
        const created = await store.applyLinks(
          [
            { kind: 'project', accountId: a2.id },
            { kind: 'project', accountId: a1.id },
            { kind: 'project', accountId: a2.id }, // already linked by the first decision
          ],
          10,
        );
        assert.deepEqual(
          created.map((p) => p.attributes),
          [{ n: '2' }, { n: '1' }],
        );
        const [p2, p1] = [at(created, 0), at(created, 1)];
        assert.deepEqual(await store.applyLinks([{ kind: 'join', accountId: a2.id, personId: p1.id, rule: 0 }], 11), []);
        assert.equal((await store.getAccount('corp', 'a2'))?.personId, p2.id, 'an already linked account is left as it is');
        await store.applyLinks([{ kind: 'join', accountId: a3.id, personId: p1.id, rule: 0 }], 12);
        assert.equal((await store.getAccount('corp', 'a3'))?.personId, p1.id);
        assert.deepEqual(await store.counts().then((c) => [c.persons, c.links]), [2, 3]);
      }));

    test('applyLinks refuses unknown accounts and persons, and writes nothing then', () =>
      withStore(open, async (store) => {
        const [a, b] = await store.upsertAccounts('corp', 'r', [
          { anchor: 'a', attributes: {} },
          { anchor: 'b', attributes: {} },
        ]);
        assert.ok(a && b);
        await rejectsWithCode(store.applyLinks([{ kind: 'project', accountId: a.id }, { kind: 'project', accountId: 999_999 }], 1), 'ERR_INVALID_INPUT');
        await rejectsWithCode(store.applyLinks([{ kind: 'project', accountId: a.id }, { kind: 'join', accountId: b.id, personId: 'nobody', rule: 0 }], 1), 'ERR_INVALID_INPUT');
        const counts = await store.counts();
        assert.equal(counts.persons, 0);
        assert.equal(counts.links, 0);
      }));

    test('link refuses an account already linked; unlink frees it', () =>
      withStore(open, async (store) => {
        const w = await world(store);
        const other = one(await store.applyLinks([{ kind: 'project', accountId: (await store.upsertAccounts('corp', 'r', [{ anchor: 'x', attributes: {} }]))[0]?.id ?? -1 }], 5));
        await rejectsWithCode(store.link(w.apps.id, other.id, { kind: 'manual' }, 6), 'ERR_INVALID_INPUT');
        assert.equal((await store.getAccount('apps', 'apps-1'))?.personId, w.personId);

        await store.unlink(w.apps.id);
        assert.equal((await store.getAccount('apps', 'apps-1'))?.personId, null);
        assert.equal((await store.getPerson(w.personId))?.accounts.length, 2);
        await store.unlink(w.apps.id); // unlinking an unlinked account is harmless

        const made = await store.link(w.apps.id, other.id, { kind: 'manual' }, 7);
        assert.deepEqual(made, { accountId: w.apps.id, personId: other.id, reason: { kind: 'manual' }, linkedAt: 7 });
        assert.deepEqual(one((await store.getPerson(other.id))?.accounts.filter((a) => a.system === 'apps') ?? []).link, made);
        await rejectsWithCode(store.link(999_999, other.id, { kind: 'manual' }, 8), 'ERR_INVALID_INPUT');
        await store.unlink(w.apps.id);
        await rejectsWithCode(store.link(w.apps.id, 'no-such-person', { kind: 'manual' }, 8), 'ERR_INVALID_INPUT');
        const joined = await store.link(w.apps.id, w.personId, { kind: 'join', rule: 3 }, 9);
        assert.deepEqual(joined.reason, { kind: 'join', rule: 3 });
      }));

    test('a person keeps its attributes and stays findable when its source account is unlinked or removed', () =>
      withStore(open, async (store) => {
        const [a, b] = await store.upsertAccounts('corp', 'r1', [
          { anchor: 'a', attributes: { login: 'Zoë' } },
          { anchor: 'b', attributes: { login: 'Ärger' } },
        ]);
        assert.ok(a && b);
        const [pa, pb] = await store.applyLinks([{ kind: 'project', accountId: a.id }, { kind: 'project', accountId: b.id }], 1);
        assert.ok(pa && pb);

        await store.unlink(a.id);
        await store.upsertAccounts('corp', 'r2', [{ anchor: 'a', attributes: { login: 'Other' } }]);
        assert.deepEqual((await store.getPerson(pa.id))?.attributes, { login: 'Zoë' }, 'an unlinked account no longer leads');
        assert.deepEqual(await store.findPersonsByKey('login', 'normalized', 'zoe', 5), [pa.id]);
        assert.deepEqual(await store.findPersonsByKey('login', 'exact', 'Other', 5), []);

        await store.removeAccountsNotIn('corp', 'r2', 2);
        assert.equal(await store.getAccount('corp', 'b'), undefined);
        assert.deepEqual((await store.getPerson(pb.id))?.attributes, { login: 'Ärger' });
        assert.deepEqual(await store.findPersonsByKey('login', 'caseInsensitive', 'ärger', 5), [pb.id]);
        assert.deepEqual(await store.findPersonsByKey('login', 'exact', 'Ärger', 5), [pb.id]);
      }));

    test('a projection link makes an account the source of a person without one, and only then', () =>
      withStore(open, async (store) => {
        const [a, b, c] = await store.upsertAccounts('corp', 'r1', [
          { anchor: 'a', attributes: { login: 'first' } },
          { anchor: 'b', attributes: { login: 'Second' } },
          { anchor: 'c', attributes: { login: 'third' } },
        ]);
        assert.ok(a && b && c);
        const person = one(await store.applyLinks([{ kind: 'project', accountId: a.id }], 1));
        await rejectsWithCode(store.link(b.id, person.id, { kind: 'projection' }, 2), 'ERR_INVALID_INPUT');
        assert.equal((await store.getAccount('corp', 'b'))?.personId, null);

        await store.unlink(a.id);
        await store.link(b.id, person.id, { kind: 'projection' }, 3);
        assert.deepEqual((await store.getPerson(person.id))?.attributes, { login: 'Second' });
        assert.deepEqual(await store.findPersonsByKey('login', 'exact', 'first', 5), []);
        assert.deepEqual(await store.findPersonsByKey('login', 'caseInsensitive', 'second', 5), [person.id]);
        await store.upsertAccounts('corp', 'r2', [{ anchor: 'b', attributes: { login: 'Renamed' } }]);
        assert.deepEqual((await store.getPerson(person.id))?.attributes, { login: 'Renamed' });
        await store.link(c.id, person.id, { kind: 'manual' }, 4);
        assert.deepEqual((await store.getPerson(person.id))?.attributes, { login: 'Renamed' }, 'other links never lead');
      }));

    test('findPersonsByKey matches under each mode, respects the limit, and is scoped to the attribute', () =>
      withStore(open, async (store) => {
        const accounts = await store.upsertAccounts('corp', 'r', [
          { anchor: '1', attributes: { given: 'Zoë', login: 'ÄRGER' } },
          { anchor: '2', attributes: { given: 'zoe', login: 'ärger' } },
          { anchor: '3', attributes: { given: 'ZOE', login: 'arger' } },
        ]);
        const persons = await store.applyLinks(accounts.map((a) => ({ kind: 'project' as const, accountId: a.id })), 1);
        const [p1, p2, p3] = [at(persons, 0).id, at(persons, 1).id, at(persons, 2).id];
        const sorted = async (promise: Promise<readonly string[]>): Promise<string[]> => [...(await promise)].sort();

        assert.deepEqual(await sorted(store.findPersonsByKey('given', 'normalized', 'zoe', 10)), [p1, p2, p3].sort());
        assert.deepEqual(await sorted(store.findPersonsByKey('given', 'caseInsensitive', 'zoe', 10)), [p2, p3].sort());
        assert.deepEqual(await store.findPersonsByKey('given', 'exact', 'Zoë', 10), [p1]);
        assert.deepEqual(await sorted(store.findPersonsByKey('login', 'caseInsensitive', 'ärger', 10)), [p1, p2].sort());
        assert.deepEqual(await store.findPersonsByKey('login', 'exact', 'ärger', 10), [p2]);
        assert.equal((await store.findPersonsByKey('given', 'normalized', 'zoe', 2)).length, 2);
        assert.deepEqual(await store.findPersonsByKey('login', 'normalized', 'zoe', 10), []);
      }));

    test('searchPersons pages every person in creation order without text', () =>
      withStore(open, async (store) => {
        const accounts = await store.upsertAccounts('corp', 'r', [5, 3, 9, 1].map((n) => ({ anchor: `a${n}`, attributes: { n: String(n) } })));
        const persons = await store.applyLinks(accounts.map((a) => ({ kind: 'project' as const, accountId: a.id })), 1);
        const ids = persons.map((p) => p.id);
        assert.deepEqual((await store.searchPersons({ limit: 10 })).map((p) => p.id), ids);
        assert.deepEqual((await store.searchPersons({ limit: 2 })).map((p) => p.id), ids.slice(0, 2));
        assert.deepEqual((await store.searchPersons({ limit: 2, offset: 2 })).map((p) => p.id), ids.slice(2));
        assert.deepEqual((await store.searchPersons({ text: '', limit: 10 })).map((p) => p.id), ids);
        const first = at(await store.searchPersons({ limit: 1 }), 0);
        assert.equal(one(first.accounts).anchor, 'a5', 'a result carries its linked accounts');
      }));

    test('searchPersons finds by id, person attribute or linked account attribute, case-insensitively', () =>
      withStore(open, async (store) => {
        const w = await world(store); // person User1 / user1@corp.test, apps login user1, mail address
        const [stray] = await store.upsertAccounts('apps', 'r', [{ anchor: 'stray', attributes: { login: 'Zoë Quinn' } }]);
        const [bob] = await store.upsertAccounts('corp', 'r', [{ anchor: 'bob', attributes: { login: 'Bob', title: 'Ärger-Manager' } }]);
        assert.ok(stray && bob);
        const bobId = one(await store.applyLinks([{ kind: 'project', accountId: bob.id }], 2)).id;
        const [linkedExtra] = await store.upsertAccounts('hr', 'r', [{ anchor: 'h1', attributes: { badge: 'ZX-Ünique-77' } }]);
        assert.ok(linkedExtra);
        await store.link(linkedExtra.id, w.personId, { kind: 'manual' }, 3);

        const found = async (text: string): Promise<string[]> => (await store.searchPersons({ text, limit: 10 })).map((p) => p.id);
        assert.deepEqual(await found('USER1@CORP'), [w.personId]);
        assert.deepEqual(await found('ärger'), [bobId]);
        assert.deepEqual(await found('ÄRGER-man'), [bobId]);
        assert.deepEqual(await found('ünique'), [w.personId], 'an attribute of a linked account counts');
        // The random tail: time-ordered ids share their leading (timestamp) digits.
        assert.deepEqual(await found(w.personId.slice(-12).toUpperCase()), [w.personId]);
        assert.deepEqual(await found('zoë'), [], 'an unlinked account leads to no one');
        assert.deepEqual(await found('nothing-like-this'), []);
        assert.deepEqual(await found('o'), [w.personId, bobId], 'several matches come in creation order');
        assert.deepEqual(await store.searchPersons({ text: 'o', limit: 1, offset: 1 }).then((r) => r.map((p) => p.id)), [bobId]);
      }));

    test('counts reports persons, accounts, links, jobs by every state and events', () =>
      withStore(open, async (store) => {
        const empty = await store.counts();
        assert.deepEqual(empty, {
          persons: 0,
          accounts: 0,
          links: 0,
          jobsByState: { pending: 0, in_progress: 0, retry_scheduled: 0, done: 0, failed: 0, superseded: 0 },
          events: 0,
        });
        await world(store);
        await store.upsertAccounts('apps', 'run-1', [{ anchor: 'unlinked', attributes: {} }]);
        await store.appendEvents([{ code: EVENT.IMPORT_COMPLETED, message: 'import completed' }]);
        const counts = await store.counts();
        assert.equal(counts.persons, 1);
        assert.equal(counts.accounts, 4);
        assert.equal(counts.links, 3);
        assert.equal(counts.events, 1);
      }));
  });
}
