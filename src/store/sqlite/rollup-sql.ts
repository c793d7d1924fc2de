// The SQL of the vitals rollups (built from raw log rows or from minutes, merged one late sample
// at a time, read back as a chart's series), and the same aggregation over raw samples in memory
// (raw samples live in compressed chunks, out of SQL's reach).

import type { VitalsPoint } from '../store-api.js';
import type { RawSample } from './log-rows.js';
import { ROLLUP_FIELDS } from './schema.js';

const columns = ROLLUP_FIELDS.map((f) => f.column);
const rollupColumns = columns.flatMap((c) => [`${c}_min`, `${c}_max`, `${c}_sum`, `${c}_cnt`]);

/** Merges one sample into a rollup row (late samples only). */
export function rollupMergeSql(table: string): string {
  const values = columns.flatMap(() => ['?', '?', 'coalesce(?, 0)', '(? IS NOT NULL)']);
  const updates = columns.flatMap((c) => [
    `${c}_min = CASE WHEN excluded.${c}_min IS NULL THEN ${c}_min WHEN ${c}_min IS NULL THEN excluded.${c}_min ELSE min(${c}_min, excluded.${c}_min) END`,
    `${c}_max = CASE WHEN excluded.${c}_max IS NULL THEN ${c}_max WHEN ${c}_max IS NULL THEN excluded.${c}_max ELSE max(${c}_max, excluded.${c}_max) END`,
    `${c}_sum = ${c}_sum + excluded.${c}_sum`,
    `${c}_cnt = ${c}_cnt + excluded.${c}_cnt`,
  ]);
  return `INSERT INTO ${table} (node, bucket, n, ${rollupColumns.join(', ')})
    VALUES (?, ?, 1, ${values.join(', ')})
    ON CONFLICT (node, bucket) DO UPDATE SET n = n + 1, ${updates.join(', ')}`;
}

/**
 * Rebuilds buckets from the finer data (idempotent): from raw, those of the log rows whose ids
 * are the JSON array @ids; from minutes, those of [from, to) of the nodes whose keys are @ids.
 */
export function rollupBuildSql(table: string, bucketMs: number, source: 'raw' | '1m'): string {
  if (source === 'raw') {
    const aggs = columns.map((c) => `min(${c}), max(${c}), coalesce(sum(${c}), 0), count(${c})`);
    const bucket = `(t / ${bucketMs}) * ${bucketMs}`;
    return `INSERT OR REPLACE INTO ${table} (node, bucket, n, ${rollupColumns.join(', ')})
      SELECT node, ${bucket}, count(*), ${aggs.join(', ')}
      FROM vitals_log WHERE id IN (SELECT value FROM json_each(@ids))
      GROUP BY node, ${bucket}`;
  }
  const aggs = columns.map((c) => `min(${c}_min), max(${c}_max), sum(${c}_sum), sum(${c}_cnt)`);
  const bucket = `(bucket / ${bucketMs}) * ${bucketMs}`;
  // One index seek per node, then the time range: the work is the rows of the interval.
  return `INSERT OR REPLACE INTO ${table} (node, bucket, n, ${rollupColumns.join(', ')})
    SELECT node, ${bucket}, sum(n), ${aggs.join(', ')}
    FROM json_each(@ids) AS ids JOIN vitals_1m ON node = ids.value AND bucket >= @from AND bucket < @to
    GROUP BY node, ${bucket}`;
}

export function rollupSeriesSql(table: string): string {
  const aggs = columns.map(
    (c) =>
      `CASE WHEN sum(${c}_cnt) > 0 THEN sum(${c}_sum) / sum(${c}_cnt) END AS ${c}, min(${c}_min) AS ${c}_min, max(${c}_max) AS ${c}_max`,
  );
  return `SELECT CAST(bucket / @step AS INTEGER) * @step AS bucket, sum(n) AS n, ${aggs.join(', ')}
    FROM ${table} WHERE node = @node AND bucket >= @from AND bucket < @to
    GROUP BY 1 ORDER BY 1`;
}

/** Raw samples grouped by `step`: count, and mean, min and max of each vital that was there. */
export function rawPoints(samples: readonly RawSample[], step: number): VitalsPoint[] {
  const n = columns.length;
  const buckets = new Map<
    number,
    { n: number; sum: Float64Array; cnt: Float64Array; min: Float64Array; max: Float64Array }
  >();
  for (const s of samples) {
    const bucket = Math.floor(s.t / step) * step;
    let b = buckets.get(bucket);
    if (b === undefined) {
      b = {
        n: 0,
        sum: new Float64Array(n),
        cnt: new Float64Array(n),
        min: new Float64Array(n).fill(Number.POSITIVE_INFINITY),
        max: new Float64Array(n).fill(Number.NEGATIVE_INFINITY),
      };
      buckets.set(bucket, b);
    }
    b.n++;
    for (let i = 0; i < n; i++) {
      const v = s.values[i];
      if (v === null || v === undefined) continue;
      b.sum[i] = (b.sum[i] ?? 0) + v;
      b.cnt[i] = (b.cnt[i] ?? 0) + 1;
      if (v < (b.min[i] ?? v)) b.min[i] = v;
      if (v > (b.max[i] ?? v)) b.max[i] = v;
    }
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([ts, b]) => {
      const point: VitalsPoint = { ts, n: b.n, min: {}, max: {} };
      ROLLUP_FIELDS.forEach((f, i) => {
        const cnt = b.cnt[i] ?? 0;
        if (cnt === 0) return;
        point[f.key] = (b.sum[i] ?? 0) / cnt;
        point.min[f.key] = b.min[i] ?? 0;
        point.max[f.key] = b.max[i] ?? 0;
      });
      return point;
    });
}
