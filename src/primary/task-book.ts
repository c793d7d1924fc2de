// The scheduler's book of open tasks (task-scheduler.ts builds on it): what is open, how many tasks
// each node holds, and the ways a task changes state: requeued, its node lost, its result stored
// while it stays open, finished (a broadcast's parent summed up, a rolling run moved on), stored
// and told to the listeners. A change nobody waits for is posted to the writer, which holds it
// through a locked or full store and writes it in order. A result being stored decides its task: a
// lost link, a cancel or a deadline in that window change nothing (unless the store refuses it).

import { EventEmitter } from 'node:events';
import type { Connection } from '../connection/connection.js';
import { FINAL_STATES, type FinalState, isReadOnlyKind, type TaskResultPayload } from '../protocol/tasks.js';
import type { TaskRow } from '../store/store-api.js';
import type { Live, TaskSchedulerEvents, TaskSchedulerOptions } from './task-options.js';
import { broadcastOutcome, cancelledError, outcomeOf, safeTarget, timeLeft } from './task-placement.js';
import { type RollingHost, resumeRolling, rollOn } from './task-rolling.js';

export abstract class TaskBook extends EventEmitter<TaskSchedulerEvents> {
  protected readonly o: TaskSchedulerOptions;
  protected readonly now: () => number;
  protected readonly live = new Map<string, Live>();
  /** Tasks holding a slot (assigned or running) per node. */
  protected readonly slots = new Map<string, number>();
  /** Tasks ever given to each node: the tie-break that spreads short tasks evenly. */
  protected readonly given = new Map<string, number>();
  /** Sessions that sent their first message (their handlers are registered): tasks may go to them. */
  protected readonly ready = new WeakSet<Connection>();
  readonly stats = { submitted: 0, dispatched: 0, finished: 0 };
  /** What a rolling run does through the book (task-rolling.ts). */
  protected readonly rollingHost: RollingHost = {
    registry: () => this.o.registry,
    get: (id) => this.live.get(id),
    cancel: (live, reason) => this.finish(live, 'cancelled', cancelledError(reason)),
    add: (row, parent) => {
      parent.open = (parent.open ?? 0) + 1;
      const target = { kind: 'node' as const, node: row.nodeId as string };
      this.live.set(row.id, { row, target, deadline: this.now() + row.ttlMs });
      this.changed(row);
    },
    release: (live) => {
      live.row.held = false;
      live.row.reason = null;
      live.deadline = this.now() + live.row.ttlMs;
      this.changed(live.row);
    },
  };

  constructor(options: TaskSchedulerOptions) {
    super();
    this.o = options;
    this.now = options.now ?? (() => performance.now());
  }

  /** Dispatches soon (once per turn of the event loop, however many changes ask). */
  protected abstract schedule(): void;

  protected get grace(): number {
    return this.o.graceMs ?? 5000;
  }

  /** The open tasks stored at the last stop: queued ones wait, assigned ones are asked about. */
  load(rows: readonly TaskRow[]): void {
    const now = this.now();
    const wall = Date.now();
    for (const row of rows) {
      let target = safeTarget(row.on);
      if (target.kind === 'node' && row.nodeId) target = { kind: 'node', node: row.nodeId };
      const deadline = row.held ? Number.POSITIVE_INFINITY : now + timeLeft(row, this.grace, wall);
      const live: Live = { row, target, deadline };
      this.live.set(row.id, live);
      // A task that took its node down holds no slot there any more.
      if ((row.state === 'assigned' || row.state === 'running') && !row.phase) this.hold(live);
    }
    for (const live of this.live.values()) {
      if (live.row.parent !== null || live.target.kind !== 'all') continue;
      const children = this.childrenOf(live.row.id);
      live.open = children.length;
      live.counts = { ...(live.row.result as Record<string, number> | null) };
      if (live.row.rolling) live.rolling = resumeRolling(live.row.rolling, children);
      if (live.open === 0) this.childDone(live.row.id, undefined);
    }
  }

  protected childrenOf(id: string): Live[] {
    return [...this.live.values()].filter((l) => l.row.parent === id);
  }

  /** A task as the API shows it: with the output so far while it runs. */
  protected view(live: Live): TaskRow {
    const row = { ...live.row };
    if (live.output && !FINAL_STATES.has(row.state)) Object.assign(row, live.output.snapshot());
    return row;
  }

  /** Stores a task's row as it is now (posted: held through a locked store) and tells the listeners. */
  protected changed(row: TaskRow): void {
    this.o.post([{ op: 'task', task: { ...row } }]);
    this.emit('task', { ...row });
    this.schedule();
  }

  /** The task takes a slot on its node. */
  protected hold(live: Live): void {
    const nodeId = live.row.nodeId as string;
    this.slots.set(nodeId, (this.slots.get(nodeId) ?? 0) + 1);
    live.holds = true;
  }

  /** The task gives its node's slot back (once). */
  protected release(live: Live): void {
    if (!live.holds) return;
    live.holds = false;
    const nodeId = live.row.nodeId as string;
    const n = (this.slots.get(nodeId) ?? 0) - 1;
    if (n > 0) this.slots.set(nodeId, n);
    else this.slots.delete(nodeId);
  }

  /**
   * Back to the queue (not dispatched for `afterMs`). Its ttl counts from its queueing: a requeue
   * that was no attempt (a busy node, a refused store, a refusal) keeps the deadline it had, else
   * a node answering busy forever would keep it forever; one after a lost attempt starts it `anew`.
   */
  protected requeue(live: Live, reason: string, how: { afterMs?: number; anew?: boolean } = {}): void {
    const { row } = live;
    this.release(live);
    row.state = 'queued';
    row.nodeId = live.target.kind === 'node' ? row.nodeId : null;
    row.reason = reason;
    live.deadline = !how.anew && live.queuedUntil !== undefined ? live.queuedUntil : this.now() + row.ttlMs;
    live.notBefore = how.afterMs ? this.now() + how.afterMs : undefined;
    this.changed(row);
  }

  /** The node of a task out on it is gone: the task waits for it, is retried, or fails. */
  protected lost(live: Live, name: string, why: string): void {
    const { row } = live;
    if (live.target.kind === 'node') {
      if (isReadOnlyKind(row.kind)) {
        // It asks again when the node is back; the node answers from its journal.
        row.reason = `node ${name} ${why}; waiting for it to come back`;
        this.emit('task', this.view(live));
      } else {
        this.finish(live, 'failed', { code: 'ERR_NODE_LOST', message: `node ${name} ${why} while the task ran` });
      }
    } else if (row.attempt < row.maxAttempts) {
      this.requeue(live, `node ${name} ${why}; retrying on another node`, { anew: true });
    } else {
      const why2 = row.maxAttempts > 1 ? 'no attempts left' : 'not retried: it may have changed the machine';
      this.finish(live, 'failed', {
        code: 'ERR_NODE_LOST',
        message: `node ${name} ${why} while the task ran (${why2})`,
      });
    }
  }

  /**
   * Stores a row while the task stays open, then `stored` runs, before what waits on `live.storing`
   * (a copy of the result, a cancel). Its node lost meanwhile counts only if the store refuses it.
   */
  protected async storeFirst(live: Live, row: TaskRow, stored?: () => void): Promise<void> {
    live.storing = this.o.write([{ op: 'task', task: row }]).then(
      () => {
        live.storing = live.lostMeanwhile = undefined;
        stored?.();
      },
      (err: unknown) => {
        const lost = live.lostMeanwhile;
        live.storing = live.lostMeanwhile = undefined;
        if (lost && this.live.get(row.id) === live && live.row.key === row.key) this.lost(live, lost.name, lost.why);
        throw err;
      },
    );
    await live.storing;
  }

  /** The results of a task (a broadcast: of its children too) being stored now. */
  protected resultsStoring(id: string): Promise<void>[] {
    const live = this.live.get(id);
    const lives = live?.open === undefined ? [live] : [live, ...this.childrenOf(id)];
    return lives.flatMap((l) => (l && this.resultInHand(l) ? [l.storing as Promise<void>] : []));
  }

  /** The node's result for the task's current assignment is being stored: it decides the task. */
  protected resultInHand(live: Live): boolean {
    return live.storing !== undefined && live.resultFor === live.row.key;
  }

  /**
   * Puts a task in a final state; one still out on a node is told to stop (unless the node said
   * how it ended). Stored: posted, or by the caller when it carries the node's result.
   */
  protected finish(
    live: Live,
    state: FinalState,
    error: { code: string; message: string } | null,
    result?: TaskResultPayload,
  ): void {
    const { row } = live;
    const wasOut = row.state === 'assigned' || row.state === 'running';
    if (wasOut && row.nodeId && !result && !row.phase && (state === 'cancelled' || state === 'timed_out')) {
      const session = this.o.registry.get(row.nodeId)?.session;
      if (session?.state === 'open') sendCancel(session, { taskId: row.id, reason: error?.message ?? state });
    }
    this.release(live);
    if (live.output) Object.assign(row, live.output.snapshot());
    if (result) Object.assign(row, outcomeOf(result));
    if (wasOut) row.startedAt ??= row.assignedAt;
    row.state = state;
    row.error = error;
    row.phase = null;
    // A result stored before it is finished here carries its end time already.
    if (!result || row.endedAt === null) row.endedAt = Date.now();
    this.live.delete(row.id);
    this.stats.finished++;
    if (!result) this.o.post([{ op: 'task', task: { ...row } }]);
    this.emit('task', { ...row });
    if (row.parent !== null) this.childDone(row.parent, state, row);
    this.schedule();
  }

  /** A broadcast ends when its last child does: succeeded if every child did. */
  protected childDone(parentId: string, state: FinalState | undefined, child?: TaskRow): void {
    const parent = this.live.get(parentId);
    if (!parent || parent.open === undefined || parent.counts === undefined) return;
    const counts = parent.counts;
    if (state !== undefined) {
      parent.open -= 1;
      counts[state] = (counts[state] ?? 0) + 1;
    }
    if (parent.rolling && child) rollOn(this.rollingHost, parent.rolling, child);
    // Counts so far live in the parent's result: a restarted primary goes on from them.
    if (parent.open > 0) return void this.changed(Object.assign(parent.row, { result: { ...counts } }));
    const outcome = broadcastOutcome(counts, parent.cancelling === true);
    parent.row.result = outcome.result;
    parent.row.reason = outcome.reason;
    this.finish(parent, outcome.state, outcome.error);
  }
}

/** Cancels a full write queue refused, per link, in order, waiting for its next 'drain'. */
const refusedCancels = new WeakMap<Connection, Array<{ taskId: string; reason: string }>>();

/**
 * Tells a node to stop a task. A full write queue refuses a one-way message (send returns false,
 * queuing nothing): then the cancel waits with the link's other refused ones and they go, in
 * order, as the queue has room ('drain', as often as it takes), or not at all if the link ends
 * first (the node's result, when it comes, is ignored). One 'drain' listener per link at most.
 */
function sendCancel(session: Connection, cancel: { taskId: string; reason: string }): void {
  const waiting = refusedCancels.get(session);
  if (waiting) {
    waiting.push(cancel);
    return;
  }
  if (trySendCancel(session, cancel)) return;
  const queue = [cancel];
  refusedCancels.set(session, queue);
  const done = (): void => {
    session.off('drain', onDrain);
    session.off('disconnect', done);
    refusedCancels.delete(session);
  };
  const onDrain = (): void => {
    while (queue.length > 0) {
      if (!trySendCancel(session, queue[0] as { taskId: string; reason: string })) return; // refused again
      queue.shift();
    }
    done();
  };
  session.on('drain', onDrain);
  session.once('disconnect', done);
}

/** Sent, or nothing left to wait for (the link is closing); false: refused by a full queue. */
function trySendCancel(session: Connection, cancel: { taskId: string; reason: string }): boolean {
  try {
    return session.state !== 'open' || session.send('task.cancel', cancel);
  } catch {
    return true;
  }
}
