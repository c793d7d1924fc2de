// Vitals history in SQLite: raw samples as columns, per-minute and per-hour rollups kept up to
// date as samples are inserted (so a late sample, resent from an outbox hours later, lands in its
// own minute), range queries that return at most ~1,000 points whatever the range, and pruning
// by retention in small chunks so the event loop never stalls.

import type Database from 'better-sqlite3';
import type { VitalsPayload } from '../protocol/messages.js';
import { MAX_CLOCK_SKEW_MS, ROLLUP_FIELDS } from './schema.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const MAX_POINTS = 1000;

export interface Retention {
  /** How long raw samples are kept, ms. Default 24 h. */
  rawMs: number;
  /** How long per-minute rollups are kept, ms. Default 7 d. */
  minuteMs: number;
  /** How long per-hour rollups are kept, ms. Default 365 d. */
  hourMs: number;
}

export const DEFAULT_RETENTION: Readonly<Retention> = Object.freeze({
  rawMs: 24 * HOUR_MS,
  minuteMs: 7 * 24 * HOUR_MS,
  hourMs: 365 * 24 * HOUR_MS,
});

export type Resolution = 'raw' | '1m' | '1h';
type FieldKey = (typeof ROLLUP_FIELDS)[number]['key'];

/** One chart point: the bucket start and the mean (with min and max) of each vital in it. */
export type VitalsPoint = { ts: number; n: number } & Partial<Record<FieldKey, number>> & {
    min: Partial<Record<FieldKey, number>>;
    max: Partial<Record<FieldKey, number>>;
  };

export interface VitalsSeries {
  from: number;
  to: number;
  stepMs: number;
  resolution: Resolution;
  points: VitalsPoint[];
}

/** The time a sample is filed under: the node's clock when it is within a day of ours. */
export function effectiveTime(ts: number, receivedAt: number): { t: number; skewed: boolean } {
  const skewed = Math.abs(ts - receivedAt) > MAX_CLOCK_SKEW_MS;
  return { t: skewed ? receivedAt : ts, skewed };
}

const columns = ROLLUP_FIELDS.map((f) => f.column);

function rollupUpsert(table: string): string {
  const cols = columns.flatMap((c) => [`${c}_min`, `${c}_max`, `${c}_sum`, `${c}_cnt`]);
  const values = columns.flatMap((c) => [`@${c}`, `@${c}`, `coalesce(@${c}, 0)`, `(@${c} IS NOT NULL)`]);
  const updates = columns.flatMap((c) => [
    `${c}_min = CASE WHEN excluded.${c}_min IS NULL THEN ${c}_min WHEN ${c}_min IS NULL THEN excluded.${c}_min ELSE min(${c}_min, excluded.${c}_min) END`,
    `${c}_max = CASE WHEN excluded.${c}_max IS NULL THEN ${c}_max WHEN ${c}_max IS NULL THEN excluded.${c}_max ELSE max(${c}_max, excluded.${c}_max) END`,
    `${c}_sum = ${c}_sum + excluded.${c}_sum`,
    `${c}_cnt = ${c}_cnt + excluded.${c}_cnt`,
  ]);
  return `INSERT INTO ${table} (node_id, bucket, n, ${cols.join(', ')})
    VALUES (@node_id, @bucket, 1, ${values.join(', ')})
    ON CONFLICT (node_id, bucket) DO UPDATE SET n = n + 1, ${updates.join(', ')}`;
}

function rawSeriesSql(): string {
  const aggs = columns.map((c) => `avg(${c}) AS ${c}, min(${c}) AS ${c}_min, max(${c}) AS ${c}_max`);
  // CAST: better-sqlite3 binds JS numbers as REAL, so plain `/` would not round down.
  return `SELECT CAST(t / @step AS INTEGER) * @step AS bucket, count(*) AS n, ${aggs.join(', ')}
    FROM vitals WHERE node_id = @node AND t >= @from AND t < @to
    GROUP BY bucket ORDER BY bucket`;
}

function rollupSeriesSql(table: string): string {
  const aggs = columns.map(
    (c) =>
      `CASE WHEN sum(${c}_cnt) > 0 THEN sum(${c}_sum) / sum(${c}_cnt) END AS ${c}, min(${c}_min) AS ${c}_min, max(${c}_max) AS ${c}_max`,
  );
  return `SELECT CAST(bucket / @step AS INTEGER) * @step AS b, sum(n) AS n, ${aggs.join(', ')}
    FROM ${table} WHERE node_id = @node AND bucket >= @from AND bucket < @to
    GROUP BY b ORDER BY b`;
}

export class VitalsHistory {
  readonly #stmts;

  constructor(db: Database.Database) {
    this.#stmts = {
      insert:
        db.prepare(`INSERT OR IGNORE INTO vitals (node_id, seq, t, ts, received_at, skewed, ${columns.join(', ')}, uptime_s, sample)
        VALUES (@node_id, @seq, @t, @ts, @received_at, @skewed, ${columns.map((c) => `@${c}`).join(', ')}, @uptime_s, @sample)`),
      upsert1m: db.prepare(rollupUpsert('vitals_1m')),
      upsert1h: db.prepare(rollupUpsert('vitals_1h')),
      raw: db.prepare(rawSeriesSql()),
      rollup1m: db.prepare(rollupSeriesSql('vitals_1m')),
      rollup1h: db.prepare(rollupSeriesSql('vitals_1h')),
      pruneRaw: db.prepare(
        'DELETE FROM vitals WHERE (node_id, seq) IN (SELECT node_id, seq FROM vitals WHERE t < ? LIMIT ?)',
      ),
      prune1m: db.prepare(
        'DELETE FROM vitals_1m WHERE (node_id, bucket) IN (SELECT node_id, bucket FROM vitals_1m WHERE bucket < ? LIMIT ?)',
      ),
      prune1h: db.prepare(
        'DELETE FROM vitals_1h WHERE (node_id, bucket) IN (SELECT node_id, bucket FROM vitals_1h WHERE bucket < ? LIMIT ?)',
      ),
      pruneEvents: db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? LIMIT ?)'),
    };
  }

  /** Inserts one sample (inside the caller's transaction); false when it was already stored. */
  insert(nodeId: string, sample: VitalsPayload, receivedAt: number): boolean {
    const { t, skewed } = effectiveTime(sample.ts, receivedAt);
    const row: Record<string, unknown> = {
      node_id: nodeId,
      seq: sample.seq,
      t,
      ts: sample.ts,
      received_at: receivedAt,
      skewed: skewed ? 1 : 0,
      uptime_s: sample.uptimeS,
      sample: JSON.stringify(sample),
    };
    for (const f of ROLLUP_FIELDS) row[f.column] = sample[f.key] ?? null;
    if (this.#stmts.insert.run(row).changes === 0) return false;
    const rollup: Record<string, unknown> = { node_id: nodeId };
    for (const f of ROLLUP_FIELDS) rollup[f.column] = row[f.column];
    this.#stmts.upsert1m.run({ ...rollup, bucket: Math.floor(t / MINUTE_MS) * MINUTE_MS });
    this.#stmts.upsert1h.run({ ...rollup, bucket: Math.floor(t / HOUR_MS) * HOUR_MS });
    return true;
  }

  /**
   * A node's vitals over [from, to) at a resolution that fits a chart: at most ~MAX_POINTS
   * points. Raw samples (grouped by the step) when the range lies within the raw retention,
   * else per-minute rollups when it lies within theirs and the step is under an hour, else
   * per-hour rollups.
   */
  series(
    nodeId: string,
    from: number,
    to: number,
    stepMs: number | undefined,
    retention: Retention,
    now: number,
  ): VitalsSeries {
    let step = Math.max(1, stepMs ?? 0, Math.ceil((to - from) / MAX_POINTS));
    let resolution: Resolution;
    if (from >= now - retention.rawMs) resolution = 'raw';
    else if (from >= now - retention.minuteMs && step < HOUR_MS) resolution = '1m';
    else resolution = '1h';
    const unit = resolution === '1m' ? MINUTE_MS : resolution === '1h' ? HOUR_MS : 1;
    step = Math.ceil(step / unit) * unit;
    const params = { node: nodeId, from, to, step };
    const rows = (
      resolution === 'raw'
        ? this.#stmts.raw.all(params)
        : (resolution === '1m' ? this.#stmts.rollup1m : this.#stmts.rollup1h).all(params)
    ) as Array<Record<string, number | null>>;
    const points = rows.map((row) => {
      const point: VitalsPoint = { ts: (row.bucket ?? row.b) as number, n: row.n as number, min: {}, max: {} };
      for (const f of ROLLUP_FIELDS) {
        const avg = row[f.column];
        if (avg === null || avg === undefined) continue;
        point[f.key] = avg;
        point.min[f.key] = row[`${f.column}_min`] as number;
        point.max[f.key] = row[`${f.column}_max`] as number;
      }
      return point;
    });
    return { from, to, stepMs: step, resolution, points };
  }

  /** Deletes up to `limit` rows past retention; returns how many went (0: nothing left to do). */
  pruneChunk(retention: Retention, now: number, limit: number): number {
    return (
      this.#stmts.pruneRaw.run(now - retention.rawMs, limit).changes +
      this.#stmts.prune1m.run(now - retention.minuteMs, limit).changes +
      this.#stmts.prune1h.run(now - retention.hourMs, limit).changes +
      this.#stmts.pruneEvents.run(now - retention.hourMs, limit).changes
    );
  }
}
