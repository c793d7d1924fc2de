// The schedules routes of the JSON API: list the task schedules (each with its next run and newest
// runs), add one (a task template, a target, and a cron expression or an interval), remove one.
// A schedule's runs are ordinary tasks (submittedBy `schedule:ID`), listed by /api/tasks too.

import type { Context, Hono } from 'hono';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { ClusterView } from '../primary/cluster-view.js';
import { RequestError } from '../protocol/errors.js';
import { TASK_KIND_PATTERN } from '../protocol/tasks.js';
import { submitterOf } from './tasks-api.js';

const DAY_MS = 24 * 3_600_000;

export const ScheduleSubmission = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  kind: Type.String({ maxLength: 64, pattern: TASK_KIND_PATTERN }),
  args: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
  on: Type.String({ minLength: 1, maxLength: 600 }),
  cron: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  everyMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 366 * DAY_MS })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * DAY_MS })),
  ttlMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * DAY_MS })),
});

const checkSubmission = Compile(ScheduleSubmission);
const SCHEDULE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const badRequest = (message: string) => new RequestError('ERR_BAD_REQUEST', message);
const SHAPE = '{"kind", "on", "cron" or "everyMs", "args"?, "name"?, "timezone"?, "timeoutMs"?, "ttlMs"?}';

function schedulesOf(cluster: ClusterView): NonNullable<ClusterView['schedules']> {
  if (!cluster.schedules) throw new RequestError('ERR_NOT_FOUND', 'this primary runs no task schedules');
  return cluster.schedules;
}

function scheduleId(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!SCHEDULE_ID.test(id)) throw badRequest(`invalid schedule id "${id.slice(0, 80)}"`);
  return id;
}

export function registerSchedulesApi(app: Hono, cluster: ClusterView): void {
  app.get('/api/schedules', async (c) => c.json({ schedules: await schedulesOf(cluster).list() }));

  app.post('/api/schedules', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw badRequest(`the body must be JSON: ${SHAPE}`);
    }
    if (!checkSubmission.Check(body)) {
      const first = checkSubmission.Errors(body)[0];
      throw badRequest(`invalid schedule: ${first?.instancePath || '/'} ${first?.message ?? `is not ${SHAPE}`}`);
    }
    return c.json(await schedulesOf(cluster).create(body, submitterOf(c)), 201);
  });

  app.delete('/api/schedules/:id', async (c) => {
    const removed = await schedulesOf(cluster).remove(scheduleId(c));
    return c.json({ removed: removed.id });
  });
}
