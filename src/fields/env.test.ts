import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandEnv } from './env.ts';

void describe('expandEnv', () => {
  const env = { HOST: 'db.test', PORT: '5432', EMPTY: '' };

  void it('replaces each ${NAME} and leaves other dollars alone', () => {
    assert.deepEqual(expandEnv('postgres://${HOST}:${PORT}/x', env), { ok: true, value: 'postgres://db.test:5432/x', names: ['HOST', 'PORT'] });
    assert.deepEqual(expandEnv('costs $5, $HOST and $$', env), { ok: true, value: 'costs $5, $HOST and $$', names: [] });
    assert.deepEqual(expandEnv('[${EMPTY}]', env), { ok: true, value: '[]', names: ['EMPTY'] });
  });

  void it('reads $${ as a literal ${', () => {
    assert.deepEqual(expandEnv('$${HOST} is ${HOST}', env), { ok: true, value: '${HOST} is db.test', names: ['HOST'] });
    // Read left to right: a lone `$`, then the escape.
    assert.deepEqual(expandEnv('$$${HOST}', env), { ok: true, value: '$${HOST}', names: [] });
  });

  void it('does not expand a value again', () => {
    assert.deepEqual(expandEnv('${A}', { A: '${HOST}' }), { ok: true, value: '${HOST}', names: ['A'] });
  });

  void it('names every unset variable once, and flags malformed references', () => {
    assert.deepEqual(expandEnv('${NOPE}/${NADA}/${NOPE}', env), { ok: false, unset: ['NOPE', 'NADA'], malformed: false });
    assert.deepEqual(expandEnv('${HOST', env), { ok: false, unset: [], malformed: true });
    assert.deepEqual(expandEnv('${1X}', env), { ok: false, unset: [], malformed: true });
    assert.deepEqual(expandEnv('${}', env), { ok: false, unset: [], malformed: true });
  });
});
