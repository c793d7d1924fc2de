// What the web layer reads of a running primary (the JSON API, the live stream, /metrics): the
// nodes, the counters, the live events, and the stored history through the store's read-only
// interface. A narrow seam: the web never holds the Primary, its registry or a concrete store.

import type { AlertsApi } from '../alerts/alert-service.js';
import type { NodeView } from '../protocol/node-view.js';
import type { TaskOutputPayload } from '../protocol/tasks.js';
import type { NodeWriter } from '../store/node-writer.js';
import type { AlertRow, ReceivedVitals, StoreReader, TaskRow } from '../store/store-api.js';
import type { VitalsWriter } from '../store/vitals-writer.js';
import type { DiskSpace } from './disk-watch.js';
import type { ClusterAdmin } from './node-admin.js';
import type { TaskScheduler } from './task-scheduler.js';
import type { TaskSchedules } from './task-schedules.js';

export type { Actor, ClusterAdmin } from './node-admin.js';

import type { PrimaryStats } from './node-host.js';

export interface ClusterEvents {
  /** A node's record changed (joined, lost, left, renamed). */
  node: [node: NodeView];
  /** A node's newest sample, at its receipt (stored later, within the commit window). */
  vitals: [nodeId: string, vitals: ReceivedVitals];
  /** The operator forgot a node: it is gone from every list. */
  removed: [nodeId: string];
  /** A task changed (its row as it is now). */
  task: [task: TaskRow];
  /** Output of a running task. */
  'task-output': [output: TaskOutputPayload & { nodeId: string }];
  /** An alert changed (its row as it is now): the alert service's event, forwarded. */
  alert: [alert: AlertRow];
}

/** Who leads an HA cluster, as one primary sees it (issue 17). */
export interface LeadershipView {
  /**
   * leader: this primary leads now; follower: another one does (or an election is under way);
   * no-quorum: no primary can lead (etcd unreachable or without quorum); stopped: shutting down.
   */
  state: 'leader' | 'follower' | 'no-quorum' | 'stopped';
  /** This primary: its name in the election and the cluster address it advertises. */
  self: { name: string; address: string };
  /** The leader as this primary knows it: its epoch, and since when (wall clock, epoch ms). */
  leader: { name: string; address: string; epoch: number; since: number } | null;
  /** Terms this primary has led since it started. */
  terms: number;
}

export interface ClusterView {
  on(event: 'node', listener: (...args: ClusterEvents['node']) => void): unknown;
  on(event: 'vitals', listener: (...args: ClusterEvents['vitals']) => void): unknown;
  on(event: 'removed', listener: (...args: ClusterEvents['removed']) => void): unknown;
  on(event: 'task', listener: (...args: ClusterEvents['task']) => void): unknown;
  on(event: 'task-output', listener: (...args: ClusterEvents['task-output']) => void): unknown;
  on(event: 'alert', listener: (...args: ClusterEvents['alert']) => void): unknown;
  off(event: 'node', listener: (...args: ClusterEvents['node']) => void): unknown;
  off(event: 'vitals', listener: (...args: ClusterEvents['vitals']) => void): unknown;
  off(event: 'removed', listener: (...args: ClusterEvents['removed']) => void): unknown;
  off(event: 'task', listener: (...args: ClusterEvents['task']) => void): unknown;
  off(event: 'task-output', listener: (...args: ClusterEvents['task-output']) => void): unknown;
  off(event: 'alert', listener: (...args: ClusterEvents['alert']) => void): unknown;
  /** True once the listener and the store are up (what /healthz reports). */
  readonly ready: boolean;
  /** The primary's data directory (where the web keeps its admin token). */
  readonly dataDir: string;
  /** Every node, sorted by name, as the API shows it. */
  nodes(): NodeView[];
  node(id: string): NodeView | undefined;
  /** Every node as kept, without copies, in no order: for renderers that walk them all (/metrics). */
  nodeRecords(): Iterable<Readonly<NodeView>>;
  readonly nodeCount: number;
  readonly onlineCount: number;
  readonly stats: Readonly<PrimaryStats>;
  /** The vitals writer's counters (undefined before start). */
  readonly writerStats: Readonly<VitalsWriter['stats']> | undefined;
  /** The node writer's counters and the node changes it holds for a locked store (undefined before start). */
  readonly nodeWriterStats: (Readonly<NodeWriter['stats']> & { held: number }) | undefined;
  /** History and the events log. */
  readonly history: StoreReader;
  /** The operator's acts on nodes and the token (the API's POST routes). */
  readonly admin: ClusterAdmin;
  /** Tasks: submit, read, list, cancel. */
  readonly tasks: Pick<TaskScheduler, 'submit' | 'get' | 'list' | 'cancel'>;
  /** Task schedules: list, create, remove (absent: the API answers 404 for them). */
  readonly schedules?: Pick<TaskSchedules, 'list' | 'create' | 'remove'>;
  /** Alerts: open ones, history, rules, silences, channels (absent: the API answers 404 for them). */
  readonly alerts?: AlertsApi;
  /** What a join line needs besides a join code (admin.createJoinCode): the port and its certificate's fingerprint. */
  readonly port?: number;
  readonly tlsFingerprint?: string;
  /** Who leads, on a primary of an HA cluster (absent on a single primary). */
  readonly leadership?: LeadershipView;
  /** Free and total bytes of the data dir's disk, at the last reading (undefined before one). */
  readonly disk: DiskSpace | undefined;
}
