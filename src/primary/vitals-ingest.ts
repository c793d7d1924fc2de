// The primary's half of the vitals path, in one place: a sample that arrives is dropped as a
// duplicate (and acknowledged again) or handed to the batched writer, and at once becomes the
// node's latest sample (the API, the stream, the alerts, InfluxDB: nothing that shows it waits
// for a commit window of up to two minutes, issue 16); once its batch is committed the node's
// live session gets one cumulative `ack` (ARCHITECTURE.md, "Vitals": an acknowledgement means
// stored, never received). InfluxDB may get a sample a crash then loses; the node sends it again
// (its outbox keeps it until the ack) and InfluxDB takes the same point twice as one.
// A batch that fails closes the sessions of its nodes: their samples are still in their outboxes
// and come back on reconnect. The sample is one object from receipt to the stream: the wire's
// fields plus the primary's `receivedAt`, never copied and merged again.

import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import type { ReceivedVitals, Store } from '../store/store-api.js';
import { VitalsWriter } from '../store/vitals-writer.js';
import type { InfluxSink } from './influx-sink.js';
import type { PrimaryStats } from './node-host.js';
import type { NodeRecord, Registry } from './registry.js';

export interface VitalsIngestOptions {
  store: Store;
  registry: Registry;
  stats: PrimaryStats;
  logger: Logger;
  /** Where received samples are copied, if anywhere. */
  influx?: InfluxSink;
  /** A node's latest sample changed: a sample newer than any received before, at its receipt. */
  onLatest(nodeId: string, vitals: ReceivedVitals): void;
  /** Longest a sample waits for its commit (and ack) when few arrive, ms. Default DEFAULTS.vitalsCommitMs. */
  commitMs?: number;
  /** Past it a node's clock is marked off; back within half of it, no longer. Default 5 s. */
  clockSkewThresholdMs?: number;
  /** A node's clock was marked off (`skewed`) or back in line. */
  onClockSkew(record: NodeRecord, skewed: boolean): void;
  /** The store's disk is full (samples wait, sessions stay), or has room again. */
  onStoreFull(full: boolean): void;
}

export class VitalsIngest {
  readonly #registry: Registry;
  readonly #stats: PrimaryStats;
  readonly #influx: InfluxSink | undefined;
  readonly #onLatest: (nodeId: string, vitals: ReceivedVitals) => void;
  readonly #onClockSkew: (record: NodeRecord, skewed: boolean) => void;
  readonly #clockSkewThresholdMs: number;
  readonly #writer: VitalsWriter;

  constructor(options: VitalsIngestOptions) {
    this.#registry = options.registry;
    this.#stats = options.stats;
    this.#influx = options.influx;
    this.#onLatest = options.onLatest;
    this.#onClockSkew = options.onClockSkew;
    this.#clockSkewThresholdMs = options.clockSkewThresholdMs ?? DEFAULTS.clockSkewThresholdMs;
    this.#writer = new VitalsWriter(options.store, {
      logger: options.logger,
      ...(options.commitMs === undefined ? {} : { commitMs: options.commitMs }),
      onStored: (stored) => this.#committed(stored),
      onFull: (full) => options.onStoreFull(full),
      onFailed: (nodeIds) => {
        // Their samples stay in the nodes' outboxes: a fresh session resends them.
        for (const id of nodeIds) this.#registry.get(id)?.session?.destroy('storing vitals failed');
      },
    });
  }

  /** Commits, samples and the last commit's duration (for /metrics). */
  get writerStats(): Readonly<VitalsWriter['stats']> {
    return this.#writer.stats;
  }

  /**
   * A sample from `record`'s node, received now. One whose seq is stored already (a resend after a
   * reconnect) is acknowledged again so the node drops it; others are stored, then acknowledged,
   * and shown at once if newer than the latest received. Takes `sample` over (a fresh object made
   * from the message): it gets `receivedAt` and is kept. `clockOffsetMs`: the link's clock offset
   * when the node sent it (`sentAt` − `receivedAt`; undefined when it did not say), which decides
   * where the store files it: it goes beside the sample, not into it.
   */
  receive(record: NodeRecord, sample: VitalsPayload, receivedAt = Date.now(), clockOffsetMs?: number): void {
    // A node being forgotten (out of the registry, its session not closed yet): a sample stored
    // after the forget would bring back the history just removed.
    if (this.#registry.get(record.id) !== record) return;
    if (sample.seq <= record.lastSeq) {
      this.#stats.duplicates++;
      this.#acknowledge(record);
      return;
    }
    const vitals = sample as ReceivedVitals;
    vitals.receivedAt = receivedAt;
    // Stored even when it is no newer than the latest shown (a resend of samples still waiting, or
    // of a batch that failed): the store skips a seq it has, and only a commit brings the ack.
    this.#writer.add(record.id, vitals, clockOffsetMs);
    if (vitals.seq <= (record.vitals?.seq ?? 0)) return;
    record.vitals = vitals;
    this.#onLatest(record.id, vitals);
    this.#influx?.write({ id: record.id, name: record.name }, vitals, clockOffsetMs);
  }

  /** Resolves once the samples of `nodeId` waiting for a commit are committed (before a read of its history). */
  flushNode(nodeId: string): Promise<void> {
    return this.#writer.flushNode(nodeId);
  }

  /**
   * The node's clock minus ours when it sent a sample (transit included: milliseconds on a LAN).
   * Kept on the node; crossing the threshold marks it, and it is unmarked once back within half
   * of the threshold (so a skew near the limit does not flap).
   */
  clockOf(record: NodeRecord, skewMs: number): void {
    record.clockSkewMs = skewMs;
    const off = Math.abs(skewMs);
    if (!record.clockSkewed && off > this.#clockSkewThresholdMs) {
      record.clockSkewed = true;
      this.#onClockSkew(record, true);
    } else if (record.clockSkewed && off <= this.#clockSkewThresholdMs / 2) {
      record.clockSkewed = false;
      this.#onClockSkew(record, false);
    }
  }

  /** Writes what is waiting, once, and takes no more (the primary is stopping). */
  close(): Promise<void> {
    return this.#writer.close();
  }

  /** After a commit: the new stored seqs, one ack per live session. */
  #committed(stored: Map<string, number>): void {
    for (const [nodeId, seq] of stored) {
      const record = this.#registry.get(nodeId);
      if (!record) continue;
      if (seq > record.lastSeq) record.lastSeq = seq;
      this.#acknowledge(record);
    }
  }

  /** The one place an `ack` is sent: cumulative, up to the highest seq stored for the node. */
  #acknowledge(record: NodeRecord): void {
    if (record.session?.state === 'open') record.session.send('ack', { seq: record.lastSeq });
  }
}
