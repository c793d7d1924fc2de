// The primary's task scheduler: tasks to nodes, outcomes into the store. A task is stored before
// its submitter hears of it, stored as assigned before it is sent, and its result stored before the
// node may forget it (`task.ack`): a primary killed anywhere loses none and runs none twice (a node
// never runs a key twice; another attempt takes a new key). A task for one node waits for it (up
// to its ttl); one for `any` or a selector goes to the least loaded match and, its node lost
// mid-run, is retried elsewhere if it only reads (or has retries), else fails ERR_NODE_LOST. A
// broadcast is a parent with one child per node. Tasks that take their node down: task-going-down.ts.
// Durations run on the monotonic clock.

import { EventEmitter } from 'node:events';
import type { Connection } from '../connection/connection.js';
import { RemoteError, RequestError } from '../protocol/errors.js';
import {
  checkTaskRunReply,
  FINAL_STATES,
  type FinalState,
  isReadOnlyKind,
  type TaskOutputPayload,
  type TaskResultPayload,
} from '../protocol/tasks.js';
import type { TaskQuery, TaskRow } from '../store/store-api.js';
import type { NodeRecord } from './registry.js';
import { backFrom, expectsBack, goingDown, isGoingDown, notBack, wentDown } from './task-going-down.js';
import type { Live, TaskRequest, TaskSchedulerEvents, TaskSchedulerOptions } from './task-options.js';
import { TaskOutputTail } from './task-output.js';
import {
  anyOtherEligible,
  broadcastOutcome,
  cancelledError,
  newTaskRows,
  outcomeOf,
  pickNode,
  refusalOf,
  runPayload,
  safeTarget,
  timeLeft,
} from './task-placement.js';
import {
  healthChecks,
  type RollingHost,
  type RollingRun,
  resumeRolling,
  rollOn,
  startRolling,
} from './task-rolling.js';

export type { TaskRequest, TaskSchedulerEvents, TaskSchedulerOptions };

export class TaskScheduler extends EventEmitter<TaskSchedulerEvents> {
  readonly #o: TaskSchedulerOptions;
  readonly #now: () => number;
  readonly #live = new Map<string, Live>();
  /** Tasks running (assigned or running) per node. */
  readonly #load = new Map<string, number>();
  /** Tasks ever given to each node: the tie-break that spreads short tasks evenly. */
  readonly #given = new Map<string, number>();
  /** Sessions that sent their first message (their handlers are registered): tasks may go to them. */
  readonly #ready = new WeakSet<Connection>();
  #pumpQueued = false;
  #sweep: NodeJS.Timeout | undefined;
  readonly stats = { submitted: 0, dispatched: 0, finished: 0 };
  /** What a rolling run does through the scheduler (task-rolling.ts). */
  readonly #rollingHost: RollingHost = {
    registry: () => this.#o.registry,
    get: (id) => this.#live.get(id),
    cancel: (live, reason) => this.#finish(live, 'cancelled', cancelledError(reason)),
    add: (row, parent) => {
      parent.open = (parent.open ?? 0) + 1;
      const target = { kind: 'node' as const, node: row.nodeId as string };
      this.#live.set(row.id, { row, target, deadline: this.#now() + row.ttlMs });
      this.#changed(row);
    },
    release: (live) => {
      live.row.held = false;
      live.row.reason = null;
      live.deadline = this.#now() + live.row.ttlMs;
      this.#changed(live.row);
    },
  };

  constructor(options: TaskSchedulerOptions) {
    super();
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The open tasks stored at the last stop: queued ones wait, assigned ones are asked about. */
  load(rows: readonly TaskRow[]): void {
    const now = this.#now();
    const wall = Date.now();
    for (const row of rows) {
      let target = safeTarget(row.on);
      if (target.kind === 'node' && row.nodeId) target = { kind: 'node', node: row.nodeId };
      const deadline = row.held ? Number.POSITIVE_INFINITY : now + timeLeft(row, this.#grace, wall);
      const live: Live = { row, target, deadline };
      this.#live.set(row.id, live);
      if (row.nodeId && (row.state === 'assigned' || row.state === 'running')) this.#addLoad(row.nodeId, 1);
    }
    for (const live of this.#live.values()) {
      if (live.row.parent !== null || live.target.kind !== 'all') continue;
      const children = this.#childrenOf(live.row.id);
      live.open = children.length;
      live.counts = { ...(live.row.result as Record<string, number> | null) };
      if (live.row.rolling) live.rolling = resumeRolling(live.row.rolling, children);
      if (live.open === 0) this.#childDone(live.row.id, undefined);
    }
  }

  start(): void {
    this.#sweep ??= setInterval(() => {
      for (const live of this.#live.values()) if (live.rolling) healthChecks(this.#rollingHost, live.rolling);
      this.#expire();
    }, this.#o.sweepMs ?? 1000).unref();
    this.#schedule();
  }

  stop(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  get #grace(): number {
    return this.#o.graceMs ?? 5000;
  }

  /** Checks, stores and queues a task (a broadcast: its parent and one child per node). */
  async submit(request: TaskRequest, submittedBy: string): Promise<TaskRow> {
    const { rows, target } = newTaskRows(request, submittedBy, this.#o.registry, {
      timeoutMs: this.#o.defaultTimeoutMs,
      ttlMs: this.#o.defaultTtlMs,
    });
    let rolling: RollingRun | undefined;
    if (request.rolling !== undefined || request.thenReboot) {
      if (target.kind !== 'all')
        throw new RequestError('ERR_BAD_REQUEST', 'a rolling run needs a broadcast: all or all:k=v');
      const plan = { batch: request.rolling ?? 1, thenReboot: request.thenReboot === true };
      rolling = startRolling(rows, plan, this.#o.registry, this.#o.ownMachineId);
    }
    await this.#o.write(rows.map((task) => ({ op: 'task', task: { ...task } })));
    const now = this.#now();
    for (const row of rows) {
      const live: Live = {
        row,
        target: row.parent === null ? target : { kind: 'node', node: row.nodeId as string },
        deadline: row.held ? Number.POSITIVE_INFINITY : now + row.ttlMs,
      };
      if (row.parent === null && target.kind === 'all') {
        live.open = rows.length - 1;
        live.counts = {};
        live.rolling = rolling;
      }
      this.#live.set(row.id, live);
    }
    this.stats.submitted += rows.length;
    for (const row of rows) this.emit('task', row);
    this.#schedule();
    return { ...(rows[0] as TaskRow) };
  }

  /** A task as it is now: in memory while open (newer than the store), else as stored. */
  async get(id: string): Promise<TaskRow | undefined> {
    const live = this.#live.get(id);
    return live ? this.#view(live) : this.#o.getStored(id);
  }

  async list(query: TaskQuery): Promise<TaskRow[]> {
    return (await this.#o.listStored(query)).map((row) => {
      const live = this.#live.get(row.id);
      return live ? this.#view(live) : row;
    });
  }

  /** Cancels a task (a broadcast: every open child) at any state short of final. */
  async cancel(id: string, reason: string): Promise<TaskRow> {
    const live = this.#live.get(id);
    if (!live) {
      const stored = await this.#o.getStored(id);
      if (!stored) throw new RequestError('ERR_NOT_FOUND', `no task ${id}`);
      throw new RequestError('ERR_CONFLICT', `task ${id} is ${stored.state} already`);
    }
    if (live.open !== undefined) {
      live.cancelling = true;
      for (const child of this.#childrenOf(id)) this.#finish(child, 'cancelled', cancelledError(reason));
    }
    if (this.#live.has(id)) this.#finish(live, 'cancelled', cancelledError(reason));
    return this.#view(live);
  }

  /** A node's session is ready for requests: ask about its open tasks again, then give it more. */
  nodeReady(record: NodeRecord): void {
    if (record.session) this.#ready.add(record.session);
    for (const live of [...this.#live.values()]) {
      const { row } = live;
      if (row.nodeId !== record.id || (row.state !== 'assigned' && row.state !== 'running')) continue;
      if (row.phase) {
        // Back from going down (its first message on a new session: its info is in).
        const outcome = backFrom(row, record.info?.bootId);
        this.#finish(live, outcome.state, outcome.error, undefined, false);
      } else if (record.session) this.#send(live, record.session);
    }
    this.#schedule();
  }

  /** Whether a task took this node down and expects it back (it is `rebooting`). */
  expectsBack(nodeId: string): boolean {
    for (const { row } of this.#live.values()) {
      if (row.nodeId === nodeId && row.phase && expectsBack(row.kind)) return true;
    }
    return false;
  }

  /** A node went lost, left, was denied or forgotten: its running tasks are retried, failed or wait. */
  nodeGone(record: Pick<NodeRecord, 'id' | 'name'>, why: string): void {
    for (const live of [...this.#live.values()]) {
      const { row } = live;
      if (row.nodeId !== record.id || (row.state !== 'assigned' && row.state !== 'running')) continue;
      const name = record.name || record.id;
      if (row.phase) {
        // Down on purpose, as the task said it would go: done (a shutdown), or wait for it.
        if (wentDown(row, name) === 'done') this.#finish(live, 'succeeded', null, undefined, false);
        else this.#changed(row);
      } else if (live.target.kind === 'node') {
        if (isReadOnlyKind(row.kind)) {
          // It asks again when the node is back; the node answers from its journal.
          row.reason = `node ${name} ${why}; waiting for it to come back`;
          this.emit('task', this.#view(live));
        } else {
          this.#finish(live, 'failed', { code: 'ERR_NODE_LOST', message: `node ${name} ${why} while the task ran` });
        }
      } else if (row.attempt < row.maxAttempts) {
        this.#addLoad(record.id, -1);
        this.#requeue(live, `node ${name} ${why}; retrying on another node`);
      } else {
        const why2 = row.maxAttempts > 1 ? 'no attempts left' : 'not retried: it may have changed the machine';
        this.#finish(live, 'failed', {
          code: 'ERR_NODE_LOST',
          message: `node ${name} ${why} while the task ran (${why2})`,
        });
      }
    }
  }

  /** A node's `task.result`: stored, then acknowledged (the node forgets it only then). */
  async result(record: NodeRecord, result: TaskResultPayload, conn: Connection): Promise<void> {
    const live = this.#live.get(result.taskId);
    if (live && live.row.nodeId === record.id && live.row.key === result.key) {
      if (live.row.phase) {
        // Sent again once back: the task ends from its return.
      } else if (isGoingDown(live.row.kind, result)) {
        // The node acts once this is acknowledged: it is stored first, as any result.
        goingDown(live.row, record);
        await this.#o.write([{ op: 'task', task: { ...live.row } }]);
        this.emit('task', this.#view(live));
      } else {
        this.#finish(live, result.state, result.error ?? null, result);
        await this.#o.write([{ op: 'task', task: { ...live.row } }]);
      }
    } else if (!live) {
      // Final already: a result that arrives after the node was given up for lost is the truth.
      const stored = await this.#o.getStored(result.taskId);
      if (stored && stored.key === result.key && stored.error?.code === 'ERR_NODE_LOST') {
        const row = { ...stored, ...outcomeOf(result), state: result.state, error: result.error ?? null };
        row.reason = `the node reported after it was lost: ${stored.error.message}`;
        await this.#o.write([{ op: 'task', task: row }]);
        this.emit('task', row);
      }
    }
    // Unknown, stale (an earlier attempt's) or stored now: the node may forget it.
    if (conn.state === 'open') conn.send('task.ack', { taskId: result.taskId });
  }

  output(record: NodeRecord, output: TaskOutputPayload): void {
    const live = this.#live.get(output.taskId);
    if (!live || live.row.nodeId !== record.id) return;
    live.output ??= new TaskOutputTail();
    live.output.add(output.stream, output.data);
    this.emit('output', { ...output, nodeId: record.id });
  }

  #childrenOf(id: string): Live[] {
    return [...this.#live.values()].filter((l) => l.row.parent === id);
  }

  #view(live: Live): TaskRow {
    const row = { ...live.row };
    if (live.output && !FINAL_STATES.has(row.state)) Object.assign(row, live.output.snapshot());
    return row;
  }

  /** Stores a task's row as it is now (not awaited) and tells the listeners. */
  #changed(row: TaskRow): void {
    this.#o.write([{ op: 'task', task: { ...row } }]).catch(() => undefined);
    this.emit('task', { ...row });
    this.#schedule();
  }

  #addLoad(nodeId: string, delta: number): void {
    const n = (this.#load.get(nodeId) ?? 0) + delta;
    if (n > 0) this.#load.set(nodeId, n);
    else this.#load.delete(nodeId);
  }

  /** Dispatches once per turn of the event loop, however many changes ask for it. */
  #schedule(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    setImmediate(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    const nodes = [...this.#o.registry.all()].filter(
      (r) => r.state === 'online' && r.session !== undefined && this.#ready.has(r.session),
    );
    if (nodes.length === 0) return;
    for (const live of this.#live.values()) {
      if (live.row.state !== 'queued' || live.open !== undefined || live.row.held) continue;
      const node = pickNode(live.target, nodes, {
        load: this.#load,
        given: this.#given,
        perNode: this.#o.perNode,
        refusedBy: live.refusedBy,
      });
      if (node) this.#assign(live, node);
    }
  }

  #assign(live: Live, node: NodeRecord): void {
    const { row } = live;
    row.state = 'assigned';
    row.nodeId = node.id;
    row.attempt += 1;
    row.key = `${row.id}.${row.attempt}`;
    row.assignedAt = Date.now();
    row.reason = null;
    live.deadline = this.#now() + row.timeoutMs + this.#grace;
    this.#addLoad(node.id, 1);
    this.#given.set(node.id, (this.#given.get(node.id) ?? 0) + 1);
    this.stats.dispatched++;
    this.emit('task', this.#view(live));
    const key = row.key;
    // Stored as assigned before it is sent: a restarted primary asks this node, no other.
    this.#o.write([{ op: 'task', task: { ...row } }]).then(
      () => {
        if (row.key !== key || row.state !== 'assigned') return;
        const session = this.#o.registry.get(node.id)?.session;
        if (session) this.#send(live, session);
      },
      (err: unknown) => {
        if (row.key !== key || row.state !== 'assigned') return;
        this.#o.log.warn({ err, taskId: row.id }, 'cannot store a task assignment; it waits in the queue');
        this.#addLoad(node.id, -1);
        row.attempt -= 1;
        this.#requeue(live, 'the store refused its assignment; waiting');
      },
    );
  }

  #send(live: Live, conn: Connection): void {
    const { row } = live;
    const key = row.key;
    conn.request('task', runPayload(row, this.#o.epoch ?? 0), { timeoutMs: 15_000 }).then(
      (reply) => {
        if (row.key !== key || FINAL_STATES.has(row.state)) return;
        if (!checkTaskRunReply.Check(reply)) return;
        if (reply.state === 'running' && row.state === 'assigned') {
          row.state = 'running';
          row.startedAt ??= Date.now();
          this.#changed(row);
        }
      },
      (err: unknown) => {
        if (row.key !== key || FINAL_STATES.has(row.state)) return;
        if (err instanceof RemoteError) this.#refused(live, err);
        // A link down: nodeGone does the rest; no answer: the deadline.
      },
    );
  }

  /** The node answered the `task` request with an error. */
  #refused(live: Live, err: RemoteError): void {
    const { row } = live;
    const nodeId = row.nodeId as string;
    this.#addLoad(nodeId, -1);
    if (err.remoteCode === 'ERR_TASK_BUSY') {
      row.attempt -= 1;
      this.#requeue(live, `node busy: ${err.message}`);
      return;
    }
    const { code, message } = refusalOf(err);
    if (live.target.kind !== 'node' && (code === 'ERR_TASK_REFUSED' || code === 'ERR_TASK_UNKNOWN')) {
      // Another node of the selector may take it; once all online ones refused, it fails.
      live.refusedBy ??= new Set();
      live.refusedBy.add(nodeId);
      row.attempt -= 1;
      if (anyOtherEligible(this.#o.registry, live.target, live.refusedBy)) {
        this.#requeue(live, `node ${nodeId} refused: ${message}`);
        return;
      }
    }
    this.#finish(live, 'failed', { code, message: `node ${nodeId} refused: ${message}` }, undefined, false);
  }

  #requeue(live: Live, reason: string): void {
    const { row } = live;
    row.state = 'queued';
    row.nodeId = live.target.kind === 'node' ? row.nodeId : null;
    row.reason = reason;
    live.deadline = this.#now() + row.ttlMs;
    this.#changed(row);
  }

  /** Puts a task in a final state; a running one is told to stop. Stored (not awaited here). */
  #finish(
    live: Live,
    state: FinalState,
    error: { code: string; message: string } | null,
    result?: TaskResultPayload,
    holdsLoad = true,
  ): void {
    const { row } = live;
    const wasOut = row.state === 'assigned' || row.state === 'running';
    if (wasOut && holdsLoad && row.nodeId) {
      this.#addLoad(row.nodeId, -1);
      if (!result && (state === 'cancelled' || state === 'timed_out')) {
        const session = this.#o.registry.get(row.nodeId)?.session;
        if (session?.state === 'open') session.send('task.cancel', { taskId: row.id, reason: error?.message ?? state });
      }
    }
    if (live.output) Object.assign(row, live.output.snapshot());
    if (result) Object.assign(row, outcomeOf(result));
    if (wasOut) row.startedAt ??= row.assignedAt;
    row.state = state;
    row.error = error;
    row.endedAt = Date.now();
    this.#live.delete(row.id);
    this.stats.finished++;
    if (!result) this.#o.write([{ op: 'task', task: { ...row } }]).catch(() => undefined);
    this.emit('task', { ...row });
    if (row.parent !== null) this.#childDone(row.parent, state, row);
    this.#schedule();
  }

  /** A broadcast ends when its last child does: succeeded if every child did. */
  #childDone(parentId: string, state: FinalState | undefined, child?: TaskRow): void {
    const parent = this.#live.get(parentId);
    if (!parent || parent.open === undefined || parent.counts === undefined) return;
    const counts = parent.counts;
    if (state !== undefined) {
      parent.open -= 1;
      counts[state] = (counts[state] ?? 0) + 1;
    }
    if (parent.rolling && child) rollOn(this.#rollingHost, parent.rolling, child);
    // Counts so far live in the parent's result: a restarted primary goes on from them.
    if (parent.open > 0) return void this.#changed(Object.assign(parent.row, { result: { ...counts } }));
    const outcome = broadcastOutcome(counts, parent.cancelling === true);
    parent.row.result = outcome.result;
    parent.row.reason = outcome.reason;
    this.#finish(parent, outcome.state, outcome.error, undefined, false);
  }

  /** Queued tasks past their ttl expire; assigned ones past timeout + grace time out. */
  #expire(): void {
    const now = this.#now();
    for (const live of [...this.#live.values()]) {
      if (live.deadline > now || live.open !== undefined) continue;
      const { row } = live;
      if (row.phase) {
        this.#finish(live, 'failed', notBack(row));
        this.#o.notBack?.(row.nodeId as string);
      } else if (row.state === 'queued') {
        const where = live.target.kind === 'node' ? `node ${row.nodeId} stayed offline` : 'no eligible node was online';
        this.#finish(live, 'failed', { code: 'ERR_TASK_EXPIRED', message: `${where} for its ttl (${row.ttlMs} ms)` });
      } else {
        this.#finish(live, 'timed_out', {
          code: 'ERR_TASK_TIMEOUT',
          message: `no result from node ${row.nodeId} within ${row.timeoutMs} ms`,
        });
      }
    }
  }
}
