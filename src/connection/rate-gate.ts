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

/**
 * Stops a socket's reading until a time, made the first time its gate holds the link back (most
 * links never are: nothing is kept for them). A later, longer stop extends it.
 */
export class ReadPause {
  readonly #socket: Socket;
  readonly #clock: Clock;
  #timer: Timer | undefined;
  /** When reading starts again (monotonic ms), while stopped. */
  #resumeAt = 0;

  constructor(socket: Socket, clock: Clock) {
    this.#socket = socket;
    this.#clock = clock;
  }

  /** Stops reading for `ms` from now, unless it is stopped for longer already. */
  extend(ms: number): void {
    const now = this.#clock.monotonicMs();
    if (this.#timer !== undefined && now + ms <= this.#resumeAt) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#socket.pause();
    this.#resumeAt = now + ms;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#socket.destroyed) this.#socket.resume();
    }, Math.ceil(ms));
  }

  /** The link is closing: no resume is pending any more. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export interface SessionRates {
  framesPerSecond: number;
  requestsPerSecond: number;
  samplesPerSecond: number;
}

/**
 * The gate of an authenticated node's session: every frame, every request (a message with an
 * `id`), every `vitals` sample, each a bucket of `rate` tokens a second holding at most `rate` (a
 * second's worth at once). Small on purpose (one per node, 10,000 at a time): three token counts
 * and one time; the rates and `onThrottle` (told each time the session starts to be held back)
 * are shared.
 */
export class SessionRateGate implements InboundGate {
  readonly #rates: SessionRates;
  readonly #onThrottle: () => void;
  #frames: number;
  #requests: number;
  #samples: number;
  #last: number;
  #throttled = false;

  constructor(rates: SessionRates, now: number, onThrottle: () => void = () => {}) {
    this.#rates = rates;
    this.#onThrottle = onThrottle;
    this.#frames = rates.framesPerSecond;
    this.#requests = rates.requestsPerSecond;
    this.#samples = rates.samplesPerSecond;
    this.#last = now;
  }

  admit(message: Message, now: number): number {
    const { framesPerSecond, requestsPerSecond, samplesPerSecond } = this.#rates;
    const elapsedS = Math.max(0, now - this.#last) / 1000;
    this.#last = now;
    this.#frames = Math.min(framesPerSecond, this.#frames + elapsedS * framesPerSecond) - 1;
    this.#requests = Math.min(requestsPerSecond, this.#requests + elapsedS * requestsPerSecond);
    this.#samples = Math.min(samplesPerSecond, this.#samples + elapsedS * samplesPerSecond);
    let pauseMs = this.#debtMs(this.#frames, framesPerSecond, 'frames');
    if (message.id !== undefined) {
      this.#requests -= 1;
      pauseMs = Math.max(pauseMs, this.#debtMs(this.#requests, requestsPerSecond, 'requests'));
    }
    if (message.t === 'vitals') {
      this.#samples -= 1;
      pauseMs = Math.max(pauseMs, this.#debtMs(this.#samples, samplesPerSecond, 'samples'));
    }
    if (pauseMs > 0 && !this.#throttled) this.#onThrottle();
    this.#throttled = pauseMs > 0;
    return pauseMs;
  }

  /** How long paying back a bucket's debt takes, ms (0 without one). @throws past a second's worth */
  #debtMs(tokens: number, rate: number, what: string): number {
    if (tokens >= 0) return 0;
    if (-tokens > rate) {
      throw new ProtocolError(
        'ERR_RATE_LIMITED',
        `sent ${what} faster than ${rate}/s and kept on while held back (limits.${what}PerSecond)`,
      );
    }
    return (-tokens * 1000) / rate;
  }
}
