// The primary's vitals commit window at its default of two minutes (issue 16), with real processes:
// a node's samples are in its live view at receipt, long before any commit (and so any ack); a
// read of its history commits what waits first; and a node sending every 200 ms is acknowledged
// every few seconds (a node with 16 waiting commits at once), never left a window behind.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import type { NodeView } from '../../src/protocol/node-view.js';
import {
  apiJson,
  nodeIdOf,
  nodesOnline,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

/** The value of one unlabelled series of /metrics. */
async function metric(api: string, name: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

it('default window: live vitals at receipt without a commit, history flushed on read, a fast node acknowledged every few samples', async (t) => {
  const dir = tempDir(t);
  // The default, explicitly: the test runner shortens the window for the other suites.
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: ['--vitals-commit-ms', '120000'] });
  startSecondary(t, primary, { dataDir: join(dir, 'n1'), name: 'n1' }); // a sample every 200 ms
  await nodesOnline(primary.api, ['n1']);
  const id = nodeIdOf(join(dir, 'n1'));
  const latest = async () => (await apiJson<NodeView>(primary.api, 'GET', `/api/nodes/${id}`)).vitals;
  const commits = () => metric(primary.api, 'picluster_store_commits_total');
  const stored = () => metric(primary.api, 'picluster_vitals_stored_total');

  // 1. The live view moves on between two commits: samples shown with no commit (no ack) since.
  let movedWithoutCommit = false;
  for (let attempt = 0; attempt < 20 && !movedWithoutCommit; attempt++) {
    const before = await commits();
    const first = await waitUntil(latest, 5000, 'a sample in the live view');
    const next = await waitUntil(
      async () => {
        const vitals = await latest();
        return vitals && vitals.seq > first.seq ? vitals : undefined;
      },
      1000, // 5 periods: shown at receipt, not at a commit
      `a sample after seq ${first.seq} in the live view`,
    );
    // A commit may fall between the two readings (every ~16 samples): then look again.
    movedWithoutCommit = (await commits()) === before && next.seq > first.seq;
  }
  assert.ok(movedWithoutCommit, 'the live view only moved with a commit');

  // 2. A history read shows a sample that was not stored when asked: the read commits it first.
  // Seqs of a fresh node run 1, 2, 3… with no resends here, so `stored` counts the seqs stored.
  let checked = false;
  for (let attempt = 0; attempt < 20 && !checked; attempt++) {
    const shown = await waitUntil(latest, 5000, 'a sample in the live view');
    if (shown.seq <= (await stored())) continue; // committed meanwhile: take a newer one
    const series = await apiJson<{ points: Array<{ ts: number }> }>(
      primary.api,
      'GET',
      // A range short enough for a step of 1 ms: each point at its sample's own ts.
      `/api/nodes/${id}/vitals?from=${shown.ts - 500}&to=${shown.ts + 1}&stepMs=1`,
    );
    assert.ok(
      series.points.some((p) => p.ts === shown.ts),
      `seq ${shown.seq} (ts ${shown.ts}) missing from the history read after it was shown`,
    );
    checked = true;
  }
  assert.ok(checked, 'never caught a sample before its commit');

  // 3. At a sample per 200 ms the node is never left waiting a window for its acks: everything
  // shown is stored within a few seconds, again and again (16 samples of one node commit at once).
  const commitsBefore = await commits();
  let checkedSeq = await stored();
  for (let round = 0; round < 3; round++) {
    // 20 samples (4 s) on: more than one node's 16 since the last check, fewer than its 32 in flight.
    const shown = await waitUntil(
      async () => {
        const vitals = await latest();
        return vitals && vitals.seq >= checkedSeq + 20 ? vitals : undefined;
      },
      15_000,
      `seq ${checkedSeq + 20} in the live view`,
    );
    // Two node batches at most (6.4 s), far below the window.
    await waitUntil(async () => (await stored()) >= shown.seq, 10_000, `seq ${shown.seq} stored (and acknowledged)`);
    checkedSeq = shown.seq;
  }
  assert.ok((await commits()) - commitsBefore >= 2, 'commits every few samples');
});
