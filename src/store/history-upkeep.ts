// Keeps the vitals history in shape in the background: rolls up finished minutes and hours, then
// deletes what is past retention, one small chunk per event-loop turn so ingest and the API never
// wait long behind it.
//
// Both decide by the wall clock, which steps (a Pi without a real-time clock, NTP arriving, a bad
// saved time at boot): a step forward of years would roll up and prune the whole history at once,
// and mark minutes final that are still to come. So when the wall clock moves away from the
// monotonic clock by more than `stepToleranceMs`, the upkeep waits `stepHoldMs` (on the monotonic
// clock) before it trusts the new time: a step that is undone meanwhile costs nothing.

import type { Logger } from '../common/logger.js';
import type { Store } from './store-api.js';

/** The two clocks the upkeep compares (injectable for tests). */
export interface UpkeepClock {
  wallMs(): number;
  monotonicMs(): number;
}

const systemClock: UpkeepClock = { wallMs: () => Date.now(), monotonicMs: () => performance.now() };

export interface HistoryUpkeepOptions {
  /** A move of the wall clock against the monotonic one bigger than this is a step, ms. Default 5 min. */
  stepToleranceMs?: number;
  /** How long the upkeep waits after a step before it trusts the new time, ms. Default 1 h. */
  stepHoldMs?: number;
  clock?: UpkeepClock;
}

export class HistoryUpkeep {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #clock: UpkeepClock;
  readonly #stepToleranceMs: number;
  readonly #stepHoldMs: number;
  /** Wall minus monotonic at the last pass: what a step changes. */
  #offset: number;
  /** Monotonic time until which the upkeep waits after a step (undefined: not waiting). */
  #holdUntil: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;

  constructor(store: Store, logger: Logger, options: HistoryUpkeepOptions = {}) {
    this.#store = store;
    this.#log = logger;
    this.#clock = options.clock ?? systemClock;
    this.#stepToleranceMs = options.stepToleranceMs ?? 5 * 60_000;
    this.#stepHoldMs = options.stepHoldMs ?? 3_600_000;
    this.#offset = this.#clock.wallMs() - this.#clock.monotonicMs();
  }

  /** True while the upkeep waits out a step of the wall clock. */
  get holding(): boolean {
    return this.#holdUntil !== undefined;
  }

  /** Whether the wall clock stepped since the last pass; waits out `stepHoldMs` after one. */
  #clockSteady(): boolean {
    const offset = this.#clock.wallMs() - this.#clock.monotonicMs();
    const stepMs = offset - this.#offset;
    this.#offset = offset;
    const now = this.#clock.monotonicMs();
    if (Math.abs(stepMs) > this.#stepToleranceMs) {
      this.#holdUntil = now + this.#stepHoldMs;
      this.#log.warn(
        { stepMs: Math.round(stepMs), holdMs: this.#stepHoldMs },
        'the wall clock stepped: rolling up and pruning the history wait, in case it steps back',
      );
      return false;
    }
    if (this.#holdUntil === undefined) return true;
    if (now < this.#holdUntil) return false;
    this.#holdUntil = undefined;
    this.#log.info({}, 'the wall clock kept its new time: rolling up and pruning the history again');
    return true;
  }

  /** Runs the upkeep every `intervalMs`. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.run(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  /** One full pass (rollups, then pruning); a pass already running makes this a no-op. */
  async run(): Promise<void> {
    if (this.#running) return;
    if (!this.#clockSteady()) return;
    this.#running = true;
    const started = performance.now();
    let removed = 0;
    const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));
    try {
      while (!this.#stopped && (await this.#store.rollupStep(this.#clock.wallMs()))) await yieldToLoop();
      // The seqs the raw samples prove go to the nodes table before any of those samples go.
      if (!this.#stopped) await this.#store.catchUpNodes(this.#clock.wallMs());
      for (;;) {
        if (this.#stopped) return;
        const n = await this.#store.pruneChunk(this.#clock.wallMs());
        removed += n;
        if (n === 0) break;
        await yieldToLoop();
      }
    } catch (err) {
      this.#log.error({ err }, 'history upkeep failed; will retry at the next interval');
      return;
    } finally {
      this.#running = false;
    }
    if (removed > 0) this.#log.debug({ removed, ms: Math.round(performance.now() - started) }, 'pruned history');
  }
}
