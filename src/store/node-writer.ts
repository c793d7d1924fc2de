// Node rows and the events log, written in batches: a burst of thousands of nodes joining (after a
// primary restart) or going lost (a switch reboots) must not mean one fsync'd transaction each on
// the event loop. Operations are applied in order, in one transaction per `flushMs`. A waiter
// (an admission, which replies `welcome` only once the node is stored) learns of its commit or
// failure; a posted operation (a state change) nobody waits for is logged if it fails. If a batch
// fails, its operations are retried one transaction each, so one bad operation fails alone. A
// database locked by another process (SQLITE_BUSY) fails the waiters at once and, for
// `busyPauseMs`, new ones without touching SQLite (each attempt would cost a busy timeout): the
// node retries its join. Posted operations are held meanwhile, in order, and written once the lock
// is gone (a node's state change must not be lost to a lock); past `maxHeld` the oldest go.

import type { Logger } from '../common/logger.js';
import { PiclusterError } from '../protocol/errors.js';
import { isBusy, type Store } from './store.js';

export interface NodeWriterOptions {
  /** Longest an operation waits for its transaction, ms. Default 10. */
  flushMs?: number;
  /** After SQLITE_BUSY, how long operations fail without trying, ms. Default 1000. */
  busyPauseMs?: number;
  /** Posted operations held while the database is locked; past this the oldest go. Default 100,000. */
  maxHeld?: number;
  logger: Logger;
}

type Apply = (store: Store) => void;

interface Operation {
  apply: Apply;
  settle?: (err?: unknown) => void;
}

export class NodeWriter {
  readonly #store: Store;
  readonly #flushMs: number;
  readonly #busyPauseMs: number;
  readonly #maxHeld: number;
  readonly #log: Logger;
  #ops: Operation[] = [];
  /** Posted operations waiting for the lock to go, oldest first. */
  #held: Operation[] = [];
  #timer: NodeJS.Timeout | undefined;
  #resumeTimer: NodeJS.Timeout | undefined;
  /** End of the busy pause, on the monotonic clock (a wall-clock step must not stretch it). */
  #busyUntil = Number.NEGATIVE_INFINITY;
  #closed = false;
  /**
   * Transactions committed; operations that failed; posted ones dropped (over maxHeld while
   * locked); batches that found the database locked.
   */
  readonly stats = { commits: 0, failed: 0, dropped: 0, locked: 0 };

  constructor(store: Store, options: NodeWriterOptions) {
    this.#store = store;
    this.#flushMs = options.flushMs ?? 10;
    this.#busyPauseMs = options.busyPauseMs ?? 1000;
    this.#maxHeld = options.maxHeld ?? 100_000;
    this.#log = options.logger;
  }

  /** Applies `apply` in the next batch; settles after its commit (or rejects with why not). */
  write(apply: Apply): Promise<void> {
    if (this.#closed) return Promise.reject(new PiclusterError('ERR_CLOSED', 'the store is closed'));
    if (this.#paused()) return Promise.reject(lockedError());
    return new Promise((resolve, reject) => {
      this.#queue({ apply, settle: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }

  /** Applies `apply` in the next batch, nobody waiting: a failure is logged, not thrown. */
  post(apply: Apply): void {
    if (this.#closed) return;
    if (this.#paused()) this.#hold([{ apply }]);
    else this.#queue({ apply });
  }

  /** Posted operations waiting for a locked database. */
  get held(): number {
    return this.#held.length;
  }

  /** Writes what is waiting now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const ops = this.#ops;
    if (ops.length === 0) return;
    this.#ops = [];
    try {
      this.#store.transaction(() => {
        for (const op of ops) op.apply(this.#store);
      });
      this.stats.commits++;
      for (const op of ops) op.settle?.();
      return;
    } catch (err) {
      if (isBusy(err)) {
        this.#onBusy(ops);
        return;
      }
    }
    // Some operation failed: find which, one transaction each.
    for (const [i, op] of ops.entries()) {
      try {
        this.#store.transaction(() => op.apply(this.#store));
        this.stats.commits++;
        op.settle?.();
      } catch (err) {
        if (isBusy(err)) {
          this.#onBusy(ops.slice(i));
          return;
        }
        this.stats.failed++;
        if (op.settle) op.settle(err);
        else this.#log.error({ err }, 'cannot store a node change');
      }
    }
  }

  /** Writes what is waiting, held operations too (one last try, pause or not), and takes no more. */
  close(): void {
    this.#closed = true;
    if (this.#resumeTimer !== undefined) clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#release(true);
    this.flush();
    if (this.#held.length > 0) {
      this.#log.error(
        { operations: this.#held.length },
        'the database is still locked; node changes held for it are lost',
      );
      this.#held = [];
    }
  }

  #queue(op: Operation): void {
    // Held operations go first: they were posted before this one.
    this.#release();
    this.#ops.push(op);
    this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }

  #paused(): boolean {
    return performance.now() < this.#busyUntil;
  }

  /** Keeps posted operations for after the pause (in order, after those held already). */
  #hold(ops: Operation[]): void {
    this.#held.push(...ops);
    const over = this.#held.length - this.#maxHeld;
    if (over > 0) {
      if (this.stats.dropped === 0) {
        this.#log.error(
          { maxHeld: this.#maxHeld },
          'too many node changes held for the locked database; the oldest go',
        );
      }
      this.#held.splice(0, over);
      this.stats.dropped += over;
    }
    if (this.#closed || this.#resumeTimer !== undefined) return;
    this.#resumeTimer = setTimeout(
      () => {
        this.#resumeTimer = undefined;
        if (this.#held.length === 0 || this.#closed) return;
        // A timer may fire a little before the pause ends: wait for the rest of it.
        if (this.#paused()) return this.#hold([]);
        this.#release();
        this.flush();
      },
      Math.max(0, Math.ceil(this.#busyUntil - performance.now())),
    );
  }

  /** Once the pause is over (or when `force`d), held operations join the next batch, ahead of newer ones. */
  #release(force = false): void {
    if (this.#held.length === 0 || (!force && this.#paused())) return;
    this.#ops = [...this.#held, ...this.#ops];
    this.#held = [];
  }

  #onBusy(ops: Operation[]): void {
    const now = performance.now();
    // Once per outage, not once per node.
    if (now - this.#busyUntil > 10 * this.#busyPauseMs) {
      this.#log.warn(
        { operations: ops.length },
        'the database is locked; joins are refused and node changes held until it is free',
      );
    }
    this.#busyUntil = now + this.#busyPauseMs;
    this.stats.locked++;
    const posted: Operation[] = [];
    for (const op of ops) {
      if (op.settle) {
        this.stats.failed++;
        op.settle(lockedError());
      } else posted.push(op);
    }
    // Before anything held since: these were posted first.
    this.#held = [...posted, ...this.#held];
    if (this.#held.length > 0) this.#hold([]);
  }
}

function lockedError(): PiclusterError {
  return new PiclusterError('ERR_INTERNAL', 'the primary cannot store this now (its database is locked); retry');
}
