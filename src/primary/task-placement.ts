// Where a task goes and what it is made of: the rows of a submission (a broadcast: a parent and
// one child per online node that matches), the node a name names, and the least loaded node of
// those eligible. Pure functions over the registry, for the scheduler (task-scheduler.ts).

import { randomUUID } from 'node:crypto';
import { type RemoteError, RequestError } from '../protocol/errors.js';
import { TASK_ARGS_DEPTH, unsendableWhy } from '../protocol/parse-json.js';
import { parseTarget, type TaskTarget, targetMatches } from '../protocol/task-target.js';
import {
  checkTaskRun,
  isReadOnlyKind,
  type TaskResultPayload,
  type TaskRunPayload,
  taskRunIssue,
} from '../protocol/tasks.js';
import type { TaskRow } from '../store/store-api.js';
import type { NodeRecord, Registry } from './registry.js';
import type { TaskRequest } from './task-scheduler.js';

/** The fields of a task row that no attempt has run yet: queued, no key, no outcome. */
export const NOT_RUN = {
  state: 'queued',
  attempt: 0,
  assignments: 0,
  key: '',
  assignedAt: null,
  startedAt: null,
  endedAt: null,
  result: null,
  error: null,
  stdout: null,
  stderr: null,
  truncated: false,
  phase: null,
} as const satisfies Partial<TaskRow>;

/** The rows a submission makes (the first is the one to answer with) and its target, resolved. */
export function newTaskRows(
  request: TaskRequest,
  submittedBy: string,
  registry: Registry,
  defaults: { timeoutMs: number; ttlMs: number },
): { rows: TaskRow[]; target: TaskTarget } {
  let target: TaskTarget;
  try {
    target = parseTarget(request.on);
  } catch (err) {
    throw new RequestError('ERR_BAD_REQUEST', (err as Error).message);
  }
  const unsendable = unsendableWhy(request.args ?? {}, TASK_ARGS_DEPTH);
  if (unsendable) throw new RequestError('ERR_BAD_REQUEST', `args: ${unsendable}`);
  const base: Omit<TaskRow, 'id'> = {
    parent: null,
    kind: request.kind,
    args: request.args ?? {},
    on: request.on,
    nodeId: null,
    reason: null,
    maxAttempts: 1 + (request.retries ?? (isReadOnlyKind(request.kind) ? 2 : 0)),
    timeoutMs: request.timeoutMs ?? defaults.timeoutMs,
    ttlMs: request.ttlMs ?? defaults.ttlMs,
    createdAt: Date.now(),
    submittedBy,
    ...NOT_RUN,
  };
  // What a node's decoder checks, before anything is stored: a `task` frame it refuses costs the
  // node its link, at every resend until the task's timeout (up to 7 days).
  const probe = randomUUID();
  const issue = taskRunIssue(runPayload({ ...base, id: probe, key: `${probe}.1` }, 0));
  if (issue) throw new RequestError('ERR_BAD_REQUEST', `invalid task: ${issue}`);
  if (target.kind === 'all') {
    const { selector } = target;
    const nodes = [...registry.all()].filter((r) => r.state === 'online' && !r.legacy && targetMatches(selector, r));
    if (nodes.length === 0) throw new RequestError('ERR_NOT_FOUND', `no online node matches "${request.on}"`);
    const parent: TaskRow = { ...base, id: randomUUID(), state: 'running', reason: `${nodes.length} nodes` };
    const children = nodes.map((node) => ({
      ...base,
      id: randomUUID(),
      parent: parent.id,
      on: `node:${node.id}`,
      nodeId: node.id,
    }));
    return { rows: [parent, ...children], target };
  }
  if (target.kind === 'node') {
    const node = resolveNode(registry, target.node);
    return { rows: [{ ...base, id: randomUUID(), nodeId: node.id }], target: { kind: 'node', node: node.id } };
  }
  return { rows: [{ ...base, id: randomUUID() }], target };
}

/** The node an id names, else the one node of that name. @throws RequestError */
export function resolveNode(registry: Registry, node: string): NodeRecord {
  const byId = registry.get(node);
  if (byId) return byId;
  const named = [...registry.all()].filter((r) => r.name === node && r.state !== 'denied');
  if (named.length === 1) return named[0] as NodeRecord;
  if (named.length === 0) throw new RequestError('ERR_NOT_FOUND', `no node with id or name "${node}"`);
  throw new RequestError(
    'ERR_CONFLICT',
    `${named.length} nodes are named "${node}" (${named.map((r) => r.id).join(', ')}): use node:ID`,
  );
}

/**
 * The least loaded eligible node with room: fewest tasks running, then lowest CPU (in steps of
 * 10 %), then fewest tasks given so far (so short tasks spread evenly).
 */
export function pickNode(
  target: TaskTarget,
  nodes: readonly NodeRecord[],
  state: {
    load: ReadonlyMap<string, number>;
    given: ReadonlyMap<string, number>;
    perNode: number;
    refusedBy?: ReadonlySet<string>;
    /** The same nodes by id. */
    byId?: ReadonlyMap<string, NodeRecord>;
  },
): NodeRecord | undefined {
  if (target.kind === 'node') {
    // One node: looked up, not searched (a broadcast to 10,000 nodes is 10,000 of these a pump).
    const node = state.byId?.get(target.node) ?? nodes.find((n) => n.id === target.node);
    const load = node ? (state.load.get(node.id) ?? 0) : 0;
    return node && load < state.perNode && !state.refusedBy?.has(node.id) ? node : undefined;
  }
  let best: NodeRecord | undefined;
  let bestKey: number[] = [];
  for (const node of nodes) {
    const load = state.load.get(node.id) ?? 0;
    if (load >= state.perNode || state.refusedBy?.has(node.id)) continue;
    if (!targetMatches(target.selector, node)) continue;
    const key = [load, Math.round((node.vitals?.cpuPercent ?? 0) / 10), state.given.get(node.id) ?? 0];
    if (best === undefined || less(key, bestKey)) {
      best = node;
      bestKey = key;
    }
  }
  return best;
}

function less(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) < (b[i] as number);
  }
  return false;
}

export function cancelledError(reason: string): { code: string; message: string } {
  return { code: 'ERR_TASK_CANCELLED', message: reason };
}

/** What a node's result puts in the task's row. */
export function outcomeOf(result: TaskResultPayload): Partial<TaskRow> {
  return {
    result: result.result ?? null,
    stdout: result.stdout ?? null,
    stderr: result.stderr ?? null,
    truncated: result.truncated ?? false,
  };
}

/** A stored task's target (one stored by a later version that this one cannot read: any node). */
export function safeTarget(on: string): TaskTarget {
  try {
    return parseTarget(on);
  } catch {
    return { kind: 'one', selector: { kind: 'all' } };
  }
}

/** A broadcast's outcome from its children's final states: succeeded only if every child did. */
export function broadcastOutcome(
  counts: Readonly<Record<string, number>>,
  cancelled: boolean,
): {
  state: 'succeeded' | 'failed' | 'cancelled';
  error: { code: string; message: string } | null;
  result: Record<string, number>;
  reason: string;
} {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const ok = counts.succeeded ?? 0;
  const result = { total, ...counts };
  const reason = `${ok} of ${total} succeeded`;
  if (cancelled) return { state: 'cancelled', error: cancelledError('cancelled'), result, reason };
  if (ok === total) return { state: 'succeeded', error: null, result, reason };
  const message = `${total - ok} of ${total} nodes did not succeed`;
  return { state: 'failed', error: { code: 'ERR_TASK_FAILED', message }, result, reason };
}

/** A node's refusal of a `task` request as the task's error (a node without tasks: ERR_TASK_UNKNOWN). */
export function refusalOf(err: RemoteError): { code: string; message: string } {
  if (err.remoteCode === 'ERR_UNKNOWN_TYPE') {
    return { code: 'ERR_TASK_UNKNOWN', message: "the node's picluster does not run tasks (upgrade it)" };
  }
  return { code: err.remoteCode, message: err.message };
}

/** Whether an online node the target matches has not refused the task yet. */
export function anyOtherEligible(registry: Registry, target: TaskTarget, refusedBy: ReadonlySet<string>): boolean {
  if (target.kind === 'node') return false;
  return [...registry.all()].some(
    (r) => r.state === 'online' && !r.legacy && !refusedBy.has(r.id) && targetMatches(target.selector, r),
  );
}

/**
 * How long a task loaded at start has left, ms: a queued one of its ttl from its creation, an
 * assigned one of its timeout (and grace) from its assignment. Those are wall times: never more
 * than the whole budget from now (a clock stepped back), never less than nothing.
 */
export function timeLeft(row: TaskRow, graceMs: number, wallNow: number): number {
  const budget = row.state === 'queued' ? row.ttlMs : row.timeoutMs + graceMs;
  const since = row.state === 'queued' ? row.createdAt : (row.assignedAt ?? row.createdAt);
  return Math.min(budget, Math.max(0, since + budget - wallNow));
}

/** The `task` request of a task's current attempt. */
export function runPayload(row: TaskRow, epoch: number): TaskRunPayload {
  return { taskId: row.id, key: row.key, kind: row.kind, args: row.args, timeoutMs: row.timeoutMs, epoch };
}

/**
 * Why a node would refuse this `task` request (invalid task: ...), or undefined. Submissions are
 * checked before they are stored (newTaskRows); this catches a task stored by a version that did
 * not check, which would otherwise cost its node the link at every resend. Cheap when it is fine.
 */
export function refusedRunWhy(payload: TaskRunPayload): string | undefined {
  if (checkTaskRun.Check(payload)) return undefined;
  const issue = taskRunIssue(payload);
  return issue === undefined ? undefined : `a node would refuse this task (invalid task: ${issue}): never sent`;
}
