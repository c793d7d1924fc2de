// The primary's durable store: one SQLite file (better-sqlite3, WAL), migrated at open, prepared
// statements, vitals written in batched transactions. Everything SQLite-specific stays in this
// folder so Node 22's node:sqlite can replace the driver later.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { InfoPayload, VitalsPayload } from '../protocol/messages.js';
import type { NodeState } from '../protocol/node-view.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { DEFAULT_RETENTION, type Retention, VitalsHistory, type VitalsSeries } from './vitals-history.js';

export type { NodeState };

/** A failure because another connection holds the database locked: SQLITE_BUSY and its extended codes (_SNAPSHOT, _RECOVERY, _TIMEOUT). */
export const isBusy = (err: unknown) => String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY');

export interface NodeRow {
  id: string;
  name: string;
  labels: Record<string, string>;
  address: string | null;
  legacy: boolean;
  state: NodeState;
  info: InfoPayload | null;
  machineId: string | null;
  firstSeen: number;
  lastSeen: number;
  connectedSince: number | null;
  lastSeq: number;
}

export interface StoredSample {
  nodeId: string;
  receivedAt: number;
  sample: VitalsPayload;
}

export interface EventRow {
  id: number;
  ts: number;
  node: string | null;
  type: string;
  [field: string]: unknown;
}

interface RawNode {
  id: string;
  name: string;
  labels: string;
  address: string | null;
  legacy: number;
  state: NodeState;
  info: string | null;
  machine_id: string | null;
  first_seen: number;
  last_seen: number;
  connected_since: number | null;
  last_seq: number;
}

export class StoreError extends Error {}

export class Store {
  readonly path: string;
  readonly retention: Retention;
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #history: VitalsHistory;

  /** Opens (creating if needed) and migrates the database at `path` (':memory:' for tests). */
  constructor(path: string, options: { retention?: Partial<Retention> } = {}) {
    this.path = path;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before it returns, so an acknowledgement ("stored") survives a
    // power cut too, not just kill -9. Batching keeps this to a few dozen fsyncs a second.
    this.#db.pragma('synchronous = FULL');
    // Short: a lock held by another process must not stall the event loop; the vitals writer
    // retries a busy commit itself, the event loop turning in between.
    this.#db.pragma('busy_timeout = 100');
    this.#migrate();
    this.#stmts = this.#prepare();
    this.#history = new VitalsHistory(this.#db);
    this.catchUpNodes();
  }

  /**
   * Brings every node's last seq and last seen in the nodes table up to its newest stored sample.
   * A commit of vitals does not touch the nodes table (see insertVitals), and a state change may
   * be written before the node's last batch commits (or be dropped while the database is locked):
   * this runs when the store opens and before each pruning pass, so no raw sample is removed
   * before the seq it proves is recorded.
   */
  catchUpNodes(): void {
    this.#stmts.catchUpNodes.run();
  }

  #migrate(): void {
    const current = this.#db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        `database ${this.path} has schema version ${current}, newer than this picluster understands (${SCHEMA_VERSION}): upgrade picluster or use another --data-dir`,
      );
    }
    const pending = MIGRATIONS.filter((m) => m.version > current);
    if (pending.length === 0) return;
    this.#db.transaction(() => {
      for (const migration of pending) {
        this.#db.exec(migration.sql);
        this.#db.pragma(`user_version = ${migration.version}`);
      }
    })();
  }

  get schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  #prepare() {
    const db = this.#db;
    return {
      upsertNode: db.prepare(`
        INSERT INTO nodes (id, name, labels, address, legacy, state, info, machine_id, first_seen, last_seen, connected_since)
        VALUES (@id, @name, @labels, @address, @legacy, @state, @info, @machineId, @now, @now, @connectedSince)
        ON CONFLICT (id) DO UPDATE SET
          name = excluded.name, labels = excluded.labels, address = excluded.address, legacy = excluded.legacy,
          state = excluded.state, info = coalesce(excluded.info, nodes.info),
          machine_id = coalesce(excluded.machine_id, nodes.machine_id),
          last_seen = excluded.last_seen, connected_since = excluded.connected_since`),
      setState: db.prepare(
        'UPDATE nodes SET state = ?, last_seen = ?, connected_since = ?, last_seq = max(last_seq, ?) WHERE id = ?',
      ),
      setInfo: db.prepare('UPDATE nodes SET info = ? WHERE id = ?'),
      touch: db.prepare('UPDATE nodes SET last_seen = ? WHERE id = ?'),
      setSecret: db.prepare('UPDATE nodes SET secret = ?, secret_confirmed = 0 WHERE id = ?'),
      confirmSecret: db.prepare('UPDATE nodes SET secret_confirmed = 1 WHERE id = ? AND secret_confirmed = 0'),
      getSecret: db.prepare('SELECT secret, secret_confirmed FROM nodes WHERE id = ?'),
      getNode: db.prepare('SELECT * FROM nodes WHERE id = ?'),
      allNodes: db.prepare('SELECT * FROM nodes ORDER BY name, id'),
      markOnlineLost: db.prepare("UPDATE nodes SET state = 'lost', connected_since = NULL WHERE state = 'online'"),
      // After a crash: what the vitals table holds is newer than the last state change wrote.
      catchUpNodes: db.prepare(`UPDATE nodes SET
          last_seq = (SELECT max(seq) FROM vitals WHERE node_id = nodes.id),
          last_seen = max(last_seen, (SELECT received_at FROM vitals WHERE node_id = nodes.id ORDER BY seq DESC LIMIT 1))
        WHERE last_seq < coalesce((SELECT max(seq) FROM vitals WHERE node_id = nodes.id), 0)`),
      seqs: db.prepare('SELECT seq FROM vitals WHERE node_id = ? ORDER BY seq'),
      addEvent: db.prepare('INSERT INTO events (ts, node_id, type, data) VALUES (?, ?, ?, ?)'),
      eventsAfter: db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?'),
      lastEventId: db.prepare('SELECT max(id) AS id FROM events'),
      events: db.prepare(
        'SELECT * FROM events WHERE (@node IS NULL OR node_id = @node) AND ts >= @since AND id < @before ORDER BY id DESC LIMIT @limit',
      ),
    };
  }

  upsertNode(node: {
    id: string;
    name: string;
    labels: Record<string, string>;
    address: string | null;
    legacy: boolean;
    state: NodeState;
    info?: InfoPayload | null;
    machineId?: string | null;
    now: number;
    connectedSince: number | null;
  }): void {
    this.#stmts.upsertNode.run({
      id: node.id,
      name: node.name,
      labels: JSON.stringify(node.labels),
      address: node.address,
      legacy: node.legacy ? 1 : 0,
      state: node.state,
      info: node.info ? JSON.stringify(node.info) : null,
      machineId: node.machineId ?? null,
      now: node.now,
      connectedSince: node.connectedSince,
    });
  }

  /** Records a state change, with the last stored seq the primary knows of (see insertVitals). */
  setNodeState(id: string, state: NodeState, now: number, connectedSince: number | null, lastSeq: number): void {
    this.#stmts.setState.run(state, now, connectedSince, lastSeq, id);
  }

  setNodeInfo(id: string, info: InfoPayload): void {
    this.#stmts.setInfo.run(JSON.stringify(info), id);
  }

  touchNode(id: string, now: number): void {
    this.#stmts.touch.run(now, id);
  }

  /** The node's secret, and whether the node has used it yet (see migration 3). */
  getNodeSecret(id: string): { secret: string; confirmed: boolean } | undefined {
    const row = this.#stmts.getSecret.get(id) as { secret: string | null; secret_confirmed: number } | undefined;
    return row?.secret ? { secret: row.secret, confirmed: row.secret_confirmed === 1 } : undefined;
  }

  /** Runs `fn` in one transaction (all or nothing). */
  transaction(fn: () => void): void {
    this.#db.transaction(fn)();
  }

  /** Stores a newly issued secret, unconfirmed until the node first proves it. */
  setNodeSecret(id: string, secret: string): void {
    this.#stmts.setSecret.run(secret, id);
  }

  confirmNodeSecret(id: string): void {
    this.#stmts.confirmSecret.run(id);
  }

  getNode(id: string): NodeRow | undefined {
    const row = this.#stmts.getNode.get(id) as RawNode | undefined;
    return row && toNodeRow(row);
  }

  allNodes(): NodeRow[] {
    return (this.#stmts.allNodes.all() as RawNode[]).map(toNodeRow);
  }

  /** At start: nodes that were online when the primary stopped are lost until they handshake again. */
  markOnlineNodesLost(): number {
    return this.#stmts.markOnlineLost.run().changes;
  }

  /**
   * Stores a batch of samples in one transaction and returns, per node, the highest seq now
   * stored (the value to acknowledge). Duplicates are ignored. Throws if the commit fails: then
   * nothing in the batch may be acknowledged. The nodes table is not touched (that would be one
   * more page written per sample): a node's last seq is written with its state changes and caught
   * up from the newest raw sample when the store opens and before each pruning pass.
   */
  insertVitals(batch: readonly StoredSample[]): Map<string, number> {
    const stored = new Map<string, number>();
    this.#db.transaction(() => {
      for (const { nodeId, receivedAt, sample } of batch) {
        this.#history.insert(nodeId, sample, receivedAt);
        stored.set(nodeId, Math.max(stored.get(nodeId) ?? 0, sample.seq));
      }
    })();
    return stored;
  }

  latestVitals(nodeId: string): (VitalsPayload & { receivedAt: number }) | null {
    return this.#history.latest(nodeId);
  }

  /** One chunk of rollup work; false when everything due is rolled up (see VitalsHistory). */
  rollupStep(now = Date.now()): boolean {
    return this.#history.rollupStep(now);
  }

  /** Every stored seq of a node, ascending (tests and consistency checks). */
  storedSeqs(nodeId: string): number[] {
    return (this.#stmts.seqs.all(nodeId) as Array<{ seq: number }>).map((r) => r.seq);
  }

  /** A node's vitals over [from, to) in at most ~1,000 points (see VitalsHistory.series). */
  vitalsSeries(nodeId: string, from: number, to: number, stepMs?: number, now = Date.now()): VitalsSeries {
    return this.#history.series(nodeId, from, to, stepMs, this.retention, now);
  }

  /** Deletes up to `limit` rows of each kind past retention; 0 when nothing is left to prune. */
  pruneChunk(now = Date.now(), limit = 2000): number {
    return this.#db.transaction(() => this.#history.pruneChunk(this.retention, now, limit))();
  }

  /** Bytes of the database in use (pages minus free pages, × page size). */
  sizeBytes(): number {
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const free = this.#db.pragma('freelist_count', { simple: true }) as number;
    const size = this.#db.pragma('page_size', { simple: true }) as number;
    return (pages - free) * size;
  }

  /** Runs SQLite's integrity check; 'ok' when all is well. */
  integrityCheck(): string {
    return this.#db.pragma('integrity_check', { simple: true }) as string;
  }

  addEvent(ts: number, nodeId: string | null, type: string, data: Record<string, unknown> = {}): void {
    this.#stmts.addEvent.run(ts, nodeId, type, JSON.stringify(data));
  }

  /** Newest first: of one node or all, at or after `since` (ts), older than event id `before`. */
  events(query: { node?: string; since?: number; before?: number; limit?: number } = {}): EventRow[] {
    const rows = this.#stmts.events.all({
      node: query.node ?? null,
      since: query.since ?? 0,
      before: query.before ?? Number.MAX_SAFE_INTEGER,
      limit: query.limit ?? 100,
    }) as RawEvent[];
    return rows.map(toEventRow);
  }

  /** Events with id > `afterId`, oldest first (the live stream follows the log with this). */
  eventsAfter(afterId: number, limit = 1000): EventRow[] {
    const rows = this.#stmts.eventsAfter.all(afterId, limit) as RawEvent[];
    return rows.map(toEventRow);
  }

  /** The id of the newest event (0 when there is none). */
  lastEventId(): number {
    return (this.#stmts.lastEventId.get() as { id: number | null }).id ?? 0;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

interface RawEvent {
  id: number;
  ts: number;
  node_id: string | null;
  type: string;
  data: string;
}

function toEventRow(r: RawEvent): EventRow {
  return { ...(JSON.parse(r.data) as object), id: r.id, ts: r.ts, node: r.node_id, type: r.type };
}

function toNodeRow(row: RawNode): NodeRow {
  return {
    id: row.id,
    name: row.name,
    labels: JSON.parse(row.labels) as Record<string, string>,
    address: row.address,
    legacy: row.legacy === 1,
    state: row.state,
    info: row.info ? (JSON.parse(row.info) as InfoPayload) : null,
    machineId: row.machine_id,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    connectedSince: row.connected_since,
    lastSeq: row.last_seq,
  };
}
