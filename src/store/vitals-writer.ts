// Batches incoming vitals into few transactions: thousands of nodes reporting must not mean
// thousands of fsyncs per second. A batch is written when `flushMs` has passed since its first
// sample or when it reaches `maxBatch`; only after the commit are the samples acknowledged.
// A database locked by another process (SQLITE_BUSY after the store's short busy timeout) keeps
// the samples waiting and retries with backoff, the event loop free in between, for up to
// `busyGiveUpMs`; any other failure, or a lock held longer, fails the batch (onFailed: the
// sessions of its nodes are closed, and their outboxes resend).

import type { Logger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import { isBusy, type Store, type StoredSample } from './store.js';

export interface VitalsWriterOptions {
  /** Longest a sample waits for its transaction, in ms. Default 20. */
  flushMs?: number;
  /** Samples per transaction at most. Default 5000. */
  maxBatch?: number;
  /** How long samples wait for a locked database before their batch fails, ms. Default 10000. */
  busyGiveUpMs?: number;
  /** Samples kept waiting for a locked database at most; past that the batch fails. Default 50000. */
  maxWaiting?: number;
  logger: Logger;
  /** Called after each commit with the highest stored seq per node. */
  onStored(stored: Map<string, number>, batch: readonly StoredSample[]): void;
  /** Called when a commit failed, with the nodes whose samples were not stored. */
  onFailed(nodeIds: Set<string>, err: unknown): void;
}

export class VitalsWriter {
  readonly #store: Store;
  readonly #options: Required<VitalsWriterOptions>;
  #batch: StoredSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Commits done and their durations, for metrics. */
  readonly stats = { commits: 0, samples: 0, failures: 0, busyRetries: 0, lastCommitMs: 0 };
  /** Since when the database has been busy (undefined: the last commit went through). */
  #busySince: number | undefined;
  #busyRetries = 0;
  #closed = false;

  constructor(store: Store, options: VitalsWriterOptions) {
    this.#store = store;
    this.#options = { flushMs: 20, maxBatch: 5000, busyGiveUpMs: 10_000, maxWaiting: 50_000, ...options };
  }

  get pending(): number {
    return this.#batch.length;
  }

  /** True while samples wait for a database another process holds locked. */
  get waitingForLock(): boolean {
    return this.#busySince !== undefined;
  }

  add(nodeId: string, sample: VitalsPayload, receivedAt: number): void {
    if (this.#closed) return; // not acknowledged: the node still has it
    this.#batch.push({ nodeId, sample, receivedAt });
    // While the database is busy the retry timer is set: no flush before it.
    if (this.#batch.length >= this.#options.maxBatch && this.#busySince === undefined) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#options.flushMs);
  }

  /** Writes what is waiting now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    const started = performance.now();
    let stored: Map<string, number>;
    try {
      stored = this.#store.insertVitals(batch);
    } catch (err) {
      if (this.#waitForLock(batch, err)) return;
      this.stats.failures++;
      this.#options.logger.error({ err, samples: batch.length }, 'storing vitals failed; they stay unacknowledged');
      this.#options.onFailed(new Set(batch.map((s) => s.nodeId)), err);
      return;
    }
    if (this.#busySince !== undefined) {
      this.#options.logger.info(
        { waitedMs: Date.now() - this.#busySince, samples: batch.length },
        'the database is writable again; stored the vitals that waited',
      );
      this.#busySince = undefined;
    }
    this.stats.commits++;
    this.stats.samples += batch.length;
    this.stats.lastCommitMs = performance.now() - started;
    this.#options.onStored(stored, batch);
  }

  /** Writes what is waiting, once (a locked database fails it), and stops retrying. */
  close(): void {
    this.#closed = true;
    this.flush();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** On SQLITE_BUSY: puts the batch back and retries later; false when it must fail instead. */
  #waitForLock(batch: StoredSample[], err: unknown): boolean {
    if (!isBusy(err) || this.#closed) return false;
    const now = Date.now();
    this.#busySince ??= now;
    const waited = now - this.#busySince;
    if (waited >= this.#options.busyGiveUpMs || batch.length + this.#batch.length > this.#options.maxWaiting) {
      this.#options.logger.error({ waitedMs: waited }, 'the database stayed locked; giving up on the waiting vitals');
      this.#busySince = undefined;
      // The newer samples fail with the batch: each node's samples must be stored in seq order.
      batch.push(...this.#batch);
      this.#batch = [];
      return false;
    }
    if (waited === 0) {
      this.#busyRetries = 0;
      this.#options.logger.warn(
        { samples: batch.length },
        'the database is locked by another process; vitals wait unacknowledged and are retried',
      );
    }
    this.stats.busyRetries++;
    this.#busyRetries++;
    this.#batch = batch.concat(this.#batch);
    const retryMs = Math.min(1000, 25 * 2 ** Math.min(6, this.#busyRetries));
    this.#timer = setTimeout(() => this.flush(), retryMs);
    return true;
  }
}
