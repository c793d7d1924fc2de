// Vitals history in SQLite: raw samples (raw-vitals.ts: an append-only log, then per-node
// chunks), per-minute and per-hour rollups (min, max, sum and count of each vital), range queries
// that return at most ~1,000 points whatever the range, and pruning by retention.
//
// Rollups are built by a job, not per insert (a per-sample upsert into two wide tables tripled
// the cost of ingest): once ROLLUP_SPAN_MS of minutes are ROLLUP_GRACE_MS old they are aggregated
// from the log's rows by INSERT ... SELECT ... GROUP BY, one step per few hundred nodes (the rows
// of those nodes and that interval, looked up by row id); hours are aggregated from minutes.
// Rolled-up samples then move from the log into chunks. `rollup_state.until` says up to where each rollup is final. A sample
// that arrives later than that (resent from an outbox after a long disconnect) is merged into its
// buckets at insert time; one that arrives for the interval being rolled up, between its steps,
// gets its node's buckets rebuilt at the end. Only that interval is ever rebuilt, and its raw rows
// (minutes, for an hour) are kept until it is final: a sample days late (sample-time.ts) is added
// to a rollup whose raw rows are gone, never replaces it. The job and the pruning run in small
// chunks, with the event loop turning in between.

import type Database from 'better-sqlite3';
import { computeSampleTime } from '../sample-time.js';
import {
  HOUR_MS,
  MINUTE_MS,
  type ReceivedVitals,
  type Retention,
  type StoredSample,
  seriesPlan,
  type VitalsPoint,
  type VitalsSeries,
} from '../store-api.js';
import { receivedOf } from './log-rows.js';
import { NodeKeys } from './node-keys.js';
import { RawVitals, type Staged } from './raw-vitals.js';
import { rawPoints, rollupBuildSql, rollupMergeSql, rollupSeriesSql } from './rollup-sql.js';
import { COLUMN_KEYS, ROLLUP_FIELDS } from './schema.js';

/** A minute is rolled up once it is this old: samples later than that are merged one by one. */
export const ROLLUP_GRACE_MS = 2 * MINUTE_MS;
/**
 * Nodes aggregated per rollup step, so one step is a few milliseconds of event loop: a minute of
 * 500 nodes is ~3,000 raw rows, an hour of 100 nodes ~6,000 minute rows.
 */
const NODES_PER_STEP = { '1m': 500, '1h': 100 } as const;
/**
 * Minutes are rolled up a round at a time, at least this many: each node's rows of the span are
 * written together (a page or so per node) instead of a page per node each minute. A small
 * fleet's rounds are longer (up to 2 hours, LogIndex.roundMs): its node had 10 minutes' rows in a
 * fraction of a page, and rewrote that page 6 times an hour. Charts read the minutes not rolled
 * up yet from the raw samples.
 */
export const ROLLUP_SPAN_MS = 10 * MINUTE_MS;

/**
 * How much history ages out at once: a 24th of its retention, at least a minute, at most `capMs`
 * (an hour for raw samples, 6 hours for minutes, a day for hours). Deleting a few rows of every
 * node at every pass (every 30 s) rewrote a page per node each time, with its index pages: ~250
 * MB a day at 20 nodes on an SD card; a node's rows of a whole step share their pages.
 */
export function pruneStep(retentionMs: number, capMs: number): number {
  return Math.min(capMs, Math.max(MINUTE_MS, Math.floor(retentionMs / 24 / MINUTE_MS) * MINUTE_MS));
}

/** SQLite's own WAL size that starts a checkpoint (4 MB), and a small fleet's (40 MB). */
const DEFAULT_CHECKPOINT_PAGES = 1000;
const SMALL_FLEET_CHECKPOINT_PAGES = 10_000;

/** An interval being rolled up a chunk of nodes per step. */
interface PendingRollup {
  name: '1m' | '1h';
  from: number;
  to: number;
  /** Keys of the nodes with data in the interval, sorted; those before `next` are done. */
  ids: number[];
  next: number;
  /** Nodes that got a late sample in the interval meanwhile: rebuilt once more at the end. */
  late: Set<number>;
}

// Not in `extra` either: the receive time has a column of its own.
const COLUMN_KEY_SET = new Set<string>([...COLUMN_KEYS, 'receivedAt']);

export class VitalsHistory {
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #keys: NodeKeys;
  readonly #raw: RawVitals;
  /** Rollups are final before these times (undefined: the job has not started yet). */
  #until: { '1m': number | undefined; '1h': number | undefined };
  #pending: PendingRollup | undefined;
  /** The WAL size that starts a checkpoint, in pages, as last set. */
  #checkpointPages = DEFAULT_CHECKPOINT_PAGES;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#keys = new NodeKeys(db);
    this.#raw = new RawVitals(db);
    this.#stmts = {
      merge1m: db.prepare(rollupMergeSql('vitals_1m')),
      merge1h: db.prepare(rollupMergeSql('vitals_1h')),
      build1m: db.prepare(rollupBuildSql('vitals_1m', MINUTE_MS, 'raw')),
      build1h: db.prepare(rollupBuildSql('vitals_1h', HOUR_MS, '1m')),
      getUntil: db.prepare('SELECT name, until FROM rollup_state'),
      setUntil: db.prepare('INSERT OR REPLACE INTO rollup_state (name, until) VALUES (?, ?)'),
      oldest1m: db.prepare('SELECT min(bucket) AS t FROM vitals_1m'),
      next1m: db.prepare('SELECT min(bucket) AS t FROM vitals_1m WHERE bucket >= ?'),
      nodes1m: db.prepare('SELECT DISTINCT node FROM vitals_1m WHERE bucket >= ? AND bucket < ? ORDER BY node'),
      series1m: db.prepare(rollupSeriesSql('vitals_1m')),
      series1h: db.prepare(rollupSeriesSql('vitals_1h')),
      prune1m: db.prepare(
        'DELETE FROM vitals_1m WHERE (node, bucket) IN (SELECT node, bucket FROM vitals_1m WHERE bucket < ? LIMIT ?)',
      ),
      prune1h: db.prepare(
        'DELETE FROM vitals_1h WHERE (node, bucket) IN (SELECT node, bucket FROM vitals_1h WHERE bucket < ? LIMIT ?)',
      ),
      forget1m: db.prepare('DELETE FROM vitals_1m WHERE node = ?'),
      forget1h: db.prepare('DELETE FROM vitals_1h WHERE node = ?'),
      pruneEvents: db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? LIMIT ?)'),
    };
    this.#until = this.#readUntil();
  }

  #readUntil(): { '1m': number | undefined; '1h': number | undefined } {
    const until: { '1m': number | undefined; '1h': number | undefined } = { '1m': undefined, '1h': undefined };
    for (const r of this.#stmts.getUntil.all() as Array<{ name: '1m' | '1h'; until: number }>) until[r.name] = r.until;
    return until;
  }

  /**
   * Stores a batch in one transaction: a sample whose seq is at or below its node's newest stored
   * one is a resend and skipped (a node's samples are stored in seq order). Returns the highest
   * seq per node of the batch.
   */
  insertAll(batch: readonly StoredSample[]): Map<string, number> {
    const stored = new Map<string, number>();
    const staged: Staged[] = [];
    const newest = new Map<number, number>();
    try {
      this.#db.transaction(() => {
        for (const { nodeId, vitals, clockOffsetMs } of batch) {
          stored.set(nodeId, Math.max(stored.get(nodeId) ?? 0, vitals.seq));
          const key = this.#keys.keyOf(nodeId);
          if (vitals.seq <= (newest.get(key) ?? this.#raw.newestSeq(key))) continue;
          newest.set(key, vitals.seq);
          staged.push(this.#insert(key, vitals, clockOffsetMs));
        }
      })();
    } catch (err) {
      this.#keys.rollback();
      throw err;
    }
    this.#keys.commit();
    this.#raw.commit(staged);
    this.#checkpointEvery(this.#raw.index.small ? SMALL_FLEET_CHECKPOINT_PAGES : DEFAULT_CHECKPOINT_PAGES);
    return stored;
  }

  /**
   * A checkpoint copies each page changed since the last one into the database file once. A small
   * fleet's log pages are emptied and filled again every round (raw-vitals.ts): checkpointed every
   * 40 MB of WAL rather than every 4 MB (SQLite's default), a log page is copied about once in 9
   * hours at 20 nodes instead of once per filling. A large fleet keeps the default: its
   * checkpoint, which runs in the commit that passes the mark, stays a short pause.
   */
  #checkpointEvery(pages: number): void {
    if (pages === this.#checkpointPages) return;
    this.#db.pragma(`wal_autocheckpoint = ${pages}`);
    this.#checkpointPages = pages;
  }

  #insert(key: number, sample: ReceivedVitals, clockOffsetMs: number | undefined): Staged {
    const { receivedAt } = sample;
    const { t, skewed } = computeSampleTime(sample.ts, receivedAt, clockOffsetMs);
    const values = ROLLUP_FIELDS.map((f) => sample[f.key] ?? null);
    const extra: Record<string, unknown> = {};
    for (const [k, value] of Object.entries(sample)) if (!COLUMN_KEY_SET.has(k)) extra[k] = value;
    const staged = this.#raw.insert(key, {
      seq: sample.seq,
      t,
      ts: sample.ts,
      receivedAt,
      skewed,
      values,
      uptimeS: sample.uptimeS ?? null,
      extra,
    });
    const pending = this.#pending;
    if (pending && t >= pending.from && t < pending.to) {
      // Its interval is being rolled up between turns of the event loop: this node's chunk may be
      // done already, so the interval is rebuilt for it at the end (its minute, if final, is
      // still merged below).
      pending.late.add(key);
    }
    const until1m = this.#until['1m'];
    if (until1m !== undefined && t < until1m) {
      // Late: its minute is already final, so merge it in (and its hour, if that is final too).
      const merged = values.flatMap((v) => [v, v, v, v]);
      this.#stmts.merge1m.run(key, Math.floor(t / MINUTE_MS) * MINUTE_MS, ...merged);
      const until1h = this.#until['1h'];
      if (until1h !== undefined && t < until1h) {
        this.#stmts.merge1h.run(key, Math.floor(t / HOUR_MS) * HOUR_MS, ...merged);
      }
    }
    return staged;
  }

  /** The newest stored sample of a node, as it was sent, with the primary's receive time. */
  latest(nodeId: string): ReceivedVitals | null {
    const key = this.#keys.find(nodeId);
    const newest = key === undefined ? null : this.#raw.latest(key);
    return newest && receivedOf(newest);
  }

  /** Every stored seq of a node, ascending. */
  seqs(nodeId: string): number[] {
    const key = this.#keys.find(nodeId);
    return key === undefined ? [] : this.#raw.seqs(key);
  }

  /** Deletes a node's samples, rollups and key (inside the caller's transaction: `reload` if it fails). */
  forget(nodeId: string): void {
    const key = this.#keys.find(nodeId);
    if (key === undefined) return;
    this.#raw.forget(key);
    this.#stmts.forget1m.run(key);
    this.#stmts.forget1h.run(key);
    this.#keys.remove(nodeId);
    this.#pending?.late.delete(key);
  }

  /** Reads what is kept in memory again from the database (a transaction that changed it failed). */
  reload(): void {
    this.#keys.clear();
    this.#raw.reload();
    this.#pending = undefined;
    this.#until = this.#readUntil();
  }

  /** A node was forgotten with its history kept (inside the caller's transaction). */
  detach(nodeId: string): void {
    const key = this.#keys.find(nodeId);
    if (key !== undefined) this.#raw.detach(key);
  }

  /** See RawVitals.catchUp. */
  catchUp(quietSince?: number): void {
    this.#raw.catchUp(quietSince);
  }

  /**
   * Does one chunk of work: rolling up (at most NODES_PER_STEP nodes of an interval), then moving
   * rolled-up raw samples out of the log; returns false when everything due is done.
   */
  rollupStep(now: number, rawRetentionMs = Number.POSITIVE_INFINITY): boolean {
    try {
      if (this.#pending) {
        this.#continue(this.#pending);
        return true;
      }
      // Rolled-up samples leave the log once the oldest is a round older than the rollups' end.
      const round = this.#roundMs(rawRetentionMs);
      return (
        this.#step('1m', now, round) ||
        this.#step('1h', now, round) ||
        this.#raw.compactStep(this.#until['1m'] ?? 0, round, now)
      );
    } catch (err) {
      // How far the rollups are final is what the database says (a step's transaction rolled
      // back): compaction must never take it from memory that ran ahead. The interval under way
      // is rebuilt from its start (each build is idempotent).
      this.#until = this.#readUntil();
      this.#pending = undefined;
      throw err;
    }
  }

  /** Builds the next chunk of nodes of the pending interval; at the end, marks it final. */
  #continue(pending: PendingRollup): void {
    const { from, to } = pending;
    const build = (keys: readonly number[]) => {
      if (pending.name === '1h') this.#stmts.build1h.run({ from, to, ids: JSON.stringify(keys) });
      else this.#stmts.build1m.run({ ids: JSON.stringify(this.#raw.index.ids(keys, from, to)) });
    };
    // Each chunk rebuilds its buckets from the finer data (INSERT OR REPLACE): a crash half-way
    // through an interval just redoes it, since `until` moves only at the end.
    const chunk = pending.ids.slice(pending.next, pending.next + NODES_PER_STEP[pending.name]);
    if (chunk.length > 0) build(chunk);
    pending.next += chunk.length; // after the build: a failed one (a locked database) is retried
    if (pending.next < pending.ids.length) return;
    this.#db.transaction(() => {
      if (pending.late.size > 0) build([...pending.late]);
      this.#saveUntil(pending.name, to);
    })();
    this.#pending = undefined;
  }

  /**
   * A round of the log's upkeep (LogIndex.roundMs), not past half the raw retention (only chunks
   * are pruned: a sample waits for its round) and at least ROLLUP_SPAN_MS.
   */
  #roundMs(rawRetentionMs: number): number {
    const round = Math.min(this.#raw.index.roundMs, Math.floor(rawRetentionMs / 2 / MINUTE_MS) * MINUTE_MS);
    return Math.max(ROLLUP_SPAN_MS, round);
  }

  #step(name: '1m' | '1h', now: number, roundMs: number): boolean {
    const bucketMs = name === '1m' ? MINUTE_MS : HOUR_MS;
    // Minutes are final ROLLUP_GRACE_MS after they end; hours once their minutes are final.
    const due =
      name === '1m'
        ? Math.floor((now - ROLLUP_GRACE_MS) / MINUTE_MS) * MINUTE_MS
        : Math.floor((this.#until['1m'] ?? 0) / HOUR_MS) * HOUR_MS;
    let until = this.#until[name];
    if (until === undefined) {
      const oldest = name === '1m' ? this.#raw.index.oldestT() : (this.#stmts.oldest1m.get() as { t: number | null }).t;
      if (oldest === null) {
        if (name === '1h') return false; // waits for the first minutes
        until = due;
      } else {
        until = Math.floor(oldest / bucketMs) * bucketMs;
      }
      this.#saveUntil(name, until);
    }
    // Minutes are rolled up ROLLUP_SPAN_MS at a time: each node's rollup rows are then written
    // together, a page each, rather than a page per node every minute.
    const span = name === '1m' ? roundMs : HOUR_MS;
    if (due - until < span) return false;
    const from = until;
    const to = from + span;
    const ids =
      name === '1m'
        ? this.#raw.index.nodes(from, to)
        : (this.#stmts.nodes1m.all(from, to) as Array<{ node: number }>).map((r) => r.node);
    if (ids.length === 0) {
      // Nothing in this interval (the primary was down, or the cluster empty): skip to the next data.
      const next = name === '1m' ? this.#raw.index.oldestT(to) : (this.#stmts.next1m.get(to) as { t: number | null }).t;
      this.#saveUntil(name, next === null ? due : Math.min(due, Math.max(to, Math.floor(next / bucketMs) * bucketMs)));
      return true;
    }
    this.#pending = { name, from, to, ids, next: 0, late: new Set() };
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
    const { step, resolution } = seriesPlan(from, to, stepMs, retention, now);
    const key = this.#keys.find(nodeId);
    if (key === undefined) return { from, to, stepMs: step, resolution, points: [] };
    if (resolution === 'raw') {
      return { from, to, stepMs: step, resolution, points: rawPoints(this.#raw.samples(key, from, to), step) };
    }
    const statement = resolution === '1m' ? this.#stmts.series1m : this.#stmts.series1h;
    // Minutes not rolled up yet come from the raw samples, from the step that holds the first.
    const until = this.#until['1m'];
    const split =
      resolution === '1m' && until !== undefined ? Math.max(from, Math.min(to, Math.floor(until / step) * step)) : to;
    const rows = statement.all({ node: key, from, to: split, step }) as Array<Record<string, number | null>>;
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
    if (split < to) points.push(...rawPoints(this.#raw.samples(key, split, to), step));
    return { from, to, stepMs: step, resolution, points };
  }

  /**
   * Deletes up to `limit` rows of each kind past retention; returns how many went. Raw samples
   * are kept until their minute is rolled up, minutes until their hour is. Rows go in whole steps
   * (see pruneStep), so a retention is what is kept at least.
   */
  pruneChunk(retention: Retention, now: number, limit: number): number {
    const before = (retentionMs: number, capMs: number) => {
      const step = pruneStep(retentionMs, capMs);
      return Math.floor((now - retentionMs) / step) * step;
    };
    const rawBefore = Math.min(before(retention.rawMs, HOUR_MS), this.#until['1m'] ?? Number.NEGATIVE_INFINITY);
    const minuteBefore = Math.min(
      before(retention.minuteMs, 6 * HOUR_MS),
      this.#until['1h'] ?? Number.NEGATIVE_INFINITY,
    );
    return (
      this.#raw.prune(rawBefore, limit) +
      this.#stmts.prune1m.run(minuteBefore, limit).changes +
      this.#stmts.prune1h.run(before(retention.hourMs, 24 * HOUR_MS), limit).changes +
      this.#stmts.pruneEvents.run(now - retention.hourMs, limit).changes
    );
  }
}
