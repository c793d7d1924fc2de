// The store seam: what the primary and the web need of durable storage, as interfaces an
// asynchronous implementation (a database over the network) can satisfy as well as the embedded
// SQLite one (sqlite/sqlite-store.ts). Node changes travel as data (`NodeChange`), never as closures
// over a concrete store, so a batch of them can be written in one transaction by any backend. The
// contract suite (test/unit/store/store-contract.ts) runs unchanged against every implementation.

import type { Logger } from '../common/logger.js';
import type { InfoPayload, VitalsPayload } from '../protocol/messages.js';
import type { NodeState } from '../protocol/node-view.js';
import type { TaskState } from '../protocol/tasks.js';

export type { NodeState };

/** A sample as the primary keeps it: what the node sent, with the primary's receive time. */
export type ReceivedVitals = VitalsPayload & { receivedAt: number };

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

/** A node as the primary loads it at start: its row and its newest stored sample. */
export interface StoredNode extends NodeRow {
  vitals: ReceivedVitals | null;
}

/** The node row a join writes (created, or updated keeping what it does not name). */
export interface NodeUpsert {
  id: string;
  name: string;
  labels: Record<string, string>;
  address: string | null;
  legacy: boolean;
  state: NodeState;
  /** Kept as stored when null or absent. */
  info?: InfoPayload | null;
  /** Kept as stored when null or absent. */
  machineId?: string | null;
  /** Last seen (and first seen, for a new node), epoch ms. */
  now: number;
  connectedSince: number | null;
}

/** One change to the nodes table or the events log; a list of them is written in one transaction. */
export type NodeChange =
  | { op: 'upsert'; node: NodeUpsert }
  | {
      op: 'state';
      id: string;
      state: NodeState;
      /** Last seen, epoch ms. */
      at: number;
      connectedSince: number | null;
      /** The highest stored seq the primary knows of (the stored one only grows). */
      lastSeq: number;
    }
  | { op: 'info'; id: string; info: InfoPayload }
  /** A newly issued node secret, unconfirmed until the node first proves it. */
  | { op: 'issue-secret'; id: string; secret: string }
  | { op: 'confirm-secret'; id: string }
  /** Drops `secret` if it is still the node's and unconfirmed (its session ended before using it). */
  | { op: 'drop-secret'; id: string; secret: string }
  /** Revoked or denied: the node's secret goes, confirmed or not; its proofs fail from now on. */
  | { op: 'revoke-secret'; id: string }
  /** The node's row and secret go; with `history`, its samples, rollups and events too. */
  | { op: 'forget'; id: string; history: boolean }
  | { op: 'event'; ts: number; nodeId: string | null; type: string; data?: Record<string, unknown> }
  /** A task as it is now (created or replaced whole). */
  | { op: 'task'; task: TaskRow }
  /** A schedule as it is now (created or replaced whole, its lastRunAt too). */
  | { op: 'schedule'; schedule: ScheduleRow }
  /** A schedule submitted a run at `at` (epoch ms); nothing when the schedule is gone. */
  | { op: 'schedule-ran'; id: string; at: number }
  /** The schedule goes; its runs (tasks) stay. */
  | { op: 'remove-schedule'; id: string }
  /** An alert as it is now (created or replaced whole). */
  | { op: 'alert'; alert: AlertRow }
  | { op: 'silence'; silence: SilenceRow }
  | { op: 'remove-silence'; id: string }
  /** An alert rule made through the API, as given (the alerts layer owns its shape). */
  | { op: 'alert-rule'; name: string; rule: Record<string, unknown> }
  | { op: 'remove-alert-rule'; name: string };

export type AlertState = 'pending' | 'firing' | 'resolved';

/** An alert: one rule's condition on one node (and subject: a mount, a task kind). Times: epoch ms. */
export interface AlertRow {
  id: string;
  rule: string;
  kind: string;
  severity: 'warning' | 'critical';
  /** The node's id, and its name when the alert began. */
  node: string;
  nodeName: string;
  /** What part of the node: "" for the node itself, a mount for disk rules, a task kind. */
  subject: string;
  state: AlertState;
  /** When it entered its state. */
  since: number;
  /** When its condition was first seen. */
  startedAt: number;
  firedAt: number | null;
  resolvedAt: number | null;
  /** The last value seen (null for conditions without one: offline, a failed task). */
  value: number | null;
  /** The threshold it is held against (null for conditions without one). */
  threshold: number | null;
  /** The condition in words: "/var 7.5 % free", "offline (lost)". */
  detail: string;
  /** Fired and resolved often within the flap window: held firing until it stays clear. */
  flapping: boolean;
  /** A silence matched it at its last notification. */
  silenced: boolean;
  /** Notifications handed to the channels, and those a silence held back. */
  notified: number;
  suppressed: number;
  lastNotifiedAt: number | null;
}

/** Held notifications of the alerts it matches: every field given must match. Times: epoch ms. */
export interface SilenceRow {
  id: string;
  rule: string | null;
  node: string | null;
  /** A label selector (k=v,...). */
  labels: string | null;
  until: number;
  comment: string;
  author: string;
  createdAt: number;
}

export interface AlertQuery {
  state?: AlertState;
  node?: string;
  rule?: string;
  /** Older than this alert (paging back, newest first). */
  before?: string;
  /** At most this many. Default 100. */
  limit?: number;
}

/** A task as the primary keeps it (the scheduler's model, tasks-api's answer). Times: epoch ms. */
export interface TaskRow {
  id: string;
  /** The broadcast this task is one node's part of. */
  parent: string | null;
  kind: string;
  args: Record<string, unknown>;
  /** The target as given: `node:ID`, a node id or name, `any`, `all`, `all:SELECTOR`, or a selector. */
  on: string;
  /** The node it is assigned to (or, for a task aimed at one node, that node). */
  nodeId: string | null;
  state: TaskState;
  /** Why it is in this state, in words (`node pi-3 lost; retrying`, `waiting for pi-2 to come back`). */
  reason: string | null;
  /** Assignments so far; at most maxAttempts. */
  attempt: number;
  maxAttempts: number;
  /** The idempotency key of the current attempt: a node never runs one key twice. */
  key: string;
  timeoutMs: number;
  /** How long it may wait for its node (or any eligible one) to be online. */
  ttlMs: number;
  createdAt: number;
  assignedAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  result: unknown;
  error: { code: string; message: string } | null;
  stdout: string | null;
  stderr: string | null;
  truncated: boolean;
  /** Who asked: `api-token`, `login:NAME`, `cli`, `loopback`, `schedule:ID`. */
  submittedBy: string;
  /** A task that takes its node down (node.reboot): going down, then offline, until it is back. */
  phase?: 'going-down' | 'offline' | null;
  /** A rolling broadcast's plan (task-rolling.ts). */
  rolling?: { batch: number | string; thenReboot: boolean; size?: number } | null;
  /** A child of a rolling run that waits for its turn. */
  held?: boolean;
  /** Assignments so far (each has a key of its own: `ID.N`). */
  assignments?: number;
}

/** What a schedule's runs carry as `submittedBy`: `schedule:ID`. */
export const SCHEDULE_SUBMITTER_PREFIX = 'schedule:';

/** The schedule a task is a run of: its id when the task is top-level and `submittedBy` is `schedule:ID`. */
export function scheduleIdOf(task: Pick<TaskRow, 'parent' | 'submittedBy'>): string | null {
  if (task.parent !== null || !task.submittedBy.startsWith(SCHEDULE_SUBMITTER_PREFIX)) return null;
  return task.submittedBy.slice(SCHEDULE_SUBMITTER_PREFIX.length) || null;
}

/**
 * A task schedule as the primary keeps it (primary/task-schedules.ts owns the model): a task
 * template run on a target at a cron expression or every interval. Times: epoch ms.
 */
export interface ScheduleRow {
  id: string;
  name: string;
  kind: string;
  args: Record<string, unknown>;
  /** The target of each run, as a task's `on`. */
  on: string;
  /** A cron expression (5 fields, or 6 with seconds first); exactly one of cron and everyMs is set. */
  cron?: string;
  /** The IANA time zone `cron` is read in. Default: the primary's local time zone. */
  timezone?: string;
  /** Milliseconds between runs. */
  everyMs?: number;
  /** Each run's timeoutMs and ttlMs; the task defaults when absent. */
  timeoutMs?: number;
  ttlMs?: number;
  enabled: boolean;
  createdAt: number;
  /** Who created it, as a task's submittedBy records its submitter. */
  createdBy: string;
  /** When it last submitted a run; null before the first. */
  lastRunAt: number | null;
}

export interface TaskQuery {
  state?: TaskState;
  /** Tasks assigned to (or aimed at) this node. */
  node?: string;
  /** The children of this broadcast. */
  parent?: string;
  /** Only tasks that are nobody's child (the default listing). */
  topLevel?: boolean;
  /** Created before this task (paging back, newest first). */
  before?: string;
  /** At most this many. Default 100. */
  limit?: number;
}

/** A node's secret, and whether the node has used it yet (an unused one may be re-issued by token). */
export interface NodeSecret {
  secret: string;
  confirmed: boolean;
}

export interface StoredSample {
  nodeId: string;
  vitals: ReceivedVitals;
  /**
   * The link's clock offset when the node sent the sample: its `sentAt` minus `receivedAt`, ms
   * (undefined: the node did not say). Decides the time the sample is filed under (sample-time.ts);
   * neither stored nor served.
   */
  clockOffsetMs?: number | undefined;
}

export interface EventRow {
  id: number;
  ts: number;
  node: string | null;
  type: string;
  [field: string]: unknown;
}

export interface EventQuery {
  /** One node's events only. */
  node?: string;
  /** At or after this time, epoch ms. Default 0. */
  since?: number;
  /** Older than this event id (paging back). Default: the newest. */
  before?: number;
  /** At most this many. Default 100. */
  limit?: number;
}

export interface Retention {
  /** How long raw samples are kept, ms. Default 24 h. */
  rawMs: number;
  /** How long per-minute rollups are kept, ms. Default 7 d. */
  minuteMs: number;
  /** How long per-hour rollups are kept, ms. Default 365 d. */
  hourMs: number;
}

/**
 * A node's clock may be off (a Pi without a real-time clock): trusted within a day of ours, past
 * that a sample is filed at its time translated by the link's offset (sample-time.ts).
 */
export const MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000;

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export const DEFAULT_RETENTION: Readonly<Retention> = Object.freeze({
  rawMs: 24 * HOUR_MS,
  minuteMs: 7 * 24 * HOUR_MS,
  hourMs: 365 * 24 * HOUR_MS,
});

/** Vitals kept as numbers in the history and charted (min, mean, max per point). */
export const HISTORY_FIELDS = [
  'cpuPercent',
  'cpuMhz',
  'ramAvailableBytes',
  'swapFreeBytes',
  'load1',
  'load5',
  'load15',
  'tempC',
] as const;

export type HistoryField = (typeof HISTORY_FIELDS)[number];
export type Resolution = 'raw' | '1m' | '1h';

/** One chart point: the bucket start and the mean (with min and max) of each vital in it. */
export type VitalsPoint = { ts: number; n: number } & Partial<Record<HistoryField, number>> & {
    min: Partial<Record<HistoryField, number>>;
    max: Partial<Record<HistoryField, number>>;
  };

export interface VitalsSeries {
  from: number;
  to: number;
  stepMs: number;
  resolution: Resolution;
  points: VitalsPoint[];
}

/** At most this many points in a chart series (about: the step is rounded up to the resolution). */
export const MAX_POINTS = 1000;

/**
 * Which stored resolution answers a chart of [from, to) asked at `now`, and its step (a whole
 * number of the resolution's unit): raw samples while `from` is within the raw retention (a few
 * minutes of slack: "the last 24 h" asked a moment ago still reads them), else per-minute rollups
 * within theirs (for steps under an hour), else per-hour ones. The same rule on every backend.
 */
export function seriesPlan(
  from: number,
  to: number,
  stepMs: number | undefined,
  retention: Retention,
  now: number,
): { step: number; resolution: Resolution } {
  const step = Math.max(1, stepMs ?? 0, Math.ceil((to - from) / MAX_POINTS));
  let resolution: Resolution;
  if (from >= now - retention.rawMs - 5 * MINUTE_MS) resolution = 'raw';
  else if (from >= now - retention.minuteMs && step < HOUR_MS) resolution = '1m';
  else resolution = '1h';
  const unit = resolution === '1m' ? MINUTE_MS : resolution === '1h' ? HOUR_MS : 1;
  return { step: Math.ceil(step / unit) * unit, resolution };
}

/** What the web reads: history for charts and the events log. */
export interface StoreReader {
  /**
   * A node's vitals over [from, to) at a resolution that fits a chart (at most ~1,000 points):
   * raw samples within the raw retention, else per-minute, else per-hour rollups.
   */
  vitalsSeries(nodeId: string, from: number, to: number, stepMs?: number, now?: number): Promise<VitalsSeries>;
  /** Newest first. */
  events(query?: EventQuery): Promise<EventRow[]>;
  /** Events with id > `afterId`, oldest first (the live stream follows the log with this). */
  eventsAfter(afterId: number, limit?: number): Promise<EventRow[]>;
  /** The id of the newest event (0 when there is none). */
  lastEventId(): Promise<number>;
}

/**
 * The primary's durable state. Every method may fail with a StoreError: ERR_STORE_BUSY when
 * another process holds the database (retry soon), ERR_STORE_FULL when its disk is full (retry
 * once there is room), ERR_STORE_CLOSED after close, ERR_STORE else.
 */
export interface Store extends StoreReader {
  readonly retention: Readonly<Retention>;

  /** At start: nodes that were online when the primary stopped are lost until they handshake again. */
  markOnlineNodesLost(): Promise<number>;
  /** Every node with its newest sample, ordered by name then id. */
  loadNodes(): Promise<StoredNode[]>;
  getNode(id: string): Promise<NodeRow | undefined>;
  nodeSecret(id: string): Promise<NodeSecret | undefined>;
  /** Applies the changes in order, in one transaction: all or nothing. */
  applyNodeChanges(changes: readonly NodeChange[]): Promise<void>;

  /** Tasks not in a final state (the scheduler loads them at start), oldest first. */
  openTasks(): Promise<TaskRow[]>;
  getTask(id: string): Promise<TaskRow | undefined>;
  /** Newest first. */
  listTasks(query?: TaskQuery): Promise<TaskRow[]>;

  /** Every schedule, oldest first. */
  listSchedules(): Promise<ScheduleRow[]>;
  /** A schedule's newest runs (its top-level tasks, see scheduleIdOf), newest first. Default limit 5. */
  scheduleRuns(id: string, limit?: number): Promise<TaskRow[]>;

  /** Alerts firing at the last stop (the engine takes them up again), oldest first. */
  openAlerts(): Promise<AlertRow[]>;
  /** Newest first. */
  listAlerts(query?: AlertQuery): Promise<AlertRow[]>;
  /** Silences whose `until` is after `now`, oldest first. */
  listSilences(now: number): Promise<SilenceRow[]>;
  /** Alert rules made through the API, as given, oldest first. */
  alertRules(): Promise<Array<Record<string, unknown>>>;

  /**
   * Stores samples in one transaction and returns, per node, the highest seq now stored (what
   * may be acknowledged). A (node, seq) stored already is ignored. When it rejects, nothing of
   * the batch may be acknowledged.
   */
  insertVitals(batch: readonly StoredSample[]): Promise<Map<string, number>>;
  /** A node's newest stored sample, as it was sent, with its receive time. */
  latestVitals(nodeId: string): Promise<ReceivedVitals | null>;
  /** Every stored seq of a node, ascending (consistency checks). */
  storedSeqs(nodeId: string): Promise<number[]>;

  /** Up to `maxSteps` steps of rollup work (one transaction); false when everything due is rolled up. */
  rollupStep(now?: number, maxSteps?: number): Promise<boolean>;
  /**
   * Brings each node's last seq and last seen up to its newest stored sample: at least those of
   * nodes that sent nothing lately (a backend may leave busy nodes to their state changes).
   */
  catchUpNodes(now?: number): Promise<void>;
  /** Deletes up to `limit` rows of each kind past retention; returns how many went (0: done). */
  pruneChunk(now?: number, limit?: number): Promise<number>;

  /**
   * A store shared by several primaries (issue 17, PostgreSQL) fences writes by the leader's epoch:
   * claimEpoch raises the stored epoch to `epoch`, waiting for every write under a lower one to
   * end, and from then on each write transaction of this store checks, inside the transaction, that
   * the stored epoch is still `epoch`: if a newer leader raised it, the write fails whole with
   * ERR_STORE_FENCED. Fails with ERR_STORE_FENCED when a higher epoch is stored already. Epoch 0 is
   * a single primary's (no HA), which every one claims alike: the store is then held for this one
   * until close, and the claim fails with ERR_STORE_BUSY, naming the holder, while another holds it.
   * Absent on an embedded store (one primary, nothing to fence; its data dir is locked).
   */
  claimEpoch?(epoch: number): Promise<void>;

  /** Bytes of storage in use. */
  sizeBytes(): Promise<number>;
  /** The backend's own consistency check: 'ok' when all is well. */
  integrityCheck(): Promise<string>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** The primary's data directory (where an embedded store keeps its file). */
  dataDir: string;
  retention?: Partial<Retention>;
  logger?: Logger;
}

/** Opens (creating and migrating as needed) the store a primary runs on. */
export type StoreFactory = (options: StoreOptions) => Promise<Store>;

/** True when `err` says another process holds the store locked: retry soon. */
export function isStoreBusy(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_STORE_BUSY';
}

/** True when `err` says the store's disk is full: retry once there is room. */
export function isStoreFull(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_STORE_FULL';
}

/** True when `err` says a newer leader holds the shared store: stop acting as leader. */
export function isStoreFenced(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_STORE_FENCED';
}
