// Vitals history in SQLite: raw samples as columns, per-minute and per-hour rollups (min, max,
// sum and count of each vital), range queries that return at most ~1,000 points whatever the
// range, and pruning by retention.
//
// Rollups are built by a job, not per insert (a per-sample upsert into two wide tables tripled
// the cost of ingest): once a minute is ROLLUP_GRACE_MS old it is aggregated from the raw rows by
// INSERT ... SELECT ... GROUP BY, one step per few hundred nodes (an index seek per node and
// interval, so a step costs the rows of that interval, not the nodes' whole history); hours are
// aggregated from minutes. `rollup_state.until` says up to where each rollup is final. A sample
// that arrives later than that (resent from an outbox after a long disconnect) is merged into its
// buckets at insert time; one that arrives for the interval being rolled up, between its steps,
// gets its node's buckets rebuilt at the end. The job and the pruning run in small chunks, with
// the event loop turning in between.

import type Database from 'better-sqlite3';
import {
  HOUR_MS,
  MAX_CLOCK_SKEW_MS,
  MINUTE_MS,
  type ReceivedVitals,
  type Resolution,
  type Retention,
  type VitalsPoint,
  type VitalsSeries,
} from '../store-api.js';
import { COLUMN_KEYS, ROLLUP_FIELDS } from './schema.js';

export const MAX_POINTS = 1000;
/** A minute is rolled up once it is this old: samples later than that are merged one by one. */
export const ROLLUP_GRACE_MS = 2 * MINUTE_MS;
/**
 * Nodes aggregated per rollup step, so one step is a few milliseconds of event loop: a minute of
 * 500 nodes is ~3,000 raw rows, an hour of 100 nodes ~6,000 minute rows.
 */
const NODES_PER_STEP = { '1m': 500, '1h': 100 } as const;

/** An interval being rolled up a chunk of nodes per step. */
interface PendingRollup {
  name: '1m' | '1h';
  from: number;
  to: number;
  /** Nodes with data in the interval, sorted; those before `next` are done. */
  ids: string[];
  next: number;
  /** Nodes that got a late sample in the interval meanwhile: rebuilt once more at the end. */
  late: Set<string>;
}

/** The time a sample is filed under: the node's clock when it is within a day of ours. */
export function effectiveTime(ts: number, receivedAt: number): { t: number; skewed: boolean } {
  const skewed = Math.abs(ts - receivedAt) > MAX_CLOCK_SKEW_MS;
  return { t: skewed ? receivedAt : ts, skewed };
}

const columns = ROLLUP_FIELDS.map((f) => f.column);
const rollupColumns = columns.flatMap((c) => [`${c}_min`, `${c}_max`, `${c}_sum`, `${c}_cnt`]);
// Not in `extra` either: the receive time has a column of its own.
const COLUMN_KEY_SET = new Set<string>([...COLUMN_KEYS, 'receivedAt']);

/** Merges one sample into a rollup row (late samples only). */
function rollupMergeSql(table: string): string {
  const values = columns.flatMap(() => ['?', '?', 'coalesce(?, 0)', '(? IS NOT NULL)']);
  const updates = columns.flatMap((c) => [
    `${c}_min = CASE WHEN excluded.${c}_min IS NULL THEN ${c}_min WHEN ${c}_min IS NULL THEN excluded.${c}_min ELSE min(${c}_min, excluded.${c}_min) END`,
    `${c}_max = CASE WHEN excluded.${c}_max IS NULL THEN ${c}_max WHEN ${c}_max IS NULL THEN excluded.${c}_max ELSE max(${c}_max, excluded.${c}_max) END`,
    `${c}_sum = ${c}_sum + excluded.${c}_sum`,
    `${c}_cnt = ${c}_cnt + excluded.${c}_cnt`,
  ]);
  return `INSERT INTO ${table} (node_id, bucket, n, ${rollupColumns.join(', ')})
    VALUES (?, ?, 1, ${values.join(', ')})
    ON CONFLICT (node_id, bucket) DO UPDATE SET n = n + 1, ${updates.join(', ')}`;
}

/** Rebuilds the buckets of [from, to) of the nodes in the JSON array @ids from the finer data (idempotent). */
export function rollupBuildSql(table: string, bucketMs: number, source: 'raw' | '1m'): string {
  const bucket = source === 'raw' ? `(t / ${bucketMs}) * ${bucketMs}` : `(bucket / ${bucketMs}) * ${bucketMs}`;
  const aggs =
    source === 'raw'
      ? columns.map((c) => `min(${c}), max(${c}), coalesce(sum(${c}), 0), count(${c})`)
      : columns.map((c) => `min(${c}_min), max(${c}_max), sum(${c}_sum), sum(${c}_cnt)`);
  const from = source === 'raw' ? 'vitals' : 'vitals_1m';
  const time = source === 'raw' ? 't' : 'bucket';
  // One index seek per node (node_id = each id of @ids, then the time range): the work is the
  // rows of the interval, however much history the nodes have.
  return `INSERT OR REPLACE INTO ${table} (node_id, bucket, n, ${rollupColumns.join(', ')})
    SELECT node_id, ${bucket}, ${source === 'raw' ? 'count(*)' : 'sum(n)'}, ${aggs.join(', ')}
    FROM json_each(@ids) AS ids JOIN ${from} ON node_id = ids.value AND ${time} >= @from AND ${time} < @to
    GROUP BY node_id, ${bucket}`;
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
  return `SELECT CAST(bucket / @step AS INTEGER) * @step AS bucket, sum(n) AS n, ${aggs.join(', ')}
    FROM ${table} WHERE node_id = @node AND bucket >= @from AND bucket < @to
    GROUP BY 1 ORDER BY 1`;
}

export class VitalsHistory {
  readonly #db: Database.Database;
  readonly #stmts;
  /** Rollups are final before these times (undefined: the job has not started yet). */
  #until: { '1m': number | undefined; '1h': number | undefined };
  #pending: PendingRollup | undefined;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#stmts = {
      insert:
        db.prepare(`INSERT OR IGNORE INTO vitals (node_id, seq, t, ts, received_at, skewed, ${columns.join(', ')}, uptime_s, extra)
        VALUES (?, ?, ?, ?, ?, ?, ${columns.map(() => '?').join(', ')}, ?, ?)`),
      merge1m: db.prepare(rollupMergeSql('vitals_1m')),
      merge1h: db.prepare(rollupMergeSql('vitals_1h')),
      build1m: db.prepare(rollupBuildSql('vitals_1m', MINUTE_MS, 'raw')),
      build1h: db.prepare(rollupBuildSql('vitals_1h', HOUR_MS, '1m')),
      getUntil: db.prepare('SELECT name, until FROM rollup_state'),
      setUntil: db.prepare('INSERT OR REPLACE INTO rollup_state (name, until) VALUES (?, ?)'),
      oldestRaw: db.prepare('SELECT min(t) AS t FROM vitals'),
      oldest1m: db.prepare('SELECT min(bucket) AS t FROM vitals_1m'),
      nextRaw: db.prepare('SELECT min(t) AS t FROM vitals WHERE t >= ?'),
      next1m: db.prepare('SELECT min(bucket) AS t FROM vitals_1m WHERE bucket >= ?'),
      nodeIds: db.prepare('SELECT DISTINCT node_id FROM vitals WHERE t >= ? AND t < ? ORDER BY node_id'),
      nodeIds1m: db.prepare('SELECT DISTINCT node_id FROM vitals_1m WHERE bucket >= ? AND bucket < ? ORDER BY node_id'),
      raw: db.prepare(rawSeriesSql()),
      series1m: db.prepare(rollupSeriesSql('vitals_1m')),
      series1h: db.prepare(rollupSeriesSql('vitals_1h')),
      latest: db.prepare('SELECT * FROM vitals WHERE node_id = ? ORDER BY seq DESC LIMIT 1'),
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
    const rows = this.#stmts.getUntil.all() as Array<{ name: '1m' | '1h'; until: number }>;
    this.#until = { '1m': undefined, '1h': undefined };
    for (const r of rows) this.#until[r.name] = r.until;
  }

  /** Inserts one sample (inside the caller's transaction); false when it was already stored. */
  insert(nodeId: string, sample: ReceivedVitals): boolean {
    const { receivedAt } = sample;
    const { t, skewed } = effectiveTime(sample.ts, receivedAt);
    const values = ROLLUP_FIELDS.map((f) => sample[f.key] ?? null);
    const extra: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(sample)) if (!COLUMN_KEY_SET.has(key)) extra[key] = value;
    const info = this.#stmts.insert.run(
      nodeId,
      sample.seq,
      t,
      sample.ts,
      receivedAt,
      skewed ? 1 : 0,
      ...values,
      sample.uptimeS,
      JSON.stringify(extra),
    );
    if (info.changes === 0) return false;
    const pending = this.#pending;
    if (pending && t >= pending.from && t < pending.to) {
      // Its interval is being rolled up between turns of the event loop: this node's chunk may be
      // done already, so the interval is rebuilt for it at the end (its minute, if final, is
      // still merged below).
      pending.late.add(nodeId);
    }
    const until1m = this.#until['1m'];
    if (until1m !== undefined && t < until1m) {
      // Late: its minute is already final, so merge it in (and its hour, if that is final too).
      const merged = values.flatMap((v) => [v, v, v, v]);
      this.#stmts.merge1m.run(nodeId, Math.floor(t / MINUTE_MS) * MINUTE_MS, ...merged);
      const until1h = this.#until['1h'];
      if (until1h !== undefined && t < until1h) {
        this.#stmts.merge1h.run(nodeId, Math.floor(t / HOUR_MS) * HOUR_MS, ...merged);
      }
    }
    return true;
  }

  /** The newest stored sample of a node, as it was sent, with the primary's receive time. */
  latest(nodeId: string): ReceivedVitals | null {
    const row = this.#stmts.latest.get(nodeId) as Record<string, number | string | null> | undefined;
    if (!row) return null;
    const sample: Record<string, unknown> = {
      ...(JSON.parse(row.extra as string) as object),
      seq: row.seq,
      ts: row.ts,
    };
    sample.uptimeS = row.uptime_s;
    for (const f of ROLLUP_FIELDS) if (row[f.column] !== null) sample[f.key] = row[f.column];
    sample.receivedAt = row.received_at;
    return sample as unknown as ReceivedVitals;
  }

  /**
   * Does one chunk of rollup work (at most NODES_PER_STEP nodes of one minute or one hour);
   * returns false when everything due is rolled up.
   */
  rollupStep(now: number): boolean {
    if (this.#pending) {
      this.#continue(this.#pending);
      return true;
    }
    return this.#step('1m', now) || this.#step('1h', now);
  }

  /** Builds the next chunk of nodes of the pending interval; at the end, marks it final. */
  #continue(pending: PendingRollup): void {
    const build = pending.name === '1m' ? this.#stmts.build1m : this.#stmts.build1h;
    const { from, to } = pending;
    // Each chunk rebuilds its buckets from the finer data (INSERT OR REPLACE): a crash half-way
    // through an interval just redoes it, since `until` moves only at the end.
    const chunk = pending.ids.slice(pending.next, pending.next + NODES_PER_STEP[pending.name]);
    if (chunk.length > 0) build.run({ from, to, ids: JSON.stringify(chunk) });
    pending.next += chunk.length; // after the build: a failed one (a locked database) is retried
    if (pending.next < pending.ids.length) return;
    this.#db.transaction(() => {
      if (pending.late.size > 0) build.run({ from, to, ids: JSON.stringify([...pending.late]) });
      this.#saveUntil(pending.name, to);
    })();
    this.#pending = undefined;
  }

  #step(name: '1m' | '1h', now: number): boolean {
    const bucketMs = name === '1m' ? MINUTE_MS : HOUR_MS;
    // Minutes are final ROLLUP_GRACE_MS after they end; hours once their minutes are final.
    const due =
      name === '1m'
        ? Math.floor((now - ROLLUP_GRACE_MS) / MINUTE_MS) * MINUTE_MS
        : Math.floor((this.#until['1m'] ?? 0) / HOUR_MS) * HOUR_MS;
    let until = this.#until[name];
    if (until === undefined) {
      const oldest = ((name === '1m' ? this.#stmts.oldestRaw : this.#stmts.oldest1m).get() as { t: number | null }).t;
      if (oldest === null) {
        if (name === '1h') return false; // waits for the first minutes
        until = due;
      } else {
        until = Math.floor(oldest / bucketMs) * bucketMs;
      }
      this.#saveUntil(name, until);
    }
    if (until >= due) return false;
    const from = until;
    const to = from + bucketMs;
    const ids = (name === '1m' ? this.#stmts.nodeIds.all(from, to) : this.#stmts.nodeIds1m.all(from, to)) as Array<{
      node_id: string;
    }>;
    if (ids.length === 0) {
      // Nothing in this interval (the primary was down, or the cluster empty): skip to the next data.
      const next = ((name === '1m' ? this.#stmts.nextRaw : this.#stmts.next1m).get(to) as { t: number | null }).t;
      this.#saveUntil(name, next === null ? due : Math.min(due, Math.max(to, Math.floor(next / bucketMs) * bucketMs)));
      return true;
    }
    this.#pending = { name, from, to, ids: ids.map((r) => r.node_id), next: 0, late: new Set() };
    this.#continue(this.#pending);
    return true;
  }

  #saveUntil(name: '1m' | '1h', until: number): void {
    this.#stmts.setUntil.run(name, until);
    this.#until[name] = until;
  }

  /** Up to where each rollup is final (tests and diagnostics). */
  get rolledUpUntil(): Readonly<{ '1m': number | undefined; '1h': number | undefined }> {
    return this.#until;
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
    // A few minutes of slack: "the last 24 h" asked a moment ago still reads the raw samples.
    if (from >= now - retention.rawMs - 5 * MINUTE_MS) resolution = 'raw';
    else if (from >= now - retention.minuteMs && step < HOUR_MS) resolution = '1m';
    else resolution = '1h';
    const unit = resolution === '1m' ? MINUTE_MS : resolution === '1h' ? HOUR_MS : 1;
    step = Math.ceil(step / unit) * unit;
    const params = { node: nodeId, from, to, step };
    const statement =
      resolution === 'raw' ? this.#stmts.raw : resolution === '1m' ? this.#stmts.series1m : this.#stmts.series1h;
    const rows = statement.all(params) as Array<Record<string, number | null>>;
    const points = rows.map((row) => {
      const point: VitalsPoint = { ts: row.bucket as number, n: row.n as number, min: {}, max: {} };
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

  /**
   * Deletes up to `limit` rows of each kind past retention; returns how many went. Raw rows are
   * kept until their minute is rolled up, minutes until their hour is.
   */
  pruneChunk(retention: Retention, now: number, limit: number): number {
    const rawBefore = Math.min(now - retention.rawMs, this.#until['1m'] ?? Number.NEGATIVE_INFINITY);
    const minuteBefore = Math.min(now - retention.minuteMs, this.#until['1h'] ?? Number.NEGATIVE_INFINITY);
    return (
      this.#stmts.pruneRaw.run(rawBefore, limit).changes +
      this.#stmts.prune1m.run(minuteBefore, limit).changes +
      this.#stmts.prune1h.run(now - retention.hourMs, limit).changes +
      this.#stmts.pruneEvents.run(now - retention.hourMs, limit).changes
    );
  }
}
