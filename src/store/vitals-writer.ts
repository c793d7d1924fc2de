// Batches incoming vitals into few transactions: thousands of nodes reporting must not mean
// thousands of fsyncs per second. A batch is written when `flushMs` has passed since its first
// sample or when it reaches `maxBatch`; only after the commit are the samples acknowledged.

import type { Logger } from '../protocol/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import type { Store, StoredSample } from './store.js';

export interface VitalsWriterOptions {
  /** Longest a sample waits for its transaction, in ms. Default 20. */
  flushMs?: number;
  /** Samples per transaction at most. Default 5000. */
  maxBatch?: number;
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
  readonly stats = { commits: 0, samples: 0, failures: 0, lastCommitMs: 0 };

  constructor(store: Store, options: VitalsWriterOptions) {
    this.#store = store;
    this.#options = { flushMs: 20, maxBatch: 5000, ...options };
  }

  get pending(): number {
    return this.#batch.length;
  }

  add(nodeId: string, sample: VitalsPayload, receivedAt: number): void {
    this.#batch.push({ nodeId, sample, receivedAt });
    if (this.#batch.length >= this.#options.maxBatch) this.flush();
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
      this.stats.failures++;
      this.#options.logger.error({ err, samples: batch.length }, 'storing vitals failed; they stay unacknowledged');
      this.#options.onFailed(new Set(batch.map((s) => s.nodeId)), err);
      return;
    }
    this.stats.commits++;
    this.stats.samples += batch.length;
    this.stats.lastCommitMs = performance.now() - started;
    this.#options.onStored(stored, batch);
  }
}
