// The agent's tasks (protocol/tasks.ts): takes `task` requests, runs them, and reports their
// results. A request is answered at once: `running` once the key is in the journal (fsync), or
// the final state of a key run before (whose result is sent again): a node never runs one key
// twice. Refused before anything runs: an older primary's epoch (ERR_STALE_EPOCH), an unknown
// kind, a kind the node's config does not allow, bad arguments, more than `maxConcurrent` tasks.
//
// A task runs with an AbortSignal that fires on its timeout (monotonic clock), a `task.cancel`,
// or the agent stopping; its result says which (timed_out, cancelled, failed
// ERR_TASK_INTERRUPTED). Results go into the journal before they are sent, and are sent again on
// every new link until the primary acknowledges them (`task.ack`). Once a result says the node
// goes down (a reboot), new tasks are refused as busy: cut off partway, they would leave the
// machine half changed. Only a failed attempt to go down ends that (the node stays up).

import type { Logger } from '../common/logger.js';
import { type Clock, systemClock, type Timer } from '../connection/clock.js';
import type { Connection } from '../connection/connection.js';
import { TaskError } from '../protocol/errors.js';
import type { TaskErrorCode, TaskResultPayload, TaskRunPayload, TaskState } from '../protocol/tasks.js';
import type { TaskDefinition } from './builtin-tasks.js';
import { drainOrDisconnect, isTooLarge } from './link-writes.js';
import type { TaskContext, TaskHandler, TaskStarted } from './secondary-options.js';
import { INTERRUPTED_MESSAGE, type TaskJournal } from './task-journal.js';
import { clip, type Ending, endingOf, endingOfError, type GoingDown } from './task-outcome.js';
import { LiveOutput, OutputTail } from './task-output.js';

/** After an abort, how long the work has to wind down before its result is written anyway, ms (a program gets SIGTERM, SIGKILL 5 s later). */
export const ABORT_GRACE_MS = 6_000;
/** How long a going-down task (reboot, power off, agent restart) waits for its result's ack, ms. */
export const GOING_DOWN_ACK_WAIT_MS = 5_000;
/** A node still up this long after it set out to go down takes tasks again, ms. */
export const STILL_UP_AFTER_MS = 10 * 60_000;

export interface TaskRunnerOptions {
  journal: TaskJournal;
  /** The built-in kinds (builtin-tasks.ts). */
  builtins: ReadonlyMap<string, TaskDefinition>;
  /** The node's own kinds (`Secondary.task()`), read at every request: always allowed. */
  userKinds: ReadonlyMap<string, TaskHandler>;
  /** Built-in kinds that change the machine and that this node runs. */
  allow: readonly string[];
  /** The link to the primary is plaintext: those kinds are refused all the same. */
  plaintext?: boolean;
  maxConcurrent: number;
  /** Output kept per stream of a task, bytes. */
  maxOutputBytes: number;
  clock?: Clock;
  logger: Logger;
  onStarted?(task: TaskStarted): void;
  onFinished?(result: TaskResultPayload): void;
}

interface Run {
  readonly key: string;
  readonly kind: string;
  /** The task ids this run answers for (a key resent under another id gets the same run). */
  readonly taskIds: string[];
  readonly startedAt: number;
  readonly controller: AbortController;
  readonly stdout: OutputTail;
  readonly stderr: OutputTail;
  readonly live: LiveOutput;
  timer: Timer | undefined;
  /** Why it was aborted (the first reason wins): the state of its result. */
  abortedAs: Ending | undefined;
  finished: boolean;
  done: Promise<void>;
  /** Settles once its key is on the disk (rejects when that failed: it never runs). */
  durable: Promise<void>;
}

const ABORTED = Symbol('aborted');

export class TaskRunner {
  readonly #options: TaskRunnerOptions;
  readonly #journal: TaskJournal;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** Running tasks by key. */
  readonly #runs = new Map<string, Run>();
  readonly #ackWaiters = new Map<string, () => void>();
  #conn: Connection | undefined;
  /** `going-down`: a task's result said it takes the node down (`#downBy`, its kind); no new task. */
  #state: 'open' | 'going-down' | 'stopping' | 'stopped' = 'open';
  #downBy = '';
  /** Ends a `going-down` that lasts past STILL_UP_AFTER_MS. */
  #stillUp: Timer | undefined;
  /** Results are written to the link one after another, in order. */
  #sending: Promise<void> = Promise.resolve();

  constructor(options: TaskRunnerOptions) {
    this.#options = options;
    this.#journal = options.journal;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
  }

  /** The journal's file. */
  get file(): string {
    return this.#journal.file;
  }

  /** A new link to the primary: results not yet acknowledged are sent on it again. */
  attach(conn: Connection): void {
    this.#conn = conn;
    conn.once('disconnect', () => {
      if (this.#conn === conn) this.#conn = undefined;
    });
    this.#send(this.#journal.unacknowledged());
  }

  /** The `task` request: answers `running` or a key's final state; throws TaskError to refuse. */
  take(request: TaskRunPayload): { state: TaskState } | Promise<{ state: TaskState }> {
    const { taskId, key, kind, epoch } = request;
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      throw new TaskError('ERR_TASK_BUSY', 'the agent is stopping: it takes no task');
    }
    if (epoch < this.#journal.epoch) {
      // Epoch 0 is a single primary's: after standby primaries, what the operator has to do.
      const back = epoch === 0 ? `; back to one primary? stop this agent and remove ${this.#journal.file}` : '';
      throw new TaskError(
        'ERR_STALE_EPOCH',
        `task ${taskId} comes from primary epoch ${epoch}, older than epoch ${this.#journal.epoch} seen: refused${back}`,
      );
    }
    this.#durably(() => this.#journal.raiseEpoch(epoch));
    const run = this.#runs.get(key);
    if (run !== undefined) {
      if (!run.taskIds.includes(taskId)) run.taskIds.push(taskId);
      return run.durable.then(() => ({ state: 'running' }));
    }
    const replayed = this.#journal.replay(key, taskId);
    if (replayed !== undefined) {
      this.#send([replayed]);
      return { state: replayed.state };
    }
    if (this.#state === 'going-down') {
      // Cut off partway by the reboot, it would leave the machine half changed: after it, then.
      throw new TaskError('ERR_TASK_BUSY', `this node is going down (${this.#downBy}): it takes tasks once it is back`);
    }
    const definition = this.#definition(kind);
    definition.check?.(request.args);
    if (this.#runs.size >= this.#options.maxConcurrent) {
      throw new TaskError(
        'ERR_TASK_BUSY',
        `this node runs ${this.#runs.size} tasks, its limit: try later, or raise tasks.maxConcurrent in its config`,
      );
    }
    const startedAt = Math.round(this.#clock.wallMs());
    this.#durably(() => this.#journal.started(key, taskId, startedAt));
    // On the disk before it runs and before `running` is said: one fsync for all taken this turn.
    const durable = this.#journal.durable().catch((err: unknown) => {
      this.#runs.delete(key);
      this.#durably(() => {
        throw err;
      });
    });
    this.#start(request, definition, startedAt, durable);
    return durable.then(() => ({ state: 'running' }));
  }

  /** `task.cancel`: aborts the task running under `taskId` (its result is `cancelled`). */
  cancel(taskId: string, reason: string): boolean {
    const run = [...this.#runs.values()].find((r) => r.taskIds.includes(taskId));
    if (run === undefined) {
      this.#log.debug({ taskId }, 'task.cancel for a task not running here: nothing to do');
      return false;
    }
    this.#abort(run, {
      state: 'cancelled',
      error: { code: 'ERR_TASK_CANCELLED', message: clip(`cancelled: ${reason || 'no reason given'}`) },
    });
    return true;
  }

  /** `task.ack`: the primary stored the result of `taskId`. */
  acknowledged(taskId: string, key?: string): void {
    // An ack for another attempt of this task leaves the result kept now alone.
    if (key !== undefined && this.#journal.result(taskId)?.key !== key) return;
    this.#journal.acknowledged(taskId);
    this.#ackWaiters.get(taskId)?.();
  }

  /**
   * Aborts every running task and waits up to `timeoutMs` for them to end; those still running
   * then are journaled as failed ERR_TASK_INTERRUPTED all the same. Takes no task after.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    if (this.#stillUp !== undefined) this.#clock.clearTimeout(this.#stillUp);
    const runs = [...this.#runs.values()];
    const interrupted: Ending = {
      state: 'failed',
      error: { code: 'ERR_TASK_INTERRUPTED', message: INTERRUPTED_MESSAGE },
    };
    for (const run of runs) this.#abort(run, interrupted);
    await this.#within(Promise.all(runs.map((run) => run.done)), timeoutMs);
    // Those still running past the timeout: a timeout or cancel that came first keeps its state.
    for (const run of runs) this.#finish(run, run.abortedAs ?? interrupted);
    this.#state = 'stopped';
  }

  /** Closes the journal (after `stop`). */
  close(): void {
    this.#journal.close();
  }

  #definition(kind: string): TaskDefinition {
    const own = this.#options.userKinds.get(kind);
    if (own !== undefined) return { machine: false, run: own };
    const builtin = this.#options.builtins.get(kind);
    if (builtin === undefined) throw new TaskError('ERR_TASK_UNKNOWN', `this node has no task kind "${kind}"`);
    if (builtin.machine && !this.#options.allow.includes(kind)) {
      throw new TaskError(
        'ERR_TASK_REFUSED',
        `task kind "${kind}" changes the machine and is off on this node: add "${kind}" to tasks.allow in this node's config`,
      );
    }
    if (builtin.machine && this.#options.plaintext) {
      throw new TaskError(
        'ERR_TASK_REFUSED',
        `task kind "${kind}" changes the machine, and this node's link to the primary is not TLS (--no-tls): refused`,
      );
    }
    return builtin;
  }

  /** A journal write before a reply; a failure refuses the task (nothing ran). */
  #durably(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.#log.error({ err, file: this.#journal.file }, 'cannot write the task journal');
      throw new TaskError(
        'ERR_TASK_BUSY',
        `this node cannot write its task journal (${(err as Error).message}): it takes tasks again once it can`,
        { cause: err },
      );
    }
  }

  #start(request: TaskRunPayload, definition: TaskDefinition, startedAt: number, durable: Promise<void>): void {
    const { taskId, key, kind, timeoutMs } = request;
    const maxBytes = this.#options.maxOutputBytes;
    const run: Run = {
      key,
      kind,
      taskIds: [taskId],
      startedAt,
      controller: new AbortController(),
      stdout: new OutputTail(maxBytes),
      stderr: new OutputTail(maxBytes),
      live: new LiveOutput({ taskId, link: () => this.#link(), clock: this.#clock, logger: this.#log }),
      timer: undefined,
      abortedAs: undefined,
      finished: false,
      done: Promise.resolve(),
      durable,
    };
    this.#runs.set(key, run);
    run.timer = this.#clock.setTimeout(
      () =>
        this.#abort(run, {
          state: 'timed_out',
          error: { code: 'ERR_TASK_TIMEOUT', message: `timed out after ${timeoutMs} ms` },
        }),
      timeoutMs,
    );
    run.done = durable.then(
      () => {
        this.#log.info({ taskId, key, kind }, 'task started');
        this.#options.onStarted?.({ taskId, key, kind });
        return this.#execute(run, definition.run, request.args);
      },
      () => {
        // Its key is not on the disk: it never ran, and the primary was told ERR_TASK_BUSY.
        run.finished = true;
        if (run.timer !== undefined) this.#clock.clearTimeout(run.timer);
      },
    );
    // Nothing of a run may end the agent: a failure here is a bug of ours, said in the log.
    run.done = run.done.catch((err: unknown) => {
      this.#log.error({ err, taskId, key, kind }, 'the agent failed to see a task through');
    });
  }

  async #execute(run: Run, handler: TaskHandler, args: Record<string, unknown>): Promise<void> {
    const fields = { taskId: run.taskIds[0], kind: run.kind };
    const log: Logger = {
      debug: (f, m) => this.#log.debug({ ...f, ...fields }, m),
      info: (f, m) => this.#log.info({ ...f, ...fields }, m),
      warn: (f, m) => this.#log.warn({ ...f, ...fields }, m),
      error: (f, m) => this.#log.error({ ...f, ...fields }, m),
    };
    const context: TaskContext = {
      taskId: run.taskIds[0] as string,
      key: run.key,
      signal: run.controller.signal,
      log,
      output: (stream, text) => {
        if (run.finished || typeof text !== 'string') return;
        (stream === 'stderr' ? run.stderr : run.stdout).push(text);
        run.live.push(stream === 'stderr' ? 'stderr' : 'stdout', text);
      },
    };
    // Started after this turn: the reply `running` is queued before anything the task sends.
    const work = Promise.resolve().then(() => handler(args, context));
    const aborted = new Promise<typeof ABORTED>((resolve) =>
      run.controller.signal.addEventListener('abort', () => resolve(ABORTED), { once: true }),
    );
    const settled = work.then(
      (value): Ending => endingOf(value),
      (err: unknown): Ending => endingOfError(err),
    );
    const first = await Promise.race([settled, aborted]);
    if (first !== ABORTED) {
      this.#finish(run, first);
      return;
    }
    // Aborted: the work has a grace to wind down (its programs are signalled), then it is done.
    await this.#within(settled, ABORT_GRACE_MS);
    this.#finish(run, run.abortedAs as Ending);
  }

  #abort(run: Run, why: Ending): void {
    if (run.finished || run.abortedAs !== undefined) return;
    run.abortedAs = why;
    run.controller.abort(new TaskError(why.error?.code as TaskErrorCode, why.error?.message ?? why.state));
  }

  /** Journals the run's result (one per task id it answers for) and sends it; once per run. */
  #finish(run: Run, ending: Ending): void {
    if (run.finished) return;
    run.finished = true;
    if (run.timer !== undefined) this.#clock.clearTimeout(run.timer);
    this.#runs.delete(run.key);
    run.live.flush();
    run.live.stop();
    const endedAt = Math.max(run.startedAt, Math.round(this.#clock.wallMs()));
    const stdout = run.stdout.text();
    const stderr = run.stderr.text();
    const truncated = run.stdout.truncated || run.stderr.truncated;
    const results = run.taskIds.map((taskId) => {
      const result: TaskResultPayload = {
        taskId,
        key: run.key,
        state: ending.state,
        startedAt: run.startedAt,
        endedAt,
      };
      if (ending.result !== undefined) result.result = ending.result;
      if (ending.error !== undefined) result.error = ending.error;
      if (stdout !== '') result.stdout = stdout;
      if (stderr !== '') result.stderr = stderr;
      if (truncated) result.truncated = true;
      this.#journal.finished(result);
      return result;
    });
    if (ending.goingDown && this.#state === 'open') {
      this.#state = 'going-down';
      this.#downBy = run.kind;
    }
    const { error } = ending;
    this.#log.info(
      { taskId: run.taskIds[0], key: run.key, kind: run.kind, state: ending.state, code: error?.code },
      error ? `task ${ending.state}: ${error.message}` : `task ${ending.state}`,
    );
    // Sent once on the disk (one fsync for the results of this turn); a failed fsync was logged,
    // and the results go all the same (they are kept until acknowledged).
    const send = () => {
      try {
        for (const result of results) this.#options.onFinished?.(result);
      } catch (err) {
        // A listener's bug (the library's `taskFinished` event) must not keep the result from the primary.
        this.#log.error({ err, taskId: run.taskIds[0] }, 'a task-finished listener failed');
      }
      this.#send(results);
      if (ending.goingDown) void this.#goDown(results[0] as TaskResultPayload, ending.goingDown);
    };
    this.#journal.durable().then(send, (err: unknown) => {
      this.#log.error({ err, file: this.#journal.file }, 'cannot fsync the task journal');
      send();
    });
  }

  /** Reboot, power off, restart: once the primary has the result (or a few seconds passed). */
  async #goDown(result: TaskResultPayload, goingDown: GoingDown): Promise<void> {
    // A reboot that says yes and does nothing (an inhibitor lock) or hangs (D-Bus): not for good.
    if (this.#stillUp !== undefined) this.#clock.clearTimeout(this.#stillUp);
    this.#stillUp = this.#clock.setTimeout(() => {
      this.#stillUp = undefined;
      if (this.#state !== 'going-down') return;
      this.#state = 'open';
      this.#log.error(
        { taskId: result.taskId },
        `the node was to go down (${this.#downBy}) but still runs: it takes tasks again`,
      );
    }, STILL_UP_AFTER_MS);
    this.#stillUp.unref?.();
    const acked = new Promise<void>((resolve) => this.#ackWaiters.set(result.taskId, resolve));
    if (this.#journal.result(result.taskId) !== undefined) await this.#within(acked, GOING_DOWN_ACK_WAIT_MS);
    this.#ackWaiters.delete(result.taskId);
    this.#log.warn({ taskId: result.taskId, key: result.key }, 'taking the node down, as the task asked');
    try {
      await goingDown.act();
    } catch (err) {
      // Too late for the result (it said succeeded and is acknowledged): the log says why.
      this.#log.error(
        { err, taskId: result.taskId },
        `the node did not go down: ${(err as Error).message}; it takes tasks again`,
      );
      if (this.#state === 'going-down') this.#state = 'open';
    }
  }

  #link(): Connection | undefined {
    return this.#conn?.state === 'open' ? this.#conn : undefined;
  }

  /** Sends results in order, after those already on their way; waits out a full write queue. */
  #send(results: readonly TaskResultPayload[]): void {
    if (results.length === 0) return;
    this.#sending = this.#sending.then(async () => {
      for (const result of results) {
        for (;;) {
          const conn = this.#link();
          if (conn === undefined) return; // sent again on the next link
          if (this.#sendOne(conn, result)) break;
          await drainOrDisconnect(conn);
        }
      }
    });
  }

  /** One result; false when the write queue is full. One too large for the frame limit goes without its output. */
  #sendOne(conn: Connection, result: TaskResultPayload): boolean {
    try {
      return conn.send('task.result', result);
    } catch (err) {
      if (!isTooLarge(err)) {
        this.#log.debug({ err, taskId: result.taskId }, 'task result not sent (the link went down)');
        return true;
      }
      const { stdout: _o, stderr: _e, result: _r, ...bare } = result;
      this.#log.warn(
        { taskId: result.taskId },
        "a task result is larger than the primary's frame limit: sent without its output and result",
      );
      try {
        return conn.send('task.result', { ...bare, truncated: true });
      } catch (again) {
        this.#log.debug({ err: again, taskId: result.taskId }, 'task result not sent');
        return true;
      }
    }
  }

  /** Resolves when `promise` settles or `ms` has passed, whichever is first. */
  #within(promise: Promise<unknown>, ms: number): Promise<void> {
    let timer: Timer | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.#clock.setTimeout(resolve, ms);
    });
    return Promise.race([promise.then(noop, noop), timeout]).finally(() => this.#clock.clearTimeout(timer as Timer));
  }
}

function noop(): void {}
