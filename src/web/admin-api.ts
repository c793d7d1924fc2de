// The operator's routes of the JSON API (the security issue's node lifecycle): approve, deny,
// revoke and forget a node, rotate the cluster token, and make a join code. POST only; behind the same login as the
// rest of the API off loopback. Each answers once the change is stored, and each is recorded in the
// events log with the address it came from.

import { hostname } from 'node:os';
import type { Context, Hono } from 'hono';
import type { Actor, ClusterView } from '../primary/cluster-view.js';
import { RequestError } from '../protocol/errors.js';

function actorOf(c: Context): Actor {
  const address = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
    ?.remoteAddress;
  return address === undefined ? {} : { address };
}

/** `?history=true` (or 1): forget the node's samples and events too. */
function historyParam(c: Context): boolean {
  const text = c.req.query('history');
  if (text === undefined || text === '' || text === 'false' || text === '0') return false;
  if (text === 'true' || text === '1') return true;
  throw new RequestError('ERR_BAD_REQUEST', `history must be true or false, got "${text.slice(0, 40)}"`);
}

export function registerAdminApi(app: Hono, cluster: ClusterView): void {
  app.post('/api/nodes/:id/approve', async (c) => c.json(await cluster.admin.approve(c.req.param('id'), actorOf(c))));
  app.post('/api/nodes/:id/deny', async (c) => c.json(await cluster.admin.deny(c.req.param('id'), actorOf(c))));
  app.post('/api/nodes/:id/revoke', async (c) => c.json(await cluster.admin.revoke(c.req.param('id'), actorOf(c))));
  app.post('/api/nodes/:id/forget', async (c) => {
    const done = await cluster.admin.forget(c.req.param('id'), { history: historyParam(c) }, actorOf(c));
    return c.json({ forgotten: done.id, history: done.history });
  });
  app.post('/api/token/rotate', async (c) => c.json(await cluster.admin.rotateToken(actorOf(c))));
  // A join code and what the join line needs besides (picluster join-command prints the line).
  app.post('/api/join-codes', async (c) => {
    let body: { ttlMs?: unknown; uses?: unknown } = {};
    if (c.req.header('content-type')?.includes('json')) {
      body = ((await c.req.json().catch(() => undefined)) ?? {}) as typeof body;
    }
    const ttlMs = body.ttlMs === undefined ? undefined : Number(body.ttlMs);
    const uses = body.uses === undefined ? undefined : Number(body.uses);
    const grant = await cluster.admin.createJoinCode({ ttlMs, uses }, actorOf(c));
    const { port, tlsFingerprint: fingerprint } = cluster;
    return c.json({ ...grant, port, fingerprint: fingerprint ?? null, host: hostname() }, 201);
  });
}
