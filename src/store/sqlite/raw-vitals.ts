// Raw vitals samples, laid out for an SD card. A commit appends the batch's samples to
// `vitals_log` (a rowid table with no other index: a page or two per commit however many nodes
// report), and nothing else. Once their minutes are rolled up, a node's samples move together into
// one row of `vitals_chunks` (their JSON, deflated), at most CHUNK_MAX per row, so a node's history
// costs an index entry per chunk rather than per sample. Keying the log by node would have meant a
// page written per sample and per index with thousands of nodes (each node's newest rows on a page
// of their own): with the old layout the primary wrote ~29 KiB per 480-byte sample at 10,000 nodes.
//
// The log has no node index on disk: which log rows belong to which node is kept here, in memory
// (row id, time and seq of each), rebuilt by one scan at open; so are each node's newest seq (the
// store's own guard against a sample stored twice) and what the nodes table last heard of it.
// Changes to that memory wait for their transaction's commit (`insert` returns what it staged,
// `commit` takes it in once the transaction committed).

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import type { ReceivedVitals } from '../store-api.js';
import { ROLLUP_FIELDS } from './schema.js';

/**
 * Samples per chunk at most (an hour at the default 10 s period; a compaction every 10 minutes
 * makes them about 60): a chart of a day reads a few hundred small chunks at most.
 */
const CHUNK_MAX = 360;
/** Log rows moved per compaction step at most, so one step is a few milliseconds. */
const ROWS_PER_STEP = 20_000;

/** One raw sample: the rollup columns by ROLLUP_FIELDS order, the rest of the sample as sent. */
export interface RawSample {
  seq: number;
  /** The time it is filed under (raw-vitals' caller decides: the node's clock unless far off). */
  t: number;
  ts: number;
  receivedAt: number;
  skewed: boolean;
  values: Array<number | null>;
  uptimeS: number | null;
  extra: Record<string, unknown>;
}

/** A sample in a chunk: [seq, t, ts, receivedAt, ...values, uptimeS, extra]. */
type ChunkItem = [number, number, number, number, ...Array<number | null | Record<string, unknown>>];

interface NodeLog {
  ids: number[];
  ts: number[];
  seqs: number[];
}

interface Newest {
  seq: number;
  receivedAt: number;
}

/** Log rows inserted by a transaction not yet committed. */
export interface Staged {
  key: number;
  id: number;
  t: number;
  seq: number;
  receivedAt: number;
}

const columns = ROLLUP_FIELDS.map((f) => f.column);

export class RawVitals {
  readonly #db: Database.Database;
  readonly #stmts;
  /** Each node's rows in the log, in insertion order. */
  #log = new Map<number, NodeLog>();
  /** Each node's newest stored sample (log or chunks). */
  #newest = new Map<number, Newest>();
  /** The last seq the nodes table has of each node, as far as this store wrote or read it. */
  #written = new Map<number, number>();
  /** A compaction under way: its cutoff, its nodes, and how many of them are done. */
  #compacting: { cutoff: number; keys: number[]; next: number } | undefined;
  /** When the last compaction started (the caller's wall clock); one per `minAgeMs`. */
  #compactedAt = Number.NEGATIVE_INFINITY;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#stmts = {
      insert: db.prepare(INSERT_LOG_SQL),
      logRows: db.prepare('SELECT * FROM vitals_log WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id'),
      deleteLog: db.prepare('DELETE FROM vitals_log WHERE id IN (SELECT value FROM json_each(?))'),
      insertChunk: db.prepare(INSERT_CHUNK_SQL),
      chunksIn: db.prepare('SELECT data FROM vitals_chunks WHERE node = ? AND t1 >= ? AND t0 < ? ORDER BY t0'),
      allChunks: db.prepare('SELECT data FROM vitals_chunks WHERE node = ?'),
      newestChunk: db.prepare('SELECT data FROM vitals_chunks WHERE node = ? ORDER BY seq1 DESC LIMIT 1'),
      oldChunks: db.prepare('SELECT id, node, seq1, received1 FROM vitals_chunks WHERE t1 < ? ORDER BY t1 LIMIT ?'),
      deleteChunks: db.prepare('DELETE FROM vitals_chunks WHERE id IN (SELECT value FROM json_each(?))'),
      forgetChunks: db.prepare('DELETE FROM vitals_chunks WHERE node = ?'),
      scanLog: db.prepare('SELECT id, node, t, seq, received_at FROM vitals_log ORDER BY id'),
      newestChunks: db.prepare('SELECT node, max(seq1) AS seq, received1 FROM vitals_chunks GROUP BY node'),
      nodeSeqs: db.prepare('SELECT k.key, n.last_seq FROM nodes n JOIN node_keys k ON k.id = n.id'),
      catchUp: db.prepare(
        'UPDATE nodes SET last_seq = ?, last_seen = max(last_seen, ?) WHERE id = (SELECT id FROM node_keys WHERE key = ?) AND last_seq < ?',
      ),
    };
    this.reload();
  }

  /** Rebuilds what is kept in memory from the database (at open, and after a failed forget). */
  reload(): void {
    this.#log = new Map();
    this.#newest = new Map();
    this.#written = new Map();
    this.#compacting = undefined;
    for (const r of this.#stmts.newestChunks.iterate() as Iterable<{ node: number; seq: number; received1: number }>)
      this.#newest.set(r.node, { seq: r.seq, receivedAt: r.received1 });
    for (const r of this.#stmts.scanLog.iterate() as Iterable<{
      id: number;
      node: number;
      t: number;
      seq: number;
      received_at: number;
    }>) {
      this.#remember({ key: r.node, id: r.id, t: r.t, seq: r.seq, receivedAt: r.received_at });
    }
    for (const r of this.#stmts.nodeSeqs.iterate() as Iterable<{ key: number; last_seq: number }>) {
      this.#written.set(r.key, r.last_seq);
      const newest = this.#newest.get(r.key);
      // A node whose samples were all pruned still has its last seq: older ones are duplicates.
      if (newest === undefined || newest.seq < r.last_seq) this.#newest.set(r.key, { seq: r.last_seq, receivedAt: 0 });
    }
  }

  /** The newest seq stored for a node (0: none). */
  newestSeq(key: number): number {
    return this.#newest.get(key)?.seq ?? 0;
  }

  /** Appends a sample to the log (inside the caller's transaction); `commit` it once that commits. */
  insert(key: number, s: RawSample): Staged {
    const info = this.#stmts.insert.run(
      key,
      s.seq,
      s.t,
      s.ts,
      s.receivedAt,
      s.skewed ? 1 : 0,
      ...s.values,
      s.uptimeS,
      JSON.stringify(s.extra),
    );
    return { key, id: Number(info.lastInsertRowid), t: s.t, seq: s.seq, receivedAt: s.receivedAt };
  }

  /** Takes the rows of a committed transaction into memory. */
  commit(staged: readonly Staged[]): void {
    for (const s of staged) this.#remember(s);
  }

  #remember(s: Staged): void {
    let log = this.#log.get(s.key);
    if (log === undefined) {
      log = { ids: [], ts: [], seqs: [] };
      this.#log.set(s.key, log);
    }
    log.ids.push(s.id);
    log.ts.push(s.t);
    log.seqs.push(s.seq);
    const newest = this.#newest.get(s.key);
    if (newest === undefined || s.seq > newest.seq) this.#newest.set(s.key, { seq: s.seq, receivedAt: s.receivedAt });
  }

  /** Log row ids of the given nodes with t in [from, to). */
  logIds(keys: readonly number[], from: number, to: number): number[] {
    const out: number[] = [];
    for (const key of keys) {
      const log = this.#log.get(key);
      if (log === undefined) continue;
      for (let i = 0; i < log.ids.length; i++) {
        const t = log.ts[i] as number;
        if (t >= from && t < to) out.push(log.ids[i] as number);
      }
    }
    return out;
  }

  /** Nodes with samples in the log with t in [from, to), ascending. */
  logNodes(from: number, to: number): number[] {
    const keys: number[] = [];
    for (const [key, log] of this.#log) if (log.ts.some((t) => t >= from && t < to)) keys.push(key);
    return keys.sort((a, b) => a - b);
  }

  /** The smallest t in the log at or after `from` (null: none). */
  oldestLogT(from = Number.NEGATIVE_INFINITY): number | null {
    let oldest: number | null = null;
    for (const log of this.#log.values())
      for (const t of log.ts) if (t >= from && (oldest === null || t < oldest)) oldest = t;
    return oldest;
  }

  /** A node's samples with t in [from, to), from chunks and log, in no particular order. */
  samples(key: number, from: number, to: number): RawSample[] {
    const out: RawSample[] = [];
    for (const row of this.#stmts.chunksIn.all(key, from, to) as Array<{ data: Buffer }>)
      for (const s of decodeChunk(row.data)) if (s.t >= from && s.t < to) out.push(s);
    const ids = this.logIds([key], from, to);
    if (ids.length > 0) for (const row of this.#logRows(ids)) out.push(row);
    return out;
  }

  /**
   * A node's newest stored sample (highest seq), from the log or the chunks: a clock put back
   * leaves older samples with later times in the log while newer ones moved to chunks.
   */
  latest(key: number): RawSample | null {
    const log = this.#log.get(key);
    let best = -1;
    if (log !== undefined)
      for (let i = 0; i < log.seqs.length; i++) if (best < 0 || (log.seqs[i] ?? 0) > (log.seqs[best] ?? 0)) best = i;
    const row = this.#stmts.newestChunk.get(key) as { data: Buffer } | undefined;
    let newest: RawSample | null = null;
    if (row !== undefined) for (const s of decodeChunk(row.data)) if (newest === null || s.seq > newest.seq) newest = s;
    if (log !== undefined && best >= 0 && (newest === null || (log.seqs[best] ?? 0) > newest.seq)) {
      return this.#logRows([log.ids[best] as number])[0] ?? null;
    }
    return newest;
  }

  /** Every stored seq of a node, ascending. */
  seqs(key: number): number[] {
    const out: number[] = [];
    for (const row of this.#stmts.allChunks.all(key) as Array<{ data: Buffer }>)
      for (const s of decodeChunk(row.data)) out.push(s.seq);
    out.push(...(this.#log.get(key)?.seqs ?? []));
    return out.sort((a, b) => a - b);
  }

  #logRows(ids: readonly number[]): RawSample[] {
    return (this.#stmts.logRows.all(JSON.stringify(ids)) as LogRow[]).map(sampleOfRow);
  }

  /**
   * Moves log rows with t before `cutoff` (rolled up already) into chunks, a few thousand rows per
   * call (one transaction each); false when there is nothing (left) to move. A compaction starts
   * only once the oldest log row is `minAgeMs` older than the cutoff, so a node's chunk holds that
   * much of its history, not a sample or two.
   */
  compactStep(cutoff: number, minAgeMs: number, now: number): boolean {
    if (this.#compacting === undefined) {
      // At most one compaction per minAgeMs: a node whose clock is behind files every sample
      // before the cutoff, and must not start one (of a chunk of a sample or two) at every pass.
      if (now - this.#compactedAt < minAgeMs) return false;
      const oldest = this.oldestLogT();
      if (oldest === null || cutoff - oldest < minAgeMs) return false;
      const keys = [...this.#log.keys()].filter((k) => this.#log.get(k)?.ts.some((t) => t < cutoff));
      this.#compacting = { cutoff, keys, next: 0 };
      this.#compactedAt = now;
    }
    const job = this.#compacting;
    const keys: number[] = [];
    const ids: number[] = [];
    while (job.next < job.keys.length && ids.length < ROWS_PER_STEP) {
      const key = job.keys[job.next++] as number;
      const before = this.logIds([key], Number.NEGATIVE_INFINITY, job.cutoff);
      if (before.length === 0) continue;
      keys.push(key);
      ids.push(...before);
    }
    if (ids.length > 0) {
      this.#db.transaction(() => {
        const byNode = new Map<number, RawSample[]>();
        for (const row of this.#stmts.logRows.all(JSON.stringify(ids)) as LogRow[]) {
          const list = byNode.get(row.node as number) ?? [];
          list.push(sampleOfRow(row));
          byNode.set(row.node as number, list);
        }
        for (const [key, list] of byNode) {
          list.sort((a, b) => a.seq - b.seq);
          insertChunks(this.#stmts.insertChunk, key, list);
        }
        this.#stmts.deleteLog.run(JSON.stringify(ids));
      })();
      const moved = new Set(ids);
      for (const key of keys) {
        const log = this.#log.get(key);
        if (log === undefined) continue;
        const keep = log.ids.map((id, i) => (moved.has(id) ? -1 : i)).filter((i) => i >= 0);
        if (keep.length === 0) this.#log.delete(key);
        else
          this.#log.set(key, {
            ids: keep.map((i) => log.ids[i] as number),
            ts: keep.map((i) => log.ts[i] as number),
            seqs: keep.map((i) => log.seqs[i] as number),
          });
      }
    }
    if (job.next >= job.keys.length) this.#compacting = undefined;
    return true;
  }

  /**
   * Deletes up to `limit` chunks whose samples are all before `before` (inside the caller's
   * transaction); how many went. The nodes table first learns the newest seq they held: a node
   * that keeps reporting with its clock behind is never quiet, and once its chunks go, nothing
   * else would tell a restarted store that a resend of those seqs is one.
   */
  prune(before: number, limit: number): number {
    const rows = this.#stmts.oldChunks.all(before, limit) as Array<{
      id: number;
      node: number;
      seq1: number;
      received1: number;
    }>;
    if (rows.length === 0) return 0;
    const newest = new Map<number, { seq: number; receivedAt: number }>();
    for (const r of rows) {
      const n = newest.get(r.node);
      if (n === undefined || r.seq1 > n.seq) newest.set(r.node, { seq: r.seq1, receivedAt: r.received1 });
    }
    for (const [key, n] of newest) this.#stmts.catchUp.run(n.seq, n.receivedAt, key, n.seq);
    return this.#stmts.deleteChunks.run(JSON.stringify(rows.map((r) => r.id))).changes;
  }

  /** Deletes a node's raw samples (inside the caller's transaction; memory follows at once). */
  forget(key: number): void {
    const ids = this.#log.get(key)?.ids ?? [];
    if (ids.length > 0) this.#stmts.deleteLog.run(JSON.stringify(ids));
    this.#stmts.forgetChunks.run(key);
    this.#log.delete(key);
    this.#newest.delete(key);
    this.#written.delete(key);
    this.#compacting = undefined;
  }

  /**
   * Writes the newest seq and receive time of nodes whose row in the nodes table is behind (a
   * crash came before their state change was written), and that sent nothing since `quietSince`
   * (undefined: all of them): a node that keeps reporting is not rewritten at every pass.
   */
  catchUp(quietSince?: number): void {
    const written: Array<[number, number]> = [];
    // One transaction: after a crash every node that was online is behind (one fsync, not one each).
    this.#db.transaction(() => {
      for (const [key, newest] of this.#newest) {
        if ((this.#written.get(key) ?? 0) >= newest.seq) continue;
        if (quietSince !== undefined && newest.receivedAt >= quietSince) continue;
        this.#stmts.catchUp.run(newest.seq, newest.receivedAt, key, newest.seq);
        written.push([key, newest.seq]);
      }
    })();
    for (const [key, seq] of written) this.#written.set(key, seq);
  }

  /**
   * A node was forgotten with its history kept (inside the caller's transaction): its newest seq
   * is what its stored samples say, as a restarted store would find it, not what it sent last.
   */
  detach(key: number): void {
    this.#written.delete(key);
    const newest = this.latest(key);
    if (newest === null) this.#newest.delete(key);
    else this.#newest.set(key, { seq: newest.seq, receivedAt: newest.receivedAt });
  }
}

/** Inserts a node's samples (sorted by seq) as chunks of at most CHUNK_MAX, with `insert` (INSERT_CHUNK_SQL). */
export function insertChunks(insert: Database.Statement, key: number, list: readonly RawSample[]): void {
  for (let i = 0; i < list.length; i += CHUNK_MAX) {
    const part = list.slice(i, i + CHUNK_MAX);
    let t0 = Number.POSITIVE_INFINITY;
    let t1 = Number.NEGATIVE_INFINITY;
    const items: ChunkItem[] = [];
    for (const s of part) {
      t0 = Math.min(t0, s.t);
      t1 = Math.max(t1, s.t);
      items.push([s.seq, s.t, s.ts, s.receivedAt, ...s.values, s.uptimeS, s.extra]);
    }
    const last = part[part.length - 1] as RawSample;
    insert.run(key, t0, t1, last.seq, last.receivedAt, part.length, deflateRawSync(JSON.stringify(items)));
  }
}

/** Appends one row to the log: node, seq, t, ts, received_at, skewed, the rollup columns, uptime_s, extra. */
export const INSERT_LOG_SQL = `INSERT INTO vitals_log (node, seq, t, ts, received_at, skewed, ${columns.join(', ')}, uptime_s, extra)
  VALUES (?, ?, ?, ?, ?, ?, ${columns.map(() => '?').join(', ')}, ?, ?)`;

export const INSERT_CHUNK_SQL =
  'INSERT INTO vitals_chunks (node, t0, t1, seq1, received1, n, data) VALUES (?, ?, ?, ?, ?, ?, ?)';

export type LogRow = Record<string, number | string | null>;

export function sampleOfRow(r: LogRow): RawSample {
  return {
    seq: r.seq as number,
    t: r.t as number,
    ts: r.ts as number,
    receivedAt: r.received_at as number,
    skewed: r.skewed === 1,
    values: columns.map((c) => r[c] as number | null),
    uptimeS: r.uptime_s as number | null,
    extra: JSON.parse(r.extra as string) as Record<string, unknown>,
  };
}

function decodeChunk(data: Buffer): RawSample[] {
  const items = JSON.parse(inflateRawSync(data).toString('utf8')) as ChunkItem[];
  const n = columns.length;
  return items.map((item) => ({
    seq: item[0],
    t: item[1],
    ts: item[2],
    receivedAt: item[3],
    skewed: item[1] !== item[2],
    values: item.slice(4, 4 + n) as Array<number | null>,
    uptimeS: item[4 + n] as number | null,
    extra: item[5 + n] as Record<string, unknown>,
  }));
}

/** The sample as it was sent, with the primary's receive time. */
export function receivedOf(s: RawSample): ReceivedVitals {
  const sample: Record<string, unknown> = { ...s.extra, seq: s.seq, ts: s.ts };
  sample.uptimeS = s.uptimeS;
  ROLLUP_FIELDS.forEach((f, i) => {
    const v = s.values[i];
    if (v !== null && v !== undefined) sample[f.key] = v;
  });
  sample.receivedAt = s.receivedAt;
  return sample as unknown as ReceivedVitals;
}
