// Rates of what a peer sends, per link: token buckets on the monotonic clock (a second's worth at
// once, then `rate` per second). A Connection given a gate asks it about each message it reads:
// within the rates it goes on; past them the link stops reading until the peer is back within
// them (TCP then slows the sender: a throttle, nothing dropped); a sender that runs a second's
// worth past its rate anyway (only possible by flooding while it is throttled) is closed with
// ERR_RATE_LIMITED.

import { ProtocolError } from '../protocol/errors.js';
import type { Message } from '../protocol/messages.js';

/** Asked by a Connection about each message read. */
export interface InboundGate {
  /**
   * How long to stop reading for before the next message, ms (0: go on).
   * @throws ProtocolError ERR_RATE_LIMITED: close the link.
   */
  admit(message: Message, nowMs: number): number;
}

/** `rate` tokens a second, at most `rate` held (a second's worth at once). */
class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly rate: number,
    now: number,
  ) {
    this.#tokens = rate;
    this.#last = now;
  }

  /** Takes one; the debt after it (0 within the rate). */
  take(now: number): number {
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#last) * this.rate) / 1000);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens < 0 ? -this.#tokens : 0;
  }
}

export interface SessionRates {
  framesPerSecond: number;
  requestsPerSecond: number;
  samplesPerSecond: number;
}

/**
 * The gate of an authenticated node's session: every frame, every request (a message with an
 * `id`), every `vitals` sample. `onThrottle` hears of each time the session starts to be held back.
 */
export class SessionRateGate implements InboundGate {
  readonly #frames: TokenBucket;
  readonly #requests: TokenBucket;
  readonly #samples: TokenBucket;
  readonly #onThrottle: () => void;
  #throttled = false;

  constructor(rates: SessionRates, now: number, onThrottle: () => void = () => {}) {
    this.#frames = new TokenBucket(rates.framesPerSecond, now);
    this.#requests = new TokenBucket(rates.requestsPerSecond, now);
    this.#samples = new TokenBucket(rates.samplesPerSecond, now);
    this.#onThrottle = onThrottle;
  }

  admit(message: Message, now: number): number {
    let pauseMs = this.#check(this.#frames, now, 'frames');
    if (message.id !== undefined) pauseMs = Math.max(pauseMs, this.#check(this.#requests, now, 'requests'));
    if (message.t === 'vitals') pauseMs = Math.max(pauseMs, this.#check(this.#samples, now, 'samples'));
    if (pauseMs > 0 && !this.#throttled) this.#onThrottle();
    this.#throttled = pauseMs > 0;
    return pauseMs;
  }

  #check(bucket: TokenBucket, now: number, what: string): number {
    const debt = bucket.take(now);
    if (debt > bucket.rate) {
      throw new ProtocolError(
        'ERR_RATE_LIMITED',
        `sent ${what} faster than ${bucket.rate}/s and kept on while held back (limits.${what}PerSecond)`,
      );
    }
    return (debt * 1000) / bucket.rate;
  }
}
