// The primary's HTTP side (hono on node:http): JSON API of the public contract. This first cut
// serves /healthz and the node endpoints; the dashboard, SSE and /metrics grow here.

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import type { Primary } from '../primary/primary.js';
import type { Logger } from '../protocol/logger.js';
import { silentLogger } from '../protocol/logger.js';
import { createMetrics, type Metrics } from './metrics.js';

export interface WebServerOptions {
  port: number;
  bind: string;
  logger?: Logger;
}

export interface WebServer {
  readonly port: number;
  close(): Promise<void>;
}

const errorBody = (code: string, message: string) => ({ error: { code, message } });

/** The API as a hono app (tests call `app.request()` without a socket). */
export function createApp(primary: Primary, logger: Logger = silentLogger): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => (primary.ready ? c.json({ status: 'ok' }) : c.json({ status: 'starting' }, 503)));
  app.get('/api/nodes', (c) => c.json({ nodes: primary.nodes() }));
  app.get('/api/nodes/:id', (c) => {
    const node = primary.node(c.req.param('id'));
    return node ? c.json(node) : c.json(errorBody('ERR_NOT_FOUND', `no node with id ${c.req.param('id')}`), 404);
  });
  // Prometheus exposition; the metrics (and prom-client's process collectors) start at the first scrape.
  let metrics: Metrics | undefined;
  app.get('/metrics', async (c) => {
    metrics ??= createMetrics(primary);
    return c.body(await metrics.render(), 200, { 'Content-Type': metrics.contentType });
  });
  app.notFound((c) => c.json(errorBody('ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    // No stack traces to clients: the log has the details.
    logger.error({ err, path: c.req.path }, 'API request failed');
    return c.json(errorBody('ERR_INTERNAL', 'internal error'), 500);
  });
  return app;
}

export async function startWebServer(primary: Primary, options: WebServerOptions): Promise<WebServer> {
  const logger = options.logger ?? silentLogger;
  const app = createApp(primary, logger);
  const server = createAdaptorServer({ fetch: app.fetch, hostname: options.bind });
  server.listen(options.port, options.bind);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw err;
    }),
  ]);
  const port = (server.address() as AddressInfo).port;
  logger.info({ url: `http://${options.bind}:${port}/` }, 'web server listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
