// Frame limits between a primary and a secondary: the secondary follows the limit the primary
// announces in `hello` (a message the primary would refuse, and close the link for, is refused on
// the node instead), and the node list comes in pages that each fit the limit.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { type Primary, Secondary, type SecondaryOptions } from '../../src/index.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'frame-limit-token-0123456789';

/** A started primary with this frame limit and a secondary of it (not started yet), both stopped after the test; `offline` collects the secondary's drops. */
async function pairWithLimit(
  t: TestContext,
  maxFrameBytes: number,
  secondaryOptions: Partial<SecondaryOptions> = {},
): Promise<{ primary: Primary; secondary: Secondary; offline: unknown[] }> {
  const dir = tempDir(t);
  const primary = await startLibraryPrimary(t, {
    dataDir: join(dir, 'primary'),
    token: TOKEN,
    maxFrameBytes,
    fleetQueries: '*', // listNodes asks for every node
  });
  const secondary = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: join(dir, 'node'),
    name: 'small-frames',
    token: TOKEN,
    tls: { fingerprint: primary.tlsFingerprint as string },
    vitalsPeriodMs: 60_000,
    ...secondaryOptions,
  });
  t.after(() => secondary.stop());
  const offline: unknown[] = [];
  secondary.on('offline', (err) => offline.push(err));
  return { primary, secondary, offline };
}

it("a secondary refuses to send more than the primary's maxFrameBytes, and keeps its link", async (t) => {
  const { primary, secondary, offline } = await pairWithLimit(t, 4096);
  secondary.handle('x-big-reply', () => ({ blob: 'r'.repeat(8000) }));
  secondary.handle('x-small-reply', () => ({ ok: true }));
  await secondary.start();
  await once(secondary, 'online');

  // A request too large for the primary: refused on the node, before a byte is sent.
  await assert.rejects(secondary.request('query', { what: 'primary', pad: 'q'.repeat(8000) }), {
    code: 'ERR_FRAME_TOO_LARGE',
  });
  // A reply too large for the primary: the primary gets an error reply instead.
  await assert.rejects(primary.request(secondary.nodeId, 'x-big-reply'), { remoteCode: 'ERR_FRAME_TOO_LARGE' });
  // The same link still serves both ways.
  assert.deepEqual(await primary.request(secondary.nodeId, 'x-small-reply'), { ok: true });
  const answer = (await secondary.query('primary')) as { nodes: number };
  assert.equal(answer.nodes, 1);
  assert.deepEqual(offline, []);
  assert.equal(primary.stats.reconnects, 0);
});

it('listNodes gets every node in pages that each fit a small frame limit', async (t) => {
  const { primary, secondary } = await pairWithLimit(t, 16_384);
  // 200 known nodes of about 1 KB of JSON each: 200 KB, a dozen frames' worth.
  for (let i = 0; i < 200; i++) {
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    primary.registry.set({
      ...{ id, name: `known-${i}`, state: 'lost', labels: { note: 'n'.repeat(900) }, address: null, legacy: false },
      ...{
        info: null,
        vitals: null,
        lastSeen: 1,
        connectedSince: null,
        machineId: null,
        lastSeq: 0,
        session: undefined,
        clockSkewMs: null,
        clockSkewed: false,
      },
    });
  }
  await secondary.start();
  await once(secondary, 'online');

  // One page: 500 at most and within the frame, so far fewer than all, with where to go on.
  const first = (await secondary.request('query', { what: 'nodes' })) as { nodes: unknown[]; next?: string };
  assert.ok(first.nodes.length > 1 && first.nodes.length < 20, `${first.nodes.length} nodes in the first page`);
  assert.equal(typeof first.next, 'string');
  const limited = (await secondary.request('query', { what: 'nodes', limit: 3 })) as { nodes: unknown[] };
  assert.equal(limited.nodes.length, 3);

  const all = await secondary.listNodes();
  const ids = all.map((n) => n.id);
  assert.equal(ids.length, 201);
  assert.equal(new Set(ids).size, 201);
  assert.deepEqual(ids, [...ids].sort());
  assert.equal(all.find((n) => n.id === secondary.nodeId)?.state, 'online');
});

it("a sample over the primary's frame limit goes without its lists, once warned; later samples follow", async (t) => {
  // A host with 200 mounts: about 14 KB of disks in every sample.
  const disks = Array.from({ length: 200 }, (_, i) => ({ mount: `/srv/volume-${i}`, freeBytes: 1e9, totalBytes: 2e9 }));
  const warned: string[] = [];
  const log = (level: string) => (_fields: object, message: string) => {
    if (level === 'warn') warned.push(message);
  };
  const { primary, secondary, offline } = await pairWithLimit(t, 4096, {
    vitalsPeriodMs: 50,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    vitals: {
      read: async () => ({
        ...{ ts: Date.now(), cpuPercent: 7, ramAvailableBytes: 1e9, swapFreeBytes: 0 },
        ...{ load1: 0, load5: 0, load15: 0, uptimeS: 1, disks, nets: [] },
      }),
    },
  });
  await secondary.start();
  await waitUntil(() => (primary.node(secondary.nodeId)?.vitals?.seq ?? 0) >= 5, 10_000, 'five samples stored');
  const stored = primary.node(secondary.nodeId)?.vitals;
  assert.deepEqual([stored?.cpuPercent, stored?.disks], [7, []]);
  assert.equal(warned.filter((m) => /larger than the primary's frame limit/.test(m)).length, 1);
  assert.deepEqual(offline, []);
  assert.equal(primary.stats.reconnects, 0);
});
