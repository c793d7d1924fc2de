// The HTTP API against a real primary with a real secondary: every endpoint, bad parameters,
// the live stream (coalesced, resumable), and the login off loopback.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Secondary } from '../../src/secondary/secondary.js';
import { startWebServer } from '../../src/web/server.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'api-test-cluster-token-0123';
const ADMIN = 'api-test-admin-token-0123456789';

const info = {
  hostname: 'pi',
  os: 'test',
  kernel: '6',
  arch: 'arm64',
  cpuModel: 'Cortex-A72',
  cpuCores: 4,
  ramTotalBytes: 4e9,
  swapTotalBytes: 0,
  version: 'test',
};

async function cluster(t: TestContext, web: { bind?: string; requireLogin?: boolean } = {}) {
  const dir = tempDir(t);
  const primary = await startLibraryPrimary(t, { dataDir: join(dir, 'p'), token: TOKEN, heartbeatIntervalMs: 300 });
  const server = await startWebServer(primary, {
    port: 0,
    bind: web.bind ?? '127.0.0.1',
    requireLogin: web.requireLogin,
    adminToken: ADMIN,
    streamCoalesceMs: 100,
  });
  t.after(() => server.close());
  const secondary = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: join(dir, 's'),
    name: 'pi-api',
    labels: { rack: '1' },
    token: TOKEN,
    tls: { fingerprint: primary.tlsFingerprint as string },
    vitalsPeriodMs: 100,
    machineInfo: async () => info,
    machineId: async () => 'm-api',
    vitals: {
      read: async () => ({
        ts: Date.now(),
        cpuPercent: 42,
        ramAvailableBytes: 1e9,
        swapFreeBytes: 0,
        load1: 1,
        load5: 1,
        load15: 1,
        uptimeS: 5,
        tempC: 50,
        disks: [],
        nets: [],
      }),
    },
  });
  await secondary.start();
  t.after(() => secondary.stop());
  await once(secondary, 'online');
  const base = `http://127.0.0.1:${server.port}`;
  await waitUntil(
    async () =>
      (
        (await (await fetch(`${base}/api/nodes`, { headers: bearer() })).json()) as {
          nodes: Array<{ vitals: unknown }>;
        }
      ).nodes[0]?.vitals,
    5000,
    'vitals',
  );
  return { primary, secondary, base, server };
}

const bearer = () => ({ authorization: `Bearer ${ADMIN}` });

async function getJson(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Reads server-sent events from /api/stream until `until` says stop or the time runs out. */
async function readStream(
  url: string,
  headers: Record<string, string>,
  until: (events: Array<{ id: string; event: string; data: string }>) => boolean,
  timeoutMs = 5000,
) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: Array<{ id: string; event: string; data: string }> = [];
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      let end = text.indexOf('\n\n');
      while (end !== -1) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((l) => !l.startsWith(':'))
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
        );
        if (fields.event) events.push({ id: fields.id ?? '', event: fields.event, data: fields.data ?? '' });
        end = text.indexOf('\n\n');
      }
      if (until(events)) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

describe('HTTP API', () => {
  it('serves every endpoint of the contract', async (t) => {
    const { base, secondary, primary } = await cluster(t);
    const health = await getJson(`${base}/healthz`);
    assert.deepEqual(health, { status: 200, body: { status: 'ok' } });
    const nodes = await getJson(`${base}/api/nodes`);
    const [node] = nodes.body.nodes as Array<Record<string, unknown>>;
    assert.deepEqual(Object.keys(node ?? {}).sort(), [
      'address',
      'clockSkewMs',
      'connectedSince',
      'id',
      'info',
      'labels',
      'lastSeen',
      'legacy',
      'name',
      'state',
      'vitals',
    ]);
    assert.deepEqual(
      [node?.id, node?.name, node?.state, node?.labels, node?.legacy],
      [secondary.nodeId, 'pi-api', 'online', { rack: '1' }, false],
    );
    const one = await getJson(`${base}/api/nodes/${secondary.nodeId}`);
    assert.equal(one.body.id, secondary.nodeId);
    const vitals = await getJson(`${base}/api/nodes/${secondary.nodeId}/vitals`);
    assert.equal(vitals.status, 200);
    assert.deepEqual(Object.keys(vitals.body).sort(), ['from', 'nodeId', 'points', 'resolution', 'stepMs', 'to']);
    assert.equal((vitals.body.to as number) - (vitals.body.from as number), 3_600_000, 'default: the last hour');
    const points = vitals.body.points as Array<{ ts: number; cpuPercent: number; tempC: number }>;
    assert.ok(points.length > 0 && points.length <= 1000);
    assert.deepEqual([points[0]?.cpuPercent, points[0]?.tempC], [42, 50]);
    const events = await getJson(`${base}/api/events?limit=10`);
    assert.deepEqual(
      (events.body.events as Array<{ type: string; node: string }>).map((e) => [e.type, e.node]),
      [['joined', secondary.nodeId]],
    );
    // Paging back: `before` an event id gives the older ones, newest first.
    for (let i = 0; i < 5; i++) {
      await primary.store.applyNodeChanges([{ op: 'event', ts: Date.now(), nodeId: null, type: 'test', data: { i } }]);
    }
    const newest = (await getJson(`${base}/api/events?limit=2`)).body.events as Array<{ id: number; i?: number }>;
    assert.deepEqual(
      newest.map((e) => e.i),
      [4, 3],
    );
    const older = (await getJson(`${base}/api/events?limit=2&before=${newest[1]?.id}`)).body.events as typeof newest;
    assert.deepEqual(
      older.map((e) => e.i),
      [2, 1],
    );
    const oldest = (await getJson(`${base}/api/events?limit=10&before=${older[1]?.id}`)).body.events as typeof newest;
    assert.deepEqual(
      oldest.map((e) => e.i ?? 'joined'),
      [0, 'joined'],
    );
    const metrics = await fetch(`${base}/metrics`);
    assert.match(
      await metrics.text(),
      new RegExp(`picluster_node_up\\{node_id="${secondary.nodeId}",node_name="pi-api"\\} 1`),
    );
  });

  it('answers bad input with 400 or 404 and the contract error body, no stack traces', async (t) => {
    const { base, secondary } = await cluster(t);
    const cases: Array<[string, number, RegExp]> = [
      [`/api/nodes/nope`, 404, /no node with id nope/],
      [`/api/nodes/nope/vitals`, 404, /no node/],
      [`/api/nodes/${secondary.nodeId}/vitals?from=abc`, 400, /from must be an integer/],
      [`/api/nodes/${secondary.nodeId}/vitals?from=10&to=5`, 400, /between 0 and 5/],
      [`/api/nodes/${secondary.nodeId}/vitals?stepMs=0`, 400, /stepMs must be between 1/],
      [`/api/nodes/${secondary.nodeId}/vitals?from=0&to=100000000000000`, 400, /to must be between/],
      [`/api/events?limit=5000`, 400, /limit must be between 1 and 1000/],
      [`/api/events?before=x`, 400, /before must be an integer/],
      [`/api/nope`, 404, /no route GET \/api\/nope/],
    ];
    for (const [path, status, message] of cases) {
      const { status: got, body } = await getJson(`${base}${path}`);
      assert.equal(got, status, path);
      const error = body.error as { code: string; message: string };
      assert.match(error.message, message, path);
      assert.ok(!/at \w+ \(|node_modules/.test(JSON.stringify(body)), 'no stack trace');
    }
  });

  it('streams node changes, coalesced vitals and log events, and resumes with Last-Event-ID', async (t) => {
    const { base, secondary } = await cluster(t);
    const first = await readStream(`${base}/api/stream`, {}, (e) => e.filter((x) => x.event === 'vitals').length >= 3);
    const vitals = first.filter((e) => e.event === 'vitals');
    const payload = JSON.parse(vitals[0]?.data ?? '{}') as { nodes: Record<string, { cpuPercent: number }> };
    assert.equal(payload.nodes[secondary.nodeId]?.cpuPercent, 42);
    // Samples every 100 ms, coalesced every 100 ms: never more than one message per interval per node.
    assert.ok(vitals.every((e) => Object.keys((JSON.parse(e.data) as { nodes: object }).nodes).length === 1));
    const lastId = vitals[0]?.id as string;
    const resumed = await readStream(`${base}/api/stream`, { 'last-event-id': lastId }, (e) => e.length >= 2);
    assert.ok(Number(resumed[0]?.id) === Number(lastId) + 1, `resumed at ${resumed[0]?.id} after ${lastId}`);
    // A node going away shows up as a node event and a log event. Resumed from the last id seen,
    // so whatever is published before this stream is subscribed is replayed, not missed.
    const leaving = readStream(`${base}/api/stream`, { 'last-event-id': resumed.at(-1)?.id as string }, (e) =>
      e.some((x) => x.event === 'event' && x.data.includes('"left"')),
    );
    await secondary.stop();
    const seen = await leaving;
    assert.ok(seen.some((e) => e.event === 'node' && (JSON.parse(e.data) as { state: string }).state === 'left'));
    const tooOld = await readStream(`${base}/api/stream`, { 'last-event-id': '0' }, (e) => e.length >= 1);
    assert.ok(tooOld.length >= 1);
  });

  it('gzips JSON answers for clients that accept it, never the event stream', async (t) => {
    const { base } = await cluster(t);
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const request = http.get(`${base}${path}`, { headers }, (res) => {
          if (res.headers['content-type']?.startsWith('text/event-stream')) {
            resolve({ headers: res.headers, body: Buffer.alloc(0) });
            request.destroy();
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        });
        request.on('error', reject);
      });
    const plain = await get('/api/nodes', {});
    assert.equal(plain.headers['content-encoding'], undefined);
    const zipped = await get('/api/nodes', { 'accept-encoding': 'gzip' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.match(String(zipped.headers.vary), /accept-encoding/i);
    const nodes = (body: Buffer) =>
      (JSON.parse(body.toString()) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id);
    assert.deepEqual(nodes(gunzipSync(zipped.body)), nodes(plain.body));
    const stream = await get('/api/stream', { 'accept-encoding': 'gzip' });
    assert.equal(stream.headers['content-encoding'], undefined);
  });

  it('on loopback without a login, refuses other Host names (DNS rebinding)', async (t) => {
    const { base } = await cluster(t);
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(`${base}/api/nodes`, { headers: { host: 'evil.example:8123' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    assert.equal(status, 403);
    assert.equal((await fetch(`${base.replace('127.0.0.1', 'localhost')}/api/nodes`)).status, 200);
  });

  it('off loopback: everything but /healthz needs the admin token or a login session, with CSRF checks', async (t) => {
    const { base } = await cluster(t, { bind: '0.0.0.0' });
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/api/nodes`)).status, 401);
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    assert.equal(
      (await fetch(`${base}/api/nodes`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status,
      401,
    );
    assert.equal((await fetch(`${base}/api/nodes`, { headers: bearer() })).status, 200);
    const page = await fetch(`${base}/`, { redirect: 'manual' });
    assert.deepEqual([page.status, page.headers.get('location')], [302, '/login']);
    // The login form sets an HttpOnly, SameSite=Strict cookie.
    const wrong = await fetch(`${base}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'nope' }),
      redirect: 'manual',
    });
    assert.equal(wrong.headers.get('location'), '/login?failed');
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: ADMIN }),
      redirect: 'manual',
    });
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /picluster_session=[0-9a-f]{64}/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const session = cookie.split(';')[0] as string;
    assert.equal((await fetch(`${base}/api/nodes`, { headers: { cookie: session } })).status, 200);
    // A cookie-authenticated mutating call needs the CSRF token and a same-origin Origin.
    const { csrfToken } = (await (await fetch(`${base}/api/session`, { headers: { cookie: session } })).json()) as {
      csrfToken: string;
    };
    const crossSite = await fetch(`${base}/logout`, {
      method: 'POST',
      headers: { cookie: session, origin: 'http://evil.example' },
      redirect: 'manual',
    });
    assert.equal(crossSite.status, 403);
    const noToken = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie: session }, redirect: 'manual' });
    assert.equal(noToken.status, 403);
    const logout = await fetch(`${base}/logout`, {
      method: 'POST',
      headers: { cookie: session, 'x-csrf-token': csrfToken },
      redirect: 'manual',
    });
    assert.equal(logout.status, 303);
    assert.equal((await fetch(`${base}/api/nodes`, { headers: { cookie: session } })).status, 401);
    // Login attempts are rate-limited.
    let limited = 0;
    for (let i = 0; i < 12; i++) {
      const r = await fetch(`${base}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token: 'guess' }),
        redirect: 'manual',
      });
      if (r.status === 429) limited++;
    }
    assert.ok(limited >= 1);
  });
});
