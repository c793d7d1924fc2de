// The clocks the connection layer runs on, injectable so heartbeat and backoff logic is tested on a
// fake clock without real sleeps (STYLE.md, "Tests"). Two readings, never mixed: a monotonic one for
// every duration, deadline and timeout (a Raspberry Pi without a real-time clock steps its wall
// clock, by minutes or years, when NTP reaches it; a duration measured on it would jump too), and
// the wall clock for timestamps that are stored or shown.

export interface Timer {
  unref?(): unknown;
}

export interface Clock {
  /** Milliseconds on a clock that never steps (`performance.now()`): durations and deadlines only. */
  monotonicMs(): number;
  /** Epoch milliseconds of the wall clock (`Date.now()`): timestamps that are stored or shown only. */
  wallMs(): number;
  /** Runs `fn` after `ms` (Node's timers run on the monotonic clock). */
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
  /** Runs `fn` after pending I/O has been read (real clocks); fake clocks may leave it out. */
  setImmediate?(fn: () => void): void;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  setImmediate: (fn) => void setImmediate(fn),
};
