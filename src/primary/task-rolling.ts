// A rolling run: a broadcast done a few nodes at a time (`rolling: N` or `"N%"`), each node's step
// its task (and, with `thenReboot`, a node.reboot after it), the next node only once the last
// one's node is healthy again (online, with a sample received after its step ended), stopping at
// the first step that does not succeed. The primary's own node goes last, never in the middle.
// This file keeps the plan's state and decides; the scheduler (task-scheduler.ts) acts.

import { randomUUID } from 'node:crypto';
import { RequestError } from '../protocol/errors.js';
import type { TaskRow } from '../store/store-api.js';
import type { Registry } from './registry.js';
import type { Live } from './task-options.js';
import { NOT_RUN } from './task-placement.js';

export interface RollingPlan {
  /** Steps in flight at once: a count, or a share of the nodes ("25%", at least one). */
  batch: number | string;
  thenReboot: boolean;
  /** The batch in nodes, worked out at the start. */
  size?: number;
}

/** The batch size a plan means for `nodes` nodes. @throws RequestError */
export function batchSize(batch: number | string, nodes: number): number {
  const text = String(batch).trim();
  const percent = /^(\d{1,3})%$/.exec(text);
  if (percent) {
    const share = Number(percent[1]);
    if (share < 1 || share > 100) throw new RequestError('ERR_BAD_REQUEST', `rolling ${text}: a share from 1% to 100%`);
    return Math.max(1, Math.floor((nodes * share) / 100));
  }
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new RequestError(
      'ERR_BAD_REQUEST',
      `rolling must be a number of nodes (1 or more) or a share ("25%"), got "${text.slice(0, 20)}"`,
    );
  }
  return Number(text);
}

/** Children in the order they go: the primary's own node last. */
export function rollingOrder<T extends { nodeId: string | null }>(children: T[], ownNodeIds: ReadonlySet<string>): T[] {
  return [
    ...children.filter((c) => !ownNodeIds.has(c.nodeId ?? '')),
    ...children.filter((c) => ownNodeIds.has(c.nodeId ?? '')),
  ];
}

export class RollingRun {
  readonly plan: RollingPlan;
  readonly #size: number;
  /** Children not released yet, in the order they go. */
  readonly held: string[];
  /** Steps released and not yet healthy again. */
  #inFlight: number;
  /** Nodes whose step succeeded, waiting to be healthy: since when (epoch ms, and monotonic). */
  readonly waiting = new Map<string, number>();
  readonly waitingSince = new Map<string, number>();
  /** Why the run stopped (the first step that did not succeed). */
  stopped: string | undefined;

  constructor(plan: RollingPlan, size: number, held: string[], inFlight: number) {
    this.plan = plan;
    this.#size = size;
    this.held = held;
    this.#inFlight = inFlight;
  }

  /** The children to release now, keeping `size` steps in flight. */
  release(): string[] {
    const out: string[] = [];
    while (this.stopped === undefined && this.#inFlight < this.#size && this.held.length > 0) {
      out.push(this.held.shift() as string);
      this.#inFlight++;
    }
    return out;
  }

  /**
   * A child of the run ended. `reboot`: run node.reboot on its node as the rest of its step;
   * `stop`: the run stops (cancel the held children); else the step waits for its node's health.
   */
  childDone(child: TaskRow, node: string): 'reboot' | 'stop' | 'wait' | 'none' {
    if (this.stopped !== undefined) return 'none';
    if (child.state !== 'succeeded') {
      this.stopped = `rolling run stopped: ${child.kind} ${child.state} on node ${node}`;
      return 'stop';
    }
    if (this.plan.thenReboot && child.kind !== 'node.reboot') return 'reboot';
    this.waiting.set(child.nodeId as string, Date.now());
    this.waitingSince.set(child.nodeId as string, performance.now());
    return 'wait';
  }

  /** A node that was waiting is healthy: its step is over. */
  healthy(nodeId: string): void {
    this.waitingSince.delete(nodeId);
    if (this.waiting.delete(nodeId)) this.#inFlight--;
  }
}

/** What a rolling run needs of the scheduler. */
export interface RollingHost {
  registry(): Registry;
  get(id: string): Live | undefined;
  cancel(live: Live, reason: string): void;
  /** A new child of `parent` (a reboot after a node's task), queued now. */
  add(row: TaskRow, parent: Live): void;
  /** A held child's turn came. */
  release(live: Live): void;
}

/**
 * Makes a broadcast's rows (parent first) a rolling run: the children in their order (the node
 * of the primary's own machine last), all held but the first batch.
 */
export function startRolling(
  rows: TaskRow[],
  plan: RollingPlan,
  registry: Registry,
  ownMachineId: string | undefined,
): RollingRun {
  const [parent, ...children] = rows as [TaskRow, ...TaskRow[]];
  const own = new Set([...registry.all()].filter((r) => ownMachineId && r.machineId === ownMachineId).map((r) => r.id));
  const ordered = rollingOrder(children, own);
  rows.splice(1, children.length, ...ordered);
  parent.rolling = plan;
  for (const child of ordered) {
    child.held = true;
    child.reason = 'waiting for its turn';
  }
  const run = new RollingRun(
    plan,
    batchSize(plan.batch, ordered.length),
    ordered.map((c) => c.id),
    0,
  );
  for (const id of run.release()) {
    const child = ordered.find((c) => c.id === id) as TaskRow;
    child.held = false;
    child.reason = null;
  }
  return run;
}

/** A child of the run ended: the rest of its step (a reboot), or the run stops, or its node's health is awaited. */
export function rollOn(host: RollingHost, run: RollingRun, child: TaskRow): void {
  const parent = host.get(child.parent ?? '');
  const name = host.registry().get(child.nodeId ?? '')?.name ?? child.nodeId ?? '?';
  const next = run.childDone(child, name);
  if (next === 'stop') {
    for (const id of run.held.splice(0)) {
      const held = host.get(id);
      if (held) host.cancel(held, run.stopped as string);
    }
  } else if (next === 'reboot' && parent) {
    host.add(
      {
        ...child,
        ...NOT_RUN,
        id: randomUUID(),
        kind: 'node.reboot',
        args: {},
        maxAttempts: 1,
        reason: `after ${child.kind}`,
        createdAt: Date.now(),
        held: false,
      },
      parent,
    );
  }
}

/** How long a node whose step succeeded may take to be healthy again before the run stops, ms. */
export const HEALTHY_AGAIN_MS = 10 * 60_000;

/**
 * A node whose step is over and that is healthy again lets the next one go; one that is not
 * healthy again within HEALTHY_AGAIN_MS stops the run.
 */
export function healthChecks(host: RollingHost, run: RollingRun, healthyAgainMs = HEALTHY_AGAIN_MS): void {
  for (const [nodeId, since] of run.waiting) {
    const record = host.registry().get(nodeId);
    if (record?.state === 'online' && (record.vitals?.receivedAt ?? 0) > since) {
      run.healthy(nodeId);
    } else if (run.stopped === undefined && performance.now() - (run.waitingSince.get(nodeId) ?? 0) > healthyAgainMs) {
      const name = record?.name ?? nodeId;
      run.stopped = `rolling run stopped: node ${name} was not healthy again within ${healthyAgainMs / 60_000} min`;
      for (const id of run.held.splice(0)) {
        const held = host.get(id);
        if (held) host.cancel(held, run.stopped);
      }
    }
  }
  for (const id of run.release()) {
    const live = host.get(id);
    if (live) host.release(live);
  }
}

/**
 * A rolling run loaded at start, from its open children (in the order stored): those held wait,
 * the others are in flight. A node that was waiting to be healthy when the primary stopped is
 * not waited for again.
 */
export function resumeRolling(plan: RollingPlan, children: readonly Live[]): RollingRun {
  const held = children.filter((c) => c.row.held).map((c) => c.row.id);
  const inFlight = children.length - held.length;
  return new RollingRun(plan, plan.size ?? batchSize(plan.batch, children.length), held, inFlight);
}
