// The time a vitals sample is filed under, at the edges of each bound: with the link's clock offset
// (a backlog at its own time, a clock far off translated, an implausible time at the receive time)
// and without one (a day off the receive time is the clock).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeSampleTime, MAX_BACKLOG_MS } from '../../../src/store/sample-time.js';
import { MAX_CLOCK_SKEW_MS } from '../../../src/store/store-api.js';

const NOW = Date.UTC(2026, 10, 26, 12);
const DAY = MAX_CLOCK_SKEW_MS;

describe('computeSampleTime', () => {
  it('with the link offset within a day: at ts, unflagged, back to MAX_BACKLOG_MS and up to a day ahead', () => {
    for (const offset of [0, -40, DAY, -DAY]) {
      for (const ts of [NOW, NOW - 26 * 3_600_000, NOW - MAX_BACKLOG_MS, NOW + DAY])
        assert.deepEqual(computeSampleTime(ts, NOW, offset), { t: ts, skewed: false }, `${ts - NOW} ${offset}`);
    }
  });

  it('with the link offset past a day: at ts minus the offset, flagged', () => {
    for (const offset of [DAY + 1, -DAY - 1, -3 * DAY, 3650 * DAY]) {
      for (const ago of [0, 26 * 3_600_000, MAX_BACKLOG_MS])
        assert.deepEqual(computeSampleTime(NOW - ago + offset, NOW, offset), { t: NOW - ago, skewed: true });
    }
  });

  it('with the link offset: a time older than MAX_BACKLOG_MS or over a day ahead, translated or not, is the receive time, flagged', () => {
    const cases: Array<[ts: number, offset: number]> = [
      [5_000, 12], // sampled before NTP set the clock, sent after
      [NOW - MAX_BACKLOG_MS - 1, 0],
      [NOW + DAY + 1, 0],
      [NOW - MAX_BACKLOG_MS - 1 - 3 * DAY, -3 * DAY],
      [NOW + DAY + 1 + 3650 * DAY, 3650 * DAY],
    ];
    for (const [ts, offset] of cases) assert.deepEqual(computeSampleTime(ts, NOW, offset), { t: NOW, skewed: true });
  });

  it('without an offset: at ts within a day of the receive time, else the receive time, flagged', () => {
    for (const ts of [NOW, NOW - DAY, NOW + DAY])
      assert.deepEqual(computeSampleTime(ts, NOW, undefined), { t: ts, skewed: false });
    for (const ts of [5_000, NOW - DAY - 1, NOW + DAY + 1, NOW - 26 * 3_600_000])
      assert.deepEqual(computeSampleTime(ts, NOW, undefined), { t: NOW, skewed: true });
  });
});
