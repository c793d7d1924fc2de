// Dead-peer detection and keepalive for one link, depending only on a narrow interface
// (`sendPing`, `onStale`, a `Clock`) so it is tested without a socket, as nats.js does.
// A side that has sent nothing for one interval sends `ping`; a peer that has sent nothing for
// `maxMissed` intervals is stale. One timer, always armed for the nearest of the two deadlines.

import { DEFAULTS } from '../common/defaults.js';
import { type Clock, systemClock, type Timer } from './clock.js';

export const DEFAULT_HEARTBEAT_INTERVAL_MS = DEFAULTS.heartbeatIntervalMs;
export const DEFAULT_MAX_MISSED_HEARTBEATS = DEFAULTS.maxMissedHeartbeats;

export interface HeartbeatOptions {
  /** Silence after which a side sends `ping`, in ms. Default 5000. */
  intervalMs?: number;
  /** Intervals of silence from the peer after which it is dead. Default 3. */
  maxMissed?: number;
  clock?: Clock;
  sendPing(): void;
  onStale(silentMs: number): void;
}

export class Heartbeat {
  #intervalMs: number;
  readonly maxMissed: number;
  readonly #clock: Clock;
  readonly #sendPing: () => void;
  readonly #onStale: (silentMs: number) => void;
  #lastSentAt: number;
  #lastReceivedAt: number;
  #timer: Timer | undefined;
  #stopped = false;

  constructor(options: HeartbeatOptions) {
    this.#intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.maxMissed = options.maxMissed ?? DEFAULT_MAX_MISSED_HEARTBEATS;
    if (!(this.#intervalMs > 0)) throw new RangeError(`heartbeat intervalMs must be > 0, got ${this.#intervalMs}`);
    if (!(this.maxMissed >= 1)) throw new RangeError(`heartbeat maxMissed must be >= 1, got ${this.maxMissed}`);
    this.#clock = options.clock ?? systemClock;
    this.#sendPing = options.sendPing;
    this.#onStale = options.onStale;
    const now = this.#clock.monotonicMs();
    this.#lastSentAt = now;
    this.#lastReceivedAt = now;
    this.#arm();
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Adopts a new interval (the secondary takes the one the primary announces in `hello`). */
  setIntervalMs(intervalMs: number): void {
    if (!(intervalMs > 0)) throw new RangeError(`heartbeat intervalMs must be > 0, got ${intervalMs}`);
    this.#intervalMs = intervalMs;
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#arm();
  }

  /** Silence from the peer after which it is dead, in ms. */
  get deadAfterMs(): number {
    return this.intervalMs * this.maxMissed;
  }

  /** Call on every byte received from the peer. Cheap: no timer work. */
  received(now = this.#clock.monotonicMs()): void {
    this.#lastReceivedAt = now;
  }

  /** Call on every frame sent to the peer. Cheap: no timer work. */
  sent(now = this.#clock.monotonicMs()): void {
    this.#lastSentAt = now;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const next = Math.min(this.#lastSentAt + this.intervalMs, this.#lastReceivedAt + this.deadAfterMs);
    const delay = Math.max(1, next - this.#clock.monotonicMs());
    this.#timer = this.#clock.setTimeout(this.#onTimer, delay);
    this.#timer.unref?.();
  }

  #confirmStale = (): void => {
    if (this.#stopped) return;
    const silentMs = this.#clock.monotonicMs() - this.#lastReceivedAt;
    if (silentMs >= this.deadAfterMs) {
      this.#stopped = true;
      this.#onStale(silentMs);
    } else {
      this.#arm();
    }
  };

  #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#stopped) return;
    const now = this.#clock.monotonicMs();
    if (now - this.#lastReceivedAt >= this.deadAfterMs) {
      // Timers run before the poll phase: after a stall of this process (SIGSTOP, a long GC),
      // the peer's bytes may be waiting unread. Let them be read, then decide.
      if (this.#clock.setImmediate) this.#clock.setImmediate(this.#confirmStale);
      else this.#confirmStale();
      return;
    }
    if (now - this.#lastSentAt >= this.intervalMs) {
      this.#sendPing();
      this.#lastSentAt = now;
    }
    if (!this.#stopped) this.#arm();
  };
}
