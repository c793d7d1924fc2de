import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Heartbeat } from '../../../src/connection/heartbeat.js';
import { FakeClock } from '../../helpers/fake-clock.js';

function setup() {
  const clock = new FakeClock();
  const pings: number[] = [];
  const stale: number[] = [];
  const heartbeat = new Heartbeat({
    intervalMs: 1000,
    maxMissed: 3,
    clock,
    sendPing: () => pings.push(clock.now()),
    onStale: (silentMs) => stale.push(silentMs),
  });
  return { clock, pings, stale, heartbeat };
}

describe('Heartbeat', () => {
  it('sends a ping after one interval without sending anything', () => {
    const { clock, pings, heartbeat } = setup();
    clock.advance(999);
    assert.equal(pings.length, 0);
    clock.advance(1);
    assert.equal(pings.length, 1);
    heartbeat.received();
    clock.advance(1000);
    assert.equal(pings.length, 2);
    heartbeat.stop();
  });

  it('sends no ping while other frames go out', () => {
    const { clock, pings, heartbeat } = setup();
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      heartbeat.sent();
      heartbeat.received();
    }
    assert.equal(pings.length, 0);
    heartbeat.stop();
  });

  it('declares the peer stale after 3 silent intervals, once', () => {
    const { clock, stale } = setup();
    clock.advance(2999);
    assert.deepEqual(stale, []);
    clock.advance(1);
    assert.deepEqual(stale, [3000]);
    clock.advance(10_000);
    assert.equal(stale.length, 1);
  });

  it('any frame received postpones the deadline', () => {
    const { clock, stale, heartbeat } = setup();
    clock.advance(2500);
    heartbeat.received();
    clock.advance(2900);
    assert.deepEqual(stale, []);
    clock.advance(100);
    assert.equal(stale.length, 1);
  });

  it('stop() silences it', () => {
    const { clock, pings, stale, heartbeat } = setup();
    heartbeat.stop();
    clock.advance(10_000);
    assert.deepEqual([pings, stale], [[], []]);
  });

  it('rejects nonsense options at construction', () => {
    assert.throws(() => new Heartbeat({ intervalMs: 0, sendPing() {}, onStale() {} }), RangeError);
  });
});
