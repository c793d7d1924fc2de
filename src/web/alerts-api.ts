// The alerts routes of the JSON API: open alerts and their history, rules (the config file's and
// the shipped defaults read-only; rules made here are stored), silences, and the channels with a
// test message. Changes to alerts also go out on /api/stream as `alert` messages.

import type { Context, Hono } from 'hono';
import type { AlertsApi } from '../alerts/alert-service.js';
import type { ClusterView } from '../primary/cluster-view.js';
import { RequestError } from '../protocol/errors.js';
import type { AlertQuery, AlertState } from '../store/store-api.js';
import { errorBody } from './api.js';
import { submitterOf } from './tasks-api.js';

const STATES: readonly AlertState[] = ['pending', 'firing', 'resolved'];
const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const badRequest = (message: string) => new RequestError('ERR_BAD_REQUEST', message);

function alertsOf(cluster: ClusterView): AlertsApi {
  if (!cluster.alerts) throw new RequestError('ERR_NOT_FOUND', 'this primary runs no alerts');
  return cluster.alerts;
}

function stateOf(c: Context): AlertState | undefined {
  const state = c.req.query('state');
  if (state === undefined || state === '') return undefined;
  if (!STATES.includes(state as AlertState)) throw badRequest(`state must be one of ${STATES.join(', ')}`);
  return state as AlertState;
}

function param(c: Context, name: string): string {
  const value = c.req.param(name) ?? '';
  if (!ID.test(value)) throw badRequest(`invalid ${name} "${value.slice(0, 80)}"`);
  return value;
}

async function bodyOf(c: Context, shape: string): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw badRequest(`the body must be JSON: ${shape}`);
  }
}

export function registerAlertsApi(app: Hono, cluster: ClusterView): void {
  app.get('/api/alerts', async (c) => c.json({ alerts: await alertsOf(cluster).list(stateOf(c)) }));

  app.get('/api/alerts/history', async (c) => {
    const query: AlertQuery = { state: stateOf(c) };
    for (const key of ['node', 'rule', 'before'] as const) {
      const value = c.req.query(key);
      if (value !== undefined && value !== '') query[key] = value.slice(0, 128);
    }
    const limit = c.req.query('limit');
    if (limit !== undefined) {
      const n = Number(limit);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw badRequest('limit must be an integer from 1 to 1000');
      query.limit = n;
    }
    return c.json({ alerts: await alertsOf(cluster).history(query) });
  });

  app.get('/api/alerts/rules', (c) => c.json({ rules: alertsOf(cluster).rules() }));
  app.post('/api/alerts/rules', async (c) => {
    const rule = await alertsOf(cluster).putRule(await bodyOf(c, '{"name", "kind", ...}'));
    return c.json({ rule }, 201);
  });
  app.delete('/api/alerts/rules/:name', async (c) => {
    const removed = await alertsOf(cluster).removeRule(param(c, 'name'));
    return c.json({ removed: removed.name });
  });

  app.get('/api/alerts/channels', (c) => c.json({ channels: alertsOf(cluster).channels() }));
  app.post('/api/alerts/channels/:name/test', async (c) => {
    const name = param(c, 'name');
    try {
      await alertsOf(cluster).test(name);
    } catch (err) {
      if (err instanceof RequestError) throw err;
      // The receiver's answer, not ours: a gateway error.
      return c.json(errorBody('ERR_CHANNEL', `channel ${name} failed: ${(err as Error).message.slice(0, 300)}`), 502);
    }
    return c.json({ sent: true, channel: name });
  });

  app.get('/api/silences', (c) => c.json({ silences: alertsOf(cluster).silences() }));
  app.post('/api/silences', async (c) => {
    const body = await bodyOf(c, '{"rule"?, "node"?, "labels"?, "until" or "for", "comment"?}');
    const silence = await alertsOf(cluster).silence(body, submitterOf(c));
    return c.json({ silence }, 201);
  });
  app.delete('/api/silences/:id', async (c) => {
    const removed = await alertsOf(cluster).unsilence(param(c, 'id'));
    return c.json({ removed: removed.id });
  });
}
