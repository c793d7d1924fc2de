// The clock the connection layer runs on, injectable so heartbeat and backoff logic is tested on a
// fake clock without real sleeps (STYLE.md, "Tests").

export interface Timer {
  unref?(): unknown;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
  /** Runs `fn` after pending I/O has been read (real clocks); fake clocks may leave it out. */
  setImmediate?(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  setImmediate: (fn) => void setImmediate(fn),
};
