// Limits per source address on the cluster port (the security issue's "limits per peer"): how many
// connections one address may hold before they are authenticated, and a backoff for an address
// that fails the handshake's proof too often. A connection counts from its accept until its
// handshake ends (welcome, refusal or close); past the cap, a new one from that address is closed
// at once, before anything is read. An address with `authFailuresPerMinute` failed proofs within a
// minute has its connections closed at accept for a backoff that doubles (1 s, 2 s, ... 5 min)
// each time it starts again, and is forgiven after a successful join or a quiet minute. Durations
// on the monotonic clock. Memory: one small entry per address with connections or recent failures
// (at most 100,000 of the latter). Addresses are whole addresses, IPv6 too: the nodes of one LAN
// share an IPv6 /64, so keying by /64 would make one bad node lock out its neighbours; a peer with
// a whole /64 to draw from gets past these limits (the global ones still hold).

import type { PrimaryStats } from './node-host.js';

export interface PeerGuardOptions {
  /** Connections one address may hold before their handshakes end. */
  maxHandshakesPerAddress: number;
  /** Failed proofs from one address within a minute before its connections are refused for a while. */
  authFailuresPerMinute: number;
  stats: PrimaryStats;
  /** Monotonic ms (tests give their own). */
  now?: () => number;
}

const WINDOW_MS = 60_000;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 5 * 60_000;
/**
 * Addresses with failures kept: past PRUNE_AT those whose window and backoff are over are dropped
 * (once, then again only when the map has doubled, so a stream of new addresses costs no scan per
 * failure); past MAX_ADDRESSES the oldest entry goes whatever its state.
 */
const PRUNE_AT = 10_000;
const MAX_ADDRESSES = 100_000;

interface Failures {
  windowStart: number;
  count: number;
  /** Backoffs in a row (the next one lasts FIRST_BACKOFF_MS × 2^level). */
  level: number;
  until: number;
}

export type PeerRefusal = 'handshakes' | 'backoff';

export class PeerGuard {
  readonly #o: PeerGuardOptions;
  readonly #now: () => number;
  readonly #open = new Map<string, number>();
  readonly #failures = new Map<string, Failures>();
  #pruneAt = PRUNE_AT;

  constructor(options: PeerGuardOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Why a new connection from `address` is closed at once (counted), or undefined to take it. */
  refusal(address: string): PeerRefusal | undefined {
    const failures = this.#failures.get(address);
    if (failures !== undefined && this.#now() < failures.until) {
      this.#o.stats.authBackoffRefused++;
      return 'backoff';
    }
    if ((this.#open.get(address) ?? 0) >= this.#o.maxHandshakesPerAddress) {
      this.#o.stats.addressHandshakesRefused++;
      return 'handshakes';
    }
    return undefined;
  }

  /** A connection from `address` was taken; the returned function ends its count (once). */
  opened(address: string): () => void {
    this.#open.set(address, (this.#open.get(address) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.#open.get(address) ?? 1) - 1;
      if (left > 0) this.#open.set(address, left);
      else this.#open.delete(address);
    };
  }

  /** Connections from `address` still in their handshake. */
  openFrom(address: string): number {
    return this.#open.get(address) ?? 0;
  }

  /** A proof from `address` failed: the backoff it now starts (ms), or undefined. */
  authFailed(address: string): number | undefined {
    const now = this.#now();
    let entry = this.#failures.get(address);
    if (entry === undefined) {
      if (this.#failures.size >= this.#pruneAt) {
        this.#prune(now);
        this.#pruneAt = Math.max(PRUNE_AT, this.#failures.size * 2);
      }
      if (this.#failures.size >= MAX_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value as string);
      entry = { windowStart: now, count: 0, level: 0, until: 0 };
      this.#failures.set(address, entry);
    } else if (now - entry.windowStart >= WINDOW_MS) {
      // A minute past the last backoff that stayed under the limit forgives the earlier backoffs.
      if (entry.count < this.#o.authFailuresPerMinute && now - entry.until >= WINDOW_MS) entry.level = 0;
      entry.windowStart = now;
      entry.count = 0;
    }
    entry.count++;
    if (entry.count < this.#o.authFailuresPerMinute) return undefined;
    const backoffMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** entry.level);
    entry.level++;
    entry.until = now + backoffMs;
    entry.windowStart = now;
    entry.count = 0;
    this.#o.stats.authBackoffs++;
    return backoffMs;
  }

  /** A node from `address` joined: its earlier failures are forgiven (a backoff under way runs out). */
  authSucceeded(address: string): void {
    const entry = this.#failures.get(address);
    if (entry === undefined) return;
    if (this.#now() >= entry.until) this.#failures.delete(address);
    else entry.level = entry.count = 0;
  }

  #prune(now: number): void {
    for (const [address, entry] of this.#failures) {
      if (now >= entry.until && now - entry.windowStart >= WINDOW_MS) this.#failures.delete(address);
    }
  }
}
