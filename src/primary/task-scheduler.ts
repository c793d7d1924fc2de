// The primary's task scheduler: tasks to nodes, outcomes into the store. A task is stored before
// its submitter hears of it, stored as assigned before it is sent, and its result stored before the
// node may forget it (`task.ack`): a primary killed anywhere loses none and runs none twice (a node
// never runs a key twice; each assignment takes a new key). A task for one node waits for it (up
// to its ttl); one for `any` or a selector goes to the least loaded match and, its node lost
// mid-run, is retried elsewhere if it only reads (or has retries), else fails ERR_NODE_LOST. A
// broadcast is a parent with one child per node. Tasks that take their node down: task-going-down.ts.
// The book of open tasks and their state changes: task-book.ts. Durations: the monotonic clock.

import type { Connection } from '../connection/connection.js';
import { RemoteError, RequestError } from '../protocol/errors.js';
import { checkTaskRunReply, FINAL_STATES, type TaskOutputPayload, type TaskResultPayload } from '../protocol/tasks.js';
import type { TaskQuery, TaskRow } from '../store/store-api.js';
import type { NodeRecord } from './registry.js';
import { TaskBook } from './task-book.js';
import { backFrom, expectsBack, goingDown, isGoingDown, notBack, wentDown } from './task-going-down.js';
import type { Live, TaskRequest, TaskSchedulerEvents, TaskSchedulerOptions } from './task-options.js';
import { TaskOutputTail } from './task-output.js';
import {
  anyOtherEligible,
  cancelledError,
  newTaskRows,
  outcomeOf,
  pickNode,
  refusalOf,
  refusedRunWhy,
  runPayload,
} from './task-placement.js';
import { healthChecks, type RollingRun, startRolling } from './task-rolling.js';

export type { TaskRequest, TaskSchedulerEvents, TaskSchedulerOptions };

/** How long a node that answered busy is left alone before the task is offered again, ms. */
const BUSY_BACKOFF_MS = 1000;

export class TaskScheduler extends TaskBook {
  #pumpQueued = false;
  #sweep: NodeJS.Timeout | undefined;
  /** Stopping: the sessions closing now are the primary's doing, not their nodes' loss. */
  #stopping = false;

  start(): void {
    this.#sweep ??= setInterval(() => {
      for (const live of this.live.values()) if (live.rolling) healthChecks(this.rollingHost, live.rolling);
      this.#storeRefusedAgain();
      this.#expire();
      this.schedule();
    }, this.o.sweepMs ?? 1000).unref();
    this.schedule();
  }

  /** Before the primary closes its sessions: their ends change no task (a restart goes on). */
  stop(): void {
    this.#stopping = true;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** Checks, stores and queues a task (a broadcast: its parent and one child per node). */
  async submit(request: TaskRequest, submittedBy: string): Promise<TaskRow> {
    const { rows, target } = newTaskRows(request, submittedBy, this.o.registry, {
      timeoutMs: this.o.defaultTimeoutMs,
      ttlMs: this.o.defaultTtlMs,
    });
    let rolling: RollingRun | undefined;
    if (request.rolling !== undefined || request.thenReboot) {
      if (target.kind !== 'all')
        throw new RequestError('ERR_BAD_REQUEST', 'a rolling run needs a broadcast: all or all:k=v');
      const plan = { batch: request.rolling ?? 1, thenReboot: request.thenReboot === true };
      rolling = startRolling(rows, plan, this.o.registry, this.o.ownMachineId);
    }
    await this.o.write(rows.map((task) => ({ op: 'task', task: { ...task } })));
    const now = this.now();
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
      this.live.set(row.id, live);
    }
    this.stats.submitted += rows.length;
    for (const row of rows) this.emit('task', row);
    this.schedule();
    return { ...(rows[0] as TaskRow) };
  }

  /** A task as it is now: in memory while open (newer than the store), else as stored. */
  async get(id: string): Promise<TaskRow | undefined> {
    const live = this.live.get(id);
    return live ? this.view(live) : this.o.getStored(id);
  }

  async list(query: TaskQuery): Promise<TaskRow[]> {
    return (await this.o.listStored(query)).map((row) => {
      const live = this.live.get(row.id);
      return live ? this.view(live) : row;
    });
  }

  /** Cancels a task (a broadcast: every open child) at any state short of final. */
  async cancel(id: string, reason: string): Promise<TaskRow> {
    // A result being stored decides its task (a cancel stored after it would undo it): wait for it.
    for (let storing = this.resultsStoring(id); storing.length > 0; storing = this.resultsStoring(id)) {
      await Promise.allSettled(storing);
    }
    const live = this.live.get(id);
    if (!live) {
      const stored = await this.o.getStored(id);
      if (!stored) throw new RequestError('ERR_NOT_FOUND', `no task ${id}`);
      throw new RequestError('ERR_CONFLICT', `task ${id} is ${stored.state} already`);
    }
    if (live.open !== undefined) {
      live.cancelling = true;
      for (const child of this.childrenOf(id)) {
        // A rolling run's stop may have cancelled some of them already.
        if (this.live.has(child.row.id)) this.finish(child, 'cancelled', cancelledError(reason));
      }
    }
    if (this.live.has(id)) this.finish(live, 'cancelled', cancelledError(reason));
    // Answered once stored: a primary killed right after the answer does not run it again.
    await this.o.write([{ op: 'task', task: { ...live.row } }]);
    return this.view(live);
  }

  /** A node's session is ready for requests: ask about its open tasks again, then give it more. */
  nodeReady(record: NodeRecord): void {
    if (record.session) this.ready.add(record.session);
    for (const live of [...this.live.values()]) {
      const { row } = live;
      if (row.nodeId !== record.id || (row.state !== 'assigned' && row.state !== 'running')) continue;
      live.lostMeanwhile = undefined; // back before its result's store failed: asked again below
      if (row.phase) {
        // Back from going down (its first message on a new session: its info is in).
        const outcome = backFrom(row, record.info?.bootId);
        this.finish(live, outcome.state, outcome.error);
      } else if (record.session) this.#send(live, record.session);
    }
    this.schedule();
  }

  /** Whether a task took this node down and expects it back (it is `rebooting`). */
  expectsBack(nodeId: string): boolean {
    for (const { row } of this.live.values()) {
      if (row.nodeId === nodeId && row.phase && expectsBack(row.kind)) return true;
    }
    return false;
  }

  /** A node went lost, left, was denied or forgotten: its running tasks are retried, failed or wait. */
  nodeGone(record: Pick<NodeRecord, 'id' | 'name'>, why: string): void {
    if (this.#stopping) return;
    for (const live of [...this.live.values()]) {
      const { row } = live;
      if (row.nodeId !== record.id || (row.state !== 'assigned' && row.state !== 'running')) continue;
      const name = record.name || record.id;
      if (row.phase) {
        // Down on purpose, as the task said it would go: done (a shutdown), or wait for it.
        if (wentDown(row, name) === 'done') this.finish(live, 'succeeded', null);
        else this.changed(row);
      } else if (this.resultInHand(live)) {
        // Its result decides (a requeue or failure stored after it would undo it), once stored.
        live.lostMeanwhile = { name, why };
      } else this.lost(live, name, why);
    }
  }

  /**
   * A node's `task.result`: stored, then acknowledged (the node forgets it only then). The task
   * stays open until its result is committed: a store that refuses keeps it, unacknowledged, and
   * the node sends it again after its next reconnect.
   */
  async result(record: NodeRecord, result: TaskResultPayload, conn: Connection): Promise<void> {
    const live = this.live.get(result.taskId);
    if (live && live.row.nodeId === record.id && live.row.key === result.key) {
      live.resultFor = result.key;
      if (live.storing) {
        await live.storing; // a copy sent again: acknowledged once the first is stored
      } else if (live.row.phase) {
        // Sent again once back: the task ends from its return.
      } else if (isGoingDown(live.row.kind, result)) {
        // The node acts once this is acknowledged: it is stored first, as any result. The task
        // no longer holds a slot there: the node is going away.
        goingDown(live.row, record);
        this.release(live);
        await this.storeFirst(live, { ...live.row });
        this.emit('task', this.view(live));
      } else {
        const endedAt = Date.now();
        const row = { ...live.row, ...outcomeOf(result), state: result.state, error: result.error ?? null, endedAt };
        await this.#storeResult(live, { record, result, conn }, row, () => {
          if (this.live.get(result.taskId) !== live || live.row.key !== result.key) return;
          live.row.endedAt = endedAt;
          this.finish(live, result.state, result.error ?? null, result);
        });
      }
    } else if (!live) {
      // Final already: a result for that node's attempt, after it was given up for lost, is the truth.
      const stored = await this.o.getStored(result.taskId);
      if (
        stored &&
        stored.key === result.key &&
        stored.nodeId === record.id &&
        stored.error?.code === 'ERR_NODE_LOST'
      ) {
        const row = { ...stored, ...outcomeOf(result), state: result.state, error: result.error ?? null };
        row.reason = `the node reported after it was lost: ${stored.error.message}`;
        await this.o.write([{ op: 'task', task: row }]);
        this.emit('task', row);
      }
    }
    // Unknown, stale (an earlier attempt's) or stored now: the node may forget it.
    if (conn.state === 'open') conn.send('task.ack', { taskId: result.taskId, key: result.key });
  }

  /** storeFirst for a node's result; one the store refuses is kept for the sweep to store again. */
  async #storeResult(live: Live, unstored: NonNullable<Live['unstored']>, row: TaskRow, stored?: () => void) {
    try {
      await this.storeFirst(live, row, stored);
      live.unstored = undefined;
    } catch (err) {
      // Only while it is the task's current assignment on that node (a lost link may have moved it).
      const { row } = live;
      if (row.key === unstored.result.key && row.nodeId === unstored.record.id) live.unstored = unstored;
      throw err;
    }
  }

  /** Results the store refused, stored again while their links stay up (a new link resends them). */
  #storeRefusedAgain(): void {
    for (const live of this.live.values()) {
      const { unstored } = live;
      if (!unstored || live.storing) continue;
      if (unstored.conn.state !== 'open' || live.row.key !== unstored.result.key) {
        live.unstored = undefined;
        continue;
      }
      this.result(unstored.record, unstored.result, unstored.conn).catch((err: unknown) => {
        this.o.log.debug({ err, taskId: unstored.result.taskId }, 'the store still refuses a task result');
      });
    }
  }

  output(record: NodeRecord, output: TaskOutputPayload): void {
    const live = this.live.get(output.taskId);
    if (!live || live.row.nodeId !== record.id) return;
    live.output ??= new TaskOutputTail();
    live.output.add(output.stream, output.data);
    this.emit('output', { ...output, nodeId: record.id });
  }

  protected schedule(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    setImmediate(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    const now = this.now();
    const due = (live: Live) =>
      live.row.state === 'queued' && live.open === undefined && !live.row.held && (live.notBefore ?? 0) <= now;
    // The sweep pumps every second: with no task due, the fleet is not listed (at 10,000 nodes the
    // list cost 1–2% of a core for nothing).
    if (!this.#anyLive(due)) return;
    // Not a node that said a task takes it down: what it took would be cut off. Once back, it is
    // on a new link (its phase ends in nodeReady).
    const down = new Set<string>();
    for (const { row } of this.live.values()) if (row.phase && row.nodeId) down.add(row.nodeId);
    const nodes = [...this.o.registry.all()].filter(
      (r) => r.state === 'online' && r.session !== undefined && this.ready.has(r.session) && !down.has(r.id),
    );
    if (nodes.length === 0) return;
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const live of this.live.values()) {
      if (!due(live)) continue;
      const node = pickNode(live.target, nodes, {
        load: this.slots,
        given: this.given,
        perNode: this.o.perNode,
        refusedBy: live.refusedBy,
        byId,
      });
      if (node) this.#assign(live, node);
    }
  }

  #anyLive(test: (live: Live) => boolean): boolean {
    for (const live of this.live.values()) if (test(live)) return true;
    return false;
  }

  #assign(live: Live, node: NodeRecord): void {
    const { row } = live;
    row.state = 'assigned';
    row.nodeId = node.id;
    row.attempt += 1;
    // Every assignment has a key of its own: a late answer to an earlier one never matches it.
    row.assignments = (row.assignments ?? 0) + 1;
    row.key = `${row.id}.${row.assignments}`;
    row.assignedAt = Date.now();
    row.reason = null;
    live.queuedUntil = live.deadline;
    live.deadline = this.now() + row.timeoutMs + this.grace;
    this.hold(live);
    this.given.set(node.id, (this.given.get(node.id) ?? 0) + 1);
    this.stats.dispatched++;
    this.emit('task', this.view(live));
    const key = row.key;
    // Stored as assigned before it is sent: a restarted primary asks this node, no other.
    this.o.write([{ op: 'task', task: { ...row } }]).then(
      () => {
        if (row.key !== key || row.state !== 'assigned') return;
        const session = this.o.registry.get(node.id)?.session;
        // A session not ready yet gets it when it is (nodeReady asks about its open tasks).
        if (session && this.ready.has(session)) this.#send(live, session);
      },
      (err: unknown) => {
        if (row.key !== key || row.state !== 'assigned') return;
        this.o.log.warn({ err, taskId: row.id }, 'cannot store a task assignment; it waits in the queue');
        row.attempt -= 1;
        this.requeue(live, 'the store refused its assignment; waiting', { afterMs: BUSY_BACKOFF_MS });
      },
    );
  }

  #send(live: Live, conn: Connection): void {
    const { row } = live;
    const key = row.key;
    // A leader past its lease sends nothing: the new leader reconciles the task with the node.
    if (this.o.mayAct?.() === false) return;
    const payload = runPayload(row, this.o.epoch ?? 0);
    const refused = refusedRunWhy(payload);
    if (refused) {
      this.finish(live, 'failed', { code: 'ERR_TASK_ARGS', message: refused });
      return;
    }
    conn.request('task', payload, { timeoutMs: 15_000 }).then(
      (reply) => {
        if (row.key !== key || FINAL_STATES.has(row.state)) return;
        if (!checkTaskRunReply.Check(reply)) return;
        // Not once its result came: the result can come first (both in one read of a plaintext
        // link), and a 'running' row posted then would be stored over the final one.
        if (reply.state === 'running' && row.state === 'assigned' && live.resultFor !== key) {
          row.state = 'running';
          row.startedAt ??= Date.now();
          this.changed(row);
        }
      },
      (err: unknown) => {
        if (row.key !== key || FINAL_STATES.has(row.state) || row.state === 'queued') return;
        const code = (err as { code?: string }).code;
        if (err instanceof RemoteError) this.#refused(live, err);
        else if (code === 'ERR_FRAME_TOO_LARGE') {
          // Never sendable (args given through the library, past the frame limit): it fails now.
          this.finish(live, 'failed', { code: 'ERR_TASK_ARGS', message: (err as Error).message });
        } else if ((code === 'ERR_REQUEST_TIMEOUT' || code === 'ERR_BACKPRESSURE') && conn.state === 'open') {
          // No answer on a live link, or not sent at all (its write queue or in-flight requests
          // full): asked again (the key makes it safe) until the deadline.
          setTimeout(() => row.key === key && row.state === 'assigned' && this.#send(live, conn), 1000).unref();
        }
        // A link down: nodeGone does the rest.
      },
    );
  }

  /** The node answered the `task` request with an error. */
  #refused(live: Live, err: RemoteError): void {
    const { row } = live;
    const nodeId = row.nodeId as string;
    if (err.remoteCode === 'ERR_TASK_BUSY') {
      // Not an attempt; offered again in a while (the node's own limit may be below ours).
      row.attempt -= 1;
      this.requeue(live, `node ${nodeId} is busy: ${err.message}`, { afterMs: BUSY_BACKOFF_MS });
      return;
    }
    const { code, message } = refusalOf(err);
    if (live.target.kind !== 'node' && (code === 'ERR_TASK_REFUSED' || code === 'ERR_TASK_UNKNOWN')) {
      // Another node of the selector may take it; once all online ones refused, it fails.
      live.refusedBy ??= new Set();
      live.refusedBy.add(nodeId);
      row.attempt -= 1;
      if (anyOtherEligible(this.o.registry, live.target, live.refusedBy)) {
        this.requeue(live, `node ${nodeId} refused: ${message}`);
        return;
      }
    }
    this.finish(live, 'failed', { code, message: `node ${nodeId} refused: ${message}` });
  }

  /** Queued tasks past their ttl expire; assigned ones past timeout + grace time out. */
  #expire(): void {
    const now = this.now();
    for (const live of [...this.live.values()]) {
      if (live.deadline > now || live.open !== undefined || this.resultInHand(live) || live.unstored) continue;
      const { row } = live;
      if (row.phase) {
        this.finish(live, 'failed', notBack(row));
        this.o.notBack?.(row.nodeId as string);
      } else if (row.state === 'queued') {
        const where = live.target.kind === 'node' ? `node ${row.nodeId} stayed offline` : 'no eligible node was online';
        // Tried later (a busy node): not offline, and the last answer says why.
        const message =
          live.notBefore === undefined
            ? `${where} for its ttl (${row.ttlMs} ms)`
            : `not taken within its ttl (${row.ttlMs} ms): ${row.reason}`;
        this.finish(live, 'failed', { code: 'ERR_TASK_EXPIRED', message });
      } else {
        this.finish(live, 'timed_out', {
          code: 'ERR_TASK_TIMEOUT',
          message: `no result from node ${row.nodeId} within ${row.timeoutMs} ms`,
        });
      }
    }
  }
}
