import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONNECTOR_KINDS } from '../connectors/registry.ts';
import { systemSchema } from './schema.ts';

void describe('configuration schema', () => {
  void it('names the same connector kinds as the registry', () => {
    const kinds = systemSchema.options.map((option) => option.shape.connector.value);
    assert.deepEqual([...kinds].sort(), [...CONNECTOR_KINDS].sort());
  });

  void it('gives each system its own default objects', () => {
    const system = { name: 'a', connector: 'file', file: { path: 'a.csv' }, import: { anchor: 'id' } };
    const [a, b] = [systemSchema.parse(system), systemSchema.parse(system)];
    assert.deepEqual(a.password, { sync: false, retry: { count: 10, interval: 60_000 }, requireSecure: true });
    assert.notEqual(a.password, b.password);
    assert.notEqual(a.password.retry, b.password.retry);
  });
});
