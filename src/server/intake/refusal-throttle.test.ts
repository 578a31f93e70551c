import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_RECORDED_PER_MINUTE, PER_ADDRESS_INTERVAL_MS, RefusalThrottle } from './refusal-throttle.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('the throttle of refusals of unauthenticated clients', () => {
  test('one recorded per address per interval; the next recorded one carries the count left out', () => {
    const c = clock();
    const throttle = new RefusalThrottle(c.now);
    assert.deepEqual(throttle.admit('10.0.0.1'), { record: true, suppressed: undefined });
    for (let i = 0; i < 50; i++) assert.deepEqual(throttle.admit('10.0.0.1'), { record: false });
    c.advance(PER_ADDRESS_INTERVAL_MS - 1);
    assert.deepEqual(throttle.admit('10.0.0.1'), { record: false });
    c.advance(1);
    assert.deepEqual(throttle.admit('10.0.0.1'), { record: true, suppressed: { count: 51, since: 1_000_000 } });
    assert.equal(throttle.flush(), undefined);
  });

  test('at most MAX_RECORDED_PER_MINUTE a minute, however many addresses; the summary counts the rest', () => {
    const c = clock();
    const throttle = new RefusalThrottle(c.now);
    let recorded = 0;
    for (let i = 0; i < 1000; i++) if (throttle.admit(`10.1.${i >> 8}.${i & 255}`).record) recorded += 1;
    assert.equal(recorded, MAX_RECORDED_PER_MINUTE);
    assert.deepEqual(throttle.flush(), { count: 1000 - MAX_RECORDED_PER_MINUTE, since: 1_000_000 });
    assert.equal(throttle.flush(), undefined, 'counted once');
    c.advance(59_999);
    assert.equal(throttle.admit('10.2.0.1').record, false);
    c.advance(1);
    assert.deepEqual(throttle.admit('10.2.0.1'), { record: true, suppressed: { count: 1, since: 1_059_999 } });
  });

  test('a flood from a million addresses keeps its memory bounded', () => {
    const c = clock();
    const throttle = new RefusalThrottle(c.now);
    for (let i = 0; i < 1_000_000; i++) {
      throttle.admit(`f${i}`);
      if (i % 1000 === 0) c.advance(10);
      assert.ok(throttle.remembered <= MAX_RECORDED_PER_MINUTE);
    }
    assert.ok((throttle.flush()?.count ?? 0) > 990_000);
  });
});
