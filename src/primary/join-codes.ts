// Join codes: short-lived, few-use secrets the primary takes in place of the cluster token in a
// node's first handshake (`picluster join-command` prints the line that uses one). A node joined
// with a code has its own node secret from then on and never holds the cluster token. Kept in
// memory only: a primary restart ends every code (they are minutes-lived by design).

import { randomHex } from '../protocol/auth.js';
import { RequestError } from '../protocol/errors.js';

export interface JoinCodeGrant {
  code: string;
  /** Epoch ms (shown); the code's life runs on the monotonic clock. */
  expiresAt: number;
  uses: number;
}

const MAX_CODES = 100;
const MAX_TTL_MS = 7 * 86_400_000;

export class JoinCodes {
  readonly #codes = new Map<string, { expiresMono: number; usesLeft: number; usedBy: Set<string> }>();

  /** A new code for `uses` joins within `ttlMs` (default one join within an hour). */
  create(options: { ttlMs?: number; uses?: number } = {}): JoinCodeGrant {
    const ttlMs = options.ttlMs ?? 3_600_000;
    const uses = options.uses ?? 1;
    if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TTL_MS) {
      throw new RequestError('ERR_BAD_REQUEST', 'ttlMs is 1 s to 7 days');
    }
    if (!Number.isInteger(uses) || uses < 1 || uses > 1000)
      throw new RequestError('ERR_BAD_REQUEST', 'uses is 1 to 1000');
    this.#prune();
    if (this.#codes.size >= MAX_CODES) {
      throw new RequestError('ERR_CONFLICT', `${MAX_CODES} join codes are open: let some expire or be used first`);
    }
    const code = randomHex(16);
    this.#codes.set(code, { expiresMono: performance.now() + ttlMs, usesLeft: uses, usedBy: new Set() });
    return { code, expiresAt: Date.now() + ttlMs, uses };
  }

  /**
   * The codes node `nodeId` may prove a handshake with now: those with a use left, and those it
   * used itself (a node whose welcome was lost, or that waited for approval, tries again with the
   * same code within its life).
   */
  usableBy(nodeId: string): string[] {
    this.#prune();
    return [...this.#codes].flatMap(([code, e]) => (e.usesLeft > 0 || e.usedBy.has(nodeId) ? [code] : []));
  }

  /**
   * Node `nodeId` proved `code`: a use is taken now, synchronously (nodes joining at the same
   * moment cannot share the last one), unless this node took one already.
   */
  claim(code: string, nodeId: string): void {
    const entry = this.#codes.get(code);
    if (!entry || entry.usedBy.has(nodeId)) return;
    entry.usedBy.add(nodeId);
    entry.usesLeft--;
  }

  #prune(): void {
    const now = performance.now();
    for (const [code, entry] of this.#codes) if (entry.expiresMono <= now) this.#codes.delete(code);
  }
}
