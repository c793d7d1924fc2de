// Batches incoming vitals into few transactions: thousands of nodes reporting must not mean
// thousands of fsyncs per second. A batch is written when `flushMs` has passed since its first
// sample or when it reaches `maxBatch`, one transaction at a time (acks are cumulative: a later
// batch must never commit, and be acknowledged, before an earlier one); only after the commit are
// the samples reported stored. A store locked by another process (ERR_STORE_BUSY) keeps the
// samples waiting and retries with backoff, the event loop free in between, for up to
// `busyGiveUpMs`; any other failure, or a lock held longer, fails the batch (onFailed: the
// sessions of its nodes are closed, and their outboxes resend).

import type { Logger } from '../common/logger.js';
import { isStoreBusy, type ReceivedVitals, type Store, type StoredSample } from './store-api.js';

export interface VitalsWriterOptions {
  /** Longest a sample waits for its transaction, in ms. Default 20. */
  flushMs?: number;
  /** Samples per transaction at most. Default 5000. */
  maxBatch?: number;
  /** How long samples wait for a locked store before their batch fails, ms. Default 10000. */
  busyGiveUpMs?: number;
  /** Samples kept waiting for a locked store at most; past that the batch fails. Default 50000. */
  maxWaiting?: number;
  logger: Logger;
  /** Called after each commit with the highest stored seq per node, and the samples committed. */
  onStored(stored: Map<string, number>, batch: readonly StoredSample[]): void;
  /** Called when a commit failed, with the nodes whose samples were not stored. */
  onFailed(nodeIds: Set<string>, err: unknown): void;
}

export class VitalsWriter {
  readonly #store: Store;
  readonly #options: Required<VitalsWriterOptions>;
  #batch: StoredSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The commit in progress: one at a time. */
  #writing: Promise<void> | undefined;
  /** Commits done and their durations, for metrics. */
  readonly stats = { commits: 0, samples: 0, failures: 0, busyRetries: 0, lastCommitMs: 0 };
  /** Since when the store has been busy, monotonic ms (undefined: the last commit went through). */
  #busySince: number | undefined;
  #busyRetries = 0;
  #closed = false;

  constructor(store: Store, options: VitalsWriterOptions) {
    this.#store = store;
    this.#options = { flushMs: 20, maxBatch: 5000, busyGiveUpMs: 10_000, maxWaiting: 50_000, ...options };
  }

  /** Samples waiting for their transaction. */
  get pending(): number {
    return this.#batch.length;
  }

  /** True while samples wait for a store another process holds locked. */
  get waitingForLock(): boolean {
    return this.#busySince !== undefined;
  }

  add(nodeId: string, vitals: ReceivedVitals): void {
    if (this.#closed) return; // not acknowledged: the node still has it
    this.#batch.push({ nodeId, vitals });
    // While the store is busy the retry timer is set: no flush before it.
    if (this.#batch.length >= this.#options.maxBatch && this.#busySince === undefined) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#options.flushMs);
  }

  /** Writes what is waiting now (after the commit in progress, if any). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#writing) await this.#writing;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#writing = this.#commit(batch);
    try {
      await this.#writing;
    } finally {
      this.#writing = undefined;
    }
  }

  /** Writes what is waiting, once (a locked store fails it), and stops retrying. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #commit(batch: StoredSample[]): Promise<void> {
    const started = performance.now();
    let stored: Map<string, number>;
    try {
      stored = await this.#store.insertVitals(batch);
    } catch (err) {
      if (this.#waitForLock(batch, err)) return;
      this.stats.failures++;
      this.#options.logger.error({ err, samples: batch.length }, 'storing vitals failed; they stay unacknowledged');
      this.#options.onFailed(new Set(batch.map((s) => s.nodeId)), err);
      return;
    }
    if (this.#busySince !== undefined) {
      this.#options.logger.info(
        { waitedMs: Math.round(performance.now() - this.#busySince), samples: batch.length },
        'the store is writable again; stored the vitals that waited',
      );
      this.#busySince = undefined;
    }
    this.stats.commits++;
    this.stats.samples += batch.length;
    this.stats.lastCommitMs = performance.now() - started;
    this.#options.onStored(stored, batch);
  }

  /** On ERR_STORE_BUSY: puts the batch back and retries later; false when it must fail instead. */
  #waitForLock(batch: StoredSample[], err: unknown): boolean {
    if (!isStoreBusy(err) || this.#closed) return false;
    const now = performance.now();
    this.#busySince ??= now;
    const waited = now - this.#busySince;
    if (waited >= this.#options.busyGiveUpMs || batch.length + this.#batch.length > this.#options.maxWaiting) {
      this.#options.logger.error(
        { waitedMs: Math.round(waited) },
        'the store stayed locked; giving up on the waiting vitals',
      );
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
        'the store is locked by another process; vitals wait unacknowledged and are retried',
      );
    }
    this.stats.busyRetries++;
    this.#busyRetries++;
    this.#batch = batch.concat(this.#batch);
    const retryMs = Math.min(1000, 25 * 2 ** Math.min(6, this.#busyRetries));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.flush(), retryMs);
    return true;
  }
}
