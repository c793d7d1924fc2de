// Task messages of wire protocol v1 (ARCHITECTURE.md: "later issues add task messages; they follow
// the same rules") and the task model both sides share. Pure: no I/O.
//
//   task         P→S request   {taskId, key, kind, args, timeoutMs, epoch} → reply {state}
//   task.output  S→P one-way   {taskId, stream, data}: output while the task runs (best effort)
//   task.result  S→P one-way   {taskId, key, state, ...}: the outcome, kept in the node's journal
//   task.ack     P→S one-way   {taskId, key?}: the primary stored that result; the node may forget it
//   task.cancel  P→S one-way   {taskId, reason}: stop it (a result `cancelled` follows)
//
// A task runs longer than a request may wait, so the `task` request is answered at once: `running`
// when the node took it (or is running it already under that key), or the final state when it ran
// that key before (its result is sent again). A node never runs one key twice.

import type { Static } from 'typebox';
import { PAYLOAD_CHECKS, TASK_RUN_REPLY_CHECK } from './generated/message-checks.js';
import { firstIssue } from './schema-issue.js';
import type { TaskCancel, TaskOutput, TaskResult, TaskRun, TaskRunReply } from './task-schemas.js';

/** A task id: 1-64 of letters, digits, `.`, `_`, `-` (the primary makes UUIDs). */
export const TASK_ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
/** A task kind: `node.time`, `shell`, `camera.snapshot`: lowercase words joined by `.` or `-`. */
export const TASK_KIND_PATTERN = '^[a-z][a-z0-9]*([.-][a-z0-9]+)*$';

export const TASK_STATES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const FINAL_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);
export type FinalState = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

/** The longest timeout a task may have, ms (7 days): a node refuses a `task` request past it. */
export const MAX_TASK_TIMEOUT_MS = 7 * 24 * 3_600_000;

/** Largest output a node keeps per stream of one task (the tail is kept, the head goes). */
export const MAX_OUTPUT_BYTES = 64 * 1024;

/** Built-in kinds that only read: every node runs them; retried on another node by default. */
export const READ_ONLY_KINDS = ['node.time', 'node.info', 'node.vitals', 'code.revision'] as const;
/** Built-in kinds that change the machine: off unless the node's own config allows them. */
export const MACHINE_KINDS = [
  'code.pull',
  'os.update',
  'os.upgrade',
  'node.reboot',
  'node.shutdown',
  'node.restart-agent',
  'shell',
] as const;
export const BUILT_IN_KINDS: readonly string[] = [...READ_ONLY_KINDS, ...MACHINE_KINDS];

/** Whether a kind only reads (a built-in read-only kind); user kinds count as machine-changing. */
export function isReadOnlyKind(kind: string): boolean {
  return (READ_ONLY_KINDS as readonly string[]).includes(kind);
}

export type TaskRunPayload = Static<typeof TaskRun>;
export type TaskRunReplyPayload = Static<typeof TaskRunReply>;
export type TaskOutputPayload = Static<typeof TaskOutput>;
export type TaskResultPayload = Static<typeof TaskResult>;
export type TaskCancelPayload = Static<typeof TaskCancel>;

/** Checks a reply to a `task` request (the primary's side): TypeBox's compiled check of TaskRunReply. */
export const checkTaskRunReply = {
  Check: TASK_RUN_REPLY_CHECK as (value: unknown) => value is TaskRunReplyPayload,
};

const TASK_RUN_CHECK = PAYLOAD_CHECKS.get('task') as (value: unknown) => boolean;

/** Checks a `task` request's payload as a node does (TypeBox's compiled check of TaskRun), in memory. */
export const checkTaskRun = { Check: TASK_RUN_CHECK as (value: unknown) => value is TaskRunPayload };

/**
 * Why a node would refuse a `task` request carrying `payload`, by the check its decoder runs
 * (TypeBox's compiled TaskRun: the kind's pattern, at most 64 args, a timeout from 1 ms to 7 days),
 * or undefined: `/path message`, the first problem. For what the primary stores and sends again
 * at every link (a refused frame costs the node its link each time). The value is checked as it
 * goes on the wire (through JSON): run unsendableWhy on the args first, it says what JSON and the
 * decoder refuse.
 */
export function taskRunIssue(payload: TaskRunPayload): string | undefined {
  let wire: unknown;
  try {
    wire = JSON.parse(JSON.stringify(payload));
  } catch (err) {
    return `/ ${(err as Error).message}`;
  }
  if (TASK_RUN_CHECK(wire)) return undefined;
  const issue = firstIssue('task', wire);
  return `${issue?.instancePath || '/'} ${issue?.message ?? 'is not a task'}`;
}

/**
 * Error codes a node answers a `task` request with (in an `error` reply, or a result's `error`):
 * ERR_TASK_UNKNOWN (no handler for the kind), ERR_TASK_REFUSED (the node's config does not allow
 * it), ERR_TASK_BUSY (the node runs its limit of tasks), ERR_STALE_EPOCH (an older primary's
 * order), ERR_TASK_ARGS (bad arguments), ERR_TASK_FAILED (the work failed), ERR_TASK_INTERRUPTED
 * (the agent stopped while it ran), ERR_TASK_TIMEOUT, ERR_TASK_CANCELLED; on the primary also
 * ERR_NODE_LOST, ERR_TASK_EXPIRED (the target stayed offline or busy past the task's ttl), ERR_NOT_BACK
 * (a node a task took down did not come back in time) and ERR_NO_NODE (no node matches a broadcast).
 */
export type TaskErrorCode =
  | 'ERR_TASK_UNKNOWN'
  | 'ERR_TASK_REFUSED'
  | 'ERR_TASK_BUSY'
  | 'ERR_STALE_EPOCH'
  | 'ERR_TASK_ARGS'
  | 'ERR_TASK_FAILED'
  | 'ERR_TASK_INTERRUPTED'
  | 'ERR_TASK_TIMEOUT'
  | 'ERR_TASK_CANCELLED'
  | 'ERR_NODE_LOST'
  | 'ERR_TASK_EXPIRED'
  | 'ERR_NOT_BACK'
  | 'ERR_NO_NODE';
