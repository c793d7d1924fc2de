// The raw samples a primary's database holds in its log, read with the `vitals` view: their
// `extra` (the sample's rest) is JSON text or, for a small fleet, deflated (log-rows.ts).
import type Database from 'better-sqlite3';
import { decodeExtra } from '../../src/store/sqlite/log-rows.js';

export interface StoredExtra {
  nodeId: string;
  seq: number;
  extra: Record<string, unknown>;
  /** `extra` as JSON text, to look for characters in. */
  json: string;
}

/** Every log row's extra, of one node or of all; in seq order per node. */
export function storedExtras(db: Database.Database, nodeId?: string): StoredExtra[] {
  const rows = db
    .prepare('SELECT node_id, seq, extra FROM vitals WHERE @node IS NULL OR node_id = @node ORDER BY node_id, seq')
    .all({ node: nodeId ?? null }) as Array<{ node_id: string; seq: number; extra: string | Buffer }>;
  return rows.map((r) => {
    const extra = decodeExtra(r.extra);
    return { nodeId: r.node_id, seq: r.seq, extra, json: JSON.stringify(extra) };
  });
}
