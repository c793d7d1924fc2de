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
    sendPing: () => pings.push(clock.monotonicMs()),
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

describe('Heartbeat and the wall clock', () => {
  it('a wall-clock step forward (3 intervals, 10 years) or back changes neither pings nor dead-peer detection', () => {
    const { clock, pings, stale, heartbeat } = setup();
    clock.advance(500);
    heartbeat.received();
    for (const step of [3_000, 10 * 365 * 86_400_000, -3_600_000]) {
      clock.stepWall(step);
      clock.advance(100);
      heartbeat.received();
    }
    assert.deepEqual(stale, [], 'no peer is declared dead by a step');
    // Silence from here: dead after exactly 3 intervals of monotonic time, whatever the wall says.
    clock.stepWall(-10 * 365 * 86_400_000);
    clock.advance(2999);
    assert.deepEqual(stale, []);
    clock.advance(1);
    assert.deepEqual(stale, [3000]);
    assert.ok(pings.length >= 2);
    heartbeat.stop();
  });
});
