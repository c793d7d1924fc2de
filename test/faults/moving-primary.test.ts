// A primary given by host name whose address changes (a DHCP lease, a moved VM): the secondary's
// host name resolves through its network namespace's own /etc/hosts (`ip netns exec` provides
// it); the primary's address moves and the hosts file follows; the secondary finds the link dead
// by its silence, looks the name up again and is back within 3H + its backoff cap + a handshake.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeIdOf, tempDir, waitUntil } from '../helpers/cluster.js';
import { NET_TIMING, stopAndCheck } from '../helpers/fault-cluster.js';
import { jepsen } from '../helpers/jepsen-log.js';
import { LAB_PORT, NetLab } from '../helpers/netns.js';
import { apiNodes } from '../helpers/observe.js';

const { H } = NET_TIMING;

describe('a primary by host name', () => {
  it(
    'its address changes and the name follows: the secondary looks it up again and is back in service',
    jepsen('moving primary', async (t, log) => {
      const lab = await NetLab.create(t, log, { hosts: 1 });
      if (!lab) return;
      const host = lab.hosts[0] as (typeof lab.hosts)[0];
      const dir = tempDir(t, 'picluster-fault-');
      const primary = await lab.startPrimary(t, { dataDir: join(dir, 'primary'), heartbeatMs: H });
      lab.setHosts(t, host, `127.0.0.1 localhost\n${host.primaryAddress} primary.test\n`);
      const nodeDir = join(dir, 'node');
      const child = lab.startSecondary(t, host, {
        dataDir: nodeDir,
        name: 'pi-1',
        tokenFile: join(primary.dataDir, 'token'),
        heartbeatMs: H,
        vitalsMs: NET_TIMING.vitalsMs,
        reconnect: NET_TIMING.reconnect,
        primary: `primary.test:${LAB_PORT}`,
        args: ['--handshake-timeout-ms', String(NET_TIMING.handshakeMs)],
      });
      await waitUntil(async () => (await apiNodes(primary.api))[0]?.state === 'online', 20_000, 'online by name');
      const nodeId = nodeIdOf(nodeDir);
      const moved = host.primaryAddress.replace(/\.1$/, '.11');
      lab.setHosts(t, host, `127.0.0.1 localhost\n${moved} primary.test\n`);
      const span = await lab.movePrimaryAddress(host, host.primaryAddress, moved);
      await waitUntil(
        async () => {
          const node = (await apiNodes(primary.api)).find((n) => n.id === nodeId);
          return node?.state === 'online' && (node.connectedSince ?? 0) > span.before;
        },
        20_000,
        'online again at the new address',
      );
      const tookMs = Date.now() - span.after;
      log.info('back', { tookMs });
      // Silence is found after 3H at most on the secondary, then one backoff (cap) and a handshake.
      assert.ok(tookMs <= 3 * H + NET_TIMING.reconnect[1] + NET_TIMING.handshakeMs + 2000, `back after ${tookMs} ms`);
      const node = (await apiNodes(primary.api)).find((n) => n.id === nodeId);
      assert.match(node?.address ?? '', new RegExp(`^${host.address.replaceAll('.', '\\.')}:\\d+$`));
      await stopAndCheck(t, { agents: [{ name: 'pi-1', dataDir: nodeDir, nodeId, child }], primary, log }, [
        /node lost/,
      ]);
    }),
  );
});
