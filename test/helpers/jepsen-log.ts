// Jepsen-style bookkeeping for the fault suite: a seeded random source, a timestamped history of
// every fault operation (nemesis) and observation, printed with the seed when a test fails so the
// schedule can be replayed (FAULT_SEED=<seed>), and the checker "every acknowledged vitals seq is
// stored exactly once; every unacknowledged one at most once; nothing stored that was never made".
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';

export type EntryKind = 'nemesis' | 'invoke' | 'ok' | 'fail' | 'info';

export interface Entry {
  /** Milliseconds since the log started. */
  at: number;
  kind: EntryKind;
  what: string;
  detail?: Record<string, unknown>;
}

/** mulberry32: a small seeded PRNG, so a fault schedule can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultLog {
  readonly name: string;
  readonly seed: number;
  readonly startedAt = Date.now();
  readonly entries: Entry[] = [];
  readonly random: () => number;

  constructor(name: string, seed?: number) {
    this.name = name;
    const fromEnv = Number(process.env.FAULT_SEED);
    this.seed =
      seed ?? (Number.isInteger(fromEnv) && process.env.FAULT_SEED ? fromEnv : (Date.now() ^ process.pid) >>> 0);
    this.random = seededRandom(this.seed);
  }

  /** Milliseconds since the log started. */
  now(): number {
    return Date.now() - this.startedAt;
  }

  record(kind: EntryKind, what: string, detail?: Record<string, unknown>): void {
    this.entries.push(detail === undefined ? { at: this.now(), kind, what } : { at: this.now(), kind, what, detail });
  }

  nemesis(what: string, detail?: Record<string, unknown>): void {
    this.record('nemesis', what, detail);
  }

  info(what: string, detail?: Record<string, unknown>): void {
    this.record('info', what, detail);
  }

  /** Runs one operation, logged as invoke then ok (with its duration) or fail. */
  async step<T>(what: string, fn: () => Promise<T> | T, detail?: Record<string, unknown>): Promise<T> {
    const started = Date.now();
    this.record('invoke', what, detail);
    try {
      const value = await fn();
      this.record('ok', what, { ms: Date.now() - started });
      return value;
    } catch (err) {
      this.record('fail', what, { ms: Date.now() - started, error: String(err) });
      throw err;
    }
  }

  /** A uniformly random integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  format(): string {
    const lines = this.entries.map((e) => {
      const detail = e.detail ? ` ${JSON.stringify(e.detail)}` : '';
      return `  +${String(e.at).padStart(6)} ms  ${e.kind.padEnd(7)} ${e.what}${detail}`;
    });
    return [
      `history of "${this.name}" (seed ${this.seed}, started ${new Date(this.startedAt).toISOString()}):`,
      ...lines,
      `replay: FAULT_SEED=${this.seed} node --import tsx --test --test-name-pattern=${JSON.stringify(this.name)} <file>`,
    ].join('\n');
  }
}

/**
 * Wraps a test body: the body gets a FaultLog; when it throws, the history and seed are printed
 * (stderr and a test diagnostic) before the error is passed on.
 */
export function jepsen(
  name: string,
  body: (t: TestContext, log: FaultLog) => Promise<void>,
): (t: TestContext) => Promise<void> {
  return async (t) => {
    const log = new FaultLog(name);
    t.diagnostic(`seed ${log.seed}`);
    try {
      await body(t, log);
    } catch (err) {
      const history = log.format();
      process.stderr.write(`\n${history}\n`);
      t.diagnostic(history);
      throw err;
    }
  };
}

// --- vitals bookkeeping -------------------------------------------------------------------------

/** What an agent's outbox file says about its samples (read-only; safe while the agent runs). */
export interface OutboxHistory {
  /** Highest seq the agent gave a sample (samples "invoked"). */
  lastSeq: number;
  /** Highest cumulative ack written ("ok" watermark). */
  maxAck: number;
  /** Samples still waiting for an ack ("unknown"). */
  pending: Set<number>;
  /** Samples the bounded outbox dropped (never acknowledged, never sent again). */
  dropped: Set<number>;
}

/**
 * Replays an outbox.jsonl (src/secondary/outbox.ts format) without touching it: constructing an
 * Outbox would compact the file under a running agent.
 */
export function readOutboxHistory(file: string, maxSamples = 10_000): OutboxHistory {
  const history: OutboxHistory = { lastSeq: 0, maxAck: 0, pending: new Set(), dropped: new Set() };
  if (!existsSync(file)) return history;
  const queue: number[] = [];
  let lastSample = 0;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (raw === '') continue;
    let line: { s?: { seq: number }; a?: number; h?: { lastSeq: number } };
    try {
      // A record is "<crc32 hex> <json>" (older ones: the JSON alone).
      line = JSON.parse(/^[0-9a-f]{8} /.test(raw) ? raw.slice(9) : raw);
    } catch {
      continue; // a line being written right now
    }
    if (line.s) {
      // Against the last sample, not lastSeq: a compaction writes its header before its samples.
      if (line.s.seq > lastSample) {
        queue.push(line.s.seq);
        lastSample = line.s.seq;
        history.lastSeq = Math.max(history.lastSeq, line.s.seq);
      }
      while (queue.length > maxSamples) history.dropped.add(queue.shift() as number);
    } else if (line.a !== undefined) {
      history.maxAck = Math.max(history.maxAck, line.a);
      while (queue.length > 0 && (queue[0] as number) <= line.a) queue.shift();
    } else if (line.h) {
      history.lastSeq = Math.max(history.lastSeq, line.h.lastSeq);
    }
  }
  history.pending = new Set(queue);
  // Acks are cumulative and samples leave in order: all before the oldest pending one are acked
  // (this also covers acks a compaction folded away).
  const before = queue.length > 0 ? (queue[0] as number) - 1 : history.lastSeq;
  if (history.dropped.size === 0) history.maxAck = Math.max(history.maxAck, before);
  return history;
}

/** Every stored (node, seq) with its count, read from the primary's database. */
export function storedVitals(dbFile: string): Map<string, Map<number, number>> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  try {
    const rows = db.prepare('SELECT node_id, seq, count(*) AS n FROM vitals GROUP BY node_id, seq').all() as Array<{
      node_id: string;
      seq: number;
      n: number;
    }>;
    const out = new Map<string, Map<number, number>>();
    for (const r of rows) {
      let seqs = out.get(r.node_id);
      if (!seqs) {
        seqs = new Map();
        out.set(r.node_id, seqs);
      }
      seqs.set(r.seq, r.n);
    }
    return out;
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check of a database file ('ok' when sound); opens read-write to recover a WAL. */
export function integrityCheck(dbFile: string): string {
  const db = new Database(dbFile, { fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

export interface AgentVitals {
  nodeId: string;
  label: string;
  /** Highest seq the agent produced. */
  lastSeq: number;
  /** Acknowledged seqs ("ok"): every seq <= ackedUpTo that is not pending and not dropped. */
  ackedUpTo: number;
  pending: Set<number>;
  dropped: Set<number>;
}

export interface VitalsCheck {
  acked: number;
  unknown: number;
  stored: number;
  lost: string[];
  duplicated: string[];
  phantom: string[];
}

/** From an outbox file: acked = every produced seq that is no longer pending (nor dropped). */
export function agentFromOutbox(nodeId: string, label: string, outboxFile: string): AgentVitals {
  const h = readOutboxHistory(outboxFile);
  return { nodeId, label, lastSeq: h.lastSeq, ackedUpTo: h.lastSeq, pending: h.pending, dropped: h.dropped };
}

/**
 * The checker: every ok (acknowledged) seq is stored exactly once, every unknown (pending) seq at
 * most once, and nothing is stored that the agent never produced.
 */
export function checkVitals(stored: Map<string, Map<number, number>>, agents: readonly AgentVitals[]): VitalsCheck {
  const result: VitalsCheck = { acked: 0, unknown: 0, stored: 0, lost: [], duplicated: [], phantom: [] };
  for (const agent of agents) {
    const seqs = stored.get(agent.nodeId) ?? new Map<number, number>();
    const lost: number[] = [];
    for (let seq = 1; seq <= agent.lastSeq; seq++) {
      const n = seqs.get(seq) ?? 0;
      const isOk = seq <= agent.ackedUpTo && !agent.pending.has(seq) && !agent.dropped.has(seq);
      if (isOk) {
        result.acked++;
        if (n === 0) lost.push(seq);
      } else {
        result.unknown++;
      }
      if (n > 1) result.duplicated.push(`${agent.label}#${seq}×${n}`);
    }
    for (const [seq, n] of seqs) {
      result.stored += n;
      if (seq > agent.lastSeq) result.phantom.push(`${agent.label}#${seq}`);
    }
    if (lost.length > 0) result.lost.push(`${agent.label}: ${compactRanges(lost)}`);
  }
  return result;
}

/** Asserts the checker's verdict; returns the counts for the test's diagnostics. */
export function assertVitals(
  t: TestContext | undefined,
  stored: Map<string, Map<number, number>>,
  agents: readonly AgentVitals[],
  log?: FaultLog,
): VitalsCheck {
  const result = checkVitals(stored, agents);
  log?.info('checker', { acked: result.acked, unknown: result.unknown, stored: result.stored });
  t?.diagnostic(
    `checker: ${result.acked} acknowledged samples stored once each, ${result.unknown} unacknowledged, ${result.stored} rows`,
  );
  assert.deepEqual(result.lost, [], 'acknowledged samples missing on the primary');
  assert.deepEqual(result.duplicated, [], 'samples stored more than once');
  assert.deepEqual(result.phantom, [], 'samples stored that no agent produced');
  assert.ok(result.acked > 0, 'no sample was acknowledged at all');
  return result;
}

/** [1,2,3,7,9,10] → "1-3,7,9-10" (the first 20 ranges). */
export function compactRanges(seqs: readonly number[]): string {
  const sorted = [...seqs].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.length > 20 ? `${parts.slice(0, 20).join(',')},… (${sorted.length} seqs)` : parts.join(',');
}
