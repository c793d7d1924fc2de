// The PostgreSQL store: the Store seam (../store-api.ts) over a server several primaries may share
// (issue 17). Reads run on any connection of the pool; each write is one transaction, fenced by
// the HA leader's epoch once claimEpoch was called (pg-database.ts). What each part does lives
// beside it: nodes (node-table.ts), samples (vitals-ingest.ts), rollups and pruning
// (vitals-rollup.ts), series (vitals-series.ts), events, tasks and schedules, alerts. Loaded
// lazily by open.ts: the driver (npm pg) is an optional dependency.

import { type Logger, silentLogger } from '../../common/logger.js';
import {
  type AlertQuery,
  type AlertRow,
  DEFAULT_RETENTION,
  type EventQuery,
  type EventRow,
  isStoreBusy,
  type NodeChange,
  type NodeRow,
  type NodeSecret,
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
import * as alerts from './alert-tables.js';
import * as eventLog from './event-log.js';
import * as nodes from './node-table.js';
import { PgDatabase, type WriteLocks } from './pg-database.js';
import { SCHEMA_TABLE } from './schema.js';
import * as tasks from './task-tables.js';
import { insertVitals } from './vitals-ingest.js';
import { pruneHistory, rollupStep } from './vitals-rollup.js';
import * as history from './vitals-series.js';

export interface PostgresStoreOptions extends StoreOptions {
  /** postgres://user:password@host:port/database: a database of picluster's own. */
  url: string;
  /** Connections to the server at most. Default 5. */
  poolSize?: number;
}

/** Connections per store by default: ingest, the upkeep, the API's reads and a spare (a single primary's hold has one more). */
export const DEFAULT_POOL_SIZE = 5;
/** Nodes quiet this long get their newest seq written at the next catch-up (see catchUpNodes). */
const QUIET_MS = 10 * 60_000;
/** The tables every picluster database has (integrityCheck). */
const OWN_TABLES = [SCHEMA_TABLE, 'nodes', 'node_keys', 'vitals', 'vitals_1m', 'vitals_1h', 'events', 'leader_epoch'];

/**
 * Opens the store at `options.url`: migrates the schema, then catches every node's last seq up
 * with its stored samples (a crash may have come between a batch and the state change after it).
 * @throws StoreError ERR_STORE_SCHEMA (a database newer than this code), ERR_STORE_BUSY (the
 * server is out of reach), ERR_STORE.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const logger = options.logger ?? silentLogger;
  const db = new PgDatabase({ url: options.url, poolSize: options.poolSize ?? DEFAULT_POOL_SIZE, logger });
  try {
    const migrated = await db.migrate();
    if (migrated.from !== migrated.to) {
      logger.info({ where: db.where, from: migrated.from, to: migrated.to }, 'migrated the PostgreSQL schema');
    }
    await catchUpAtOpen(db, logger);
  } catch (err) {
    await db.close();
    throw err;
  }
  return new PostgresStore(db, { retention: options.retention, logger });
}

/**
 * Not fenced (no epoch is claimed yet), and harmless beside a leader that writes meanwhile: a last
 * seq only grows, to what is stored. A conflict with such a leader's writes (a deadlock the server
 * broke) is not worth failing the open for: the upkeep's catchUpNodes and pruning do it later.
 */
async function catchUpAtOpen(db: PgDatabase, logger: Logger): Promise<void> {
  try {
    await db.write((sql) => nodes.catchUpNodes(sql));
  } catch (err) {
    if (!isStoreBusy(err) || db.state === 'closed') throw err;
    logger.warn(
      { where: db.where, message: (err as Error).message },
      "could not catch the nodes' last seqs up at open; the history upkeep does it later",
    );
  }
}

export class PostgresStore implements Store {
  readonly retention: Readonly<Retention>;
  readonly #db: PgDatabase;

  constructor(db: PgDatabase, options: { retention?: Partial<Retention>; logger?: Logger } = {}) {
    this.#db = db;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
  }

  /** The server's URL, its password masked. */
  get where(): string {
    return this.#db.where;
  }

  claimEpoch(epoch: number): Promise<void> {
    return this.#db.claimEpoch(epoch);
  }

  markOnlineNodesLost(): Promise<number> {
    return this.#db.write((sql) => nodes.markOnlineNodesLost(sql));
  }

  loadNodes(): Promise<StoredNode[]> {
    return this.#db.read((sql) => nodes.loadNodes(sql));
  }

  getNode(id: string): Promise<NodeRow | undefined> {
    return this.#db.read((sql) => nodes.getNode(sql, id));
  }

  nodeSecret(id: string): Promise<NodeSecret | undefined> {
    return this.#db.read((sql) => nodes.nodeSecret(sql, id));
  }

  applyNodeChanges(changes: readonly NodeChange[]): Promise<void> {
    if (changes.length === 0) return this.#db.ensureOpen();
    const locks: WriteLocks = {
      // Forgetting a history must not interleave with a rollup step or an insert of that node.
      history: changes.some((c) => c.op === 'forget' && c.history) ? 'exclusive' : undefined,
      events: changes.some((c) => c.op === 'event'),
    };
    return this.#db.write(async (sql) => {
      for (const change of changes) {
        switch (change.op) {
          case 'upsert':
          case 'state':
          case 'info':
          case 'issue-secret':
          case 'confirm-secret':
          case 'drop-secret':
          case 'revoke-secret':
          case 'forget':
            await nodes.applyNodeOp(sql, change);
            break;
          case 'event':
            await eventLog.appendEvent(sql, change);
            break;
          case 'task':
            await tasks.saveTask(sql, change.task);
            break;
          case 'schedule':
            await tasks.saveSchedule(sql, change.schedule);
            break;
          case 'schedule-ran':
            await tasks.scheduleRan(sql, change.id, change.at);
            break;
          case 'remove-schedule':
            await tasks.removeSchedule(sql, change.id);
            break;
          case 'alert':
          case 'silence':
          case 'remove-silence':
          case 'alert-rule':
          case 'remove-alert-rule':
            await alerts.applyAlertChange(sql, change);
            break;
        }
      }
    }, locks);
  }

  openTasks(): Promise<TaskRow[]> {
    return this.#db.read((sql) => tasks.openTasks(sql));
  }

  getTask(id: string): Promise<TaskRow | undefined> {
    return this.#db.read((sql) => tasks.getTask(sql, id));
  }

  listTasks(query: TaskQuery = {}): Promise<TaskRow[]> {
    return this.#db.read((sql) => tasks.listTasks(sql, query));
  }

  listSchedules(): Promise<ScheduleRow[]> {
    return this.#db.read((sql) => tasks.listSchedules(sql));
  }

  scheduleRuns(id: string, limit = 5): Promise<TaskRow[]> {
    return this.#db.read((sql) => tasks.scheduleRuns(sql, id, limit));
  }

  openAlerts(): Promise<AlertRow[]> {
    return this.#db.read((sql) => alerts.openAlerts(sql));
  }

  listAlerts(query: AlertQuery = {}): Promise<AlertRow[]> {
    return this.#db.read((sql) => alerts.listAlerts(sql, query));
  }

  listSilences(now: number): Promise<SilenceRow[]> {
    return this.#db.read((sql) => alerts.listSilences(sql, now));
  }

  alertRules(): Promise<Array<Record<string, unknown>>> {
    return this.#db.read((sql) => alerts.alertRules(sql));
  }

  /** One transaction per batch; the nodes table is not touched (see catchUpNodes). */
  insertVitals(batch: readonly StoredSample[]): Promise<Map<string, number>> {
    return this.#db.write((sql) => insertVitals(sql, batch), { history: 'shared' });
  }

  latestVitals(nodeId: string): Promise<ReceivedVitals | null> {
    return this.#db.read((sql) => history.latestVitals(sql, nodeId));
  }

  storedSeqs(nodeId: string): Promise<number[]> {
    return this.#db.read((sql) => history.storedSeqs(sql, nodeId));
  }

  /** Up to `maxSteps` steps in one transaction, holding the history lock (see vitals-rollup.ts). */
  rollupStep(now = Date.now(), maxSteps = 1): Promise<boolean> {
    return this.#db.write(
      async (sql) => {
        let more = true;
        for (let i = 0; i < maxSteps && more; i++) more = await rollupStep(sql, now);
        return more;
      },
      { history: 'exclusive' },
    );
  }

  /**
   * Nodes quiet for QUIET_MS get their last seq and last seen from their newest stored sample
   * (a node that keeps reporting is left to its state changes); pruning catches up the rest.
   */
  async catchUpNodes(now = Date.now()): Promise<void> {
    await this.#db.write((sql) => nodes.catchUpNodes(sql, now - QUIET_MS));
  }

  pruneChunk(now = Date.now(), limit = 2000): Promise<number> {
    return this.#db.write(
      async (sql) =>
        (await pruneHistory(sql, this.retention, now, limit)) +
        (await alerts.pruneAlerts(sql, now - this.retention.hourMs, now, limit)),
    );
  }

  vitalsSeries(nodeId: string, from: number, to: number, stepMs?: number, now = Date.now()): Promise<VitalsSeries> {
    return this.#db.read((sql) => history.vitalsSeries(sql, nodeId, { from, to, stepMs, now }, this.retention));
  }

  events(query: EventQuery = {}): Promise<EventRow[]> {
    return this.#db.read((sql) => eventLog.events(sql, query));
  }

  eventsAfter(afterId: number, limit = 1000): Promise<EventRow[]> {
    return this.#db.read((sql) => eventLog.eventsAfter(sql, afterId, limit));
  }

  lastEventId(): Promise<number> {
    return this.#db.read((sql) => eventLog.lastEventId(sql));
  }

  /** The database's size on the server (every table and index of it). */
  sizeBytes(): Promise<number> {
    return this.#db.read(async (sql) => {
      const { rows } = await sql.query<{ bytes: number }>('SELECT pg_database_size(current_database()) AS bytes');
      return rows[0]?.bytes ?? 0;
    });
  }

  /**
   * The server keeps its own consistency (WAL, checksums if enabled): what is checked here is that
   * the database is picluster's, whole: every table of the schema present, the epoch row there.
   */
  integrityCheck(): Promise<string> {
    return this.#db.read(async (sql) => {
      const { rows } = await sql.query<{ name: string }>(
        'SELECT t AS name FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL',
        [OWN_TABLES],
      );
      if (rows.length > 0) return `missing tables: ${rows.map((r) => r.name).join(', ')}`;
      const epoch = await sql.query('SELECT 1 FROM leader_epoch WHERE id = 1');
      return epoch.rowCount === 1 ? 'ok' : 'the leader_epoch row is missing';
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
