// `picluster schedules`: list, add and remove task schedules through the primary's JSON API. A
// schedule's arguments are taken as `picluster run` takes them (argsOf). Text from the API reaches
// the terminal only through printable().

import { definedOnly } from '../common/defined-only.js';
import type { ScheduleView } from '../primary/task-schedules.js';
import { ApiCallError, callApi, printable, textTable, timeOf } from './api-client.js';
import type { Config } from './config.js';
import { argsOf, reportErrors } from './tasks.js';

export interface ScheduleAddOptions {
  on: string;
  cron?: string;
  timezone?: string;
  everyMs?: number;
  name?: string;
  args?: string;
  timeoutMs?: number;
  ttlMs?: number;
  json: boolean;
}

export async function runSchedulesList(config: Config, options: { json: boolean }): Promise<number> {
  return reportErrors(async () => {
    const body = await callApi<{ schedules: ScheduleView[] }>(config, 'GET', '/api/schedules');
    process.stdout.write(options.json ? `${JSON.stringify(body, null, 2)}\n` : formatScheduleTable(body.schedules));
    return 0;
  });
}

export async function runScheduleAdd(
  config: Config,
  kind: string,
  words: string[],
  options: ScheduleAddOptions,
): Promise<number> {
  return reportErrors(async () => {
    if ((options.cron === undefined) === (options.everyMs === undefined)) {
      throw new ApiCallError('a schedule needs --cron EXPR or --every MS (one of them)');
    }
    if (options.timezone !== undefined && options.cron === undefined) {
      throw new ApiCallError('--timezone applies to --cron only');
    }
    const body = definedOnly({
      kind,
      on: options.on,
      args: argsOf(kind, words, options.args),
      name: options.name,
      cron: options.cron,
      timezone: options.timezone,
      everyMs: options.everyMs,
      timeoutMs: options.timeoutMs,
      ttlMs: options.ttlMs,
    });
    const schedule = await callApi<ScheduleView>(config, 'POST', '/api/schedules', body);
    process.stdout.write(
      options.json
        ? `${JSON.stringify(schedule, null, 2)}\n`
        : `${schedule.id} next run ${timeOf(schedule.nextRunAt)}\n`,
    );
    return 0;
  });
}

export async function runScheduleRemove(config: Config, id: string): Promise<number> {
  return reportErrors(async () => {
    const body = await callApi<{ removed: string }>(config, 'DELETE', `/api/schedules/${encodeURIComponent(id)}`);
    process.stdout.write(`${printable(body.removed)} removed\n`);
    return 0;
  });
}

/** When a schedule runs, in words: `cron 0 3 * * 1-5 (Europe/Berlin)`, `every 30 s`. */
export function whenOf(schedule: Pick<ScheduleView, 'cron' | 'timezone' | 'everyMs'>): string {
  if (schedule.cron !== undefined) {
    return `cron ${printable(schedule.cron)}${schedule.timezone ? ` (${printable(schedule.timezone)})` : ''}`;
  }
  const ms = schedule.everyMs ?? 0;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `every ${ms / size} ${unit}`;
  }
  return `every ${ms} ms`;
}

/** The schedules as a table; LAST RUNS are the newest runs' states, newest first. */
export function formatScheduleTable(schedules: ScheduleView[]): string {
  const rows = schedules.map((s) => [
    s.id,
    printable(s.name),
    printable(s.kind),
    printable(s.on),
    whenOf(s),
    s.enabled ? timeOf(s.nextRunAt) : 'disabled',
    s.lastRuns.length > 0 ? s.lastRuns.map((r) => r.state).join(' ') : '-',
  ]);
  const skipped = schedules
    .filter((s) => s.lastSkip)
    .map((s) => `${s.id}: last skipped ${timeOf(s.lastSkip?.at)}: ${printable(s.lastSkip?.reason ?? '')}\n`);
  return `${textTable(['ID', 'NAME', 'KIND', 'TARGET', 'WHEN', 'NEXT RUN (UTC)', 'LAST RUNS'], rows)}${skipped.join('')}`;
}
