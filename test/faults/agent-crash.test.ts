// kill -9 of agents in the middle of a burst (FAULT-SCENARIOS.md #4), on 127.0.0.1: 5 agents in
// one process sending a sample every 20 ms are killed (the kernel closes their sockets, so the
// primary must notice at once, not after 3H), then restarted on the same data dirs: their on-disk
// outboxes (possibly with a torn last line) resend what was not acknowledged, and the primary stores
// every (node, seq) exactly once. H = 500 ms.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { exitOf, waitUntil } from '../helpers/cluster.js';
import { fleetReport, localCluster, startFleet, stopAndCheck, waitForCatchUp } from '../helpers/fault-cluster.js';
import { jepsen } from '../helpers/jepsen-log.js';
import { apiNodes, findLogs } from '../helpers/observe.js';

it(
  'kill -9 of 5 agents mid-burst: the primary marks them lost within 1H (EOF/RST, not a timeout), restarted agents resend their outboxes, every acknowledged sample stored exactly once',
  jepsen('agents kill -9 mid-burst', async (t, log) => {
    const c = await localCluster(t, log, { fleet: { count: 5, periodMs: 20 } });
    const { H } = c.timing;
    const fleet = (c.agents[0] as (typeof c.agents)[0]).child;
    await waitUntil(
      () => {
        const acks = Object.values(fleetReport(fleet).acks);
        return acks.length === 5 && acks.every((s) => s >= 40);
      },
      20 * H,
      '40 acks per agent',
    );
    const killedAt = Date.now();
    await log.step('SIGKILL agents', async () => {
      fleet.kill('SIGKILL');
      await exitOf(fleet);
    });
    const ids = new Set(c.agents.map((a) => a.nodeId));
    await waitUntil(
      () =>
        findLogs(c.primary.child.stderr, 'node lost', killedAt).filter((l) => ids.has(l.nodeId as string)).length === 5,
      4 * H,
      'all 5 lost',
    );
    const lost = findLogs(c.primary.child.stderr, 'node lost', killedAt);
    const slowest = Math.max(...lost.map((l) => l.time - killedAt));
    t.diagnostic(`lost after ≤ ${slowest} ms with ${[...new Set(lost.map((l) => l.code))].join(', ')}`);
    assert.ok(slowest <= H, `the primary took ${slowest} ms to see killed agents`);
    assert.ok(
      lost.every((l) => l.code !== 'ERR_PEER_TIMEOUT'),
      'detected by timeout: the closed sockets went unnoticed',
    );
    const restarted = await startFleet(t, c.dir, c.primary.dataDir, c.agentPort, c.timing, { count: 5, periodMs: 20 });
    assert.deepEqual(restarted.map((a) => a.nodeId).sort(), [...ids].sort(), 'the agents kept their ids');
    c.agents = restarted;
    await waitUntil(
      async () => (await apiNodes(c.primary.api)).filter((n) => n.state === 'online').length === 5,
      10 * H,
      'the restarted agents online',
    );
    await waitForCatchUp(c, 20 * H);
    await stopAndCheck(t, c);
  }),
);
