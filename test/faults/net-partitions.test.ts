// Partitions over real network namespaces (FAULT-SCENARIOS.md #5, #6, #7, #10): an nftables DROP
// partition that heals, an active refusal (TCP reset) that must not make the agent spin, a
// flapping link that must leak no descriptors nor leave two sessions for a node, and a link
// starved to 8 kbit/s on which nobody is declared dead while bytes still flow. H = 500 ms, but
// the default 5 s on the starved link: at 1 KB/s one full packet takes 1.5 s to cross, so TCP's
// own retransmission timeout there is 3.6 s (`ss -ti`), a lost packet stalls the link that long
// and a lost retransmission 7 s more. The default deadline (15 s) covers both; scaled down to
// 1.5 s or 6 s it did not (CI saw both fail), whatever the agents do. Applying a fault runs `nft`
// or `tc` (10-150 ms on a loaded machine): deadlines count from just after the command (FaultSpan).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitUntil } from '../helpers/cluster.js';
import { labCluster, stopAndCheck, waitForCatchUp } from '../helpers/fault-cluster.js';
import { jepsen, readOutboxHistory } from '../helpers/jepsen-log.js';
import { requireNft } from '../helpers/netns.js';
import { apiMetrics, apiNodes, fdCount, findLog, findLogs, sleep, waitForValue } from '../helpers/observe.js';

describe('partitions (network namespaces)', () => {
  it(
    'nftables partition of one node for 12H that heals: lost within 4H, the other node keeps reporting, the outbox holds the gap, back within dial timeout + cap + 1H, no loss, no dupes',
    jepsen('partition that heals', async (t, log) => {
      if (!requireNft(t)) return;
      const c = await labCluster(t, log, { hosts: 2 });
      if (!c) return;
      const { H, reconnect, handshakeMs } = c.timing;
      const [cut, other] = c.agents as [(typeof c.agents)[0], (typeof c.agents)[0]];
      await sleep(2 * H);
      const partitioned = await c.lab.partition(cut.host);
      const cutAt = partitioned.before;
      const lost = await waitForValue(
        () => findLogs(c.primary.child.stderr, 'node lost', cutAt).find((l) => l.nodeId === cut.nodeId),
        8 * H,
        'the primary to declare the partitioned node lost',
      );
      assert.ok(lost.time - partitioned.after <= 4 * H, `lost ${lost.time - partitioned.after} ms after the partition`);
      const otherSeq = async () => (await apiNodes(c.primary.api)).find((n) => n.id === other.nodeId)?.vitals?.seq ?? 0;
      const seqAtCut = await otherSeq();
      const seqFrom = Date.now();
      await sleep(12 * H - (Date.now() - cutAt));
      const progressed = (await otherSeq()) - seqAtCut;
      // The other node is judged over the time it was watched (from the detection on), not 12H.
      const watched = Math.floor((Date.now() - seqFrom) / c.timing.vitalsMs);
      assert.ok(progressed >= watched / 2, `the other node stored ${progressed} samples in ${watched} periods`);
      const periods = Math.floor((12 * H) / c.timing.vitalsMs);
      const pending = readOutboxHistory(`${cut.dataDir}/outbox.jsonl`).pending.size;
      assert.ok(pending >= periods / 2, `the partitioned node's outbox kept ${pending} samples`);
      const healed = await c.lab.heal(cut.host);
      await waitUntil(
        async () => (await apiNodes(c.primary.api)).find((n) => n.id === cut.nodeId)?.state === 'online',
        handshakeMs + reconnect[1] + H + 3000,
        'the partitioned node back online',
      );
      const backMs = Date.now() - healed.after;
      t.diagnostic(`lost after ${lost.time - cutAt} ms; back ${backMs} ms after the heal; ${pending} samples held`);
      assert.ok(backMs <= handshakeMs + reconnect[1] + H, `back ${backMs} ms after the heal`);
      await waitForCatchUp(c, 10 * H);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'TCP reset on every packet (nft REJECT) for 10H: the agent sees it at once, then backs off: SYNs <= 2x what the backoff allows, >= 3; back within cap + 1H after; no loss, no dupes',
    jepsen('reject with reset', async (t, log) => {
      if (!requireNft(t)) return;
      const c = await labCluster(t, log, { hosts: 1 });
      if (!c) return;
      const { H, reconnect, vitalsMs } = c.timing;
      const [a] = c.agents as [(typeof c.agents)[0]];
      await sleep(2 * H);
      const rejected = await c.lab.rejectWithReset(a.host);
      const rejectAt = rejected.before;
      const dropped = await waitForValue(
        () => findLog(a.child.stderr, 'lost the primary', rejectAt),
        8 * H,
        'the secondary to see the reset',
      );
      // Over TLS (the lab's default) Node reports the reset as an end of stream in some runs: seen
      // in about half of them since the primary shows each sample at receipt (the timing of its
      // writes moved; 0 of 26 before), while the primary logs no close of its own, so no FIN was
      // sent. The criterion is that the reset surfaces at once, which the next check bounds.
      assert.ok(
        dropped.code === 'ERR_CONNECTION_RESET' || dropped.code === 'ERR_EOF',
        `the reset surfaced as ${String(dropped.code)}`,
      );
      assert.ok(
        dropped.time - rejected.after <= vitalsMs + H,
        `reset surfaced ${dropped.time - rejected.after} ms after the rule was in`,
      );
      await sleep(10 * H - (Date.now() - rejected.before));
      const syns = await c.lab.rejectedSyns(a.host);
      // The counter ran from the rule going in (within `nft`'s run) to the read: at most this long.
      const windowMs = Date.now() - rejected.before;
      // Full jitter: attempt k waits uniform(0, min(cap, initial·2^k)); expected attempts in the window:
      let expected = 0;
      for (let k = 0, spent = 0; spent < windowMs; k++) {
        spent += Math.min(reconnect[1], reconnect[0] * 2 ** k) / 2;
        expected++;
      }
      log.info('syns', { syns, expected, windowMs });
      t.diagnostic(`${syns} connection attempts in ${windowMs} ms (full-jitter backoff expects about ${expected})`);
      assert.ok(syns >= 3, `only ${syns} attempts: the agent stopped retrying`);
      assert.ok(syns <= 2 * expected, `${syns} attempts: a tight loop, not a backoff`);
      const failure = findLog(a.child.stderr, 'cannot reach the primary', rejectAt);
      assert.ok(String(failure?.err).startsWith('ERR_CONNECTION_REFUSED'), `dials failed with ${failure?.err}`);
      const opened = await c.lab.unreject(a.host);
      await waitUntil(
        async () =>
          (await apiNodes(c.primary.api))[0]?.state === 'online' && findLog(a.child.stderr, 'online', opened.before),
        reconnect[1] + H + 3000,
        'back online',
      );
      const backMs = Date.now() - opened.after;
      t.diagnostic(`back online ${backMs} ms after the reject was lifted`);
      assert.ok(backMs <= reconnect[1] + H, `back ${backMs} ms after the reject was lifted`);
      await waitForCatchUp(c, 10 * H);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'flapping link (10 seeded cycles of blackhole 0.5H-4H / open 1H-2H): no crash, fds of primary and agents back to baseline ±2, one session per node, every sample delivered once',
    jepsen('flapping link', async (t, log) => {
      const c = await labCluster(t, log, { hosts: 2 });
      if (!c) return;
      const { H, reconnect, handshakeMs } = c.timing;
      const [flap] = c.agents as [(typeof c.agents)[0]];
      await sleep(2 * H);
      const pids = [c.primary.pid, ...c.agents.map((a) => a.child.pid)];
      const baseline = pids.map(fdCount);
      log.info('fd baseline', { pids, fds: baseline });
      for (let cycle = 0; cycle < 10; cycle++) {
        const down = log.int(H / 2, 4 * H);
        const up = log.int(H, 2 * H);
        await c.lab.blackhole(flap.host, 'both');
        await sleep(down);
        await c.lab.clearQdiscs(flap.host);
        await sleep(up);
      }
      assert.ok(c.primary.child.alive && c.agents.every((a) => a.child.alive), 'a process died');
      await waitUntil(
        async () => (await apiNodes(c.primary.api)).every((n) => n.state === 'online'),
        handshakeMs + reconnect[1] + 4 * H + 2000,
        'both nodes online after the flapping',
      );
      await waitForCatchUp(c, 10 * H);
      // Sockets of the replaced sessions close asynchronously: poll (bounded) for the baseline.
      const settled = () => pids.every((pid, i) => Math.abs(fdCount(pid) - (baseline[i] as number)) <= 2);
      await waitUntil(settled, 4 * H, 'fd counts back to baseline').catch(() => undefined);
      const after = pids.map(fdCount);
      log.info('fds after', { fds: after });
      t.diagnostic(`fds before ${baseline.join('/')} after ${after.join('/')} (primary/agents)`);
      for (let i = 0; i < pids.length; i++) {
        assert.ok(
          Math.abs((after[i] as number) - (baseline[i] as number)) <= 2,
          `pid ${pids[i]}: ${baseline[i]} fds before, ${after[i]} after`,
        );
      }
      const metrics = await apiMetrics(c.primary.api);
      assert.equal(metrics.get('picluster_connected_nodes'), 2, 'one live session per node');
      const lost = findLogs(c.primary.child.stderr, 'node lost').length;
      t.diagnostic(`${lost} sessions lost and replaced during the flapping`);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'starved link (tbf 8kbit both ways, default heartbeat 5 s) for 20 s while samples back up: no false "dead" on either side while bytes flow, samples keep arriving, the backlog drains after, no loss, no dupes',
    jepsen('starved link', async (t, log) => {
      const c = await labCluster(t, log, { hosts: 1, timing: { H: 5000 } });
      if (!c) return;
      const { H } = c.timing;
      const [a] = c.agents as [(typeof c.agents)[0]];
      await sleep(1000);
      const since = (await apiNodes(c.primary.api))[0]?.connectedSince;
      const startedAt = Date.now();
      await c.lab.rateLimit(a.host, '8kbit', 'both');
      const seqAt = async () => (await apiNodes(c.primary.api))[0]?.vitals?.seq ?? 0;
      const first = await seqAt();
      const progress: number[] = [];
      for (let i = 0; i < 5; i++) {
        await sleep(4000);
        progress.push(await seqAt());
      }
      const produced = readOutboxHistory(`${a.dataDir}/outbox.jsonl`).lastSeq;
      log.info('progress under tbf', { first, progress, produced });
      t.diagnostic(`stored seq under 8kbit: ${first} → ${progress.join(' → ')} (agent made ${produced})`);
      assert.equal(findLog(c.primary.child.stderr, 'node lost', startedAt), undefined, 'the primary declared it dead');
      assert.equal(
        findLog(a.child.stderr, 'lost the primary', startedAt),
        undefined,
        'the agent declared the primary dead',
      );
      assert.equal((await apiNodes(c.primary.api))[0]?.connectedSince, since, 'the session was replaced');
      assert.ok((progress.at(-1) as number) > first, 'no sample got through the starved link');
      await c.lab.clearQdiscs(a.host);
      await waitForCatchUp(c, 20 * H);
      await stopAndCheck(t, c);
    }),
  );
});
