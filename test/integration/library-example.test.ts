// The README's library example, run as it is written there (keep the two in step).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { it } from 'node:test';
import { Primary, Secondary } from '../../src/index.js';
import { tempDir } from '../helpers/cluster.js';

it('README example: a primary, a secondary with a custom request handler and a plugin', async (t) => {
  const dir = tempDir(t);
  // --- README example start
  const token = 'a-long-random-cluster-token';
  // fleetQueries: which nodes may ask about the other nodes ("*": all; by default none may).
  const primary = new Primary({ dataDir: join(dir, 'primary'), port: 0, bind: '127.0.0.1', token, fleetQueries: '*' });
  await primary.start();

  const secondary = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: join(dir, 'node'),
    name: 'pi-1',
    labels: { room: 'attic' },
    token,
    // TLS is on by default: the node trusts the certificate whose fingerprint the primary printed.
    tls: { fingerprint: primary.tlsFingerprint as string },
    vitalsPeriodMs: 1000,
  });
  // Your own request type, answered by this node (the primary asks with primary.request).
  secondary.handle('x-disk-report', async () => ({ mounts: ['/'], checkedAt: Date.now() }));
  // A plugin: anything that needs setting up when the agent starts and tearing down at stop.
  secondary.use({
    name: 'heartbeat-led',
    setup(node) {
      const onState = (state: string) => console.log(`node state: ${state}`);
      node.on('state', onState);
      return () => node.off('state', onState);
    },
  });
  await secondary.start();
  await once(secondary, 'online');

  const report = (await primary.request(secondary.nodeId, 'x-disk-report')) as { mounts: string[] };
  const nodes = (await secondary.query('nodes')) as { nodes: Array<{ name: string; state: string }> };
  console.log(
    report.mounts,
    nodes.nodes.map((n) => `${n.name}: ${n.state}`),
  );

  await secondary.stop(); // says goodbye: the node becomes "left"
  await primary.stop();
  // --- README example end
  assert.deepEqual(report.mounts, ['/']);
  assert.deepEqual(
    nodes.nodes.map((n) => [n.name, n.state]),
    [['pi-1', 'online']],
  );
  assert.equal(primary.node(secondary.nodeId)?.state, 'left');
});
