import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.ts';
import { Secret } from '../core/secret.ts';
import { PolicyError } from '../core/errors.ts';

function capture(): { stream: Writable & { write: Writable['write'] }; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  return { stream, text: () => out };
}

test('password-like keys are redacted at any depth, and a Secret prints as [secret]', () => {
  const sink = capture();
  const log = createLogger({ level: 'debug', destination: sink.stream });
  log.info({ password: 'p1-leak', user: { newPassword: 'p2-leak' }, req: { headers: { authorization: 'Basic p3-leak' } }, token: 'p4-leak', deep: { a: { secret: 'p5-leak' } } }, 'request');
  log.info({ secret: Secret.fromString('p6-leak'), other: Secret.fromString('p7-leak') }, 'secrets');
  const text = sink.text();
  for (const leak of ['p1-leak', 'p2-leak', 'p3-leak', 'p4-leak', 'p5-leak', 'p6-leak', 'p7-leak']) assert.equal(text.includes(leak), false, leak);
  assert.match(text, /\[redacted\]/);
  assert.match(text, /"other":"\[secret\]"/);
});

test('our errors are logged with code and message, without a stack; foreign errors keep theirs', () => {
  const sink = capture();
  const log = createLogger({ level: 'info', destination: sink.stream });
  log.warn({ err: new PolicyError('too short') }, 'delivery failed');
  log.warn({ err: new TypeError('boom') }, 'bug');
  const lines = sink.text().trim().split('\n').map((l) => JSON.parse(l) as { err: { code?: string; stack?: string; name: string } });
  const [ours, foreign] = lines;
  assert.ok(ours && foreign);
  assert.equal(ours.err.code, 'ERR_POLICY');
  assert.equal(ours.err.stack, undefined);
  assert.equal(foreign.err.name, 'TypeError');
  assert.ok(foreign.err.stack);
});

test('redaction reaches any depth and any case, inside arrays, survives cycles, and copies only what changes', () => {
  const sink = capture();
  const log = createLogger({ level: 'debug', destination: sink.stream });
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const untouched = { a: { b: { c: 'visible' } } };
  log.info({ a: { b: { c: { d: { Password: 'q1-leak' } } } }, list: [{ TOKEN: 'q2-leak' }, 'fine'], cyclic, untouched }, 'deep');
  log.child({ bindPassword: 'q3-leak', system: 'dir' }).info('child');
  const text = sink.text();
  for (const leak of ['q1-leak', 'q2-leak', 'q3-leak']) assert.equal(text.includes(leak), false, leak);
  assert.match(text, /"c":"visible"/);
  assert.match(text, /"system":"dir"/);
  assert.deepEqual(untouched, { a: { b: { c: 'visible' } } }, 'the caller\'s object is never changed');
});
