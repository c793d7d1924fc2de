// The embedded store: one SQLite file (better-sqlite3, WAL), migrated at open, prepared
// statements, one transaction per batch. It implements the Store seam (../store-api.ts) with
// promises that settle at once: SQLite runs in this process, and its calls are short (the writers
// batch them). Everything SQLite-specific stays in this folder, so Node 22's node:sqlite can
// replace the driver later. Driver errors leave as StoreError: SQLITE_BUSY* (another process holds
// the lock past the short busy timeout) as ERR_STORE_BUSY, the rest as ERR_STORE with the cause.

import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { type Logger, silentLogger } from '../../common/logger.js';
import { StoreError } from '../../protocol/errors.js';
import type { InfoPayload } from '../../protocol/messages.js';
import {
  type AlertQuery,
  type AlertRow,
  DEFAULT_RETENTION,
  type EventQuery,
  type EventRow,
  type NodeChange,
  type NodeRow,
  type NodeSecret,
  type NodeState,
  type NodeUpsert,
  type ReceivedVitals,
  type Retention,
  type ScheduleRow,
  type SilenceRow,
  type Store,
  type StoredNode,
  type StoredSample,
  type StoreOptions,
  type TaskQuery,
  type TaskRow,
  type VitalsSeries,
} from '../store-api.js';
import { AlertTable } from './alert-table.js';
import { checkDatabaseFile } from './db-check.js';
import { moveV6Vitals } from './migrate-v7.js';
import { ScheduleTable } from './schedule-table.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { TaskTable } from './task-table.js';
import { VitalsHistory } from './vitals-history.js';

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

/** The StoreFactory of the embedded store: DATA/primary.db. */
export async function openSqliteStore(options: StoreOptions): Promise<SqliteStore> {
  return new SqliteStore(join(options.dataDir, 'primary.db'), { retention: options.retention, logger: options.logger });
}

/** Nodes quiet this long get their newest seq written at the next catch-up (see catchUpNodes). */
const QUIET_MS = 10 * 60_000;

/** The tables every picluster database has (the start-up check tells a foreign file by them). */
const OWN_TABLES = ['nodes', 'events'] as const;

export class SqliteStore implements Store {
  readonly path: string;
  readonly retention: Readonly<Retention>;
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #history: VitalsHistory;
  readonly #tasks: TaskTable;
  readonly #schedules: ScheduleTable;
  readonly #alerts: AlertTable;

  /**
   * Checks (db-check.ts), opens (creating if needed) and migrates the database at `path`
   * (':memory:' for tests).
   * @throws StoreError ERR_STORE_CORRUPT or ERR_STORE_SCHEMA, the file left untouched.
   */
  constructor(path: string, options: { retention?: Partial<Retention>; logger?: Logger } = {}) {
    this.path = path;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      const found = checkDatabaseFile(path, SCHEMA_VERSION, OWN_TABLES);
      const log = options.logger ?? silentLogger;
      if (found.walTailBytes > 0) {
        log.warn(
          { path, bytes: found.walTailBytes },
          'the write-ahead log ends in a transaction that was never committed (a crash or power cut during a write, or a damaged log): SQLite drops it; everything committed before it is kept',
        );
      }
      if (!found.fullCheck) {
        log.info({ path }, "the database is over 1 GiB: SQLite's quick check at start covered its small tables only");
      }
    }
    const created = path !== ':memory:' && !existsSync(path);
    this.#db = new Database(path);
    // The history and the node secrets are nobody else's; SQLite gives its -wal and -shm the
    // database's mode.
    if (created) chmodSync(path, 0o600);
    try {
      this.#db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk before it returns, so an acknowledgement ("stored") survives a
      // power cut too, not just kill -9. Batching keeps this to a few dozen fsyncs a second.
      this.#db.pragma('synchronous = FULL');
      // Short: a lock held by another process must not stall the event loop; the writers retry a
      // busy commit themselves, the event loop turning in between.
      this.#db.pragma('busy_timeout = 100');
      this.#migrate();
      moveV6Vitals(this.#db, options.logger ?? silentLogger);
      this.#stmts = this.#prepare();
      this.#history = new VitalsHistory(this.#db);
      this.#tasks = new TaskTable(this.#db);
      this.#schedules = new ScheduleTable(this.#db);
      this.#alerts = new AlertTable(this.#db);
      this.#history.catchUp();
    } catch (err) {
      this.#db.close();
      throw storeErrorOf(err);
    }
  }

  #migrate(): void {
    const current = this.#db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        'ERR_STORE_SCHEMA',
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

  /** Up to where each rollup is final (tests and diagnostics). */
  get rolledUpUntil(): Readonly<{ '1m': number | undefined; '1h': number | undefined }> {
    return this.#history.rolledUpUntil;
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
      setSecret: db.prepare('UPDATE nodes SET secret = ?, secret_confirmed = 0 WHERE id = ?'),
      confirmSecret: db.prepare('UPDATE nodes SET secret_confirmed = 1 WHERE id = ? AND secret_confirmed = 0'),
      dropSecret: db.prepare(
        'UPDATE nodes SET secret = NULL, secret_confirmed = 1 WHERE id = ? AND secret = ? AND secret_confirmed = 0',
      ),
      revokeSecret: db.prepare('UPDATE nodes SET secret = NULL, secret_confirmed = 1 WHERE id = ?'),
      forgetNode: db.prepare('DELETE FROM nodes WHERE id = ?'),
      forgetHistory: ['events', 'alerts'].map((table) => db.prepare(`DELETE FROM ${table} WHERE node_id = ?`)),
      getSecret: db.prepare('SELECT secret, secret_confirmed FROM nodes WHERE id = ?'),
      getNode: db.prepare('SELECT * FROM nodes WHERE id = ?'),
      allNodes: db.prepare('SELECT * FROM nodes ORDER BY name, id'),
      markOnlineLost: db.prepare("UPDATE nodes SET state = 'lost', connected_since = NULL WHERE state = 'online'"),
      addEvent: db.prepare('INSERT INTO events (ts, node_id, type, data) VALUES (?, ?, ?, ?)'),
      eventsAfter: db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?'),
      lastEventId: db.prepare('SELECT max(id) AS id FROM events'),
      events: db.prepare(
        'SELECT * FROM events WHERE (@node IS NULL OR node_id = @node) AND ts >= @since AND id < @before ORDER BY id DESC LIMIT @limit',
      ),
    };
  }

  markOnlineNodesLost(): Promise<number> {
    return this.#call(() => this.#stmts.markOnlineLost.run().changes);
  }

  loadNodes(): Promise<StoredNode[]> {
    return this.#call(() =>
      (this.#stmts.allNodes.all() as RawNode[]).map((raw) => {
        const vitals = this.#history.latest(raw.id);
        // A legacy node's sample has no uptime: the store gives it back as NULL; it is absent.
        if (vitals?.uptimeS === null) delete (vitals as Partial<ReceivedVitals>).uptimeS;
        return { ...toNodeRow(raw), vitals };
      }),
    );
  }

  getNode(id: string): Promise<NodeRow | undefined> {
    return this.#call(() => {
      const row = this.#stmts.getNode.get(id) as RawNode | undefined;
      return row && toNodeRow(row);
    });
  }

  nodeSecret(id: string): Promise<NodeSecret | undefined> {
    return this.#call(() => {
      const row = this.#stmts.getSecret.get(id) as { secret: string | null; secret_confirmed: number } | undefined;
      return row?.secret ? { secret: row.secret, confirmed: row.secret_confirmed === 1 } : undefined;
    });
  }

  applyNodeChanges(changes: readonly NodeChange[]): Promise<void> {
    return this.#call(() => {
      try {
        this.#db.transaction(() => this.#applyAll(changes))();
      } catch (err) {
        // A forget changed the history's memory before the rollback: read it again.
        if (changes.some((c) => c.op === 'forget')) this.#history.reload();
        throw err;
      }
    });
  }

  #applyAll(changes: readonly NodeChange[]): void {
    const stmts = this.#stmts;
    for (const change of changes) {
      switch (change.op) {
        case 'upsert':
          stmts.upsertNode.run(upsertParams(change.node));
          break;
        case 'state':
          stmts.setState.run(change.state, change.at, change.connectedSince, change.lastSeq, change.id);
          break;
        case 'info':
          stmts.setInfo.run(JSON.stringify(change.info), change.id);
          break;
        case 'issue-secret':
          stmts.setSecret.run(change.secret, change.id);
          break;
        case 'confirm-secret':
          stmts.confirmSecret.run(change.id);
          break;
        case 'drop-secret':
          stmts.dropSecret.run(change.id, change.secret);
          break;
        case 'revoke-secret':
          stmts.revokeSecret.run(change.id);
          break;
        case 'forget':
          stmts.forgetNode.run(change.id);
          if (change.history) {
            this.#history.forget(change.id);
            for (const stmt of stmts.forgetHistory) stmt.run(change.id);
          } else {
            this.#history.detach(change.id);
          }
          break;
        case 'event':
          stmts.addEvent.run(change.ts, change.nodeId, change.type, JSON.stringify(change.data ?? {}));
          break;
        case 'task':
          this.#tasks.upsert(change.task);
          break;
        case 'schedule':
          this.#schedules.save(change.schedule);
          break;
        case 'schedule-ran':
          this.#schedules.ran(change.id, change.at);
          break;
        case 'remove-schedule':
          this.#schedules.remove(change.id);
          break;
        case 'alert':
        case 'silence':
        case 'remove-silence':
        case 'alert-rule':
        case 'remove-alert-rule':
          this.#alerts.apply(change);
          break;
      }
    }
  }

  openTasks(): Promise<TaskRow[]> {
    return this.#call(() => this.#tasks.open());
  }

  getTask(id: string): Promise<TaskRow | undefined> {
    return this.#call(() => this.#tasks.get(id));
  }

  listTasks(query: TaskQuery = {}): Promise<TaskRow[]> {
    return this.#call(() => this.#tasks.list(query));
  }

  listSchedules(): Promise<ScheduleRow[]> {
    return this.#call(() => this.#schedules.list());
  }

  scheduleRuns(id: string, limit = 5): Promise<TaskRow[]> {
    return this.#call(() => this.#schedules.runs(id, limit));
  }

  openAlerts(): Promise<AlertRow[]> {
    return this.#call(() => this.#alerts.open());
  }

  listAlerts(query: AlertQuery = {}): Promise<AlertRow[]> {
    return this.#call(() => this.#alerts.list(query));
  }

  listSilences(now: number): Promise<SilenceRow[]> {
    return this.#call(() => this.#alerts.silences(now));
  }

  alertRules(): Promise<Array<Record<string, unknown>>> {
    return this.#call(() => this.#alerts.rules());
  }

  /**
   * The nodes table is not touched (that would be one more page written per sample): a node's
   * last seq is written with its state changes and caught up from the newest raw sample when the
   * store opens and before each pruning pass.
   */
  insertVitals(batch: readonly StoredSample[]): Promise<Map<string, number>> {
    return this.#call(() => this.#history.insertAll(batch));
  }

  latestVitals(nodeId: string): Promise<ReceivedVitals | null> {
    return this.#call(() => this.#history.latest(nodeId));
  }

  storedSeqs(nodeId: string): Promise<number[]> {
    return this.#call(() => this.#history.seqs(nodeId));
  }

  /**
   * A commit of vitals does not touch the nodes table (see insertVitals), and a state change may
   * be written before the node's last batch commits (or be dropped while the database is locked):
   * every node behind is caught up when the store opens; before each pruning pass, those quiet
   * for QUIET_MS (a node that keeps reporting is not rewritten every pass, and its samples are
   * far from being pruned), so no raw sample is removed before the seq it proves is recorded.
   */
  catchUpNodes(now = Date.now()): Promise<void> {
    return this.#call(() => this.#history.catchUp(now - QUIET_MS));
  }

  rollupStep(now = Date.now(), maxSteps = 1): Promise<boolean> {
    return this.#call(() => {
      const step = () => {
        let more = true;
        for (let i = 0; i < maxSteps && more; i++) more = this.#history.rollupStep(now, this.retention.rawMs);
        return more;
      };
      // Several steps in one transaction: one fsync, not one each (a backfill of days).
      if (maxSteps === 1) return step();
      try {
        return this.#db.transaction(step)();
      } catch (err) {
        this.#history.reload(); // samples it moved out of the log are back there
        throw err;
      }
    });
  }

  vitalsSeries(nodeId: string, from: number, to: number, stepMs?: number, now = Date.now()): Promise<VitalsSeries> {
    return this.#call(() => this.#history.series(nodeId, from, to, stepMs, this.retention, now));
  }

  pruneChunk(now = Date.now(), limit = 2000): Promise<number> {
    return this.#call(() =>
      this.#db.transaction(
        () =>
          this.#history.pruneChunk(this.retention, now, limit) +
          this.#alerts.prune(now - this.retention.hourMs, now, limit),
      )(),
    );
  }

  /** Pages in use (pages minus free pages) times the page size. */
  sizeBytes(): Promise<number> {
    return this.#call(() => {
      const pages = this.#db.pragma('page_count', { simple: true }) as number;
      const free = this.#db.pragma('freelist_count', { simple: true }) as number;
      const size = this.#db.pragma('page_size', { simple: true }) as number;
      return (pages - free) * size;
    });
  }

  integrityCheck(): Promise<string> {
    return this.#call(() => this.#db.pragma('integrity_check', { simple: true }) as string);
  }

  events(query: EventQuery = {}): Promise<EventRow[]> {
    return this.#call(() => {
      const rows = this.#stmts.events.all({
        node: query.node ?? null,
        since: query.since ?? 0,
        before: query.before ?? Number.MAX_SAFE_INTEGER,
        limit: query.limit ?? 100,
      }) as RawEvent[];
      return rows.map(toEventRow);
    });
  }

  eventsAfter(afterId: number, limit = 1000): Promise<EventRow[]> {
    return this.#call(() => (this.#stmts.eventsAfter.all(afterId, limit) as RawEvent[]).map(toEventRow));
  }

  lastEventId(): Promise<number> {
    return this.#call(() => (this.#stmts.lastEventId.get() as { id: number | null }).id ?? 0);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** Runs a synchronous driver call as the seam's promise, its failure as a StoreError. */
  #call<T>(fn: () => T): Promise<T> {
    if (!this.#db.open) return Promise.reject(new StoreError('ERR_STORE_CLOSED', `database ${this.path} is closed`));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(storeErrorOf(err));
    }
  }
}

/** A failure because another connection holds the database locked: SQLITE_BUSY and its extended codes (_SNAPSHOT, _RECOVERY, _TIMEOUT). */
function isSqliteBusy(err: unknown): boolean {
  return String((err as { code?: unknown } | null)?.code ?? '').startsWith('SQLITE_BUSY');
}

function storeErrorOf(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isSqliteBusy(err)) {
    return new StoreError('ERR_STORE_BUSY', `the database is locked by another process: ${message}`, { cause: err });
  }
  if ((err as { code?: unknown } | null)?.code === 'SQLITE_FULL') {
    return new StoreError('ERR_STORE_FULL', `the disk of the database is full: ${message}`, { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  return new StoreError('ERR_STORE', typeof code === 'string' ? `${code}: ${message}` : message, { cause: err });
}

function upsertParams(node: NodeUpsert): Record<string, unknown> {
  return {
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
  };
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
