// The primary's HTTP side (hono on node:http): the JSON API and live stream of the public
// contract, Prometheus /metrics, the dashboard, and the login that guards them off loopback.

import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { ClusterView } from '../primary/cluster-view.js';
import { checkedToken, randomHex } from '../protocol/auth.js';
import { NotLeaderError, RequestError } from '../protocol/errors.js';
import { registerAdminApi } from './admin-api.js';
import { registerAlertsApi } from './alerts-api.js';
import { errorBody, registerApi } from './api.js';
import { isLoopback, WebAuth } from './auth.js';
import { apiBodyLimit, loginBodyLimit, sameOriginWrites } from './guards.js';
import { createMetrics, type Metrics, type WebStats } from './metrics.js';
import { registerSchedulesApi } from './schedules-api.js';
import { registerStatic } from './static.js';
import { StreamHub } from './stream-hub.js';
import { registerTasksApi } from './tasks-api.js';

export interface WebServerOptions {
  port: number;
  bind: string;
  /** Admin token for a non-loopback bind; default DATA/admin-token, created (0600) when missing. */
  adminToken?: string;
  /** Require the login even on loopback (tests). */
  requireLogin?: boolean;
  /** Coalescing interval of the live stream, ms. Default 1000. */
  streamCoalesceMs?: number;
  /** Live-stream clients at once (503 past it). Default DEFAULTS.maxStreams. */
  maxStreams?: number;
  /** HTTPS with this certificate and key (PEM); the session cookie is then `Secure`. Default HTTP. */
  tls?: { cert: string; key: string };
  logger?: Logger;
}

export interface WebServer {
  readonly port: number;
  readonly hub: StreamHub;
  close(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
  hub?: StreamHub;
  auth?: WebAuth;
  /** Live-stream clients at once. Default DEFAULTS.maxStreams. */
  maxStreams?: number;
}

/** The HTTP app (tests call `app.request()` without a socket). */
export function createApp(cluster: ClusterView, options: AppOptions | Logger = {}): Hono {
  const {
    logger = silentLogger,
    hub,
    auth,
    maxStreams = DEFAULTS.maxStreams,
  } = 'debug' in options ? { logger: options } : (options as AppOptions);
  const app = new Hono();
  const webStats: WebStats = { streams: 0, streamsRefused: 0 };
  // Before anything reads a body or changes a thing: bounded bodies, same-origin writes.
  app.use('/login', loginBodyLimit);
  app.use('*', apiBodyLimit);
  app.use('*', sameOriginWrites);
  app.get('/healthz', (c) => {
    if (cluster.ready) return c.json({ status: 'ok' });
    // A standby of an HA cluster is up, but not the primary to use: 503, naming the leader.
    const ha = cluster.leadership;
    if (ha && ha.state !== 'leader') return c.json({ status: 'standby', leader: ha.leader?.address ?? null }, 503);
    return c.json({ status: 'starting' }, 503);
  });
  // Who leads (issue 17): null on a single primary. Read before the login: a load balancer or a
  // script finds the leader with it (it names addresses, no secret).
  app.get('/api/leadership', (c) => c.json({ leadership: cluster.leadership ?? null }));
  if (auth) {
    app.use('*', auth.guard);
    auth.register(app);
  } else {
    // Without a login the server is loopback-only; refusing other Host names stops a web page
    // from reaching it through DNS rebinding.
    app.use('*', async (c, next) => {
      // The request URL is built from the Host header by the node adapter.
      const host = new URL(c.req.url).hostname;
      if (isLoopback(host.replace(/^\[|\]$/g, ''))) return next();
      return c.json(errorBody('ERR_AUTH', `host ${host.slice(0, 100)} is not this loopback server`), 403);
    });
    app.get('/api/session', (c) => c.json({ authenticated: true, csrfToken: null }));
  }
  registerApi(app, cluster, hub ?? new StreamHub(cluster, { logger }), { maxStreams, stats: webStats });
  registerAdminApi(app, cluster);
  registerTasksApi(app, cluster);
  registerSchedulesApi(app, cluster);
  registerAlertsApi(app, cluster);
  // Prometheus exposition; the metrics (and prom-client's process collectors) start at the first scrape.
  let metrics: Metrics | undefined;
  app.get('/metrics', (c) => {
    metrics ??= createMetrics(cluster, webStats);
    // Streamed as it is rendered: a 10,000-node scrape is never one 30 MB string.
    const pieces = metrics.chunks();
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await pieces.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        } catch (err) {
          // The 200 is out: the response is cut short, which Prometheus counts as a failed scrape
          // (up 0), never as a partial one taken for whole. The log says why.
          logger.error({ err }, '/metrics failed while rendering; the scrape was cut short');
          controller.error(err);
        }
      },
      async cancel() {
        await pieces.return(undefined);
      },
    });
    return c.body(body, 200, { 'Content-Type': metrics.contentType });
  });
  registerStatic(app);
  app.notFound((c) => c.json(errorBody('ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    if (err instanceof RequestError) return c.json(errorBody(err.code, err.message), HTTP_STATUS[err.code]);
    if (err instanceof NotLeaderError) {
      const body = errorBody(err.code, err.message);
      return c.json({ error: { ...body.error, leader: err.leader ?? null } }, 503);
    }
    // No stack traces to clients: the log has the details.
    logger.error({ err, path: c.req.path }, 'API request failed');
    return c.json(errorBody('ERR_INTERNAL', 'internal error'), 500);
  });
  return app;
}

const HTTP_STATUS = { ERR_BAD_REQUEST: 400, ERR_FORBIDDEN: 403, ERR_NOT_FOUND: 404, ERR_CONFLICT: 409 } as const;

export async function startWebServer(cluster: ClusterView, options: WebServerOptions): Promise<WebServer> {
  const logger = options.logger ?? silentLogger;
  const hub = new StreamHub(cluster, { coalesceMs: options.streamCoalesceMs, logger });
  hub.start();
  const needsLogin = options.requireLogin === true || !isLoopback(options.bind);
  const auth = needsLogin
    ? new WebAuth(options.adminToken ?? loadOrCreateAdminToken(cluster.dataDir, logger), {
        secure: options.tls !== undefined,
        onLogin: (address, ok) => cluster.admin.loginAttempt(address, ok),
      })
    : undefined;
  const app = createApp(cluster, { logger, hub, auth, maxStreams: options.maxStreams });
  const server = options.tls
    ? createAdaptorServer({
        fetch: app.fetch,
        hostname: options.bind,
        createServer: https.createServer,
        serverOptions: { cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' },
      })
    : createAdaptorServer({ fetch: app.fetch, hostname: options.bind });
  server.listen(options.port, options.bind);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    hub.stop();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  logger.info({ url: `${scheme}://${options.bind}:${port}/`, login: needsLogin }, 'web server listening');
  return {
    port,
    hub,
    close: () =>
      new Promise<void>((resolve) => {
        hub.stop();
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** The admin token in DATA/admin-token, made (mode 0600) on first need. Never logged. */
function loadOrCreateAdminToken(dataDir: string, logger: Logger): string {
  const file = join(dataDir, 'admin-token');
  // An empty or short file must not make an empty token the key to the API.
  if (existsSync(file)) return checkedToken(readFileSync(file, 'utf8').trim(), `the admin token file ${file}`);
  const token = randomHex(32);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  logger.info({ tokenFile: file }, 'created the admin token for the web login and the API (off loopback)');
  return token;
}
