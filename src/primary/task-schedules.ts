// Task schedules: a task template run on a target at a cron expression or every interval. One
// timer sleeps until the earliest next run (re-armed at every change, and at least once a minute so
// a stepped wall clock is noticed), then submits each due schedule's task through the scheduler
// with submittedBy `schedule:ID` and stores when it ran. The runs are ordinary tasks: a schedule's
// last runs are read back from the store's tasks.
//
// Time: `everyMs` is measured between runs on the monotonic clock while the process runs; a cron
// expression is wall-clock by nature (croner, in the schedule's time zone or the primary's).
// Slots missed while the primary was down, or while the wall clock jumped ahead, fold into one run:
// at start a schedule whose next run after its last one (or its creation) has passed runs once,
// `catchUpDelayMs` after start so that the nodes have reconnected (a broadcast finds them).
//
// Overlap: a run that comes due while the schedule's previous run is still open (queued, assigned,
// running) is skipped, with the reason in `lastSkip`: a schedule on an offline node queues one
// task, not one per slot, and a slow run never piles up behind itself. A task the scheduler refuses
// (no online node matches a broadcast, an unknown node) is skipped the same way.

import type { Cron } from 'croner';
import type { Logger } from '../common/logger.js';
import { type Clock, systemClock, type Timer } from '../connection/clock.js';
import { RequestError } from '../protocol/errors.js';
import { FINAL_STATES, type TaskState } from '../protocol/tasks.js';
import { type NodeChange, SCHEDULE_SUBMITTER_PREFIX, type ScheduleRow, type TaskRow } from '../store/store-api.js';
import { newScheduleRow, nextCronRun, parseCron, runRequest, type ScheduleInput } from './schedule-input.js';
import type { TaskRequest } from './task-scheduler.js';

export type { ScheduleInput } from './schedule-input.js';

export interface TaskSchedulesOptions {
  /** Submits a run (the TaskScheduler's submit): resolves once the task is stored. */
  submit(request: TaskRequest, submittedBy: string): Promise<TaskRow>;
  /** Stores changes; resolves once committed. */
  write(changes: readonly NodeChange[]): Promise<void>;
  /** The stored schedules, oldest first (read by load()). */
  listStored(): Promise<ScheduleRow[]>;
  /** A schedule's newest runs as stored, newest first. */
  runsOf(id: string, limit: number): Promise<TaskRow[]>;
  /** A task as it is now (the scheduler's view of an open one is newer than the store's). */
  getTask(id: string): Promise<TaskRow | undefined>;
  log: Logger;
  /** Clocks and timers. Default the system's (tests pass a fake). */
  clock?: Clock;
  /** How long after start a run missed while the primary was down waits for the nodes to reconnect, ms. Default 10000. */
  catchUpDelayMs?: number;
  /** The longest sleep of the timer, ms: a wall clock stepped meanwhile is noticed within it. Default 60000. */
  maxSleepMs?: number;
  /** Runs shown per schedule by list(). Default 5. */
  lastRuns?: number;
  /** Schedules kept at most; create() past it is refused (ERR_CONFLICT). Default 1000. */
  maxSchedules?: number;
}

/** One run of a schedule, as list() shows it. */
export interface ScheduleRun {
  taskId: string;
  createdAt: number;
  state: TaskState;
}

/** A schedule as list() and create() answer (the API's schedule object). */
export interface ScheduleView extends ScheduleRow {
  /** When it runs next (epoch ms); null when it will not (disabled, or a cron that matches no later time). */
  nextRunAt: number | null;
  /** Its newest runs, newest first. */
  lastRuns: ScheduleRun[];
  /** The last time it came due and did not run, since the primary started (kept in memory only). */
  lastSkip: { at: number; reason: string } | null;
}

export type TaskSchedulesState = 'idle' | 'running' | 'stopped';

interface Entry {
  row: ScheduleRow;
  /** The parsed cron expression; undefined for `everyMs` (or a stored expression that no longer parses). */
  cron: Cron | undefined;
  /** Timing computed (at start, or at creation once started). */
  planned: boolean;
  /** everyMs: the next run, monotonic ms. */
  dueMono: number;
  /** cron: the next slot after `afterWall`, wall ms (null: none). */
  afterWall: number;
  slotWall: number | null;
  /** A run missed while the primary was down: due at this monotonic time. */
  catchUpMono: number | undefined;
  lastTaskId: string | null;
  firing: boolean;
  lastSkip: { at: number; reason: string } | null;
  /** What the last skip was about ('open', or an error code): a repeat is logged at debug only. */
  skipKey: string | undefined;
}

export class TaskSchedules {
  readonly #o: TaskSchedulesOptions;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  #state: TaskSchedulesState = 'idle';
  #timer: Timer | undefined;

  constructor(options: TaskSchedulesOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  get state(): TaskSchedulesState {
    return this.#state;
  }

  get size(): number {
    return this.#entries.size;
  }

  get #catchUpDelayMs(): number {
    return this.#o.catchUpDelayMs ?? 10_000;
  }

  /** Reads the stored schedules and the last run of each (whether it is still open). */
  async load(): Promise<void> {
    for (const row of await this.#o.listStored()) {
      let cron: Cron | undefined;
      if (row.cron !== undefined) {
        try {
          cron = parseCron(row.cron, row.timezone);
        } catch (err) {
          this.#o.log.warn(
            { err, scheduleId: row.id, cron: row.cron },
            'a stored schedule has a cron expression this picluster cannot read: it does not run (remove it and add it again)',
          );
        }
      }
      const [last] = await this.#o.runsOf(row.id, 1);
      this.#entries.set(row.id, newEntry(row, cron, last?.id ?? null));
    }
  }

  /** Plans every schedule (a run missed while the primary was down: once, catchUpDelayMs from now) and starts the timer. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#setState('running');
    for (const entry of this.#entries.values()) this.#plan(entry, true);
    this.#arm();
  }

  /** Stops the timer; a run being submitted finishes, no other starts. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#setState('stopped');
    this.#disarm();
  }

  /** Checks and stores a new schedule; its first run is one interval (or the next cron slot) from now. */
  async create(input: ScheduleInput, by: string): Promise<ScheduleView> {
    const max = this.#o.maxSchedules ?? 1000;
    if (this.#entries.size >= max) {
      throw new RequestError('ERR_CONFLICT', `there are ${max} schedules already (the most kept): remove one first`);
    }
    const row = newScheduleRow(input, by, this.#clock.wallMs());
    const cron = row.cron === undefined ? undefined : parseCron(row.cron, row.timezone);
    await this.#o.write([{ op: 'schedule', schedule: { ...row } }]);
    const entry = newEntry(row, cron, null);
    this.#entries.set(row.id, entry);
    if (this.#state === 'running') {
      this.#plan(entry, false);
      this.#arm();
    }
    this.#o.log.info({ scheduleId: row.id, name: row.name, by }, 'schedule created');
    return this.#view(entry, []);
  }

  /** Removes a schedule (stored first); its runs stay, an open one runs on. @throws RequestError ERR_NOT_FOUND */
  async remove(id: string): Promise<ScheduleRow> {
    const entry = this.#entries.get(id);
    if (!entry) throw new RequestError('ERR_NOT_FOUND', `no schedule ${id}`);
    await this.#o.write([{ op: 'remove-schedule', id }]);
    this.#entries.delete(id);
    this.#arm();
    this.#o.log.info({ scheduleId: id, name: entry.row.name }, 'schedule removed');
    return { ...entry.row };
  }

  /** Every schedule, oldest first, with its next run and newest runs. */
  async list(): Promise<ScheduleView[]> {
    return Promise.all([...this.#entries.values()].map(async (entry) => this.#view(entry, await this.#runs(entry))));
  }

  #setState(state: TaskSchedulesState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#o.log.debug({ state }, 'task schedules state');
  }

  async #runs(entry: Entry): Promise<ScheduleRun[]> {
    const rows = await this.#o.runsOf(entry.row.id, this.#o.lastRuns ?? 5);
    return Promise.all(
      rows.map(async (row) => {
        const now = FINAL_STATES.has(row.state) ? row : ((await this.#o.getTask(row.id)) ?? row);
        return { taskId: now.id, createdAt: now.createdAt, state: now.state };
      }),
    );
  }

  #view(entry: Entry, lastRuns: ScheduleRun[]): ScheduleView {
    const wall = this.#clock.wallMs();
    const dueIn = entry.planned ? this.#dueIn(entry, this.#clock.monotonicMs(), wall) : Number.NaN;
    const nextRunAt = entry.planned
      ? Number.isFinite(dueIn)
        ? wall + Math.max(0, dueIn)
        : null
      : this.#unplannedNext(entry, wall);
    return {
      ...entry.row,
      nextRunAt,
      lastRuns,
      lastSkip: entry.lastSkip && { ...entry.lastSkip },
    };
  }

  /** Before start: the next run as the stored times say (a missed one is shown as due at once). */
  #unplannedNext(entry: Entry, wall: number): number | null {
    const { row } = entry;
    if (!row.enabled) return null;
    const since = row.lastRunAt ?? row.createdAt;
    if (row.everyMs !== undefined) return Math.max(wall, since + row.everyMs);
    const slot = entry.cron && nextCronRun(entry.cron, since);
    return slot == null ? null : Math.max(wall, slot);
  }

  /** Computes when the schedule runs next: at start, a slot that passed while down runs once, after the delay. */
  #plan(entry: Entry, atStart: boolean): void {
    const { row } = entry;
    const mono = this.#clock.monotonicMs();
    const wall = this.#clock.wallMs();
    const since = row.lastRunAt ?? row.createdAt;
    entry.planned = true;
    entry.catchUpMono = undefined;
    let missed = false;
    if (row.everyMs !== undefined) {
      const left = since + row.everyMs - wall;
      missed = left <= 0;
      // At most one interval away: a last run stamped in the future means the wall clock went back.
      entry.dueMono = mono + Math.min(Math.max(left, 0), row.everyMs);
    } else if (entry.cron) {
      const slot = nextCronRun(entry.cron, Math.min(since, wall));
      missed = slot !== null && slot <= wall;
      entry.afterWall = missed ? wall : Math.min(since, wall);
      entry.slotWall = missed ? nextCronRun(entry.cron, wall) : slot;
    }
    if (missed && atStart && row.enabled) entry.catchUpMono = mono + this.#catchUpDelayMs;
  }

  /** Milliseconds until the schedule is due (<= 0: due now; Infinity: never). */
  #dueIn(entry: Entry, mono: number, wall: number): number {
    const { row } = entry;
    if (!row.enabled || !entry.planned) return Number.POSITIVE_INFINITY;
    if (entry.catchUpMono !== undefined) return entry.catchUpMono - mono;
    if (row.everyMs !== undefined) return entry.dueMono - mono;
    if (!entry.cron) return Number.POSITIVE_INFINITY;
    if (wall < entry.afterWall) {
      // The wall clock stepped back before the last run: the next slot is sought from now.
      entry.afterWall = wall;
      entry.slotWall = nextCronRun(entry.cron, wall);
    }
    return entry.slotWall === null ? Number.POSITIVE_INFINITY : entry.slotWall - wall;
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Sleeps until the earliest schedule is due, at most maxSleepMs. */
  #arm(): void {
    this.#disarm();
    if (this.#state !== 'running') return;
    const mono = this.#clock.monotonicMs();
    const wall = this.#clock.wallMs();
    let wait = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries.values()) wait = Math.min(wait, this.#dueIn(entry, mono, wall));
    if (wait === Number.POSITIVE_INFINITY) return;
    const ms = Math.min(Math.max(wait, 0), this.#o.maxSleepMs ?? 60_000);
    const timer = this.#clock.setTimeout(() => this.#tick(), ms);
    timer.unref?.();
    this.#timer = timer;
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#state !== 'running') return;
    const mono = this.#clock.monotonicMs();
    const wall = this.#clock.wallMs();
    for (const entry of this.#entries.values()) {
      if (!entry.firing && this.#dueIn(entry, mono, wall) <= 0) void this.#fire(entry, mono, wall);
    }
    this.#arm();
  }

  /** One run: the next is planned from now (missed slots fold into this one), then the task is submitted. */
  async #fire(entry: Entry, mono: number, wall: number): Promise<void> {
    const { row } = entry;
    const catchUp = entry.catchUpMono !== undefined;
    entry.catchUpMono = undefined;
    if (row.everyMs !== undefined) entry.dueMono = mono + row.everyMs;
    else if (entry.cron) {
      entry.afterWall = wall;
      entry.slotWall = nextCronRun(entry.cron, wall);
    }
    entry.firing = true;
    try {
      const open = entry.lastTaskId === null ? undefined : await this.#o.getTask(entry.lastTaskId);
      if (open && !FINAL_STATES.has(open.state)) {
        this.#skip(entry, wall, 'open', `its previous run ${open.id} is still ${open.state}`);
        return;
      }
      if (this.#entries.get(row.id) !== entry || this.#state !== 'running') return;
      const task = await this.#o.submit(runRequest(row), `${SCHEDULE_SUBMITTER_PREFIX}${row.id}`);
      entry.lastTaskId = task.id;
      entry.skipKey = undefined;
      row.lastRunAt = wall;
      this.#o.log.debug({ scheduleId: row.id, taskId: task.id, catchUp }, 'schedule ran');
      if (this.#entries.get(row.id) !== entry) return;
      await this.#o.write([{ op: 'schedule-ran', id: row.id, at: wall }]).catch((err: unknown) => {
        // The run is stored; only its time is not: after a restart it may run once more.
        this.#o.log.warn({ err, scheduleId: row.id }, "cannot store a schedule's last run time");
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why = err instanceof RequestError ? 'the task was refused' : 'the task could not be submitted';
      this.#skip(entry, wall, typeof code === 'string' ? code : 'error', `${why}: ${(err as Error).message}`, err);
    } finally {
      entry.firing = false;
    }
  }

  #skip(entry: Entry, at: number, key: string, reason: string, err?: unknown): void {
    entry.lastSkip = { at, reason };
    const fields = { scheduleId: entry.row.id, name: entry.row.name, ...(err === undefined ? {} : { err }) };
    const message = `a scheduled run was skipped: ${reason}`;
    // Once per kind of trouble in a row: a schedule every second on a node that is down says so once.
    if (entry.skipKey === key) this.#o.log.debug(fields, message);
    else if (key === 'open') this.#o.log.info(fields, message);
    else this.#o.log.warn(fields, message);
    entry.skipKey = key;
  }
}

function newEntry(row: ScheduleRow, cron: Cron | undefined, lastTaskId: string | null): Entry {
  return {
    row,
    cron,
    planned: false,
    dueMono: 0,
    afterWall: 0,
    slotWall: null,
    catchUpMono: undefined,
    lastTaskId,
    firing: false,
    lastSkip: null,
    skipKey: undefined,
  };
}
