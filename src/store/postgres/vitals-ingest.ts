// Storing a batch of samples in the PostgreSQL store, in the caller's transaction: the nodes'
// integer keys (made at a node's first sample), each node's newest stored seq, then one INSERT of
// the whole batch from arrays (unnest: a handful of parameters whatever the batch's size) that also
// merges late samples into rollups already final.
//
// Resends: a node's samples are stored in seq order, so a sample at or below its node's newest
// stored seq (or the seq its row records, which outlives pruned samples) is one and is skipped, as
// the embedded store does; ON CONFLICT DO NOTHING covers a race with another writer. Only rows
// actually inserted are merged into rollups, so a resent sample is never counted twice.
//
// The rollup job (vitals-rollup.ts) and this take the `history` advisory lock, it exclusive, this
// shared: an insert reads how far rollups are final after the job's last step committed, so a
// sample is either in the raw rows a step aggregates or merged here, never lost between the two.
// A step builds only from `until` on, where nothing is pruned yet: a sample days late (filed by
// sample-time.ts) is added to rollups whose raw rows are gone, never replaces them.

import { computeSampleTime } from '../sample-time.js';
import type { StoredSample } from '../store-api.js';
import { COLUMN_KEYS, floorSql, ROLLUP_COLUMNS, type Sql, VITAL_COLUMNS } from './schema.js';

const MINUTE_SQL = '60000::bigint';
const HOUR_SQL = '3600000::bigint';

const KEYS_SQL = `
  INSERT INTO node_keys (id)
  SELECT DISTINCT w.id FROM unnest($1::text[]) AS w(id)
  WHERE NOT EXISTS (SELECT 1 FROM node_keys k WHERE k.id = w.id)
  ON CONFLICT (id) DO NOTHING`;

/** Each node's key, and the seq at or below which a sample of it is a resend. */
const NEWEST_SQL = `
  SELECT k.id, k.key,
    greatest(coalesce((SELECT max(seq) FROM vitals v WHERE v.node_key = k.key), 0), coalesce(n.last_seq, 0)) AS newest
  FROM node_keys k LEFT JOIN nodes n ON n.id = k.id
  WHERE k.id = ANY($1::text[])`;

const ARRAY_COLUMNS: ReadonlyArray<[string, string]> = [
  ['node_key', 'integer'],
  ['seq', 'bigint'],
  ['t', 'bigint'],
  ['ts', 'bigint'],
  ['received_at', 'bigint'],
  ['skewed', 'boolean'],
  ...VITAL_COLUMNS.map((v): [string, string] => [v.column, 'float8']),
  ['uptime_s', 'float8'],
  ['extra', 'json'],
];

/** Merges the inserted rows (CTE `ins`) filed before `until` into a rollup table's buckets. */
function mergeSql(table: string, bucketMs: string, until: string): string {
  const aggregates = VITAL_COLUMNS.flatMap(({ column: c }) => [
    `min(${c})`,
    `max(${c})`,
    `coalesce(sum(${c}), 0)`,
    `count(${c})`,
  ]);
  // least/greatest skip NULLs: a bucket without a vital takes the new sample's, and the reverse.
  const updates = VITAL_COLUMNS.flatMap(({ column: c }) => [
    `${c}_min = least(r.${c}_min, excluded.${c}_min)`,
    `${c}_max = greatest(r.${c}_max, excluded.${c}_max)`,
    `${c}_sum = r.${c}_sum + excluded.${c}_sum`,
    `${c}_cnt = r.${c}_cnt + excluded.${c}_cnt`,
  ]);
  return `INSERT INTO ${table} AS r (node_key, bucket, n, ${ROLLUP_COLUMNS.join(', ')})
    SELECT node_key, ${floorSql('t', bucketMs)}, count(*), ${aggregates.join(', ')}
    FROM ins WHERE t < (SELECT until FROM rollup_state WHERE name = '${until}')
    GROUP BY 1, 2
    ON CONFLICT (node_key, bucket) DO UPDATE SET n = r.n + excluded.n, ${updates.join(', ')}`;
}

const INSERT_SQL = `
  WITH ins AS (
    INSERT INTO vitals (${ARRAY_COLUMNS.map(([c]) => c).join(', ')})
    SELECT * FROM unnest(${ARRAY_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
    ON CONFLICT (node_key, seq) DO NOTHING
    RETURNING node_key, t, ${VITAL_COLUMNS.map((v) => v.column).join(', ')}
  ),
  m AS (${mergeSql('vitals_1m', MINUTE_SQL, '1m')}),
  h AS (${mergeSql('vitals_1h', HOUR_SQL, '1h')})
  SELECT count(*) AS inserted FROM ins`;

/**
 * Stores `batch` (in the caller's transaction, holding the history lock shared). Returns, per
 * node, the highest seq of the batch: every sample up to it is stored now, or was already.
 */
export async function insertVitals(sql: Sql, batch: readonly StoredSample[]): Promise<Map<string, number>> {
  const answer = new Map<string, number>();
  for (const { nodeId, vitals } of batch) answer.set(nodeId, Math.max(answer.get(nodeId) ?? 0, vitals.seq));
  if (batch.length === 0) return answer;
  const ids = [...answer.keys()];
  await sql.query(KEYS_SQL, [ids]);
  const found = await sql.query<{ id: string; key: number; newest: number }>(NEWEST_SQL, [ids]);
  const nodes = new Map(found.rows.map((r) => [r.id, { key: r.key, newest: r.newest }]));
  const columns: unknown[][] = ARRAY_COLUMNS.map(() => []);
  const push = (values: unknown[]) => {
    for (let i = 0; i < values.length; i++) columns[i]?.push(values[i]);
  };
  for (const { nodeId, vitals, clockOffsetMs } of batch) {
    const node = nodes.get(nodeId);
    if (node === undefined) throw new Error(`node ${nodeId} has no key after it was made`);
    if (vitals.seq <= node.newest) continue;
    node.newest = vitals.seq;
    // Filed under the node's clock, or translated by the link's offset when far off (sample-time.ts).
    const { t, skewed } = computeSampleTime(vitals.ts, vitals.receivedAt, clockOffsetMs);
    const extra: Record<string, unknown> = {};
    for (const [k, value] of Object.entries(vitals)) if (!COLUMN_KEYS.has(k)) extra[k] = value;
    push([
      node.key,
      vitals.seq,
      t,
      vitals.ts,
      vitals.receivedAt,
      skewed,
      ...VITAL_COLUMNS.map((v) => vitals[v.key] ?? null),
      vitals.uptimeS ?? null,
      JSON.stringify(extra),
    ]);
  }
  if ((columns[0]?.length ?? 0) > 0) await sql.query(INSERT_SQL, columns);
  return answer;
}
