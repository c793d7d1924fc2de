import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Backoff, computeBackoffCeilingMs, computeBackoffMs, sleep } from '../../../src/connection/backoff.js';

describe('reconnect backoff', () => {
  it('doubles the ceiling from initialDelayMs up to maxDelayMs', () => {
    const options = { initialDelayMs: 250, maxDelayMs: 8000, factor: 2 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 100, 10_000].map((a) => computeBackoffCeilingMs(a, options)),
      [250, 500, 1000, 2000, 4000, 8000, 8000, 8000, 8000],
    );
  });

  it('full jitter: every delay lies in [0, ceiling) (property)', () => {
    fc.assert(
      fc.property(fc.nat(200), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const delay = computeBackoffMs(attempt, {}, () => r);
        assert.ok(delay >= 0 && delay < Math.max(1, computeBackoffCeilingMs(attempt)));
      }),
    );
  });

  it('spreads delays: 1,000 clients at attempt 5 do not bunch (no 100 ms window with > 5%)', () => {
    const delays = Array.from({ length: 1000 }, () => computeBackoffMs(5, { initialDelayMs: 250, maxDelayMs: 8000 }));
    const buckets = new Map<number, number>();
    for (const d of delays) buckets.set(Math.floor(d / 100), (buckets.get(Math.floor(d / 100)) ?? 0) + 1);
    assert.ok(Math.max(...buckets.values()) <= 50, `largest bucket ${Math.max(...buckets.values())}`);
  });

  it('counts attempts and resets only after a stable connection', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, resetAfterMs: 30_000 }, () => 0.999);
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [99, 199, 399]);
    backoff.connected(0);
    backoff.disconnected(29_999); // a flapping link keeps backing off
    assert.equal(backoff.attempt, 3);
    backoff.connected(100_000);
    backoff.disconnected(130_000);
    assert.equal(backoff.attempt, 0);
  });

  it('rejects nonsense options at construction', () => {
    assert.throws(() => new Backoff({ initialDelayMs: 10, maxDelayMs: 5 }), RangeError);
  });

  it('sleep is abortable', async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(slept, /stop/);
  });
});
