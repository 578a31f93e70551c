import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../config/schema.ts';
import { lookupsFor } from './lookups.ts';

test('lookups: each source by its account attribute, persons and accounts by every join rule, each once', () => {
  const config = configSchema.parse({
    systems: [
      { name: 'hr', connector: 'file', file: { path: 'hr.csv' }, source: { accountAttribute: 'login' }, import: { anchor: 'id' } },
      {
        name: 'apps',
        connector: 'file',
        file: { path: 'apps.csv' },
        import: { anchor: 'id' },
        join: [
          { person: 'mail', account: 'email', match: 'caseInsensitive' },
          { person: 'login', account: 'user', match: 'normalized' },
        ],
        password: { sync: true },
      },
      { name: 'wiki', connector: 'file', file: { path: 'w.csv' }, import: { anchor: 'id' }, join: [{ person: 'mail', account: 'mail', match: 'caseInsensitive' }] },
    ],
  });
  assert.deepEqual(lookupsFor(config), [
    { scope: 'account', system: 'hr', attribute: 'login', mode: 'caseInsensitive' },
    { scope: 'person', attribute: 'mail', mode: 'caseInsensitive' },
    { scope: 'account', system: 'apps', attribute: 'email', mode: 'caseInsensitive' },
    { scope: 'person', attribute: 'login', mode: 'normalized' },
    { scope: 'account', system: 'apps', attribute: 'user', mode: 'normalized' },
    { scope: 'account', system: 'wiki', attribute: 'mail', mode: 'caseInsensitive' },
  ]);
});
