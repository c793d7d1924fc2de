// The options, events and requests of the task scheduler (task-scheduler.ts).

import type { Logger } from '../common/logger.js';
import type { Connection } from '../connection/connection.js';
import type { TaskTarget } from '../protocol/task-target.js';
import type { TaskOutputPayload, TaskResultPayload } from '../protocol/tasks.js';
import type { NodeChange, TaskQuery, TaskRow } from '../store/store-api.js';
import type { NodeRecord, Registry } from './registry.js';
import type { TaskOutputTail } from './task-output.js';
import type { RollingRun } from './task-rolling.js';

export interface TaskRequest {
  kind: string;
  args?: Record<string, unknown>;
  on: string;
  timeoutMs?: number;
  ttlMs?: number;
  /** Attempts after the first when the node is lost mid-run. Default: 2 for read-only kinds, else 0. */
  retries?: number;
  /** A broadcast done this many nodes (or this share: "25%") at a time (task-rolling.ts). */
  rolling?: number | string;
  /** With `rolling`: each node reboots after its task, before the next node's turn. */
  thenReboot?: boolean;
}

export interface TaskSchedulerOptions {
  registry: Registry;
  /** Stores changes; resolves once committed (rejects at once while the store is locked or full). */
  write(changes: readonly NodeChange[]): Promise<void>;
  /** Stores changes nobody waits for: held through a locked or full store, written in order. */
  post(changes: readonly NodeChange[]): void;
  getStored(id: string): Promise<TaskRow | undefined>;
  listStored(query: TaskQuery): Promise<TaskRow[]>;
  log: Logger;
  /** Tasks a node runs at once. */
  perNode: number;
  defaultTimeoutMs: number;
  defaultTtlMs: number;
  /** Past a task's timeout, how long the primary waits for the node's own `timed_out`. */
  graceMs?: number;
  /** The assigning primary's epoch (0: a single primary). */
  epoch?: number;
  /** HA: the leader's fence, checked right before a task goes to a node (a deposed leader sends none). */
  mayAct?: () => boolean;
  sweepMs?: number;
  /** Monotonic clock, ms (tests replace it). */
  now?: () => number;
  /** A node taken down by a task did not come back in time (the primary shows it lost). */
  notBack?: (nodeId: string) => void;
  /** The primary's own machine id: its node goes last in a rolling run. */
  ownMachineId?: string;
}

export interface TaskSchedulerEvents {
  /** A task changed (its whole row as it is now). */
  task: [task: TaskRow];
  /** A running task's output. */
  output: [output: TaskOutputPayload & { nodeId: string }];
}

/** A task the scheduler holds open. */
export interface Live {
  row: TaskRow;
  target: TaskTarget;
  /** Monotonic: when an assigned task times out, or a queued one expires. */
  deadline: number;
  /** Nodes that refused this task (a selector's task tries another). */
  refusedBy?: Set<string>;
  output?: TaskOutputTail;
  /** Broadcast parent: children still open, and the final states of those done. */
  open?: number;
  counts?: Record<string, number>;
  cancelling?: boolean;
  rolling?: RollingRun;
  /** It holds a slot of its node (see TaskBook.hold). */
  holds?: boolean;
  /** Not dispatched before this (monotonic): a node answered busy. */
  notBefore?: number;
  /** Monotonic: its deadline while queued (its ttl from its queueing), kept by a requeue that was no attempt. */
  queuedUntil?: number;
  /** Its result is being stored: a copy sent again waits for that, then is acknowledged. */
  storing?: Promise<void>;
  /**
   * The key of the assignment whose result came (being stored, or stored): a `running` reply
   * handled after it changes nothing (the reply and the result may come in one read).
   */
  resultFor?: string;
  /** Its node was lost while its result was being stored: acted on only if the store refuses it. */
  lostMeanwhile?: { name: string; why: string };
  /**
   * Its node's result, which the store refused: stored again by the sweep while its link stays up
   * (the node sends it again only on a new link), and meanwhile the task does not time out.
   */
  unstored?: { record: NodeRecord; result: TaskResultPayload; conn: Connection };
}
