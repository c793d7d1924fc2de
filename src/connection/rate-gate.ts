// Rates of what a peer sends, per link: token buckets on the monotonic clock (a second's worth at
// once, then `rate` per second). A Connection given a gate asks it about each message it reads:
// within the rates it goes on; past them the link stops reading until the peer is back within
// them (TCP then slows the sender: a throttle, nothing dropped); a sender that runs a second's
// worth past its rate anyway (only possible by flooding while it is throttled) is closed with
// ERR_RATE_LIMITED.

import type { Socket } from 'node:net';
import { ProtocolError } from '../protocol/errors.js';
import type { Message } from '../protocol/messages.js';
import type { Clock, Timer } from './clock.js';

/** Asked by a Connection about each message read. */
export interface InboundGate {
  /**
   * How long to stop reading for before the next message, ms (0: go on).
   * @throws ProtocolError ERR_RATE_LIMITED: close the link.
   */
  admit(message: Message, nowMs: number): number;
}

/** A gate at work on one socket: asks it about each message, and stops reading while it says so. */
export class GatedReader {
  readonly #gate: InboundGate;
  readonly #socket: Socket;
  readonly #clock: Clock;
  #timer: Timer | undefined;

  constructor(gate: InboundGate, socket: Socket, clock: Clock) {
    this.#gate = gate;
    this.#socket = socket;
    this.#clock = clock;
  }

  /**
   * Asks about `message`; past a rate, reading stops for the debt's worth (the messages of the
   * chunk already read go on, and count). @throws ProtocolError ERR_RATE_LIMITED
   */
  admit(message: Message): void {
    const pauseMs = this.#gate.admit(message, this.#clock.monotonicMs());
    if (pauseMs <= 0 || this.#timer !== undefined) return;
    this.#socket.pause();
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#socket.destroyed) this.#socket.resume();
    }, Math.ceil(pauseMs));
  }

  /** The link is closing: no resume is pending any more. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
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
