// Batches incoming vitals into few transactions: thousands of nodes reporting must not mean
// thousands of fsyncs per second, nor 20 nodes one commit each per sample (a commit costs a few
// pages written whatever its size: 1.8 GB a day of WAL on an SD card at 20 nodes, issue 16). A
// batch is written once `flushMs` has passed since its first sample if it holds `minBatch`
// samples, `flushMs` after one node has `nodeBatch` samples in it (a node draining its outbox
// sends only `vitalsInFlight` ahead of its acks: its backlog must not wait a window per few
// samples), else once `commitMs` has; and at once when it reaches `maxBatch`. The live view does
// not wait for any of it (VitalsIngest shows a sample at receipt). One transaction at a time (acks are cumulative: a later
// batch must never commit, and be acknowledged, before an earlier one); only after the commit are
// the samples reported stored. A store locked by another process (ERR_STORE_BUSY) keeps the
// samples waiting and retries with backoff, the event loop free in between, for up to
// `busyGiveUpMs`. A full disk (ERR_STORE_FULL) keeps them waiting for as long as it lasts, retried
// every `fullRetryMs`, the sessions kept (their agents stop at their in-flight bound and keep the
// rest in their outboxes). Past `maxWaiting` samples, or on any other failure, the batch fails
// (onFailed: the sessions of its nodes are closed, and their outboxes resend), and with it the
// samples of its nodes that came while it was being written (a store whose commit awaits the
// network: PostgreSQL).

import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { isStoreBusy, isStoreFull, type ReceivedVitals, type Store, type StoredSample } from './store-api.js';

export interface VitalsWriterOptions {
  /** How long a batch of `minBatch` samples or more waits for its transaction, in ms. Default 20. */
  flushMs?: number;
  /** Samples a batch needs to be written after `flushMs` rather than `commitMs`. Default 256. */
  minBatch?: number;
  /** Samples of one node that get the batch written `flushMs` after the last of them came. Default 16. */
  nodeBatch?: number;
  /**
   * Longest a sample waits for its transaction (and its node for the ack), in ms. Default
   * DEFAULTS.vitalsCommitMs (2 min): at a few samples a second, one commit every two minutes.
   */
  commitMs?: number;
  /** Samples per transaction at most. Default 5000. */
  maxBatch?: number;
  /** How long samples wait for a locked store before their batch fails, ms. Default 10000. */
  busyGiveUpMs?: number;
  /** Samples kept waiting for a locked or full store at most; past that the batch fails. Default 50000. */
  maxWaiting?: number;
  /** How often a full disk is tried again, ms. Default 1000. */
  fullRetryMs?: number;
  logger: Logger;
  /** Called after each commit with the highest stored seq per node, and the samples committed. */
  onStored(stored: Map<string, number>, batch: readonly StoredSample[]): void;
  /** Called when a commit failed, with the nodes whose samples were not stored. */
  onFailed(nodeIds: Set<string>, err: unknown): void;
  /** The store said its disk is full (`true`), or took a commit again after that (`false`). */
  onFull?(full: boolean, err?: unknown): void;
}

export class VitalsWriter {
  readonly #store: Store;
  readonly #options: Required<Omit<VitalsWriterOptions, 'onFull'>> & Pick<VitalsWriterOptions, 'onFull'>;
  #batch: StoredSample[] = [];
  /** Samples of each node in `#batch`. */
  #perNode = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  /** When the flush timer fires (monotonic ms); undefined: no flush timer set. */
  #deadline: number | undefined;
  /** When the batch's first sample came (monotonic ms). */
  #firstAt = 0;
  /** The commit in progress: one at a time. */
  #writing: Promise<void> | undefined;
  /**
   * Commits done and their durations, for metrics; `full` is 1 while the store's disk is full.
   */
  readonly stats = { commits: 0, samples: 0, failures: 0, busyRetries: 0, fullRetries: 0, lastCommitMs: 0, full: 0 };
  /** Why commits wait, since when (monotonic ms) and how many retries so far; undefined: the last went through. */
  #waiting: { reason: 'busy' | 'full'; since: number; retries: number } | undefined;
  #closed = false;

  constructor(store: Store, options: VitalsWriterOptions) {
    this.#store = store;
    this.#options = {
      flushMs: 20,
      minBatch: 256,
      nodeBatch: 16,
      commitMs: DEFAULTS.vitalsCommitMs,
      maxBatch: 5000,
      busyGiveUpMs: 10_000,
      maxWaiting: 50_000,
      fullRetryMs: 1000,
      ...options,
    };
  }

  /** Samples waiting for their transaction. */
  get pending(): number {
    return this.#batch.length;
  }

  /** True while samples wait for a store another process holds locked. */
  get waitingForLock(): boolean {
    return this.#waiting?.reason === 'busy';
  }

  /** True while samples wait for room on a full disk. */
  get waitingForRoom(): boolean {
    return this.#waiting?.reason === 'full';
  }

  /** Queues a sample for the next commit, with the link's clock offset if the node sent one (StoredSample). */
  add(nodeId: string, vitals: ReceivedVitals, clockOffsetMs?: number): void {
    if (this.#closed) return; // not acknowledged: the node still has it
    if (this.#batch.length === 0) this.#firstAt = performance.now();
    this.#batch.push({ nodeId, vitals, clockOffsetMs });
    const ofNode = (this.#perNode.get(nodeId) ?? 0) + 1;
    this.#perNode.set(nodeId, ofNode);
    // While the store is busy or full the retry timer is set: no flush before it. None is set once
    // a waiting batch was given up (too many samples, another failure): these are tried after
    // fullRetryMs, or the writer would never write again.
    if (this.#waiting !== undefined) {
      this.#timer ??= setTimeout(() => void this.flush(), this.#options.fullRetryMs);
      return;
    }
    const { maxBatch, minBatch, nodeBatch, flushMs, commitMs } = this.#options;
    const n = this.#batch.length;
    if (n >= maxBatch) {
      void this.flush();
      return;
    }
    let deadline = this.#firstAt + (n >= minBatch ? flushMs : commitMs);
    // From the moment, not from the batch's first sample: the rest of the node's burst (up to its
    // in-flight bound) comes within that and joins the same commit.
    if (ofNode >= nodeBatch) deadline = Math.min(deadline, performance.now() + flushMs);
    if (this.#deadline !== undefined && this.#deadline <= deadline) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#deadline = deadline;
    this.#timer = setTimeout(() => void this.flush(), Math.max(0, deadline - performance.now()));
  }

  /** True while samples of `nodeId` wait for a transaction (not counting one in progress). */
  holds(nodeId: string): boolean {
    return this.#perNode.has(nodeId);
  }

  /**
   * Resolves once what `nodeId` had waiting, if anything, is committed (or failed, or put back for
   * a locked or full store): what a read of its history needs first. Commits the whole batch.
   */
  async flushNode(nodeId: string): Promise<void> {
    if (this.holds(nodeId)) return this.flush();
    while (this.#writing) await this.#writing;
  }

  /** Writes what is waiting now (after the commit in progress, if any). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#deadline = undefined;
    while (this.#writing) await this.#writing;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#perNode = new Map();
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
      if (this.#waitForStore(batch, err)) return;
      this.stats.failures++;
      const nodes = new Set(batch.map((s) => s.nodeId));
      const later = this.#dropWaitingOf(nodes);
      this.#options.logger.error(
        { err, samples: batch.length + later },
        'storing vitals failed; they stay unacknowledged',
      );
      this.#options.onFailed(nodes, err);
      return;
    }
    const waited = this.#waiting;
    if (waited !== undefined) {
      this.#waiting = undefined;
      this.#options.logger.info(
        { waitedMs: Math.round(performance.now() - waited.since), samples: batch.length, reason: waited.reason },
        'the store is writable again; stored the vitals that waited',
      );
      if (waited.reason === 'full') {
        this.stats.full = 0;
        this.#options.onFull?.(false);
      }
    }
    this.stats.commits++;
    this.stats.samples += batch.length;
    this.stats.lastCommitMs = performance.now() - started;
    this.#options.onStored(stored, batch);
  }

  /**
   * Takes the waiting samples of `nodes` out of the next batch; returns how many. They came while
   * a commit of earlier samples of theirs was under way, which failed: stored, they would move the
   * node's stored seq (and its ack, and `welcome.lastSeq`) past the failed ones, which the node
   * would then drop from its outbox and the store skip as old. Each node's samples are stored in
   * seq order or not at all; its outbox resends them all.
   */
  #dropWaitingOf(nodes: ReadonlySet<string>): number {
    const before = this.#batch.length;
    this.#batch = this.#batch.filter((s) => !nodes.has(s.nodeId));
    for (const id of nodes) this.#perNode.delete(id);
    return before - this.#batch.length;
  }

  /**
   * On ERR_STORE_BUSY or ERR_STORE_FULL: puts the batch back and retries later; false when it
   * must fail instead (another failure, a lock held too long, too many samples waiting).
   */
  #waitForStore(batch: StoredSample[], err: unknown): boolean {
    const reason = isStoreBusy(err) ? 'busy' : isStoreFull(err) ? 'full' : undefined;
    if (reason === undefined || this.#closed) return false;
    const now = performance.now();
    if (this.#waiting?.reason !== reason) {
      this.#waiting = { reason, since: now, retries: 0 };
      if (reason === 'busy') {
        this.#options.logger.warn(
          { samples: batch.length },
          'the store is locked by another process; vitals wait unacknowledged and are retried',
        );
      } else {
        this.stats.full = 1;
        this.#options.logger.error(
          { err, samples: batch.length },
          'the disk of the store is full: vitals wait unacknowledged (their nodes keep the rest) and are retried until there is room',
        );
        this.#options.onFull?.(true, err);
      }
    }
    const waiting = this.#waiting;
    const waited = now - waiting.since;
    const tooMany = batch.length + this.#batch.length > this.#options.maxWaiting;
    if ((reason === 'busy' && waited >= this.#options.busyGiveUpMs) || tooMany) {
      this.#options.logger.error(
        { waitedMs: Math.round(waited), samples: batch.length + this.#batch.length, reason },
        tooMany
          ? 'too many vitals wait for the store; giving up on them (their nodes resend them)'
          : 'the store stayed locked; giving up on the waiting vitals',
      );
      // The newer samples fail with the batch: each node's samples must be stored in seq order.
      batch.push(...this.#batch);
      this.#batch = [];
      this.#perNode = new Map();
      if (reason === 'busy') this.#waiting = undefined;
      return false;
    }
    waiting.retries++;
    if (reason === 'busy') this.stats.busyRetries++;
    else this.stats.fullRetries++;
    this.#batch = batch.concat(this.#batch);
    for (const { nodeId } of batch) this.#perNode.set(nodeId, (this.#perNode.get(nodeId) ?? 0) + 1);
    const retryMs =
      reason === 'busy' ? Math.min(1000, 25 * 2 ** Math.min(6, waiting.retries)) : this.#options.fullRetryMs;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#deadline = undefined;
    this.#timer = setTimeout(() => void this.flush(), retryMs);
    return true;
  }
}
