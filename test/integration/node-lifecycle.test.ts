// The node lifecycle (issue "Nobody in where they don't belong"), through the CLI against a real
// primary: approve and deny pending nodes (admission "approve"), revoke a live node, forget one
// (with and without its history), rotate the token. Each act is stored, answered, visible at the
// node, and recorded in the events log with the address it came from.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { NodeView } from '../../src/protocol/node-view.js';
import {
  exitOf,
  getNodes,
  nodeIdOf,
  runCli,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

async function nodeOf(api: string, name: string): Promise<NodeView | undefined> {
  return (await getNodes(api)).find((n) => n.name === name);
}

async function eventsOf(api: string): Promise<Array<{ type: string; node: string | null; [k: string]: unknown }>> {
  const response = await fetch(`${api}/api/events?limit=1000`);
  return ((await response.json()) as { events: Array<{ type: string; node: string | null }> }).events;
}

function secretOf(dataDir: string): string | undefined {
  try {
    const entries = JSON.parse(readFileSync(join(dataDir, 'node-secrets.json'), 'utf8')) as Record<
      string,
      { secret: string }
    >;
    return Object.values(entries)[0]?.secret;
  } catch {
    return undefined;
  }
}

describe('node lifecycle through the CLI', () => {
  it('admission "approve": new nodes wait as pending; approve lets one in, deny keeps one out', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: ['--admission', 'approve'] });
    const newcomer = startSecondary(t, primary, { dataDir: join(dir, 'a'), name: 'newcomer' });
    const stranger = startSecondary(t, primary, { dataDir: join(dir, 'b'), name: 'stranger' });
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'pending').length === 2,
      15_000,
      'both pending',
    );
    await waitUntil(() => newcomer.stderr.join('').includes("waits for the operator's approval"), 10_000, 'told');
    const a = nodeIdOf(join(dir, 'a'));
    const b = nodeIdOf(join(dir, 'b'));

    const approved = await runCli(['nodes', 'approve', a, '--api', primary.api]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`node ${a} \\(newcomer\\) approved`));
    await waitUntil(async () => (await nodeOf(primary.api, 'newcomer'))?.state === 'online', 15_000, 'online');
    // The node writes the secret it was issued once it has the welcome (shown online just before).
    await waitUntil(() => secretOf(join(dir, 'a')), 10_000, 'enrolled: it holds a secret now');

    const denied = await runCli(['nodes', 'deny', b, '--api', primary.api]);
    assert.equal(denied.code, 0, denied.stderr);
    await waitUntil(() => stranger.stderr.join('').includes('was denied or revoked'), 15_000, 'the node told');
    assert.equal((await nodeOf(primary.api, 'stranger'))?.state, 'denied');
    assert.equal(secretOf(join(dir, 'b')), undefined);

    // Not something to approve twice; and an id nobody knows.
    const again = await runCli(['nodes', 'approve', a, '--api', primary.api]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /409: ERR_CONFLICT: node .* is online/);
    const unknown = await runCli(['nodes', 'deny', 'no-such-node', '--api', primary.api]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404: ERR_NOT_FOUND/);

    const events = await eventsOf(primary.api);
    for (const [type, node] of [
      ['pending', a],
      ['pending', b],
      ['approved', a],
      ['denied', b],
    ])
      assert.ok(
        events.some((e) => e.type === type && e.node === node && (type === 'pending' || e.by === '127.0.0.1')),
        `${type} ${node}`,
      );
  });

  it("revoke closes a live node's session and refuses its secret from then on; approve lets it enrol again", async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const node = startSecondary(t, primary, { dataDir: join(dir, 'n'), name: 'to-revoke' });
    await waitUntil(async () => (await nodeOf(primary.api, 'to-revoke'))?.state === 'online', 15_000, 'online');
    const id = nodeIdOf(join(dir, 'n'));
    const firstSecret = await waitUntil(() => secretOf(join(dir, 'n')), 10_000, 'its secret written');

    const revoked = await runCli(['nodes', 'revoke', id, '--api', primary.api]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await nodeOf(primary.api, 'to-revoke'))?.state, 'denied');
    await waitUntil(() => node.stderr.join('').includes('lost the primary'), 10_000, 'the session closed');
    // It tries its secret (void now), then the token once: denied.
    await waitUntil(() => node.stderr.join('').includes('was denied or revoked'), 15_000, 'refused');
    const events = await eventsOf(primary.api);
    assert.ok(events.some((e) => e.type === 'revoked' && e.node === id));
    assert.ok(!events.some((e) => e.type === 'lost' && e.node === id), 'a revoke is not a lost node');

    const approved = await runCli(['nodes', 'approve', id, '--api', primary.api]);
    assert.equal(approved.code, 0, approved.stderr);
    await waitUntil(async () => (await nodeOf(primary.api, 'to-revoke'))?.state === 'online', 15_000, 'back');
    await waitUntil(() => secretOf(join(dir, 'n')) !== firstSecret || undefined, 10_000, 'a new secret');
  });

  it('forget removes a node and its secret, keeping its history unless --history', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const keepDir = join(dir, 'keep');
    const keeper = startSecondary(t, primary, { dataDir: keepDir, name: 'keeper' });
    const dropDir = join(dir, 'drop');
    const dropper = startSecondary(t, primary, { dataDir: dropDir, name: 'dropper' });
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.vitals && n.vitals.seq >= 3).length === 2,
      15_000,
      'samples from both',
    );
    const keepId = nodeIdOf(keepDir);
    const dropId = nodeIdOf(dropDir);

    // A live node forgotten (open admission): its session closes, its secret is void, and it
    // enrols again as new, its history going on where it stopped.
    const forgotten = await runCli(['nodes', 'forget', keepId, '--api', primary.api]);
    assert.equal(forgotten.code, 0, forgotten.stderr);
    assert.match(forgotten.stdout, /forgotten \(its history is kept\)/);
    await waitUntil(() => keeper.stderr.join('').includes('lost the primary'), 10_000, 'the session closed');
    await waitUntil(async () => (await nodeOf(primary.api, 'keeper'))?.state === 'online', 15_000, 'enrolled again');

    // A stopped node forgotten with its history.
    dropper.kill('SIGTERM');
    await exitOf(dropper);
    const purged = await runCli(['nodes', 'forget', dropId, '--history', '--api', primary.api]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.equal(await nodeOf(primary.api, 'dropper'), undefined);
    assert.equal((await fetch(`${primary.api}/api/nodes/${dropId}`)).status, 404);

    const db = new Database(join(primary.dataDir, 'primary.db'), { readonly: true });
    try {
      const seqs = (id: string) =>
        (db.prepare('SELECT seq FROM vitals WHERE node_id = ? ORDER BY seq').all(id) as Array<{ seq: number }>).map(
          (r) => r.seq,
        );
      const kept = seqs(keepId);
      assert.ok(kept.length >= 3, 'history kept');
      assert.deepEqual(kept, [...new Set(kept)], 'no seq twice');
      assert.equal(kept[0], 1, 'from the start');
      assert.deepEqual(seqs(dropId), [], 'history deleted');
      const dropEvents = db.prepare('SELECT count(*) AS n FROM events WHERE node_id = ?').get(dropId) as { n: number };
      assert.equal(dropEvents.n, 0);
    } finally {
      db.close();
    }
    const events = await eventsOf(primary.api);
    assert.ok(events.some((e) => e.type === 'forgotten' && e.nodeId === dropId && e.history === true));
    assert.ok(events.some((e) => e.type === 'forgotten' && e.nodeId === keepId && e.history === false));
  });

  it('token rotate: new joins need the new token; enrolled nodes are untouched; a token given as a value cannot rotate', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const tokenFile = join(primary.dataDir, 'token');
    const oldCopy = join(dir, 'old-token');
    copyFileSync(tokenFile, oldCopy);
    const enrolledDir = join(dir, 'enrolled');
    const enrolled = startSecondary(t, primary, { dataDir: enrolledDir, name: 'enrolled' });
    await waitUntil(async () => (await nodeOf(primary.api, 'enrolled'))?.state === 'online', 15_000, 'online');

    const rotated = await runCli(['token', 'rotate', '--api', primary.api]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, new RegExp(`the cluster token in ${tokenFile} was replaced`));
    assert.notEqual(readFileSync(tokenFile, 'utf8'), readFileSync(oldCopy, 'utf8'));

    // The enrolled node restarts and comes back on its secret.
    enrolled.kill('SIGTERM');
    await exitOf(enrolled);
    const back = startSecondary(t, primary, { dataDir: enrolledDir, name: 'enrolled' });
    await waitUntil(async () => (await nodeOf(primary.api, 'enrolled'))?.state === 'online', 15_000, 'back');
    const late = startSecondary(t, primary, { dataDir: join(dir, 'late'), name: 'late', tokenFile: oldCopy });
    startSecondary(t, primary, { dataDir: join(dir, 'fresh'), name: 'fresh' });
    await waitUntil(async () => (await nodeOf(primary.api, 'fresh'))?.state === 'online', 15_000, 'new token works');
    await waitUntil(() => late.stderr.join('').includes('primary refused the cluster token'), 15_000, 'old refused');
    assert.equal(await nodeOf(primary.api, 'late'), undefined);
    assert.ok(back.alive);
    assert.ok((await eventsOf(primary.api)).some((e) => e.type === 'token-rotated' && e.by === '127.0.0.1'));

    const given = await startPrimary(t, { dataDir: join(dir, 'given'), args: ['--token', 'a-token-given-as-a-value'] });
    const refused = await runCli(['token', 'rotate', '--api', given.api]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /409: ERR_CONFLICT: the cluster token was given as a value/);
  });
});
