// The nodes of the PostgreSQL store: their rows (a join's upsert, state changes, node secrets,
// forgetting), how they load at start with their newest sample, and how their last seq catches up
// with the samples stored (a state change may be written before a node's last batch commits).
// Every write runs in the caller's transaction.

import type { InfoPayload } from '../../protocol/messages.js';
import type { NodeChange, NodeRow, NodeSecret, NodeState, NodeUpsert, StoredNode } from '../store-api.js';
import type { Sql } from './schema.js';
import { receivedOfRow, VITALS_ROW_COLUMNS } from './vitals-series.js';

type NodeOp = Extract<
  NodeChange,
  { op: 'upsert' | 'state' | 'info' | 'issue-secret' | 'confirm-secret' | 'drop-secret' | 'revoke-secret' | 'forget' }
>;

interface RawNode {
  id: string;
  name: string;
  labels: Record<string, string>;
  address: string | null;
  legacy: boolean;
  state: NodeState;
  info: InfoPayload | null;
  machine_id: string | null;
  first_seen: number;
  last_seen: number;
  connected_since: number | null;
  last_seq: number;
}

const NODE_COLUMNS =
  'n.id, n.name, n.labels, n.address, n.legacy, n.state, n.info, n.machine_id, n.first_seen, n.last_seen, n.connected_since, n.last_seq';

const UPSERT_SQL = `
  INSERT INTO nodes (id, name, labels, address, legacy, state, info, machine_id, first_seen, last_seen, connected_since)
  VALUES ($1, $2, $3::json, $4, $5, $6, $7::json, $8, $9, $9, $10)
  ON CONFLICT (id) DO UPDATE SET
    name = excluded.name, labels = excluded.labels, address = excluded.address, legacy = excluded.legacy,
    state = excluded.state, info = coalesce(excluded.info, nodes.info),
    machine_id = coalesce(excluded.machine_id, nodes.machine_id),
    last_seen = excluded.last_seen, connected_since = excluded.connected_since`;

/** A node's samples, rollups and key, its events and alerts (forget with history). */
const FORGET_HISTORY_SQL = `
  WITH k AS (DELETE FROM node_keys WHERE id = $1 RETURNING key),
    raw AS (DELETE FROM vitals WHERE node_key IN (SELECT key FROM k)),
    m AS (DELETE FROM vitals_1m WHERE node_key IN (SELECT key FROM k)),
    h AS (DELETE FROM vitals_1h WHERE node_key IN (SELECT key FROM k)),
    e AS (DELETE FROM events WHERE node_id = $1),
    a AS (DELETE FROM alerts WHERE node_id = $1)
  SELECT count(*) FROM k`;

/** Applies one change to the nodes table (in the caller's transaction). */
export async function applyNodeOp(sql: Sql, change: NodeOp): Promise<void> {
  switch (change.op) {
    case 'upsert':
      await sql.query(UPSERT_SQL, upsertParams(change.node));
      return;
    case 'state':
      await sql.query(
        'UPDATE nodes SET state = $1, last_seen = $2, connected_since = $3, last_seq = greatest(last_seq, $4) WHERE id = $5',
        [change.state, change.at, change.connectedSince, change.lastSeq, change.id],
      );
      return;
    case 'info':
      await sql.query('UPDATE nodes SET info = $1::json WHERE id = $2', [JSON.stringify(change.info), change.id]);
      return;
    case 'issue-secret':
      await sql.query('UPDATE nodes SET secret = $1, secret_confirmed = false WHERE id = $2', [
        change.secret,
        change.id,
      ]);
      return;
    case 'confirm-secret':
      await sql.query('UPDATE nodes SET secret_confirmed = true WHERE id = $1 AND NOT secret_confirmed', [change.id]);
      return;
    case 'drop-secret':
      await sql.query(
        'UPDATE nodes SET secret = NULL, secret_confirmed = true WHERE id = $1 AND secret = $2 AND NOT secret_confirmed',
        [change.id, change.secret],
      );
      return;
    case 'revoke-secret':
      await sql.query('UPDATE nodes SET secret = NULL, secret_confirmed = true WHERE id = $1', [change.id]);
      return;
    case 'forget':
      await sql.query('DELETE FROM nodes WHERE id = $1', [change.id]);
      // Without its history, the node's samples stay under its key: a node that joins again
      // under the same id goes on from its newest stored seq.
      if (change.history) await sql.query(FORGET_HISTORY_SQL, [change.id]);
      return;
  }
}

function upsertParams(node: NodeUpsert): unknown[] {
  return [
    node.id,
    node.name,
    JSON.stringify(node.labels),
    node.address,
    node.legacy,
    node.state,
    node.info ? JSON.stringify(node.info) : null,
    node.machineId ?? null,
    node.now,
    node.connectedSince,
  ];
}

export async function getNode(sql: Sql, id: string): Promise<NodeRow | undefined> {
  const { rows } = await sql.query<RawNode>(`SELECT ${NODE_COLUMNS} FROM nodes n WHERE n.id = $1`, [id]);
  return rows[0] && toNodeRow(rows[0]);
}

export async function nodeSecret(sql: Sql, id: string): Promise<NodeSecret | undefined> {
  const { rows } = await sql.query<{ secret: string | null; secret_confirmed: boolean }>(
    'SELECT secret, secret_confirmed FROM nodes WHERE id = $1',
    [id],
  );
  const row = rows[0];
  return row?.secret ? { secret: row.secret, confirmed: row.secret_confirmed } : undefined;
}

/** Every node with its newest sample (highest seq), by name then id in byte order (as SQLite sorts). */
export async function loadNodes(sql: Sql): Promise<StoredNode[]> {
  const { rows } = await sql.query<RawNode & Record<string, unknown>>(`
    SELECT ${NODE_COLUMNS}, v.seq IS NOT NULL AS has_vitals, ${VITALS_ROW_COLUMNS.map((c) => `v.${c} AS v_${c}`).join(', ')}
    FROM nodes n
    LEFT JOIN node_keys k ON k.id = n.id
    LEFT JOIN LATERAL (SELECT * FROM vitals WHERE node_key = k.key ORDER BY seq DESC LIMIT 1) v ON true
    ORDER BY n.name COLLATE "C", n.id COLLATE "C"`);
  return rows.map((raw) => {
    let vitals = null;
    if (raw.has_vitals) {
      const row: Record<string, unknown> = {};
      for (const c of VITALS_ROW_COLUMNS) row[c] = raw[`v_${c}`];
      vitals = receivedOfRow(row);
      // A legacy node's sample has no uptime: stored as NULL, it is absent.
      if (vitals.uptimeS === null) delete (vitals as { uptimeS?: unknown }).uptimeS;
    }
    const node = toNodeRow(raw);
    // Never below what is stored: a leader deposed between this store's catch-up and the next
    // leader's claim may have committed samples past last_seq (a welcome's lastSeq must cover them).
    if (vitals && vitals.seq > node.lastSeq) node.lastSeq = vitals.seq;
    return { ...node, vitals };
  });
}

/** At start: nodes online at the last stop are lost until they handshake again. */
export async function markOnlineNodesLost(sql: Sql): Promise<number> {
  const result = await sql.query("UPDATE nodes SET state = 'lost', connected_since = NULL WHERE state = 'online'");
  return result.rowCount ?? 0;
}

/**
 * Brings each node's last seq (and last seen) up to its newest stored sample, for nodes behind
 * whose newest sample came before `quietSince` (undefined: all of them): one index probe per node.
 */
export async function catchUpNodes(sql: Sql, quietSince?: number): Promise<number> {
  const result = await sql.query(
    `UPDATE nodes n SET last_seq = v.seq, last_seen = greatest(n.last_seen, v.received_at)
     FROM node_keys k
     CROSS JOIN LATERAL (SELECT seq, received_at FROM vitals WHERE node_key = k.key ORDER BY seq DESC LIMIT 1) v
     WHERE k.id = n.id AND n.last_seq < v.seq AND ($1::bigint IS NULL OR v.received_at < $1::bigint)`,
    [quietSince ?? null],
  );
  return result.rowCount ?? 0;
}

function toNodeRow(row: RawNode): NodeRow {
  return {
    id: row.id,
    name: row.name,
    labels: row.labels,
    address: row.address,
    legacy: row.legacy,
    state: row.state,
    info: row.info,
    machineId: row.machine_id,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    connectedSince: row.connected_since,
    lastSeq: row.last_seq,
  };
}
