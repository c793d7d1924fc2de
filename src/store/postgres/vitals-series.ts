// Reading the vitals history of the PostgreSQL store: a node's newest sample as it was sent, its
// stored seqs, and chart series of at most ~MAX_POINTS points at the resolution that has the data
// (raw samples, per-minute or per-hour rollups, with minutes not rolled up yet read from the raw
// samples), chosen exactly as the embedded store chooses them.

import { type ReceivedVitals, type Retention, seriesPlan, type VitalsPoint, type VitalsSeries } from '../store-api.js';
import { floorSql, type Sql, VITAL_COLUMNS } from './schema.js';

/** The columns of a raw row that make a sample again (receivedOfRow). */
export const VITALS_ROW_COLUMNS: readonly string[] = [
  'seq',
  'ts',
  'received_at',
  ...VITAL_COLUMNS.map((v) => v.column),
  'uptime_s',
  'extra',
];

/** The sample as it was sent, with the primary's receive time, from a raw row. */
export function receivedOfRow(row: Record<string, unknown>): ReceivedVitals {
  const sample: Record<string, unknown> = { ...(row.extra as object), seq: row.seq, ts: row.ts };
  sample.uptimeS = row.uptime_s;
  for (const { key, column } of VITAL_COLUMNS) {
    const value = row[column];
    if (value !== null && value !== undefined) sample[key] = value;
  }
  sample.receivedAt = row.received_at;
  return sample as unknown as ReceivedVitals;
}

/** A node's integer key (undefined: it never had a sample stored). */
export async function nodeKey(sql: Sql, nodeId: string): Promise<number | undefined> {
  const { rows } = await sql.query<{ key: number }>('SELECT key FROM node_keys WHERE id = $1', [nodeId]);
  return rows[0]?.key;
}

/** A node's newest stored sample (highest seq). */
export async function latestVitals(sql: Sql, nodeId: string): Promise<ReceivedVitals | null> {
  const { rows } = await sql.query(
    `SELECT ${VITALS_ROW_COLUMNS.join(', ')} FROM vitals
     WHERE node_key = (SELECT key FROM node_keys WHERE id = $1) ORDER BY seq DESC LIMIT 1`,
    [nodeId],
  );
  return rows[0] ? receivedOfRow(rows[0]) : null;
}

/** Every stored seq of a node, ascending. */
export async function storedSeqs(sql: Sql, nodeId: string): Promise<number[]> {
  const { rows } = await sql.query<{ seq: number }>(
    'SELECT seq FROM vitals WHERE node_key = (SELECT key FROM node_keys WHERE id = $1) ORDER BY seq',
    [nodeId],
  );
  return rows.map((r) => r.seq);
}

/** Up to where each rollup is final (undefined: the rollup job has not started it). */
export async function rolledUpUntil(sql: Sql): Promise<{ '1m'?: number; '1h'?: number }> {
  const { rows } = await sql.query<{ name: '1m' | '1h'; until: number }>('SELECT name, until FROM rollup_state');
  const until: { '1m'?: number; '1h'?: number } = {};
  for (const r of rows) until[r.name] = r.until;
  return until;
}

// $1 node key, $2 from, $3 to (both ceiled: t is an integer), $4 step: one row per step, with the
// sum and count of each vital. The mean is taken here, not in SQL: PostgreSQL's float division
// fails on an underflow (a sum of 5e-324 over 2 samples), JavaScript's gives 0, as SQLite's store.
const rawSeriesSql = `SELECT ${floorSql('t', '$4::bigint')} AS bucket, count(*) AS n,
  ${VITAL_COLUMNS.map(({ column: c }) => `sum(${c}) AS ${c}_sum, count(${c}) AS ${c}_cnt, min(${c}) AS ${c}_min, max(${c}) AS ${c}_max`).join(', ')}
  FROM vitals WHERE node_key = $1 AND t >= $2 AND t < $3 GROUP BY 1 ORDER BY 1`;

const rollupSeriesSql = (table: string) => `SELECT ${floorSql('bucket', '$4::bigint')} AS bucket, sum(n) AS n,
  ${VITAL_COLUMNS.map(
    ({ column: c }) =>
      `sum(${c}_sum) AS ${c}_sum, sum(${c}_cnt) AS ${c}_cnt, min(${c}_min) AS ${c}_min, max(${c}_max) AS ${c}_max`,
  ).join(', ')}
  FROM ${table} WHERE node_key = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1 ORDER BY 1`;

const SERIES_SQL = { raw: rawSeriesSql, '1m': rollupSeriesSql('vitals_1m'), '1h': rollupSeriesSql('vitals_1h') };

/**
 * A node's vitals over [from, to): raw samples (grouped by the step) when the range lies within
 * the raw retention, else per-minute rollups when it lies within theirs and the step is under an
 * hour, else per-hour rollups; at most ~MAX_POINTS points.
 */
export async function vitalsSeries(
  sql: Sql,
  nodeId: string,
  range: { from: number; to: number; stepMs?: number; now: number },
  retention: Retention,
): Promise<VitalsSeries> {
  const { from, to, now } = range;
  const { step, resolution } = seriesPlan(from, to, range.stepMs, retention, now);
  const series: VitalsSeries = { from, to, stepMs: step, resolution, points: [] };
  const key = await nodeKey(sql, nodeId);
  if (key === undefined) return series;
  const points = (table: keyof typeof SERIES_SQL, a: number, b: number) =>
    sql
      .query(SERIES_SQL[table], [key, Math.ceil(a), Math.ceil(b), step])
      .then((r) => r.rows.map((row) => toPoint(row)));
  if (resolution === 'raw') {
    series.points = await points('raw', from, to);
    return series;
  }
  // Minutes not rolled up yet come from the raw samples, from the step that holds the first.
  const until = resolution === '1m' ? (await rolledUpUntil(sql))['1m'] : undefined;
  const split = until !== undefined ? Math.max(from, Math.min(to, Math.floor(until / step) * step)) : to;
  series.points = await points(resolution, from, split);
  if (split < to) series.points.push(...(await points('raw', split, to)));
  return series;
}

function toPoint(row: Record<string, unknown>): VitalsPoint {
  const point: VitalsPoint = { ts: row.bucket as number, n: row.n as number, min: {}, max: {} };
  for (const { key, column } of VITAL_COLUMNS) {
    const count = row[`${column}_cnt`] as number;
    if (!(count > 0)) continue;
    point[key] = (row[`${column}_sum`] as number) / count;
    point.min[key] = row[`${column}_min`] as number;
    point.max[key] = row[`${column}_max`] as number;
  }
  return point;
}
