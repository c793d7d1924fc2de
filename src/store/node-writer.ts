// Node rows and the events log, written in batches: a burst of thousands of nodes joining (after a
// primary restart) or going lost (a switch reboots) must not mean one fsync'd transaction each on
// the event loop. Operations are applied in order, in one transaction per `flushMs`. A waiter
// (an admission, which replies `welcome` only once the node is stored) learns of its commit or
// failure; a posted operation (a state change) nobody waits for is logged if it fails. If a batch
// fails, its operations are retried one transaction each, so one bad operation fails alone; a
// database locked by another process (SQLITE_BUSY) fails them all at once and, for `busyPauseMs`,
// fails or drops new ones without touching SQLite (each attempt would cost a busy timeout).

import { PiclusterError } from '../protocol/errors.js';
import type { Logger } from '../protocol/logger.js';
import type { Store } from './store.js';

export interface NodeWriterOptions {
  /** Longest an operation waits for its transaction, ms. Default 10. */
  flushMs?: number;
  /** After SQLITE_BUSY, how long operations fail without trying, ms. Default 1000. */
  busyPauseMs?: number;
  logger: Logger;
}

type Apply = (store: Store) => void;

interface Operation {
  apply: Apply;
  settle?: (err?: unknown) => void;
}

// SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, _RECOVERY, _TIMEOUT).
export const isBusy = (err: unknown) => String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY');

export class NodeWriter {
  readonly #store: Store;
  readonly #flushMs: number;
  readonly #busyPauseMs: number;
  readonly #log: Logger;
  #ops: Operation[] = [];
  #timer: NodeJS.Timeout | undefined;
  #busyUntil = 0;
  #closed = false;
  /** Transactions committed, operations that failed, operations dropped while the database was locked. */
  readonly stats = { commits: 0, failed: 0, dropped: 0 };

  constructor(store: Store, options: NodeWriterOptions) {
    this.#store = store;
    this.#flushMs = options.flushMs ?? 10;
    this.#busyPauseMs = options.busyPauseMs ?? 1000;
    this.#log = options.logger;
  }

  /** Applies `apply` in the next batch; settles after its commit (or rejects with why not). */
  write(apply: Apply): Promise<void> {
    if (this.#closed) return Promise.reject(new PiclusterError('ERR_CLOSED', 'the store is closed'));
    if (Date.now() < this.#busyUntil) return Promise.reject(lockedError());
    return new Promise((resolve, reject) => {
      this.#queue({ apply, settle: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }

  /** Applies `apply` in the next batch, nobody waiting: a failure is logged, not thrown. */
  post(apply: Apply): void {
    if (this.#closed) return;
    if (Date.now() < this.#busyUntil) {
      this.stats.dropped++;
      return;
    }
    this.#queue({ apply });
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

  /** Writes what is waiting and takes no more. */
  close(): void {
    this.flush();
    this.#closed = true;
  }

  #queue(op: Operation): void {
    this.#ops.push(op);
    this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }

  #onBusy(ops: Operation[]): void {
    const now = Date.now();
    // Once per outage, not once per node.
    if (now - this.#busyUntil > 10 * this.#busyPauseMs) {
      this.#log.warn({ operations: ops.length }, 'the database is locked; node changes are not stored meanwhile');
    }
    this.#busyUntil = now + this.#busyPauseMs;
    for (const op of ops) {
      this.stats.failed++;
      op.settle?.(lockedError());
    }
  }
}

function lockedError(): PiclusterError {
  return new PiclusterError('ERR_INTERNAL', 'the primary cannot store this now (its database is locked); retry');
}
