// The time a vitals sample is filed under in the history: one rule for both stores (and for the
// copy sent to InfluxDB). A sample's `ts` is the node's clock when it was taken, and it may wait
// in the node's outbox for a day or more (about 28 h at the default period), so `ts` alone cannot
// tell a clock that is off from a backlog. The link's clock offset can: the node's wall clock when
// it sent the sample (`sentAt`) minus ours when it arrived.

import { HOUR_MS, MAX_CLOCK_SKEW_MS } from './store-api.js';

/**
 * The oldest a sample may be and still be filed at its own time, when the link's offset is known:
 * a week. The default outbox (10,000 samples) holds about 28 h at the default 10 s period and a
 * week at a 1-minute period. Older than that, the sample is taken to be one of a Pi without a
 * real-time clock, sampled before NTP set its clock, and filed like one whose clock is far off.
 */
export const MAX_BACKLOG_MS = 7 * 24 * HOUR_MS;

export interface SampleTime {
  /** The time the sample is filed under (rollups, charts, pruning), epoch ms of the primary. */
  t: number;
  /** Whether `t` is not the node's `ts`: its clock was far off, and the sample is flagged so. */
  skewed: boolean;
}

/**
 * Where a sample goes. With the link's offset (`clockOffsetMs`, the node's clock minus ours): at
 * `ts` when the node's clock is within MAX_CLOCK_SKEW_MS of ours, else at `ts - clockOffsetMs` (the
 * node's time translated to ours), flagged `skewed`; a time that is implausible even so (older
 * than MAX_BACKLOG_MS before its arrival, or more than MAX_CLOCK_SKEW_MS after it) gives way to
 * `receivedAt`, flagged. Without one (legacy nodes, older agents): at `ts` when it is within
 * MAX_CLOCK_SKEW_MS of `receivedAt`, else at `receivedAt`, flagged.
 */
export function computeSampleTime(ts: number, receivedAt: number, clockOffsetMs: number | undefined): SampleTime {
  if (clockOffsetMs === undefined) {
    const skewed = Math.abs(ts - receivedAt) > MAX_CLOCK_SKEW_MS;
    return { t: skewed ? receivedAt : ts, skewed };
  }
  const skewed = Math.abs(clockOffsetMs) > MAX_CLOCK_SKEW_MS;
  const t = skewed ? ts - clockOffsetMs : ts;
  if (t < receivedAt - MAX_BACKLOG_MS || t > receivedAt + MAX_CLOCK_SKEW_MS) return { t: receivedAt, skewed: true };
  return { t, skewed };
}
