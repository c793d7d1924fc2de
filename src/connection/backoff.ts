// Reconnect policy: capped exponential backoff with full jitter (delay = random(0, min(cap,
// initial * factor^attempt))), as got's calculateRetryDelay and the AWS architecture note do.
// The delay is a pure function of the attempt number; `Backoff` adds the attempt counter and the
// reset after a stable connection.

import { DEFAULTS } from '../common/defaults.js';

export interface ReconnectOptions {
  /** First delay's ceiling, in ms. */
  initialDelayMs: number;
  /** Largest delay, in ms. */
  maxDelayMs: number;
  /** Growth per attempt. */
  factor: number;
  /** A connection that stayed up this long resets the attempt counter, in ms. */
  resetAfterMs: number;
}

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: DEFAULTS.reconnectInitialDelayMs,
  maxDelayMs: DEFAULTS.reconnectMaxDelayMs,
  factor: DEFAULTS.reconnectFactor,
  resetAfterMs: DEFAULTS.reconnectResetAfterMs,
});

/** The ceiling for attempt `attempt` (0-based): min(maxDelayMs, initialDelayMs * factor^attempt). */
export function computeBackoffCeilingMs(attempt: number, options: Partial<ReconnectOptions> = {}): number {
  const { initialDelayMs, maxDelayMs, factor } = { ...DEFAULT_RECONNECT, ...options };
  // Past ~60 doublings the power overflows to Infinity; min() keeps the cap either way.
  return Math.min(maxDelayMs, initialDelayMs * factor ** Math.min(attempt, 64));
}

/** Full jitter: a uniformly random delay in [0, ceiling). `random` is injectable for tests. */
export function computeBackoffMs(
  attempt: number,
  options: Partial<ReconnectOptions> = {},
  random: () => number = Math.random,
): number {
  return Math.floor(random() * computeBackoffCeilingMs(attempt, options));
}

export class Backoff {
  readonly options: ReconnectOptions;
  #attempt = 0;
  #connectedAt: number | undefined;
  readonly #random: () => number;

  constructor(options: Partial<ReconnectOptions> = {}, random: () => number = Math.random) {
    this.options = { ...DEFAULT_RECONNECT, ...options };
    const { initialDelayMs, maxDelayMs, factor } = this.options;
    if (!(initialDelayMs >= 0) || !(maxDelayMs >= initialDelayMs) || !(factor >= 1)) {
      throw new RangeError(
        `reconnect options need 0 <= initialDelayMs <= maxDelayMs and factor >= 1, got ${JSON.stringify(this.options)}`,
      );
    }
    this.#random = random;
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; counts the attempt. */
  next(): number {
    return computeBackoffMs(this.#attempt++, this.options, this.#random);
  }

  /** The delay the next attempt would wait at most, without counting it. */
  peekCeilingMs(): number {
    return computeBackoffCeilingMs(this.#attempt, this.options);
  }

  /** A connection came up at `now` (monotonic ms). */
  connected(now = performance.now()): void {
    this.#connectedAt = now;
  }

  /** The connection went down at `now` (monotonic ms); resets the counter if it was up long enough. */
  disconnected(now = performance.now()): void {
    if (this.#connectedAt !== undefined && now - this.#connectedAt >= this.options.resetAfterMs) {
      this.#attempt = 0;
    }
    this.#connectedAt = undefined;
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Sleeps `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
