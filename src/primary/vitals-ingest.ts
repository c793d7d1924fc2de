// The primary's half of the vitals path, in one place: a sample that arrives is dropped as a
// duplicate (and acknowledged again) or handed to the batched writer; once its batch is committed
// it becomes the node's latest sample, goes to InfluxDB, and the node's live session gets one
// cumulative `ack` (ARCHITECTURE.md, "Vitals": an acknowledgement means stored, never received).
// A batch that fails closes the sessions of its nodes: their samples are still in their outboxes
// and come back on reconnect. The sample is one object from receipt to the stream: the wire's
// fields plus the primary's `receivedAt`, never copied and merged again.

import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import type { ReceivedVitals, Store, StoredSample } from '../store/store-api.js';
import { VitalsWriter } from '../store/vitals-writer.js';
import type { InfluxSink } from './influx-sink.js';
import type { PrimaryStats } from './node-host.js';
import type { NodeRecord, Registry } from './registry.js';

export interface VitalsIngestOptions {
  store: Store;
  registry: Registry;
  stats: PrimaryStats;
  logger: Logger;
  /** Where stored samples are copied, if anywhere. */
  influx?: InfluxSink;
  /** A node's latest sample changed (once per node per commit). */
  onStored(nodeId: string, vitals: ReceivedVitals): void;
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
  readonly #onStored: (nodeId: string, vitals: ReceivedVitals) => void;
  readonly #onClockSkew: (record: NodeRecord, skewed: boolean) => void;
  readonly #clockSkewThresholdMs: number;
  readonly #writer: VitalsWriter;

  constructor(options: VitalsIngestOptions) {
    this.#registry = options.registry;
    this.#stats = options.stats;
    this.#influx = options.influx;
    this.#onStored = options.onStored;
    this.#onClockSkew = options.onClockSkew;
    this.#clockSkewThresholdMs = options.clockSkewThresholdMs ?? DEFAULTS.clockSkewThresholdMs;
    this.#writer = new VitalsWriter(options.store, {
      logger: options.logger,
      onStored: (stored, batch) => this.#committed(stored, batch),
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
   * reconnect) is acknowledged again so the node drops it; others are stored, then acknowledged.
   * Takes `sample` over (a fresh object made from the message): it gets `receivedAt` and is kept.
   */
  receive(record: NodeRecord, sample: VitalsPayload, receivedAt = Date.now()): void {
    if (sample.seq <= record.lastSeq) {
      this.#stats.duplicates++;
      this.#acknowledge(record);
      return;
    }
    const vitals = sample as ReceivedVitals;
    vitals.receivedAt = receivedAt;
    this.#writer.add(record.id, vitals);
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

  /** After a commit: the new seqs and latest samples, InfluxDB, one ack per live session. */
  #committed(stored: Map<string, number>, batch: readonly StoredSample[]): void {
    for (const { nodeId, vitals } of batch) {
      const record = this.#registry.get(nodeId);
      if (!record) continue;
      if (vitals.seq >= (record.vitals?.seq ?? 0)) record.vitals = vitals;
      this.#influx?.write({ id: nodeId, name: record.name }, vitals);
    }
    for (const [nodeId, seq] of stored) {
      const record = this.#registry.get(nodeId);
      if (!record) continue;
      if (seq > record.lastSeq) record.lastSeq = seq;
      this.#acknowledge(record);
      if (record.vitals) this.#onStored(nodeId, record.vitals);
    }
  }

  /** The one place an `ack` is sent: cumulative, up to the highest seq stored for the node. */
  #acknowledge(record: NodeRecord): void {
    if (record.session?.state === 'open') record.session.send('ack', { seq: record.lastSeq });
  }
}
