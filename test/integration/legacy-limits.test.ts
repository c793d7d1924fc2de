// The limits on the unauthenticated legacy door (the security issue): connections only from
// legacy.allow, at most legacy.maxConnections of them and legacy.maxNodes legacy nodes, a
// connection that sends no vitals closed after legacy.idleMs, and secondary_details listing legacy
// nodes only. Each outcome is counted in /metrics, and a native node keeps its link throughout.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { Primary, PrimaryOptions } from '../../src/index.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { createMetrics } from '../../src/web/metrics.js';
import { DEFAULT_BASEINFO, DEFAULT_VITALS, legacyMessage } from '../fixtures/legacy-node.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { RawLegacyClient } from '../helpers/legacy-client.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'legacy-limits-test-token-0123';

async function start(
  t: TestContext,
  options: Partial<PrimaryOptions>,
): Promise<{ primary: Primary; nativeId: string }> {
  const primary = await startLibraryPrimary(t, { token: TOKEN, tls: false, legacy: true, ...options });
  const native = new Secondary({ primary: `127.0.0.1:${primary.port}`, dataDir: tempDir(t), token: TOKEN, tls: false });
  await native.start();
  t.after(() => native.stop());
  await waitUntil(() => primary.node(native.nodeId)?.state === 'online', 10_000, 'the native node online');
  return { primary, nativeId: native.nodeId };
}

function client(t: TestContext, primary: Primary, localAddress?: string): RawLegacyClient {
  const c = new RawLegacyClient(primary.port, localAddress);
  t.after(() => c.socket.destroy());
  return c;
}

/** A legacy node: its uuid, its baseinfo, and one sample; returns its uuid. */
async function legacyNode(c: RawLegacyClient, hostname: string): Promise<string> {
  const uuid = String((await c.ask('uuid')).payload);
  c.send('node_baseinfo', { ...DEFAULT_BASEINFO, hostname });
  c.send('vitals', DEFAULT_VITALS);
  return uuid;
}

async function counter(primary: Primary, name: string): Promise<number> {
  const line = (await createMetrics(primary).render()).split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, name);
  return Number(line.split(' ')[1]);
}

it('legacy.allow: a legacy connection from outside the ranges is closed unanswered, counted', async (t) => {
  const { primary, nativeId } = await start(t, { legacyAllow: ['127.0.0.1/32'] });
  const since = primary.node(nativeId)?.connectedSince;
  const outsider = client(t, primary, '127.0.0.2');
  outsider.send('info', 'uuid');
  await outsider.closed;
  assert.equal(primary.stats.legacyNotAllowed, 1);
  assert.equal(await counter(primary, 'picluster_legacy_not_allowed_total'), 1);
  const insider = client(t, primary);
  assert.match(String((await insider.ask('uuid')).payload), /^[0-9a-f]{32}$/);
  assert.equal(primary.node(nativeId)?.connectedSince, since, 'the native link untouched');
});

it('legacy.maxConnections and legacy.maxNodes: the connection past either is closed; the others carry on', async (t) => {
  const { primary } = await start(t, { legacyMaxConnections: 2, legacyMaxNodes: 1 });
  const a = client(t, primary);
  const aId = await legacyNode(a, 'pi-a');
  await waitUntil(() => primary.node(aId)?.vitals, 5000, 'pi-a reporting');
  // The second connection is let in, but a second legacy node is one too many.
  const b = client(t, primary);
  await legacyNode(b, 'pi-b');
  await b.closed;
  assert.equal(primary.stats.legacyNodesRefused, 1);
  // Two connections open (a, and a third that only asks), the fourth is closed at once.
  const monitor = client(t, primary);
  await monitor.ask('uuid');
  const fourth = client(t, primary);
  fourth.send('info', 'uuid');
  await fourth.closed;
  assert.equal(primary.stats.legacyConnectionsRefused, 1);
  assert.equal(await counter(primary, 'picluster_legacy_connections_refused_total'), 1);
  assert.equal(await counter(primary, 'picluster_legacy_nodes_refused_total'), 1);
  assert.equal(primary.node(aId)?.state, 'online');
  assert.equal(primary.nodes().filter((n) => n.legacy).length, 1);
});

it('a legacy connection sending past limits.samplesPerSecond is held back, then closed, counted', async (t) => {
  // Found by review: legacy connections had no rate limit: one host in legacy.allow could store
  // samples as fast as it could send them (the disk filled, native nodes' acks stopped).
  const { primary, nativeId } = await start(t, { limits: { samplesPerSecond: 64 } });
  const flood = client(t, primary);
  const id = await legacyNode(flood, 'pi-flood');
  await waitUntil(() => primary.node(id)?.vitals, 5000, 'pi-flood reporting');
  flood.socket.write(Buffer.concat(Array.from({ length: 5_000 }, () => legacyMessage('vitals', DEFAULT_VITALS))));
  await flood.closed;
  assert.equal(primary.stats.rateLimited, 1);
  assert.equal(await counter(primary, 'picluster_rate_limited_total'), 1);
  // A second's worth (64) and as much again while held back, not 5,000.
  const received = primary.node(id)?.vitals?.seq ?? 0;
  assert.ok(received <= 2 * 64 + 1, `${received} samples taken`);
  assert.equal(primary.node(nativeId)?.state, 'online');
});

it('legacy.idleMs: keepalives alone do not hold a connection; vitals do', async (t) => {
  const { primary, nativeId } = await start(t, { legacyIdleMs: 1500 });
  const connectedAt = Date.now();
  const idle = client(t, primary);
  const idleId = await legacyNode(idle, 'pi-idle');
  const busy = client(t, primary);
  const busyId = await legacyNode(busy, 'pi-busy');
  const timer = setInterval(() => {
    idle.send('message', `I am still alive, client: ${idleId}`);
    busy.send('message', `I am still alive, client: ${busyId}`);
    busy.send('vitals', DEFAULT_VITALS);
  }, 100);
  t.after(() => clearInterval(timer));
  await idle.closed;
  // Its one sample came right after it connected: closed 1.5 s after that, keepalives or not.
  const closedAfter = Date.now() - connectedAt;
  assert.ok(closedAfter >= 1400 && closedAfter < 6000, `closed after ${closedAfter} ms`);
  await waitUntil(() => primary.node(idleId)?.state === 'lost', 5000, 'the idle node lost');
  assert.equal(primary.stats.legacyIdleClosed, 1);
  assert.equal(await counter(primary, 'picluster_legacy_idle_closed_total'), 1);
  assert.equal(primary.node(busyId)?.state, 'online', 'a node sending vitals stays');
  // secondary_details lists the legacy node, never the native one.
  const details = (await busy.ask('secondary_details')).payload as Record<string, unknown>;
  assert.deepEqual(Object.keys(details), [busyId]);
  assert.equal(primary.node(nativeId)?.state, 'online');
});
