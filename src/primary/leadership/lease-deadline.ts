// The fence of issue 17 ("Fencing"), pure and on the monotonic clock: when this primary's etcd
// lease ends at the latest, as far as it can tell on its own. etcd starts a lease's TTL again when
// it applies a grant or a keepalive, which is after this primary sent it, so "send time + TTL" is a
// deadline the real one never precedes (clock rates aside, which the margin covers). A leader acts
// only before that deadline less the margin: a local check, never the client library's events,
// which come late (a paused or cut-off leader hears nothing until it is too late).

export class LeaseDeadline {
  #expiresAtMs = Number.NEGATIVE_INFINITY;

  /** A grant or keepalive sent at `sentAtMs` (monotonic) was answered with a TTL of `ttlMs`. */
  renewed(sentAtMs: number, ttlMs: number): void {
    // An earlier answer never shortens what a later one gave: both bound the same lease.
    this.#expiresAtMs = Math.max(this.#expiresAtMs, sentAtMs + ttlMs);
  }

  /** No lease any more (lost, revoked, or a new one is being granted). */
  clear(): void {
    this.#expiresAtMs = Number.NEGATIVE_INFINITY;
  }

  /** The local deadline (monotonic ms), -Infinity when there is no lease. */
  get expiresAtMs(): number {
    return this.#expiresAtMs;
  }

  /** Milliseconds left to act at `nowMs` with `marginMs` kept in hand; ≤ 0 means stop acting. */
  msLeft(nowMs: number, marginMs: number): number {
    return this.#expiresAtMs - marginMs - nowMs;
  }

  /** True while `nowMs < deadline − marginMs`. */
  validAt(nowMs: number, marginMs: number): boolean {
    return this.msLeft(nowMs, marginMs) > 0;
  }
}
