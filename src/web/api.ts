// The JSON API of the public contract (ARCHITECTURE.md): nodes, one node, a node's vitals over a
// range, the events log, and the live stream. Query parameters are validated; bad input gets a
// 400 with the contract's error body naming what is wrong.

import type { Context, Hono } from 'hono';
import { compress } from 'hono/compress';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import type { ClusterView } from '../primary/cluster-view.js';
import { RequestError } from '../protocol/errors.js';
import type { WebStats } from './metrics.js';
import type { StreamHub, StreamMessage } from './stream-hub.js';

const HOUR_MS = 3_600_000;
/** The widest range one vitals query may ask for (two years). */
const MAX_RANGE_MS = 2 * 366 * 24 * HOUR_MS;
/** Messages queued for one slow SSE client before it is sent `reset` instead. */
const MAX_CLIENT_QUEUE = 1000;
/**
 * And characters: at 10,000 nodes a second's `vitals` message is about half a megabyte, so a
 * client that stops reading held up to 1,000 of them (found by review).
 */
export const MAX_CLIENT_QUEUE_CHARS = 4 * 1024 * 1024;

export const errorBody = (code: string, message: string) => ({ error: { code, message } });

const badRequest = (message: string) => new RequestError('ERR_BAD_REQUEST', message);

/** An integer query parameter within [min, max], or `fallback` when absent. */
function intParam(c: Context, name: string, min: number, max: number, fallback: number): number {
  const text = c.req.query(name);
  if (text === undefined || text === '') return fallback;
  if (!/^-?\d+$/.test(text)) throw badRequest(`${name} must be an integer, got "${text.slice(0, 40)}"`);
  const value = Number(text);
  if (value < min || value > max) throw badRequest(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

export interface ApiOptions {
  /** Live-stream clients at once; past it, 503. */
  maxStreams: number;
  /** Counted here: streams now and refused. */
  stats: WebStats;
}

export function registerApi(app: Hono, cluster: ClusterView, hub: StreamHub, options: ApiOptions): void {
  const { stats } = options;
  // JSON answers gzipped for clients that take it: /api/nodes for 1,000 nodes is about 1 MB of
  // repetitive JSON (the dashboard bench), a small fraction of that gzipped, for a phone on the
  // LAN (about 7 ms of zlib, off the event loop). Never the stream: its content type is left alone.
  app.use('/api/*', compress());
  app.get('/api/nodes', (c) => c.json({ nodes: cluster.nodes() }));

  app.get('/api/nodes/:id', (c) => {
    const node = cluster.node(c.req.param('id'));
    return node ? c.json(node) : c.json(errorBody('ERR_NOT_FOUND', `no node with id ${c.req.param('id')}`), 404);
  });

  app.get('/api/nodes/:id/vitals', async (c) => {
    const id = c.req.param('id');
    if (!cluster.node(id)) return c.json(errorBody('ERR_NOT_FOUND', `no node with id ${id}`), 404);
    const now = Date.now();
    const to = intParam(c, 'to', 0, now + 24 * HOUR_MS, now);
    const from = intParam(c, 'from', 0, to, to - HOUR_MS);
    if (to - from > MAX_RANGE_MS) throw badRequest(`the range from..to may span at most ${MAX_RANGE_MS} ms`);
    const stepMs = c.req.query('stepMs') ? intParam(c, 'stepMs', 1, MAX_RANGE_MS, 1) : undefined;
    if (from >= to) throw badRequest('from must be before to');
    const series = await cluster.history.vitalsSeries(id, from, to, stepMs, now);
    return c.json({ nodeId: id, ...series });
  });

  app.get('/api/events', async (c) => {
    const node = c.req.query('node') || undefined;
    const since = intParam(c, 'since', 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = intParam(c, 'limit', 1, 1000, 100);
    // Paging back through the log: the events older than the oldest id of the last page.
    const before = intParam(c, 'before', 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    return c.json({ events: await cluster.history.events({ node, since, before, limit }) });
  });

  app.get('/api/stream', (c) => {
    // A standby has no live stream: reading its history throws NotLeaderError, answered 503 with
    // the leader (server.ts) before a slot is taken. (The dashboard reopens with backoff.)
    if (!cluster.history) throw new Error('the cluster view has no history');
    // Each stream holds a socket and a queue: a bounded number of them.
    if (stats.streams >= options.maxStreams) {
      stats.streamsRefused++;
      return c.json(
        errorBody('ERR_TOO_MANY_STREAMS', `${options.maxStreams} live streams are open: try again later`),
        503,
        { 'Retry-After': '10' },
      );
    }
    stats.streams++;
    let counted = true;
    const release = () => {
      if (counted) stats.streams--;
      counted = false;
    };
    const header = c.req.header('last-event-id');
    const lastEventId = header && /^\d+$/.test(header) ? Number(header) : undefined;
    return streamSSE(c, async (stream) => {
      // Whatever happens in here, the slot and the hub's subscription are given back (a throw
      // would keep them for ever).
      let unsubscribe = (): void => {};
      try {
        await serve(stream, (stop) => {
          unsubscribe = stop;
        });
      } finally {
        unsubscribe();
        release();
      }
    });
    async function serve(stream: SSEStreamingApi, subscribed: (unsubscribe: () => void) => void): Promise<void> {
      // Reconnect after 1 s, not the browser's default 3 s, when the primary comes back.
      await stream.write('retry: 1000\n\n');
      const queue: StreamMessage[] = [];
      let queuedChars = 0;
      let wake: (() => void) | undefined;
      const unsubscribe = hub.subscribe((message) => {
        // (A message alone is queued whatever its size: a client that keeps up never gets reset.)
        const tooMuch = queue.length > 0 && queuedChars + message.data.length > MAX_CLIENT_QUEUE_CHARS;
        if (queue.length >= MAX_CLIENT_QUEUE || tooMuch) {
          // A client this far behind gets a fresh start rather than unbounded memory here.
          queue.length = 0;
          queue.push({ id: message.id, event: 'reset', data: '{}' });
          queuedChars = 2;
        } else {
          queue.push(message);
          queuedChars += message.data.length;
        }
        wake?.();
      }, lastEventId);
      subscribed(unsubscribe);
      stream.onAbort(() => {
        unsubscribe();
        release();
        wake?.();
      });
      let lastWrite = performance.now();
      while (!stream.aborted && !stream.closed) {
        const message = queue.shift();
        if (message) {
          queuedChars -= message.data.length;
          await stream.writeSSE({ id: String(message.id), event: message.event, data: message.data });
          lastWrite = performance.now();
          continue;
        }
        if (performance.now() - lastWrite >= 15_000) {
          await stream.write(': keepalive\n\n'); // keeps proxies from closing an idle stream
          lastWrite = performance.now();
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 15_000);
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          };
        });
      }
      unsubscribe();
    }
  });
}
