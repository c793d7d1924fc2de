// Requests waiting for their reply on one connection: a bounded Map from request id to its
// promise, with a timeout each. Replies to ids not in the map (unknown, late, another's) are
// dropped by the caller, never matched by guess (FAULT-SCENARIOS.md #14).

import { BackpressureError, type PiclusterError, TimeoutError } from '../protocol/errors.js';
import type { Clock, Timer } from './clock.js';

interface Pending {
  type: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: Timer;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class PendingRequests {
  readonly #pending = new Map<number, Pending>();
  readonly #clock: Clock;
  readonly #max: number;
  #nextId = 1;

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
   */
  add(type: string, timeoutMs: number, signal?: AbortSignal): { id: number; reply: Promise<unknown> } {
    if (this.#pending.size >= this.#max) {
      throw new BackpressureError(
        `${this.#pending.size} requests already in flight (connection.maxPendingRequests): wait for replies`,
      );
    }
    const id = this.#nextId;
    this.#nextId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#settle(id)?.reject(
          new TimeoutError(
            `request "${type}" timed out after ${timeoutMs} ms: raise the request's timeoutMs or check the link`,
          ),
        );
      }, timeoutMs);
      let onAbort: (() => void) | undefined;
      if (signal) {
        onAbort = () => this.#settle(id)?.reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#pending.set(id, { type, resolve, reject, timer, signal, onAbort });
    });
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

  /** Rejects every waiting request with `err`. */
  rejectAll(err: PiclusterError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
  }

  #settle(id: number): Pending | undefined {
    const entry = this.#pending.get(id);
    if (entry === undefined) return undefined;
    this.#pending.delete(id);
    this.#clock.clearTimeout(entry.timer);
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    return entry;
  }
}
