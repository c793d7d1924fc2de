// A manual clock for timer logic: time moves only when the test calls `advance`; the wall clock
// also steps when the test calls `stepWall` (a Pi whose NTP sync arrives), the monotonic one never.
import type { Clock, Timer } from '../../src/connection/clock.js';

interface Scheduled extends Timer {
  at: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  #now = 1_000_000;
  /** Wall clock minus monotonic clock. */
  #wallOffset = Date.UTC(2026, 0, 1);
  #timers: Scheduled[] = [];

  monotonicMs(): number {
    return this.#now;
  }

  wallMs(): number {
    return this.#now + this.#wallOffset;
  }

  /** Steps the wall clock by `ms` (negative: back), as NTP does; timers and durations are not moved. */
  stepWall(ms: number): void {
    this.#wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const timer: Scheduled = { at: this.#now + Math.max(0, ms), fn, cancelled: false };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: Timer): void {
    (timer as Scheduled).cancelled = true;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.#now = end;
  }
}
