// Requests waiting for their reply on one connection: a bounded Map from request id to its
// promise and deadline. One timer per connection, armed for the earliest deadline, sweeps
// expired requests (a timer per request cost 1-2 µs per round trip). Replies to ids not in the
// map (unknown, late, another's) are dropped by the caller, never matched by guess
// (FAULT-SCENARIOS.md #14).

import { BackpressureError, type PiclusterError, TimeoutError } from '../protocol/errors.js';
import type { Clock, Timer } from './clock.js';

interface Pending {
  type: string;
  timeoutMs: number;
  deadline: number;
  resolve(value: unknown): void;
  reject(err: Error): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class PendingRequests {
  readonly #pending = new Map<number, Pending>();
  readonly #clock: Clock;
  readonly #max: number;
  #nextId = 1;
  #timer: Timer | undefined;
  /** When the armed timer fires (Infinity when none is armed). */
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(clock: Clock, maxPending: number) {
    this.#clock = clock;
    this.#max = maxPending;
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Registers a request and returns its id and the promise of its reply.
   * @throws BackpressureError when `maxPending` requests are already in flight.
   * @throws the signal's reason when it is aborted already (nothing is registered: send nothing).
   */
  add(type: string, timeoutMs: number, signal?: AbortSignal): { id: number; reply: Promise<unknown> } {
    if (this.#pending.size >= this.#max) {
      throw new BackpressureError(
        `${this.#pending.size} requests already in flight (connection.maxPendingRequests): wait for replies`,
      );
    }
    if (signal?.aborted) throw signal.reason;
    const id = this.#nextId;
    this.#nextId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    const deadline = this.#clock.monotonicMs() + timeoutMs;
    const reply = new Promise<unknown>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      if (signal) {
        onAbort = () => this.#settle(id)?.reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#pending.set(id, { type, timeoutMs, deadline, resolve, reject, signal, onAbort });
    });
    if (deadline < this.#timerAt) this.#arm(deadline);
    return { id, reply };
  }

  /** Resolves the request `id`; false when no such request is waiting. */
  resolve(id: number, value: unknown): boolean {
    const entry = this.#settle(id);
    entry?.resolve(value);
    return entry !== undefined;
  }

  /** Rejects the request `id`; false when no such request is waiting. */
  reject(id: number, err: Error): boolean {
    const entry = this.#settle(id);
    entry?.reject(err);
    return entry !== undefined;
  }

  /** Rejects every waiting request with `err`, and stops the timer. */
  rejectAll(err: PiclusterError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
    this.#disarm();
  }

  #settle(id: number): Pending | undefined {
    const entry = this.#pending.get(id);
    if (entry === undefined) return undefined;
    this.#pending.delete(id);
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    // The timer is left armed: when it fires it finds nothing due and re-arms (cheaper than
    // re-arming on every reply).
    return entry;
  }

  #arm(at: number): void {
    this.#disarm();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(this.#sweep, Math.max(0, at - this.#clock.monotonicMs()));
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #sweep = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.monotonicMs();
    let next = Number.POSITIVE_INFINITY;
    for (const [id, entry] of this.#pending) {
      if (entry.deadline <= now) {
        this.#settle(id)?.reject(
          new TimeoutError(
            `request "${entry.type}" timed out after ${entry.timeoutMs} ms: raise the request's timeoutMs or check the link`,
          ),
        );
      } else if (entry.deadline < next) {
        next = entry.deadline;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  };
}
