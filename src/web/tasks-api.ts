// The tasks routes of the JSON API (the tasks issue's contract): submit a task, read one (a
// broadcast with its children), list them by state and node, cancel one. A submission answers once
// the task is stored: a primary killed right after the answer still runs it.

import type { Context, Hono } from 'hono';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { ClusterView } from '../primary/cluster-view.js';
import { RequestError } from '../protocol/errors.js';
import { TASK_ID_PATTERN, TASK_KIND_PATTERN, TASK_STATES, type TaskState } from '../protocol/tasks.js';

const DAY_MS = 24 * 3_600_000;

export const TaskSubmission = Type.Object({
  kind: Type.String({ maxLength: 64, pattern: TASK_KIND_PATTERN }),
  args: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
  on: Type.String({ minLength: 1, maxLength: 600 }),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * DAY_MS })),
  ttlMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * DAY_MS })),
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  rolling: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d{1,3}%$' })])),
  thenReboot: Type.Optional(Type.Boolean()),
});

const checkSubmission = Compile(TaskSubmission);
const TASK_ID = new RegExp(TASK_ID_PATTERN);
const badRequest = (message: string) => new RequestError('ERR_BAD_REQUEST', message);

/** Who asks, as the task records it: how the request proved itself, and the client it says it is. */
export function submitterOf(c: Context): string {
  const how = /^Bearer /i.test(c.req.header('authorization') ?? '')
    ? 'api-token'
    : c.req.header('x-csrf-token')
      ? 'login'
      : 'loopback';
  const client = (c.req.header('x-picluster-client') ?? '').replace(/[^a-z0-9.-]/gi, '').slice(0, 32);
  return client ? `${client} (${how})` : how;
}

function taskId(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!TASK_ID.test(id)) throw badRequest(`invalid task id "${id.slice(0, 80)}"`);
  return id;
}

export function registerTasksApi(app: Hono, cluster: ClusterView): void {
  app.post('/api/tasks', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw badRequest('the body must be JSON: {"kind", "on", "args"?, "timeoutMs"?, "ttlMs"?, "retries"?}');
    }
    if (!checkSubmission.Check(body)) {
      const first = checkSubmission.Errors(body)[0];
      throw badRequest(`invalid task: ${first?.instancePath || '/'} ${first?.message ?? 'is not a task'}`);
    }
    const task = await cluster.tasks.submit(body, submitterOf(c));
    return c.json(task, 201);
  });

  app.get('/api/tasks', async (c) => {
    const state = c.req.query('state');
    if (state !== undefined && !(TASK_STATES as readonly string[]).includes(state)) {
      throw badRequest(`state must be one of ${TASK_STATES.join(', ')}, got "${state.slice(0, 40)}"`);
    }
    const limitText = c.req.query('limit') ?? '100';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) throw badRequest('limit must be between 1 and 1000');
    const node = c.req.query('node') || undefined;
    const before = c.req.query('before') || undefined;
    const parent = c.req.query('parent') || undefined;
    const tasks = await cluster.tasks.list({
      state: state as TaskState | undefined,
      node,
      before,
      parent,
      // The default listing shows broadcasts once, not once per node.
      topLevel: node === undefined && parent === undefined,
      limit,
    });
    return c.json({ tasks });
  });

  app.get('/api/tasks/:id', async (c) => {
    const id = taskId(c);
    const task = await cluster.tasks.get(id);
    if (!task) throw new RequestError('ERR_NOT_FOUND', `no task ${id}`);
    const children = await cluster.tasks.list({ parent: id, limit: 100_000 });
    return c.json(children.length > 0 ? { ...task, children: children.reverse() } : task);
  });

  app.post('/api/tasks/:id/cancel', async (c) =>
    c.json(await cluster.tasks.cancel(taskId(c), `cancelled by ${submitterOf(c)}`)),
  );
}
