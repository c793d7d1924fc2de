// The history the web reads (ClusterView.history): the store's, with a node's samples that still
// wait in the vitals writer's commit window (up to `vitals.commitMs`, two minutes by default)
// committed before its series is read, so a chart opened now shows what the live view showed.
// In the primary layer: the web imports nothing concrete of the store (test/unit/layers.test.ts).

import type { EventQuery, EventRow, StoreReader, VitalsSeries } from '../store/store-api.js';

export class FlushedHistory implements StoreReader {
  readonly #store: StoreReader;
  readonly #flushNode: (nodeId: string) => Promise<void>;

  constructor(store: StoreReader, flushNode: (nodeId: string) => Promise<void>) {
    this.#store = store;
    this.#flushNode = flushNode;
  }

  async vitalsSeries(nodeId: string, from: number, to: number, stepMs?: number, now?: number): Promise<VitalsSeries> {
    await this.#flushNode(nodeId);
    return this.#store.vitalsSeries(nodeId, from, to, stepMs, now);
  }

  events(query?: EventQuery): Promise<EventRow[]> {
    return this.#store.events(query);
  }

  eventsAfter(afterId: number, limit?: number): Promise<EventRow[]> {
    return this.#store.eventsAfter(afterId, limit);
  }

  lastEventId(): Promise<number> {
    return this.#store.lastEventId();
  }
}
