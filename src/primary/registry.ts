// The primary's in-memory view of every node it knows: identity, state, latest vitals and the
// live session if any. The store holds the same facts durably; the registry answers the API and
// /metrics without touching SQLite.

import type { Connection } from '../connection/connection.js';
import type { NodeState, NodeView, PagedNode } from '../protocol/node-view.js';
import type { StoredNode } from '../store/store-api.js';

export type { NodeState, NodeView, PagedNode };

export interface NodeRecord extends NodeView {
  machineId: string | null;
  /** Highest vitals seq stored for this node. */
  lastSeq: number;
  /** Whether the node's clock is marked off (see DEFAULTS.clockSkewThresholdMs). */
  clockSkewed: boolean;
  session: Connection | undefined;
}

export class Registry {
  readonly #nodes = new Map<string, NodeRecord>();

  /** Loads the nodes the store remembers (their state as stored). */
  load(nodes: readonly StoredNode[]): void {
    for (const node of nodes) {
      this.#nodes.set(node.id, { ...node, session: undefined, clockSkewMs: null, clockSkewed: false });
    }
  }

  get(id: string): NodeRecord | undefined {
    return this.#nodes.get(id);
  }

  set(record: NodeRecord): void {
    this.#nodes.set(record.id, record);
  }

  delete(id: string): void {
    this.#nodes.delete(id);
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** Nodes with a live session. */
  get onlineCount(): number {
    let n = 0;
    for (const record of this.#nodes.values()) if (record.state === 'online') n++;
    return n;
  }

  all(): IterableIterator<NodeRecord> {
    return this.#nodes.values();
  }

  /**
   * One page of the nodes in id order: those after `after`, at most `limit` of them and at most
   * `maxBytes` of JSON, with `next` (the last id) when more follow. Id order, not name order: a
   * node renamed or joining between two pages moves no other node across a page. A node too large
   * for a page alone comes without its labels, info and vitals, marked `truncated`, so the pages
   * still go past it.
   */
  page(after: string | undefined, limit: number, maxBytes: number): { nodes: PagedNode[]; next?: string } {
    const ids = [...this.#nodes.keys()].filter((id) => after === undefined || id > after).sort();
    const nodes: PagedNode[] = [];
    let bytes = 0;
    for (const id of ids) {
      if (nodes.length >= limit) break;
      let view: PagedNode = toView(this.#nodes.get(id) as NodeRecord);
      let size = Buffer.byteLength(JSON.stringify(view)) + 1;
      if (nodes.length > 0 && bytes + size > maxBytes) break;
      if (size > maxBytes) {
        view = { ...view, labels: {}, info: null, vitals: null, truncated: true };
        size = Buffer.byteLength(JSON.stringify(view)) + 1;
      }
      nodes.push(view);
      bytes += size;
    }
    const last = nodes.at(-1);
    return last && nodes.length < ids.length ? { nodes, next: last.id } : { nodes };
  }

  views(): NodeView[] {
    return [...this.#nodes.values()]
      .map(toView)
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }
}

export function toView(record: NodeRecord): NodeView {
  return {
    id: record.id,
    name: record.name,
    state: record.state,
    labels: record.labels,
    address: record.address,
    legacy: record.legacy,
    info: record.info,
    vitals: record.vitals,
    lastSeen: record.lastSeen,
    connectedSince: record.connectedSince,
    clockSkewMs: record.clockSkewMs,
  };
}
