// The daemons as real processes on 127.0.0.1: register and report, survive SIGKILL and SIGSTOP of
// the primary, lose and let go of secondaries, refuse a wrong token, and never lose or duplicate
// an acknowledged vitals sample.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Outbox } from '../../src/secondary/outbox.js';
import {
  exitOf,
  FAST,
  getNodes,
  nodeIdOf,
  runCli,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

const DEAD_MS = 3 * FAST.heartbeatMs;

/** Every sample a stopped secondary produced and had acknowledged is stored exactly once. */
function assertNoLossNoDupes(primaryDataDir: string, secondaryDataDir: string): { stored: number } {
  const nodeId = nodeIdOf(secondaryDataDir);
  const outbox = new Outbox(join(secondaryDataDir, 'outbox.jsonl'));
  const pending = new Set(outbox.after(0).map((s) => s.seq));
  const lastSeq = outbox.lastSeq;
  outbox.close();
  const db = new Database(join(primaryDataDir, 'primary.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT seq FROM vitals WHERE node_id = ? ORDER BY seq').all(nodeId) as Array<{
      seq: number;
    }>;
    const seqs = rows.map((r) => r.seq);
    assert.equal(new Set(seqs).size, seqs.length, 'duplicates stored');
    const stored = new Set(seqs);
    const missing: number[] = [];
    for (let seq = 1; seq <= lastSeq; seq++) if (!pending.has(seq) && !stored.has(seq)) missing.push(seq);
    assert.deepEqual(missing, [], `acknowledged samples missing on the primary (node made ${lastSeq})`);
    assert.ok(seqs.length > 0);
    return { stored: seqs.length };
  } finally {
    db.close();
  }
}

describe('primary and secondaries as real processes', () => {
  it('register and report; status --json lists them; SIGKILL + restart of the primary loses nothing', async (t) => {
    const dir = tempDir(t);
    const primaryDir = join(dir, 'primary');
    let primary = await startPrimary(t, { dataDir: primaryDir });
    const names = ['alpha', 'beta', 'gamma'];
    const secondaries = names.map((name) => startSecondary(t, primary, { dataDir: join(dir, name), name }));
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'online' && n.vitals !== null).length === 3,
      15_000,
      '3 nodes online with vitals',
    );
    const ids = names.map((name) => nodeIdOf(join(dir, name))).sort();

    const status = await runCli(['status', '--json', '--api', primary.api]);
    assert.equal(status.code, 0, status.stderr);
    const listed = (
      JSON.parse(status.stdout) as {
        nodes: Array<{ id: string; state: string; vitals: { cpuPercent: number } | null }>;
      }
    ).nodes;
    assert.deepEqual(listed.map((n) => n.id).sort(), ids);
    assert.ok(listed.every((n) => n.state === 'online' && typeof n.vitals?.cpuPercent === 'number'));

    // Let samples flow, then kill the primary mid-stream and bring it back on the same ports.
    await new Promise((r) => setTimeout(r, 600));
    primary.child.kill('SIGKILL');
    await exitOf(primary.child);
    await new Promise((r) => setTimeout(r, 500)); // samples pile up in the outboxes meanwhile
    const restartedAt = Date.now();
    primary = await startPrimary(t, { dataDir: primaryDir, port: primary.port, webPort: primary.webPort });
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'online').length === 3,
      10_000,
      'all 3 back online after the restart',
    );
    const backAfterMs = Date.now() - restartedAt;
    const after = await getNodes(primary.api);
    assert.deepEqual(after.map((n) => n.id).sort(), ids, 'same ids after the restart');
    t.diagnostic(`all 3 secondaries back ${backAfterMs} ms after the primary was restarted`);

    await new Promise((r) => setTimeout(r, 400));
    for (const s of secondaries) s.kill('SIGTERM');
    for (const s of secondaries) assert.equal(await exitOf(s), 0);
    for (const name of names) {
      const { stored } = assertNoLossNoDupes(primaryDir, join(dir, name));
      t.diagnostic(`${name}: ${stored} samples stored once each`);
    }
    const left = await getNodes(primary.api);
    assert.ok(
      left.every((n) => n.state === 'left'),
      `states after SIGTERM: ${left.map((n) => n.state)}`,
    );
  });

  it('SIGKILL of a secondary: lost within 3 heartbeats, the others keep reporting', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const a = startSecondary(t, primary, { dataDir: join(dir, 'a'), name: 'a' });
    startSecondary(t, primary, { dataDir: join(dir, 'b'), name: 'b' });
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'online').length === 2,
      15_000,
      '2 online',
    );
    const idA = nodeIdOf(join(dir, 'a'));
    a.kill('SIGKILL');
    const killedAt = Date.now();
    const lost = await waitUntil(
      async () => (await getNodes(primary.api)).find((n) => n.id === idA && n.state === 'lost'),
      DEAD_MS + 3000,
      'a lost',
    );
    assert.ok(lost);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs <= DEAD_MS + FAST.heartbeatMs + 300, `lost after ${tookMs} ms`);
    const before = (await getNodes(primary.api)).find((n) => n.name === 'b')?.vitals?.seq ?? 0;
    await waitUntil(
      async () => ((await getNodes(primary.api)).find((n) => n.name === 'b')?.vitals?.seq ?? 0) > before + 2,
      5000,
      'b still reporting',
    );
    assert.equal((await getNodes(primary.api)).find((n) => n.name === 'b')?.state, 'online');
  });

  it('SIGSTOP of the primary past the dead-peer time: secondaries notice, reconnect after SIGCONT', async (t) => {
    const dir = tempDir(t);
    const primaryDir = join(dir, 'primary');
    const primary = await startPrimary(t, { dataDir: primaryDir });
    const secondaries = ['s1', 's2'].map((name) => startSecondary(t, primary, { dataDir: join(dir, name), name }));
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'online').length === 2,
      15_000,
      '2 online',
    );
    primary.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, DEAD_MS + 1000));
    primary.child.kill('SIGCONT');
    for (const s of secondaries) {
      await waitUntil(() => s.stderr.join('').includes('lost the primary'), 5000, 'secondary noticed the dead primary');
    }
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'online').length === 2,
      10_000,
      'both back online',
    );
    assert.ok(primary.child.alive && secondaries.every((s) => s.alive), 'no process crashed');
    for (const s of secondaries) s.kill('SIGTERM');
    for (const s of secondaries) assert.equal(await exitOf(s), 0);
    for (const name of ['s1', 's2']) assertNoLossNoDupes(primaryDir, join(dir, name));
  });

  it('SIGTERM of a secondary: it says goodbye and the node is left, not lost', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const s = startSecondary(t, primary, { dataDir: join(dir, 's'), name: 's' });
    await waitUntil(async () => (await getNodes(primary.api)).some((n) => n.state === 'online'), 15_000, 'online');
    s.kill('SIGTERM');
    assert.equal(await exitOf(s), 0);
    const [node] = await getNodes(primary.api);
    assert.equal(node?.state, 'left');
  });

  it('a wrong token is refused with one clear line, and the secondary keeps retrying slowly', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const s = startSecondary(t, primary, {
      dataDir: join(dir, 's'),
      name: 'intruder',
      args: ['--token', 'not-the-cluster-token-at-all'],
      tokenFile: '/dev/null',
    });
    await waitUntil(
      () => s.stderr.join('').includes('primary refused the cluster token'),
      10_000,
      'the refusal logged',
    );
    await new Promise((r) => setTimeout(r, 1500));
    const lines = s.stderr
      .join('')
      .split('\n')
      .filter((l) => l.includes('primary refused the cluster token'));
    assert.equal(lines.length, 1, 'logged once, not per attempt');
    assert.ok(s.alive, 'keeps running to retry');
    assert.deepEqual(await getNodes(primary.api), []);
    assert.ok(primary.child.stderr.join('').includes('wrong cluster token'), 'the primary logs the refusal too');
  });
});
