// What a task schedule is made of: the checks of a new schedule (one clear ERR_BAD_REQUEST naming
// what to change), its cron expression read by croner, and the task request of each run. Pure
// functions, for TaskSchedules (task-schedules.ts) and its tests.

import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { RequestError } from '../protocol/errors.js';
import { TASK_ARGS_DEPTH, unsendableWhy } from '../protocol/parse-json.js';
import { parseTarget } from '../protocol/task-target.js';
import { MAX_TASK_TIMEOUT_MS, TASK_KIND_PATTERN, taskRunIssue } from '../protocol/tasks.js';
import type { ScheduleRow } from '../store/store-api.js';
import type { TaskRequest } from './task-scheduler.js';

/** The shortest interval of an `everyMs` schedule, ms. */
export const MIN_EVERY_MS = 1000;
/** The longest interval of an `everyMs` schedule, ms (a year and a day). */
export const MAX_EVERY_MS = 366 * 24 * 3_600_000;
export const MAX_CRON_LENGTH = 200;
export const MAX_NAME_LENGTH = 100;

/**
 * A new schedule, as the API and the library give it: a ScheduleRow's template fields, the name
 * (default `KIND on TARGET`) and args optional; exactly one of `cron` and `everyMs` (at least
 * MIN_EVERY_MS).
 */
export type ScheduleInput = Pick<ScheduleRow, 'kind' | 'on' | 'cron' | 'timezone' | 'everyMs' | 'timeoutMs' | 'ttlMs'> &
  Partial<Pick<ScheduleRow, 'name' | 'args'>>;

const KIND = new RegExp(TASK_KIND_PATTERN);
const bad = (message: string) => new RequestError('ERR_BAD_REQUEST', message);

/** A checked schedule row, not yet stored. @throws RequestError ERR_BAD_REQUEST naming the problem */
export function newScheduleRow(input: ScheduleInput, createdBy: string, now: number): ScheduleRow {
  if (typeof input.kind !== 'string' || input.kind.length > 64 || !KIND.test(input.kind)) {
    throw bad(`invalid task kind "${String(input.kind).slice(0, 80)}": lowercase words joined by . or -`);
  }
  try {
    parseTarget(input.on);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (
    input.args !== undefined &&
    (input.args === null || typeof input.args !== 'object' || Array.isArray(input.args))
  ) {
    throw bad('args must be an object');
  }
  const unsendable = unsendableWhy(input.args ?? {}, TASK_ARGS_DEPTH);
  if (unsendable) throw bad(`args: ${unsendable}`);
  if ((input.cron === undefined) === (input.everyMs === undefined)) {
    throw bad(
      input.cron === undefined
        ? 'a schedule needs cron (a cron expression) or everyMs (milliseconds between runs)'
        : 'give cron or everyMs, not both',
    );
  }
  if (input.everyMs !== undefined) {
    if (!Number.isInteger(input.everyMs) || input.everyMs < MIN_EVERY_MS || input.everyMs > MAX_EVERY_MS) {
      throw bad(`everyMs must be an integer from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}, got ${input.everyMs}`);
    }
    if (input.timezone !== undefined) throw bad('timezone applies to a cron expression, not to everyMs');
  }
  if (input.cron !== undefined) {
    const cron = parseCron(input.cron, input.timezone);
    if (nextCronRun(cron, now) === null) throw bad(`cron expression "${input.cron}" matches no time from now on`);
  }
  for (const [field, min] of [
    ['timeoutMs', 1],
    ['ttlMs', 0],
  ] as const) {
    const value = input[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      throw bad(`${field} must be an integer >= ${min}, got ${value}`);
    }
  }
  if (input.timeoutMs !== undefined && input.timeoutMs > MAX_TASK_TIMEOUT_MS) {
    throw bad(`timeoutMs must be at most ${MAX_TASK_TIMEOUT_MS} (7 days), got ${input.timeoutMs}`);
  }
  // Each run's `task` frame as a node's decoder checks it (at most 64 args, ...): a schedule it
  // refuses would cost every target node its link at every run. Without a timeoutMs of its own,
  // a run takes the primary's default (checked when the run is submitted).
  const probe = randomUUID();
  const issue = taskRunIssue({
    taskId: probe,
    key: `${probe}.1`,
    kind: input.kind,
    args: input.args ?? {},
    timeoutMs: input.timeoutMs ?? 1,
    epoch: 0,
  });
  if (issue) throw bad(`invalid task: ${issue}`);
  if (input.name !== undefined && typeof input.name !== 'string') throw bad('name must be a string');
  const name = (input.name ?? `${input.kind} on ${input.on}`).trim().slice(0, MAX_NAME_LENGTH);
  return {
    id: randomUUID(),
    name: name || input.kind,
    kind: input.kind,
    args: input.args ?? {},
    on: input.on,
    ...(input.cron === undefined ? {} : { cron: input.cron.trim() }),
    ...(input.timezone === undefined ? {} : { timezone: input.timezone }),
    ...(input.everyMs === undefined ? {} : { everyMs: input.everyMs }),
    ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }),
    ...(input.ttlMs === undefined ? {} : { ttlMs: input.ttlMs }),
    enabled: true,
    createdAt: now,
    createdBy,
    lastRunAt: null,
  };
}

/**
 * A cron expression read by croner: 5 fields (or 6, seconds first), day of month and day of week
 * OR-ed as in Vixie cron, in `timezone` (an IANA name; default the process's local zone).
 * @throws RequestError ERR_BAD_REQUEST naming the problem
 */
export function parseCron(expression: string, timezone?: string): Cron {
  if (typeof expression !== 'string' || expression.length > MAX_CRON_LENGTH) {
    throw bad(`a cron expression is a string of at most ${MAX_CRON_LENGTH} characters`);
  }
  if (timezone !== undefined) {
    try {
      // Intl knows the zones croner can use; croner itself notices a bad one only when it computes.
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    } catch {
      throw bad(`unknown time zone "${String(timezone).slice(0, 64)}": use an IANA name such as Europe/Berlin or UTC`);
    }
  }
  try {
    return new Cron(expression.trim(), { paused: true, mode: '5-or-6-parts', timezone });
  } catch (err) {
    const why = (err as Error).message.replace(/^CronPattern: /, '');
    throw bad(
      `invalid cron expression "${expression.slice(0, 80)}": ${why} (minute hour day-of-month month day-of-week, e.g. "*/5 * * * *")`,
    );
  }
}

/** The first time the expression matches after `after` (epoch ms), or null when it never will. */
export function nextCronRun(cron: Cron, after: number): number | null {
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}

/** The task request of one run of a schedule. */
export function runRequest(row: ScheduleRow): TaskRequest {
  return {
    kind: row.kind,
    args: row.args,
    on: row.on,
    ...(row.timeoutMs === undefined ? {} : { timeoutMs: row.timeoutMs }),
    ...(row.ttlMs === undefined ? {} : { ttlMs: row.ttlMs }),
  };
}
