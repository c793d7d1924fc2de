// The primary's vitals commit window at its default of two minutes (issue 16), with real processes:
// a node's samples are in its live view at receipt, long before any commit (and so any ack); a
// read of its history commits what waits first; and a node sending every 200 ms is acknowledged
// every few seconds (a node with 16 waiting commits at once), never left a window behind.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import Database from 'better-sqlite3';
import type { NodeView } from '../../src/protocol/node-view.js';
import {
  apiJson,
  exitOf,
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
    // 5 periods: shown at receipt, not at a commit (a slow moment of the machine: look again).
    const next = await waitUntil(
      async () => {
        const vitals = await latest();
        return vitals && vitals.seq > first.seq ? vitals : undefined;
      },
      1000,
      `a sample after seq ${first.seq} in the live view`,
    ).catch(() => undefined);
    if (next === undefined) continue;
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

it('a node whose outbox lost its tail (a power cut) while its samples waited in the window numbers new samples past them', async (t) => {
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: ['--vitals-commit-ms', '120000'] });
  const nodeDir = join(dir, 'n1');
  const node = startSecondary(t, primary, { dataDir: nodeDir, name: 'n1' });
  await nodesOnline(primary.api, ['n1']);
  const id = nodeIdOf(nodeDir);
  const latest = async () => (await apiJson<NodeView>(primary.api, 'GET', `/api/nodes/${id}`)).vitals;
  const stored = () => metric(primary.api, 'picluster_vitals_stored_total');
  // A few samples shown and still waiting for their commit, then the node dies.
  await waitUntil(
    async () => ((await latest())?.seq ?? 0) > (await stored()) + 3,
    10_000,
    'samples waiting in the window',
  );
  node.kill('SIGKILL');
  await exitOf(node);
  const held = (await latest())?.seq ?? 0;
  const committed = await stored();
  assert.ok(held > committed, `seq ${held} shown, ${committed} stored`);
  // The power cut: the outbox's unsynced tail is gone, back to the samples that were stored.
  const file = join(nodeDir, 'outbox.jsonl');
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const cut = lines.findIndex((l) => ((JSON.parse(l.slice(9)) as { s?: { seq: number } }).s?.seq ?? 0) > committed);
  if (cut >= 0) writeFileSync(file, `${lines.slice(0, cut).join('\n')}\n`);
  const restarted = Date.now();
  startSecondary(t, primary, { dataDir: nodeDir, name: 'n1' });
  await waitUntil(async () => ((await latest())?.seq ?? 0) > held + 3, 10_000, `samples past seq ${held}`);
  primary.child.kill('SIGTERM'); // a clean stop commits what waits
  await exitOf(primary.child);
  const db = new Database(join(primary.dataDir, 'primary.db'), { readonly: true });
  t.after(() => db.close());
  const rows = db.prepare('SELECT seq, ts FROM vitals WHERE node_id = ? ORDER BY seq').all(id) as Array<{
    seq: number;
    ts: number;
  }>;
  // Every sample the restarted node took (its outbox has them all, acknowledged or not) is stored
  // as it was taken: not skipped as a resend of a seq the primary held from before the crash.
  const last = rows[rows.length - 1]?.seq ?? 0;
  const taken = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l.slice(9)) as { s?: { seq: number; ts: number } }).s)
    .filter((x): x is { seq: number; ts: number } => x !== undefined && x.ts >= restarted && x.seq <= last);
  assert.ok(taken.length >= 3, 'samples taken after the restart');
  for (const x of taken)
    assert.equal(
      rows.find((r) => r.seq === x.seq)?.ts,
      x.ts,
      `seq ${x.seq} taken after the restart is not what is stored under it (the primary held seq ${held})`,
    );
  assert.deepEqual(
    rows.map((r) => r.seq),
    [...new Set(rows.map((r) => r.seq))],
    'each seq stored once',
  );
});
