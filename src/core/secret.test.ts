import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Secret } from './secret.ts';
import { InvalidInputError } from './errors.ts';

test('a secret never prints its value', () => {
  const s = Secret.fromString('hunter2-Pässwörd');
  assert.equal(String(s), '[secret]');
  // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the very thing under test
  assert.equal(`${s}`, '[secret]');
  assert.equal(JSON.stringify({ s }), '{"s":"[secret]"}');
  assert.equal(inspect(s), '[secret]');
  assert.equal(inspect({ nested: { s } }, { depth: 5 }).includes('hunter2'), false);
});

test('use lends a copy and wipes it afterwards', async () => {
  const s = Secret.fromString('abc');
  let lent: Buffer | undefined;
  const length = await s.use((clear) => {
    lent = clear;
    assert.equal(clear.toString('utf8'), 'abc');
    return clear.length;
  });
  assert.equal(length, 3);
  assert.deepEqual([...(lent ?? [])], [0, 0, 0]);
  assert.equal(s.useSync((c) => c.toString('utf8')), 'abc');
});

test('the lent copy is wiped even when the callback throws', async () => {
  const s = Secret.fromString('xyz');
  let lent: Buffer | undefined;
  await assert.rejects(
    s.use((clear) => {
      lent = clear;
      throw new Error('boom');
    }),
  );
  assert.deepEqual([...(lent ?? [])], [0, 0, 0]);
});

test('fromBytes copies; dispose wipes and forbids further use', () => {
  const source = Buffer.from('secret!');
  const s = Secret.fromBytes(source);
  source.fill(0);
  assert.equal(s.useSync((c) => c.toString()), 'secret!');
  s.dispose();
  assert.equal(s.disposed, true);
  assert.throws(() => s.useSync(() => 1));
  s.dispose();
});

test('adopt takes the buffer itself and wipes it on dispose', () => {
  const own = Buffer.from('mine');
  const s = Secret.adopt(own);
  s.dispose();
  assert.deepEqual([...own], [0, 0, 0, 0]);
});

test('equals compares bytes', () => {
  assert.equal(Secret.fromString('a').equals(Secret.fromString('a')), true);
  assert.equal(Secret.fromString('a').equals(Secret.fromString('b')), false);
  assert.equal(Secret.fromString('a').equals(Secret.fromString('ab')), false);
});

test('fromString refuses a lone surrogate, which has no UTF-8 form; a pair is a character like any other', () => {
  for (const text of ['caf\uD800-Secret1', '\uDC00', 'x\uD83D']) assert.throws(() => Secret.fromString(text), (e: unknown) => e instanceof InvalidInputError, JSON.stringify(text));
  assert.equal(Secret.fromString('\u{1F600}').useSync((c) => c.toString('hex')), 'f09f9880');
});
