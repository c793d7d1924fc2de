// The upkeep of the PostgreSQL store's vitals history, in the caller's transaction: rolling up
// finished minutes from the raw samples and finished hours from the minutes (INSERT ... SELECT ...
// GROUP BY, a bounded span per step), and deleting what is past retention, in chunks.
//
// `rollup_state.until` says up to where each rollup is final: a minute is final ROLLUP_GRACE_MS
// after it ends, an hour once its minutes are. A sample that arrives for a final minute is merged
// into it at insert (vitals-ingest.ts); a step holds the `history` lock exclusive, so no insert
// falls between the raw rows it reads and the `until` it writes. Empty stretches (the primary was
// down) are skipped with one index probe. Raw samples are pruned once their minute is final, minutes
// once their hour is, and a node's last seq learns the newest seq pruned first, so a restarted store
// still knows a resend of those seqs for one.

import { HOUR_MS, MINUTE_MS, type Retention } from '../store-api.js';
import { floorSql, ROLLUP_COLUMNS, type Sql, VITAL_COLUMNS } from './schema.js';
import { rolledUpUntil } from './vitals-series.js';

/** A minute is rolled up once it is this old: samples later than that are merged one by one. */
export const ROLLUP_GRACE_MS = 2 * MINUTE_MS;
/** The most one step rolls up: half an hour of raw samples, six hours of minutes. */
const STEP_SPAN_MS = { '1m': 30 * MINUTE_MS, '1h': 6 * HOUR_MS } as const;

type Until = { '1m'?: number; '1h'?: number };

const floorTo = (t: number, unit: number) => Math.floor(t / unit) * unit;

/** Rebuilds the buckets of [$1, $2) from the finer data (idempotent: a bucket is replaced whole). */
function buildSql(table: string, bucketMs: number, source: 'raw' | '1m'): string {
  const replace = ['n', ...ROLLUP_COLUMNS].map((c) => `${c} = excluded.${c}`).join(', ');
  const bucket = floorSql(source === 'raw' ? 't' : 'bucket', `${bucketMs}::bigint`);
  const aggregates =
    source === 'raw'
      ? VITAL_COLUMNS.map(({ column: c }) => `min(${c}), max(${c}), coalesce(sum(${c}), 0), count(${c})`)
      : VITAL_COLUMNS.map(({ column: c }) => `min(${c}_min), max(${c}_max), sum(${c}_sum), sum(${c}_cnt)`);
  const from =
    source === 'raw' ? 'FROM vitals WHERE t >= $1 AND t < $2' : 'FROM vitals_1m WHERE bucket >= $1 AND bucket < $2';
  return `INSERT INTO ${table} (node_key, bucket, n, ${ROLLUP_COLUMNS.join(', ')})
    SELECT node_key, ${bucket}, ${source === 'raw' ? 'count(*)' : 'sum(n)'}, ${aggregates.join(', ')}
    ${from} GROUP BY 1, 2
    ON CONFLICT (node_key, bucket) DO UPDATE SET ${replace}`;
}

const BUILD_SQL = { '1m': buildSql('vitals_1m', MINUTE_MS, 'raw'), '1h': buildSql('vitals_1h', HOUR_MS, '1m') };
/** The first time with data at or after $1 and before $2. */
const NEXT_SQL = {
  '1m': 'SELECT min(t) AS t FROM vitals WHERE t >= $1 AND t < $2',
  '1h': 'SELECT min(bucket) AS t FROM vitals_1m WHERE bucket >= $1 AND bucket < $2',
};

async function saveUntil(sql: Sql, until: Until, name: '1m' | '1h', value: number): Promise<void> {
  await sql.query(
    'INSERT INTO rollup_state (name, until) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET until = excluded.until',
    [name, value],
  );
  until[name] = value;
}

/**
 * One step: the next span of due minutes with data, else of due hours. False when everything due
 * is rolled up (in the caller's transaction, holding the history lock exclusive).
 */
export async function rollupStep(sql: Sql, now: number): Promise<boolean> {
  const until = await rolledUpUntil(sql);
  if (await step(sql, until, '1m', floorTo(now - ROLLUP_GRACE_MS, MINUTE_MS))) return true;
  return step(sql, until, '1h', floorTo(until['1m'] ?? 0, HOUR_MS));
}

async function step(sql: Sql, until: Until, name: '1m' | '1h', due: number): Promise<boolean> {
  const unit = name === '1m' ? MINUTE_MS : HOUR_MS;
  const done = until[name];
  if (done !== undefined && done >= due) return false;
  // Before the first step the job starts from the oldest data (Number.MIN_SAFE_INTEGER: any).
  const found = await sql.query<{ t: number | null }>(NEXT_SQL[name], [done ?? Number.MIN_SAFE_INTEGER, due]);
  const next = found.rows[0]?.t ?? null;
  if (next === null) {
    // Nothing due left: final up to `due`. Hours wait for the first minutes before they start.
    if (done !== undefined || name === '1m') await saveUntil(sql, until, name, due);
    return false;
  }
  const from = floorTo(next, unit);
  const to = Math.min(due, from + STEP_SPAN_MS[name]);
  await sql.query(BUILD_SQL[name], [from, to]);
  await saveUntil(sql, until, name, to);
  return true;
}

/** How much history ages out at once: a 24th of its retention, at least a minute, at most `capMs`. */
export function pruneStep(retentionMs: number, capMs: number): number {
  return Math.min(capMs, Math.max(MINUTE_MS, Math.floor(retentionMs / 24 / MINUTE_MS) * MINUTE_MS));
}

/**
 * Deletes up to $2 raw samples filed before $1; first, each node's row learns the newest seq (and
 * its receive time) among them, if it is behind.
 */
const PRUNE_RAW_SQL = `
  WITH gone AS (
    DELETE FROM vitals WHERE (node_key, seq) IN (SELECT node_key, seq FROM vitals WHERE t < $1 LIMIT $2)
    RETURNING node_key, seq, received_at
  ),
  newest AS (
    SELECT DISTINCT ON (node_key) node_key, seq, received_at FROM gone ORDER BY node_key, seq DESC
  ),
  caught AS (
    UPDATE nodes n SET last_seq = newest.seq, last_seen = greatest(n.last_seen, newest.received_at)
    FROM newest JOIN node_keys k ON k.key = newest.node_key
    WHERE n.id = k.id AND n.last_seq < newest.seq
  )
  SELECT count(*) AS n FROM gone`;

const pruneRollupSql = (table: string) =>
  `DELETE FROM ${table} WHERE (node_key, bucket) IN (SELECT node_key, bucket FROM ${table} WHERE bucket < $1 LIMIT $2)`;
const PRUNE_1M_SQL = pruneRollupSql('vitals_1m');
const PRUNE_1H_SQL = pruneRollupSql('vitals_1h');
const PRUNE_EVENTS_SQL = 'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < $1 LIMIT $2)';

/**
 * Deletes up to `limit` rows of each kind past retention (in the caller's transaction); how many
 * went. Raw samples are kept until their minute is rolled up, minutes until their hour is; rows go
 * in whole steps (pruneStep), so a retention is what is kept at least.
 */
export async function pruneHistory(sql: Sql, retention: Retention, now: number, limit: number): Promise<number> {
  const until = await rolledUpUntil(sql);
  const before = (retentionMs: number, capMs: number) => floorTo(now - retentionMs, pruneStep(retentionMs, capMs));
  const rawBefore = Math.min(before(retention.rawMs, HOUR_MS), until['1m'] ?? Number.NEGATIVE_INFINITY);
  const minuteBefore = Math.min(before(retention.minuteMs, 6 * HOUR_MS), until['1h'] ?? Number.NEGATIVE_INFINITY);
  let count = 0;
  if (Number.isFinite(rawBefore)) count += Number((await sql.query(PRUNE_RAW_SQL, [rawBefore, limit])).rows[0]?.n ?? 0);
  if (Number.isFinite(minuteBefore)) count += (await sql.query(PRUNE_1M_SQL, [minuteBefore, limit])).rowCount ?? 0;
  count += (await sql.query(PRUNE_1H_SQL, [before(retention.hourMs, 24 * HOUR_MS), limit])).rowCount ?? 0;
  count += (await sql.query(PRUNE_EVENTS_SQL, [now - retention.hourMs, limit])).rowCount ?? 0;
  return count;
}
