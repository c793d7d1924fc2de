// kill -9 of the primary during heavy vitals ingest: every sample acknowledged before the kill is
// in the database exactly once (an acknowledgement means "stored"), and after a restart the
// outboxes fill every gap without duplicates.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import Database from 'better-sqlite3';
import { Outbox } from '../../src/secondary/outbox.js';
import { spawnChild } from '../helpers/child.js';
import { exitOf, getNodes, nodeIdOf, startPrimary, tempDir, waitUntil } from '../helpers/cluster.js';

const LOAD = new URL('../fixtures/load-nodes.ts', import.meta.url).pathname;
const NODES = 40;
const PERIOD_MS = 20; // 40 nodes × 50 samples/s = 2,000 samples/s

function storedSeqs(dbFile: string): Map<string, number[]> {
  const db = new Database(dbFile); // read-write: recovers the WAL the killed primary left
  try {
    const rows = db.prepare('SELECT node_id, seq FROM vitals ORDER BY node_id, seq').all() as Array<{
      node_id: string;
      seq: number;
    }>;
    const out = new Map<string, number[]>();
    for (const r of rows) out.set(r.node_id, [...(out.get(r.node_id) ?? []), r.seq]);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return out;
  } finally {
    db.close();
  }
}

it('kill -9 during heavy ingest loses no acknowledged sample and stores none twice', async (t) => {
  const dir = tempDir(t);
  const primaryDir = join(dir, 'primary');
  let primary = await startPrimary(t, { dataDir: primaryDir });
  const load = spawnChild(t, LOAD, [
    String(primary.port),
    join(primaryDir, 'token'),
    join(dir, 'nodes'),
    String(NODES),
    String(PERIOD_MS),
  ]);
  await load.waitFor((e) => e.event === 'online' && e.n === NODES, 30_000, 'all load nodes online');
  const latestAcks = () => (load.events.filter((e) => e.event === 'acks').at(-1)?.acks ?? {}) as Record<string, number>;
  await waitUntil(
    () => Object.values(latestAcks()).reduce((a, b) => a + b, 0) > 3000,
    20_000,
    '3,000 samples acknowledged',
  );

  primary.child.kill('SIGKILL');
  await exitOf(primary.child);
  await new Promise((r) => setTimeout(r, 150)); // acks already in flight over IPC
  const acked = latestAcks();
  const afterKill = storedSeqs(join(primaryDir, 'primary.db'));
  let checked = 0;
  for (const [nodeId, seq] of Object.entries(acked)) {
    const seqs = afterKill.get(nodeId) ?? [];
    assert.equal(new Set(seqs).size, seqs.length, `duplicates for ${nodeId}`);
    const stored = new Set(seqs);
    for (let s = 1; s <= seq; s++)
      assert.ok(stored.has(s), `node ${nodeId}: seq ${s} was acknowledged (up to ${seq}) but is not stored`);
    checked += seq;
  }
  t.diagnostic(`${checked} acknowledged samples checked right after kill -9`);

  primary = await startPrimary(t, { dataDir: primaryDir, port: primary.port, webPort: primary.webPort });
  await waitUntil(
    async () => (await getNodes(primary.api)).filter((n) => n.state === 'online').length === NODES,
    20_000,
    'all back',
  );
  load.kill('SIGTERM');
  await load.waitFor((e) => e.event === 'stopped', 20_000, 'load nodes stopped');
  await exitOf(load);
  primary.child.kill('SIGTERM');
  await exitOf(primary.child);

  const final = storedSeqs(join(primaryDir, 'primary.db'));
  let total = 0;
  for (let i = 0; i < NODES; i++) {
    const nodeDir = join(dir, 'nodes', `node-${i}`);
    const nodeId = nodeIdOf(nodeDir);
    const outbox = new Outbox(join(nodeDir, 'outbox.jsonl'));
    const pending = new Set(outbox.after(0).map((s) => s.seq));
    const seqs = final.get(nodeId) ?? [];
    assert.equal(new Set(seqs).size, seqs.length, `duplicates for ${nodeId}`);
    const stored = new Set(seqs);
    for (let s = 1; s <= outbox.lastSeq; s++) {
      if (!pending.has(s)) assert.ok(stored.has(s), `node-${i}: seq ${s} acknowledged but missing`);
    }
    total += seqs.length;
    outbox.close();
  }
  t.diagnostic(`${total} samples stored once each across ${NODES} nodes`);
});
