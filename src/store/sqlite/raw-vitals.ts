// Raw vitals samples, laid out for an SD card. A commit appends the batch's samples to the log
// (a rowid table with no other index: a page or two per commit however many nodes report), and
// nothing else. Once their minutes are rolled up, a node's samples move together into one row of
// `vitals_chunks` (their JSON, deflated), at most CHUNK_MAX per row, so a node's history
// costs an index entry per chunk rather than per sample. Keying the log by node would have meant a
// page written per sample and per index with thousands of nodes (each node's newest rows on a page
// of their own): with the old layout the primary wrote ~29 KiB per 480-byte sample at 10,000 nodes.
//
// The log has no node index on disk: which log rows belong to which node is kept in memory
// (log-index.ts: row id, time and seq of each), rebuilt by one scan at open; so are each node's
// newest seq (the store's own guard against a sample stored twice) and what the nodes table last
// heard of it. Changes to that memory wait for their transaction's commit (`insert` returns what
// it staged, `commit` takes it in once the transaction committed). While few samples come in
// (LogIndex.small), a row's rest of the sample (`extra`) is stored deflated (log-rows.ts): a third
// of the bytes.
//
// The log is two tables, `vitals_log_a` and `_b` (the view `vitals_log` is both), because deleting
// rows one by one rewrites every page they were on: moving a small fleet's samples out of the log
// wrote its whole volume a second time. While the log is small, a compaction switches appends to
// the empty table, moves what the other holds into chunks (and the few rows not rolled up yet into
// the new table), then empties it with a DELETE without WHERE, which frees its pages unwritten. A
// large log (thousands of nodes, where a page holds one compaction's rows anyway) moves in steps,
// row by row. Row ids are the log's own, unique across both tables, so memory need not know which
// table holds a row; every id in the table not appended to is below every id in the other.

import type Database from 'better-sqlite3';
import { LogIndex } from './log-index.js';
import {
  decodeChunk,
  INSERT_CHUNK_SQL,
  insertChunks,
  insertLogSql,
  type LogRow,
  logValues,
  type RawSample,
  sampleOfRow,
} from './log-rows.js';

/** Log rows moved per compaction step at most, so one step is a few milliseconds. */
const ROWS_PER_STEP = 20_000;
/** A log of at most this many rows moves in one transaction and is emptied whole (see above). */
const SMALL_LOG = 50_000;
const TABLES = ['vitals_log_a', 'vitals_log_b'] as const;
/** A log table's index into TABLES. */
type Table = 0 | 1;
/** One of each, by table. */
const perTable = <T>(make: (table: string) => T): [T, T] => [make(TABLES[0]), make(TABLES[1])];

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

export class RawVitals {
  readonly #db: Database.Database;
  readonly #stmts;
  /** Which log rows are whose. */
  readonly index = new LogIndex();
  /** Each node's newest stored sample (log or chunks). */
  #newest = new Map<number, Newest>();
  /** The last seq the nodes table has of each node, as far as this store wrote or read it. */
  #written = new Map<number, number>();
  /** A compaction under way: its cutoff, its nodes, and how many of them are done. */
  #compacting: { cutoff: number; keys: number[]; next: number } | undefined;
  /** When the last compaction started (the caller's wall clock); one per `minAgeMs`. */
  #compactedAt = Number.NEGATIVE_INFINITY;
  /** The next row id: above every id in the log. */
  #nextId = 1;
  /** The table appended to (index into TABLES); ids below #boundary are in the other one. */
  #current: Table = 0;
  #boundary = 1;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#stmts = {
      insert: perTable((t) => db.prepare(insertLogSql(t))),
      logRows: db.prepare('SELECT * FROM vitals_log WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id'),
      deleteLog: perTable((t) => db.prepare(`DELETE FROM ${t} WHERE id IN (SELECT value FROM json_each(?))`)),
      allRows: perTable((t) => db.prepare(`SELECT * FROM ${t} ORDER BY id`)),
      emptyLog: perTable((t) => db.prepare(`DELETE FROM ${t}`)),
      bounds: perTable((t) => db.prepare(`SELECT min(id) AS lo, max(id) AS hi FROM ${t}`)),
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
    this.index.clear();
    this.#newest = new Map();
    this.#written = new Map();
    this.#compacting = undefined;
    const bounds = this.#stmts.bounds.map((b) => b.get() as { lo: number | null; hi: number | null });
    const [a, b] = [bounds[0]?.hi ?? 0, bounds[1]?.hi ?? 0];
    this.#current = b > a ? 1 : 0;
    this.#nextId = Math.max(a, b) + 1;
    this.#boundary = bounds[this.#current]?.lo ?? this.#nextId;
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
    const id = this.#nextId++;
    this.#stmts.insert[this.#current].run(id, key, ...logValues(s, this.index.small));
    return { key, id, t: s.t, seq: s.seq, receivedAt: s.receivedAt };
  }

  /** Takes the rows of a committed transaction into memory. */
  commit(staged: readonly Staged[]): void {
    for (const s of staged) this.#remember(s);
  }

  #remember(s: Staged): void {
    this.index.add(s.key, s.id, s.t, s.seq, s.receivedAt);
    if (s.id >= this.#nextId) this.#nextId = s.id + 1;
    const newest = this.#newest.get(s.key);
    if (newest === undefined || s.seq > newest.seq) this.#newest.set(s.key, { seq: s.seq, receivedAt: s.receivedAt });
  }

  /** A node's samples with t in [from, to), from chunks and log, in no particular order. */
  samples(key: number, from: number, to: number): RawSample[] {
    const out: RawSample[] = [];
    for (const row of this.#stmts.chunksIn.all(key, from, to) as Array<{ data: Buffer }>)
      for (const s of decodeChunk(row.data)) if (s.t >= from && s.t < to) out.push(s);
    const ids = this.index.ids([key], from, to);
    if (ids.length > 0) for (const row of this.#logRows(ids)) out.push(row);
    return out;
  }

  /**
   * A node's newest stored sample (highest seq), from the log or the chunks: a clock put back
   * leaves older samples with later times in the log while newer ones moved to chunks.
   */
  latest(key: number): RawSample | null {
    const log = this.index.get(key);
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
    out.push(...(this.index.get(key)?.seqs ?? []));
    return out.sort((a, b) => a - b);
  }

  #logRows(ids: readonly number[]): RawSample[] {
    return (this.#stmts.logRows.all(JSON.stringify(ids)) as LogRow[]).map(sampleOfRow);
  }

  /**
   * Moves log rows with t before `cutoff` (rolled up already) into chunks: a small log at once, a
   * large one a few thousand rows per call (one transaction each); false when there is nothing
   * (left) to move. A compaction starts only once the oldest log row is `ageMs` older than the
   * cutoff (a round: LogIndex.roundMs), so a node's chunk holds that much of its history, not a
   * sample or two.
   */
  compactStep(cutoff: number, ageMs: number, now: number): boolean {
    if (this.#compacting === undefined) {
      // At most one compaction per ageMs: a node whose clock is behind files every sample
      // before the cutoff, and must not start one (of a chunk of a sample or two) at every pass.
      if (now - this.#compactedAt < ageMs) return false;
      const oldest = this.index.oldestT();
      if (oldest === null || cutoff - oldest < ageMs) return false;
      this.#compactedAt = now;
      if (this.index.rows <= SMALL_LOG && !this.index.anyBelow(this.#boundary)) {
        this.#compactWhole(cutoff);
        return true;
      }
      const keys = this.index.keys().filter((k) => this.index.get(k)?.ts.some((t) => t < cutoff));
      this.#compacting = { cutoff, keys, next: 0 };
    }
    const job = this.#compacting;
    const keys: number[] = [];
    const ids: number[] = [];
    while (job.next < job.keys.length && ids.length < ROWS_PER_STEP) {
      const key = job.keys[job.next++] as number;
      const before = this.index.ids([key], Number.NEGATIVE_INFINITY, job.cutoff);
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
        this.#insertChunks(byNode);
        for (const remove of this.#stmts.deleteLog) remove.run(JSON.stringify(ids));
      })();
      this.index.drop(keys, new Set(ids));
    }
    if (job.next >= job.keys.length) this.#compacting = undefined;
    return true;
  }

  /**
   * A small log's compaction, in one transaction: appends go to the other (empty) table from now
   * on; what this one holds moves into chunks, or into the other table when not rolled up yet
   * (under new ids); then this table is emptied whole.
   */
  #compactWhole(cutoff: number): void {
    const from = this.#current;
    const to: Table = from === 0 ? 1 : 0;
    const moved = new Set<number>();
    const renamed = new Map<number, number>();
    const boundary = this.#nextId;
    let nextId = boundary;
    this.#db.transaction(() => {
      const byNode = new Map<number, RawSample[]>();
      for (const row of this.#stmts.allRows[from].all() as LogRow[]) {
        const sample = sampleOfRow(row);
        const key = row.node as number;
        if (sample.t < cutoff) {
          moved.add(row.id as number);
          const list = byNode.get(key) ?? [];
          list.push(sample);
          byNode.set(key, list);
        } else {
          renamed.set(row.id as number, nextId);
          this.#stmts.insert[to].run(nextId++, key, ...logValues(sample, this.index.small));
        }
      }
      this.#insertChunks(byNode);
      this.#stmts.emptyLog[from].run();
    })();
    this.#current = to;
    this.#nextId = nextId;
    this.#boundary = boundary;
    this.index.drop(this.index.keys(), moved, renamed);
  }

  #insertChunks(byNode: Map<number, RawSample[]>): void {
    for (const [key, list] of byNode) {
      list.sort((a, b) => a.seq - b.seq);
      insertChunks(this.#stmts.insertChunk, key, list);
    }
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
    const ids = this.index.forget(key);
    if (ids.length > 0) for (const remove of this.#stmts.deleteLog) remove.run(JSON.stringify(ids));
    this.#stmts.forgetChunks.run(key);
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
