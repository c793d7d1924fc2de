// Node rows and the events log, written in batches: a burst of thousands of nodes joining (after a
// primary restart) or going lost (a switch reboots) must not mean one fsync'd transaction each.
// Operations (each a list of NodeChange, written together) are applied in order, one transaction
// per `flushMs`, one transaction at a time. A waiter (an admission, which replies `welcome` only
// once the node is stored) learns of its commit or failure; a posted operation (a state change)
// nobody waits for is logged if it fails. If a batch fails, its operations are retried one
// transaction each, so one bad operation fails alone. A store locked by another process
// (ERR_STORE_BUSY), or on a full disk (ERR_STORE_FULL), fails the waiters at once and, for `busyPauseMs`, new ones without trying (each
// attempt would cost a busy timeout): the node retries its join. Posted operations are held
// meanwhile, in order, and written once the lock is gone (a node's state change must not be lost
// to a lock); past `maxHeld` the oldest go.

import type { Logger } from '../common/logger.js';
import { StoreError } from '../protocol/errors.js';
import { isStoreBusy, isStoreFenced, isStoreFull, type NodeChange, type Store } from './store-api.js';

export interface NodeWriterOptions {
  /**
   * Longest an operation waits for its transaction, ms. Default 10. 0: at once when no
   * transaction is under way (after the operations of this turn of the event loop), and the
   * ones that come meanwhile together right after it (a group commit).
   */
  flushMs?: number;
  /** After a busy store, how long operations fail without trying, ms. Default 1000. */
  busyPauseMs?: number;
  /** Posted operations held while the store is locked; past this the oldest go. Default 100,000. */
  maxHeld?: number;
  logger: Logger;
}

interface Operation {
  /** Its place in the order operations were given (held ones are written in that order). */
  n: number;
  changes: readonly NodeChange[];
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
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #resumeTimer: NodeJS.Timeout | undefined;
  /** The transaction being written: one at a time, so batches commit in the order they were taken. */
  #writing: Promise<void> | undefined;
  /** End of the busy pause, on the monotonic clock (a wall-clock step must not stretch it). */
  #busyUntil = Number.NEGATIVE_INFINITY;
  /** Why the store last refused: waiters in the pause are failed with it. */
  #refusal: StoreError = lockedError();
  #closed = false;
  /** Said once: a newer leader fenced this primary off the store. */
  #fenced = false;
  #next = 0;
  /**
   * Transactions committed; operations that failed; posted ones dropped (over maxHeld while
   * locked); batches that found the store locked.
   */
  readonly stats = { commits: 0, failed: 0, dropped: 0, locked: 0 };

  constructor(store: Store, options: NodeWriterOptions) {
    this.#store = store;
    this.#flushMs = options.flushMs ?? 10;
    this.#busyPauseMs = options.busyPauseMs ?? 1000;
    this.#maxHeld = options.maxHeld ?? 100_000;
    this.#log = options.logger;
  }

  /** Applies `changes` in the next batch; settles after its commit (or rejects with why not). */
  write(changes: readonly NodeChange[]): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError('ERR_STORE_CLOSED', 'the store is closed'));
    if (this.#paused()) return Promise.reject(this.#refusal);
    return new Promise((resolve, reject) => {
      this.#queue({ n: this.#next++, changes, settle: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }

  /** Applies `changes` in the next batch, nobody waiting: a failure is logged, not thrown. */
  post(changes: readonly NodeChange[]): void {
    if (this.#closed) return;
    const op = { n: this.#next++, changes };
    if (this.#paused()) this.#hold([op]);
    else this.#queue(op);
  }

  /** Posted operations waiting for a locked store. */
  get held(): number {
    return this.#held.length;
  }

  /** Writes what is waiting now (after the transaction in progress, if any). */
  async flush(force = false): Promise<void> {
    this.#clearTimer();
    while (this.#writing) await this.#writing;
    const ops = this.#ops;
    if (ops.length === 0) return;
    this.#ops = [];
    this.#writing = this.#write(ops, force);
    try {
      await this.#writing;
    } finally {
      this.#writing = undefined;
    }
  }

  /** Writes what is waiting, held operations too (one last try, pause or not), and takes no more. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#resumeTimer !== undefined) clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#release(true);
    await this.flush(true);
    if (this.#held.length > 0) {
      this.#log.error(
        { operations: this.#held.length },
        'the store is still locked; node changes held for it are lost',
      );
      this.#held = [];
    }
  }

  async #write(ops: Operation[], force: boolean): Promise<void> {
    if (!force && this.#paused()) {
      // Locked while this batch waited for the one before: it waits out the pause too.
      this.#onBusy(ops, undefined);
      return;
    }
    try {
      await this.#store.applyNodeChanges(
        ops.length === 1 ? (ops[0] as Operation).changes : ops.flatMap((op) => op.changes),
      );
      this.stats.commits++;
      for (const op of ops) op.settle?.();
      return;
    } catch (err) {
      if (isStoreBusy(err) || isStoreFull(err)) {
        this.#onBusy(ops, err);
        return;
      }
      if (isStoreFenced(err)) {
        // A newer leader holds the shared store (HA): none of these will ever be written by us.
        this.stats.failed += ops.length;
        if (!this.#fenced)
          this.#log.warn({ operations: ops.length }, `${(err as Error).message}; node changes dropped`);
        this.#fenced = true;
        for (const op of ops) op.settle?.(err);
        return;
      }
    }
    // Some operation failed: find which, one transaction each.
    for (const [i, op] of ops.entries()) {
      try {
        await this.#store.applyNodeChanges(op.changes);
        this.stats.commits++;
        op.settle?.();
      } catch (err) {
        if (isStoreBusy(err) || isStoreFull(err)) {
          this.#onBusy(ops.slice(i), err);
          return;
        }
        this.stats.failed++;
        if (op.settle) op.settle(err);
        else this.#log.error({ err }, 'cannot store a node change');
      }
    }
  }

  #queue(op: Operation): void {
    // Held operations go first: they were posted before this one.
    this.#release();
    this.#ops.push(op);
    this.#timer ??=
      this.#flushMs === 0 ? setImmediate(() => void this.flush()) : setTimeout(() => void this.flush(), this.#flushMs);
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    if (this.#flushMs === 0) clearImmediate(this.#timer as NodeJS.Immediate);
    else clearTimeout(this.#timer as NodeJS.Timeout);
    this.#timer = undefined;
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
        this.#log.error({ maxHeld: this.#maxHeld }, 'too many node changes held for the locked store; the oldest go');
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
        void this.flush();
      },
      Math.max(0, Math.ceil(this.#busyUntil - performance.now())),
    );
  }

  /** Once the pause is over (or when `force`d), held operations join the next batch, ahead of newer ones. */
  #release(force = false): void {
    if (this.#held.length === 0 || (!force && this.#paused())) return;
    this.#ops = mergeInOrder(this.#held, this.#ops);
    this.#held = [];
  }

  /**
   * `ops` found the store locked or its disk full (`err`), or came while it was (no `err`):
   * waiters fail, posted ones are held.
   */
  #onBusy(ops: Operation[], err: unknown): void {
    if (err !== undefined) {
      const now = performance.now();
      const full = isStoreFull(err);
      // Once per outage, not once per node.
      if (now - this.#busyUntil > 10 * this.#busyPauseMs) {
        this.#log.warn(
          { operations: ops.length },
          full
            ? 'the disk of the store is full; joins are refused and node changes held until there is room'
            : 'the store is locked; joins are refused and node changes held until it is free',
        );
      }
      this.#refusal = full ? fullError() : lockedError();
      this.#busyUntil = now + this.#busyPauseMs;
      this.stats.locked++;
    }
    const posted: Operation[] = [];
    for (const op of ops) {
      if (op.settle) {
        this.stats.failed++;
        op.settle(this.#refusal);
      } else posted.push(op);
    }
    // In the order they were posted, among those held already (some were posted before these).
    this.#held = mergeInOrder(posted, this.#held);
    if (this.#held.length > 0) this.#hold([]);
  }
}

/** Two lists of operations, each in order, as one in order. */
function mergeInOrder(a: Operation[], b: Operation[]): Operation[] {
  const out: Operation[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length)
    out.push((a[i] as Operation).n < (b[j] as Operation).n ? (a[i++] as Operation) : (b[j++] as Operation));
  return out.concat(a.slice(i), b.slice(j));
}

function fullError(): StoreError {
  return new StoreError('ERR_STORE_FULL', 'the primary cannot store this now (its disk is full); retry later');
}

function lockedError(): StoreError {
  return new StoreError('ERR_STORE_BUSY', 'the primary cannot store this now (its database is locked); retry');
}
