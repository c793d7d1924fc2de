// Faults in user space through the fault proxy, on 127.0.0.1 (FAULT-SCENARIOS.md #5, #6, #10, #16;
// this kernel has no netem): 200 ms ± 50 ms of latency declares nobody dead and acks keep up with
// production (the in-flight window covers the round trip), a bandwidth cap slows ingest without a
// false "dead", 1-byte slicing splits every multi-byte character and nothing is decoded wrong,
// resets and cuts in the middle of a frame are survived without loss or duplicates, and a
// blackhole in the proxy is caught by heartbeats. H = 500 ms.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DEFAULTS } from '../../src/common/defaults.js';
import { waitUntil } from '../helpers/cluster.js';
import { fleetReport, localCluster, stopAndCheck, waitForCatchUp } from '../helpers/fault-cluster.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { jepsen, readOutboxHistory } from '../helpers/jepsen-log.js';
import { apiNodes, findLog, findLogs, sleep, waitForValue } from '../helpers/observe.js';
import { storedExtras } from '../helpers/stored-vitals.js';

/** Samples acknowledged so far across a fleet. */
const ackedTotal = (acks: Record<string, number>) => Object.values(acks).reduce((a, b) => a + b, 0);

describe('faults through the TCP fault proxy', () => {
  it(
    '200 ms ± 50 ms latency each way for 20H: nobody declared dead (no lost link on either side), acks keep up with production (no agent more than its 32-sample in-flight window behind), ack throughput >= 50% of the clean run, ack lag bounded by the RTT',
    jepsen('latency 200 ± 50 ms', async (t, log) => {
      const c = await localCluster(t, log, { proxy: true, fleet: { count: 10, periodMs: 50 } });
      const proxy = c.proxy as FaultProxy;
      const fleet = (c.agents[0] as (typeof c.agents)[0]).child;
      const { H } = c.timing;
      const windowMs = 10 * H;
      const measure = async () => {
        const start = ackedTotal(fleetReport(fleet).acks);
        await sleep(windowMs);
        return (ackedTotal(fleetReport(fleet).acks) - start) / (windowMs / 1000);
      };
      const clean = await measure();
      const since = new Map((await apiNodes(c.primary.api)).map((n) => [n.id, n.connectedSince]));
      const startedAt = Date.now();
      proxy.set({ latencyMs: 200, jitterMs: 50 });
      await sleep(windowMs); // the pipeline fills up
      const slow = await measure();
      // Unacknowledged samples per agent. The acks are read first, so the outboxes read after them
      // are at least as recent: this never under-counts. Sending at most 32 ahead of the acks, an
      // agent whose acks kept up has ~RTT/period (~10) samples out; one whose acks fall behind
      // production (a window the round trip does not fit in, stop-and-wait) piles up a backlog
      // that only grows. A hiccup of the machine is waited out (4H); a backlog is not.
      const unacked = () => {
        const acks = fleetReport(fleet).acks;
        return c.agents.map((a) => readOutboxHistory(join(a.dataDir, 'outbox.jsonl')).lastSeq - (acks[a.nodeId] ?? 0));
      };
      let pending = unacked();
      for (const until = Date.now() + 4 * H; Math.max(...pending) > DEFAULTS.vitalsInFlight && Date.now() < until; ) {
        await sleep(100);
        pending = unacked();
      }
      const lagMs: number[] = [];
      for (const node of await apiNodes(c.primary.api)) {
        if (node.vitals) lagMs.push(node.vitals.receivedAt - node.vitals.ts);
      }
      log.info('throughput', { clean, slow, lagMs, pending });
      t.diagnostic(
        `acks/s: ${clean.toFixed(0)} clean, ${slow.toFixed(0)} with 200 ± 50 ms; unacknowledged per agent ${pending.join('/')}; one-way lag now ${Math.max(...lagMs)} ms max`,
      );
      assert.equal(fleetReport(fleet).offline, 0, 'an agent declared the primary dead');
      assert.equal(
        findLog(c.primary.child.stderr, 'node lost', startedAt),
        undefined,
        'the primary declared a node dead',
      );
      for (const node of await apiNodes(c.primary.api))
        assert.equal(node.connectedSince, since.get(node.id), `${node.name} reconnected`);
      assert.ok(
        Math.max(...pending) <= DEFAULTS.vitalsInFlight,
        `acks fall behind production: unacknowledged samples per agent ${pending.join('/')}`,
      );
      // Two windows 5 s apart see different background load: only a loose ratio between them.
      assert.ok(slow >= 0.5 * clean, `throughput fell from ${clean.toFixed(0)} to ${slow.toFixed(0)} acks/s`);
      assert.ok(Math.max(...lagMs) <= 250 + 2 * H, `samples arrive ${Math.max(...lagMs)} ms late`);
      proxy.clear();
      await waitForCatchUp(c, 10 * H);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'bandwidth capped to 4 KB/s below the production rate for 10H: no false "dead" while bytes flow, the link is used (>= 70% of the cap), the backlog drains after, no loss, no dupes',
    jepsen('bandwidth cap', async (t, log) => {
      const c = await localCluster(t, log, { proxy: true, fleet: { count: 10, periodMs: 50 } });
      const proxy = c.proxy as FaultProxy;
      const fleet = (c.agents[0] as (typeof c.agents)[0]).child;
      const { H } = c.timing;
      const cap = 4096;
      const startedAt = Date.now();
      proxy.set({ bytesPerSecond: cap }, 'up');
      await sleep(2 * H);
      const bytesBefore = proxy.bytes.up;
      const measuredFrom = Date.now();
      await sleep(8 * H);
      const rate = (proxy.bytes.up - bytesBefore) / ((Date.now() - measuredFrom) / 1000);
      t.diagnostic(`agent→primary ${rate.toFixed(0)} B/s under a ${cap} B/s cap`);
      log.info('rate under cap', { rate, cap });
      assert.ok(rate >= 0.7 * cap && rate <= 1.1 * cap, `used ${rate.toFixed(0)} B/s of ${cap}`);
      assert.equal(fleetReport(fleet).offline, 0, 'an agent declared the primary dead');
      assert.equal(
        findLog(c.primary.child.stderr, 'node lost', startedAt),
        undefined,
        'the primary declared a node dead',
      );
      proxy.clear();
      await waitForCatchUp(c, 20 * H);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'every byte sliced into its own write (1-byte chunks both ways): a name and labels of 4-byte characters arrive intact, nothing with U+FFFD stored, the link stays up, no loss, no dupes',
    jepsen('1-byte slicing of multi-byte characters', async (t, log) => {
      const name = 'pi-🍓-日本-ü';
      // 1 ms per byte: a sample (~700 bytes) takes ~0.7 s, so one per second, and time for the handshake.
      const c = await localCluster(t, log, {
        proxy: true,
        timing: { vitalsMs: 1000, handshakeMs: 3000 },
        secondaries: [{ name, args: ['--labels', 'room=🏠,owner=Zoë,chars=𝄞𝄢'] }],
      });
      const proxy = c.proxy as FaultProxy;
      const { H } = c.timing;
      const [a] = c.agents as [(typeof c.agents)[0]];
      proxy.set({ sliceBytes: 1, sliceDelayMs: 1 });
      const since = (await apiNodes(c.primary.api))[0]?.connectedSince;
      // A new session whose every frame (auth with the name, info, vitals) goes byte by byte.
      proxy.resetAll();
      const resetAt = Date.now();
      await waitUntil(
        async () => {
          const node = (await apiNodes(c.primary.api))[0];
          return node?.state === 'online' && node.connectedSince !== since && node.connectedSince !== null;
        },
        10 * H,
        'a session through the slicing proxy',
      );
      const sessionSince = (await apiNodes(c.primary.api))[0]?.connectedSince;
      await sleep(6 * H);
      const node = (await apiNodes(c.primary.api))[0];
      assert.equal(node?.name, name);
      assert.deepEqual(node?.labels, { room: '🏠', owner: 'Zoë', chars: '𝄞𝄢' });
      assert.equal(node?.connectedSince, sessionSince, 'the sliced link dropped');
      assert.equal(findLog(a.child.stderr, 'lost the primary', resetAt + 100), undefined);
      assert.ok(proxy.bytes.up > 1000, 'bytes went through the slicer');
      proxy.clear();
      await waitForCatchUp(c, 10 * H);
      await stopAndCheck(t, c);
      const db = new Database(join(c.primary.dataDir, 'primary.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT name, labels FROM nodes').get() as { name: string; labels: string };
        assert.equal(row.name, name);
        const bad = storedExtras(db).filter((r) => r.json.includes('\uFFFD'));
        assert.equal(bad.length, 0, 'U+FFFD stored in vitals');
        assert.ok(!row.labels.includes('\uFFFD'), 'U+FFFD in the stored labels');
      } finally {
        db.close();
      }
    }),
  );

  it(
    'TCP reset of the live link: the agent sees ERR_CONNECTION_RESET at once and is back within cap + 1H; a cut 7 bytes into a frame is seen by the primary as ERR_EOF_MID_FRAME; no loss, no dupes',
    jepsen('reset and cut mid-frame', async (t, log) => {
      // Plaintext: the cut is 7 bytes into a frame. Inside TLS it would be 7 bytes into a TLS
      // record, which delivers nothing, so the frame layer would see a clean end (ERR_EOF).
      const c = await localCluster(t, log, { proxy: true, secondaries: [{ name: 'r1' }], primaryArgs: ['--no-tls'] });
      const proxy = c.proxy as FaultProxy;
      const { H, reconnect } = c.timing;
      const [a] = c.agents as [(typeof c.agents)[0]];
      await sleep(2 * H);
      const resetAt = Date.now();
      proxy.resetAll();
      const seen = await waitForValue(
        () => findLog(a.child.stderr, 'lost the primary', resetAt),
        4 * H,
        'the reset seen',
      );
      assert.equal(seen.code, 'ERR_CONNECTION_RESET');
      assert.ok(seen.time - resetAt <= H, `reset seen after ${seen.time - resetAt} ms`);
      const back = await waitForValue(
        () => findLog(a.child.stderr, 'online', resetAt),
        reconnect[1] + 3 * H,
        'back online',
      );
      assert.ok(back.time - resetAt <= reconnect[1] + H, `back after ${back.time - resetAt} ms`);

      await sleep(2 * H);
      const cutAt = Date.now();
      proxy.set({ closeAfterBytes: 7 }, 'up');
      const lost = await waitForValue(
        () => findLog(c.primary.child.stderr, 'node lost', cutAt),
        4 * H,
        'the primary to see the cut',
      );
      proxy.set({ closeAfterBytes: 0 }, 'up');
      assert.equal(lost.code, 'ERR_EOF_MID_FRAME');
      await waitForValue(() => findLog(a.child.stderr, 'online', cutAt), reconnect[1] + 3 * H, 'back online');
      await waitForCatchUp(c, 10 * H);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'blackhole in the proxy for 6H (bytes held, no socket error): both sides detect within [2H, 4H] by heartbeat; after the heal back within cap + dial timeout + 1H; no loss, no dupes',
    jepsen('proxy blackhole', async (t, log) => {
      const c = await localCluster(t, log, { proxy: true, secondaries: [{ name: 'b1' }] });
      const proxy = c.proxy as FaultProxy;
      const { H, reconnect, handshakeMs } = c.timing;
      const [a] = c.agents as [(typeof c.agents)[0]];
      await sleep(2 * H);
      const cutAt = Date.now();
      proxy.set({ blackhole: true });
      const lost = await waitForValue(
        () => findLog(c.primary.child.stderr, 'node lost', cutAt),
        8 * H,
        'primary detects',
      );
      const gone = await waitForValue(() => findLog(a.child.stderr, 'lost the primary', cutAt), 8 * H, 'agent detects');
      for (const line of [lost, gone]) {
        assert.equal(line.code, 'ERR_PEER_TIMEOUT');
        assert.ok(line.time - cutAt >= 2 * H && line.time - cutAt <= 4 * H, `detected after ${line.time - cutAt} ms`);
      }
      await sleep(6 * H - (Date.now() - cutAt));
      const healAt = Date.now();
      proxy.set({ blackhole: false });
      await waitUntil(
        async () => (await apiNodes(c.primary.api))[0]?.state === 'online',
        reconnect[1] + handshakeMs + 4 * H,
        'back online',
      );
      assert.ok(Date.now() - healAt <= reconnect[1] + handshakeMs + H, `back after ${Date.now() - healAt} ms`);
      assert.ok(findLogs(c.primary.child.stderr, 'node lost', cutAt).length >= 1);
      await waitForCatchUp(c, 10 * H);
      await stopAndCheck(t, c);
    }),
  );
});
