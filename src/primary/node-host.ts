// What the primary lends the two kinds of node session (native and legacy): the registry, the
// writers and the one state-change path. Sessions report into it; only the Primary owns storage.

import type { Logger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import type { Store } from '../store/store.js';
import type { NodeRecord, NodeState, NodeView, Registry } from './registry.js';

/** Counters for /metrics and tests. */
export interface PrimaryStats {
  accepted: number;
  rejectedOpenings: number;
  handshakeFailures: number;
  authFailures: number;
  reconnects: number;
  /** Frames of authenticated native nodes (legacy messages are not frames). */
  framesIn: number;
  duplicates: number;
}

export interface NodeHost {
  readonly registry: Registry;
  readonly log: Logger;
  readonly stats: PrimaryStats;
  /** Hands a sample to the vitals writer; it is acknowledged to the node's session once committed. */
  addVitals(nodeId: string, sample: VitalsPayload, receivedAt: number): void;
  /** Writes node rows and events in the next batch, after earlier node writes (see NodeWriter). */
  storeNode(apply: (store: Store) => void): void;
  /** The same, resolved once committed (rejected when the batch failed). */
  storeNodeNow(apply: (store: Store) => void): Promise<void>;
  /** The primary's state change: registry, store, event, 'node' event. */
  setState(record: NodeRecord, state: NodeState, data: Record<string, unknown>): void;
  emitNode(view: NodeView): void;
}
