// Failures worth an audit trail but too many to log one by one (a scan of the cluster port, a
// guessing of the admin token): counted per kind and source address, and written to the events
// log once a minute per address with the count, `since` and `until`. The number of addresses
// kept per minute is bounded; past it the rest are summed under address "*".

import type { NodeChange } from '../store/store-api.js';

export interface AuditTrailOptions {
  /** Where the events go (the node writer's queue). */
  post(changes: NodeChange[]): void;
  /** How long a window is, ms. Default 60000. */
  windowMs?: number;
  /** Addresses kept per window before the rest go under "*". Default 1000. */
  maxAddresses?: number;
}

interface Tally {
  type: string;
  address: string;
  count: number;
  since: number;
}

export class AuditTrail {
  readonly #post: AuditTrailOptions['post'];
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  #tallies = new Map<string, Tally>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: AuditTrailOptions) {
    this.#post = options.post;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 1000;
  }

  /** One failure of `type` (`auth-failed`, `tls-failed`, `login-failed`) from `address`. */
  count(type: string, address: string | null | undefined): void {
    let where = address ?? 'unknown';
    let key = `${type}\u0000${where}`;
    if (!this.#tallies.has(key) && this.#tallies.size >= this.#maxAddresses) {
      where = '*';
      key = `${type}\u0000*`;
    }
    const tally = this.#tallies.get(key);
    if (tally) tally.count++;
    else this.#tallies.set(key, { type, address: where, count: 1, since: Date.now() });
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.flush(), this.#windowMs);
      this.#timer.unref();
    }
  }

  /** Writes what was counted (also at stop). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#tallies.size === 0) return;
    const until = Date.now();
    const changes: NodeChange[] = [...this.#tallies.values()].map(({ type, address, count, since }) => ({
      op: 'event',
      ts: until,
      nodeId: null,
      type,
      data: { address, count, since, until },
    }));
    this.#tallies = new Map();
    this.#post(changes);
  }
}
