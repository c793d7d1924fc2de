// A real full disk (ENOSPC), on small tmpfs mounts the test makes (root; removed at the end):
// - the primary's data dir fills up during ingest: it stays up, acknowledges nothing it has not
//   stored, keeps every session, says so once (log, event, /metrics), and ingests again within
//   one retry once space is freed; zero acknowledged samples lost, no duplicates, integrity ok;
// - a secondary's data dir fills up while its primary is away: the agent keeps its new samples in
//   memory, puts them back on disk once there is room, and delivers every one; killed while the
//   disk is full, it loses nothing it had written before.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exitOf, nodeIdOf, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';
import { type Agent, fleetReport, localCluster, stopAndCheck, waitForCatchUp } from '../helpers/fault-cluster.js';
import { jepsen, readOutboxHistory, storedVitals } from '../helpers/jepsen-log.js';
import { sh } from '../helpers/netns.js';
import { apiMetrics, apiNodes, findLogs, sleep, urlApi } from '../helpers/observe.js';
import { requireRoot } from '../helpers/require-tool.js';

/** Mounts a tmpfs of `bytes` at `dir`, inside a test's temp dir (tempDir unmounts it when the test ends). */
async function smallDisk(dir: string, bytes: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await sh('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir]);
}

/** Writes a file into `dir` until the disk is full (ENOSPC); returns its path. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    // Then the last few bytes too: a small write may still fit where a chunk did not.
    try {
      for (;;) writeSync(fd, Buffer.alloc(512, 1));
    } catch {
      // full
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

describe('a real full disk', () => {
  it(
    "the primary's disk fills during ingest: it stays up, keeps every session, acknowledges nothing unstored, says so once, and resumes within one retry of space coming back; after: zero loss, no dupes, integrity ok",
    jepsen('primary disk full (tmpfs)', async (t, log) => {
      if (!requireRoot(t, 'mounting a small tmpfs')) return;
      const c = await localCluster(t, log, {
        fleet: { count: 5, periodMs: 20 },
        // Small thresholds: on a disk of a few MB the default (500 MiB) would warn at once.
        primaryArgs: ['--disk-warn-free-bytes', '65536', '--disk-warn-free-percent', '5'],
        preparePrimaryDir: (dir) => smallDisk(dir, 24 * 1024 * 1024),
      });
      const fleet = (c.agents[0] as Agent).child;
      await waitUntil(
        () => Object.values(fleetReport(fleet).acks).filter((s) => s >= 50).length === c.agents.length,
        20_000,
        '50 acks per agent',
      );
      const metric = async (name: string) => (await apiMetrics(c.primary.api)).get(name) ?? 0;
      const filler = await log.step('fill the disk', async () => fill(c.primary.dataDir));
      await waitUntil(
        async () => (await metric('picluster_store_full')) === 1,
        10_000,
        'the store says its disk is full',
      );
      const fullAt = Date.now();
      // Full for a while: nothing acknowledged past what is stored, every node online on its session.
      const storedAtFull = storedVitals(join(c.primary.dataDir, 'primary.db'));
      await sleep(3000);
      assert.ok(c.primary.child.alive, 'the primary died on a full disk');
      const nodes = await apiNodes(c.primary.api);
      assert.deepEqual(
        nodes.filter((n) => n.state !== 'online').map((n) => `${n.name} ${n.state}`),
        [],
        'sessions dropped on a full disk',
      );
      for (const a of c.agents) {
        const acked = fleetReport(fleet).acks[a.nodeId] ?? 0;
        const stored = Math.max(0, ...(storedAtFull.get(a.nodeId)?.keys() ?? []));
        assert.ok(acked <= stored, `${a.name}: acknowledged ${acked} with ${stored} stored when the disk filled`);
      }
      assert.ok((await metric('picluster_store_full_retries_total')) >= 2, 'retried while full');
      const said = findLogs(c.primary.child.stderr, 'the disk of the store is full', fullAt - 10_000);
      assert.equal(said.filter((l) => l.level >= 50).length, 1, 'said once, as an error');

      // Room again: the next retry (every second) stores what waited.
      const storedBefore = await metric('picluster_vitals_stored_total');
      const freedAt = performance.now();
      await log.step('free the disk', async () => rmSync(filler));
      await waitUntil(async () => (await metric('picluster_store_full')) === 0, 5000, 'the store writable again');
      await waitUntil(
        async () => (await metric('picluster_vitals_stored_total')) > storedBefore,
        5000,
        'ingest resumed',
      );
      const resumedMs = performance.now() - freedAt;
      log.info('ingest resumed', { ms: Math.round(resumedMs) });
      assert.ok(resumedMs < 2500, `ingest resumed ${Math.round(resumedMs)} ms after space was freed (retry: 1 s)`);
      await waitForCatchUp(c, 40 * c.timing.H);
      const events = (await (await fetch(`${c.primary.url}/api/events?limit=1000`)).json()) as {
        events: Array<{ type: string }>;
      };
      const types = events.events.map((e) => e.type);
      assert.ok(types.includes('store-full') && types.includes('store-writable'), `events: ${types.join(', ')}`);
      await stopAndCheck(t, c, [/the disk of the store is full/, /history upkeep failed/]);
    }),
  );

  it(
    "a secondary's disk fills while its primary is away: new samples are kept in memory, back on disk once there is room, every one delivered; killed while full, it loses nothing it had written",
    jepsen('secondary disk full (tmpfs)', async (t, log) => {
      if (!requireRoot(t, 'mounting a small tmpfs')) return;
      const dir = tempDir(t, 'picluster-fault-');
      const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
      const nodeDir = join(dir, 'node');
      await smallDisk(nodeDir, 1024 * 1024);
      const start = () => startSecondary(t, primary, { dataDir: nodeDir, name: 'pi-1' });
      let node = start();
      const api = urlApi(primary.api);
      await waitUntil(async () => ((await apiNodes(api))[0]?.vitals?.seq ?? 0) >= 10, 15_000, '10 samples stored');
      const nodeId = nodeIdOf(nodeDir);

      // The primary goes away; samples pile up in the outbox; then the disk fills.
      primary.child.kill('SIGKILL');
      await exitOf(primary.child);
      await sleep(600);
      const filler = await log.step('fill the disk', async () => fill(nodeDir));
      await waitUntil(
        () => findLogs(node.stderr, 'the disk is full').length > 0,
        5000,
        'the agent says its disk is full',
      );
      await sleep(1000); // samples taken now live in memory only
      const written = readOutboxHistory(join(nodeDir, 'outbox.jsonl'));
      log.info('outbox while full', { lastSeq: written.lastSeq, pending: written.pending.size });
      assert.equal(findLogs(node.stderr, 'the disk is full').length, 1, 'said once');

      // Room again: the next sample puts what memory held back on disk.
      rmSync(filler);
      await waitUntil(() => findLogs(node.stderr, 'the disk has room again').length > 0, 5000, 'back on disk');
      const afterRoom = readOutboxHistory(join(nodeDir, 'outbox.jsonl'));
      assert.ok(afterRoom.lastSeq > written.lastSeq + 3, 'the samples kept in memory are in the file now');

      // Full again, and the agent killed: what it had written is still there.
      const filler2 = fill(nodeDir);
      await sleep(500);
      const beforeKill = readOutboxHistory(join(nodeDir, 'outbox.jsonl'));
      node.kill('SIGKILL');
      await exitOf(node);
      rmSync(filler2);
      const again = await startPrimary(t, { dataDir: primary.dataDir, port: primary.port, webPort: primary.webPort });
      node = start();
      const stored = () => storedVitals(join(again.dataDir, 'primary.db')).get(nodeId) ?? new Map<number, number>();
      await waitUntil(
        () => [...beforeKill.pending].every((seq) => stored().get(seq) === 1),
        20_000,
        'every sample written before the kill stored',
      );
      await stopAndCheck(
        t,
        {
          agents: [{ name: 'pi-1', dataDir: nodeDir, nodeId, child: node }],
          primary: { dataDir: again.dataDir, child: again.child, api: urlApi(again.api) },
          log,
        },
        [],
      );
    }),
  );
});
