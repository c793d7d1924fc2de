// Who may ask about the fleet over the cluster link: a node asks about itself and the primary; the
// other nodes only when the primary's `queries.fleet` selector takes it (ERR_FORBIDDEN else), so
// one enrolled node does not hand an intruder every id and address of the cluster.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Primary } from '../../src/primary/primary.js';
import { RemoteError } from '../../src/protocol/errors.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { FAST_COMMIT, tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'fleet-queries-test-token-0123';

async function cluster(t: TestContext, fleetQueries: string | undefined) {
  const primary = await startLibraryPrimary(t, { token: TOKEN, fleetQueries });
  const node = async (labels: Record<string, string>) => {
    const s = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      labels,
      tls: { fingerprint: primary.tlsFingerprint as string },
    });
    await s.start();
    t.after(() => s.stop());
    await waitUntil(() => s.state === 'online', 10_000, 'online');
    return s;
  };
  return { primary, node };
}

const forbidden = (err: unknown) => err instanceof RemoteError && err.remoteCode === 'ERR_FORBIDDEN';

describe('fleet queries', () => {
  it('by default a node queries only itself and the primary', async (t) => {
    const { node } = await cluster(t, undefined);
    const a = await node({ role: 'worker' });
    const b = await node({ role: 'worker' });
    assert.equal(((await a.query('node')) as { id: string }).id, a.nodeId);
    assert.equal(((await a.query('node', a.nodeId)) as { id: string }).id, a.nodeId);
    assert.equal(((await a.query('primary')) as { nodes: number }).nodes, 2);
    await assert.rejects(a.query('node', b.nodeId), forbidden);
    await assert.rejects(a.listNodes(), forbidden);
  });

  it('queries.fleet grants the nodes its selector takes, and "*" every node', async (t) => {
    const { node } = await cluster(t, 'role=manager');
    const manager = await node({ role: 'manager', rack: '1' });
    const worker = await node({ role: 'worker' });
    assert.equal((await manager.listNodes()).length, 2);
    assert.equal(((await manager.query('node', worker.nodeId)) as { id: string }).id, worker.nodeId);
    await assert.rejects(worker.listNodes(), forbidden);

    const open = await cluster(t, '*');
    const anyone = await open.node({});
    assert.equal((await anyone.listNodes()).length, 1);
  });

  it('a bad selector is refused at start with one clear line', () => {
    assert.throws(
      () => new Primary({ ...FAST_COMMIT, dataDir: '/nonexistent', fleetQueries: 'role=manager,,x' }),
      /invalid label selector "role=manager,,x"/,
    );
  });
});
