// Process faults over real network namespaces (FAULT-SCENARIOS.md #1, #2, #3, #9): kill -9 of the
// primary in the middle of a burst of vitals and a restart on the same data dir, SIGSTOP of the
// primary past the dead-peer time, and SIGSTOP of one secondary (a peer that stops reading) that
// must neither grow the primary's memory nor slow the others. H = 500 ms.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { exitOf, waitUntil } from '../helpers/cluster.js';
import { labCluster, stopAndCheck, waitForCatchUp } from '../helpers/fault-cluster.js';
import { compactRanges, integrityCheck, jepsen, readOutboxHistory, storedVitals } from '../helpers/jepsen-log.js';
import { apiMetrics, apiNodes, fdCount, findLogs, rssBytes, sleep, waitForValue } from '../helpers/observe.js';

/**
 * Ingest latency (received_at - ts) of a node's samples received in [from, to), ms: p90, max, and
 * how many samples took longer than `slowMs`.
 */
function latencyP90(
  dbFile: string,
  nodeId: string,
  from: number,
  to: number,
  slowMs = Number.POSITIVE_INFINITY,
): { p90: number; max: number; n: number; slow: number } {
  const db = new Database(dbFile, { readonly: true });
  try {
    const rows = db
      .prepare(
        'SELECT received_at - ts AS lag FROM vitals WHERE node_id = ? AND received_at >= ? AND received_at < ? ORDER BY lag',
      )
      .all(nodeId, from, to) as Array<{ lag: number }>;
    return {
      p90: rows[Math.min(rows.length - 1, Math.floor(rows.length * 0.9))]?.lag ?? Number.NaN,
      max: rows.at(-1)?.lag ?? Number.NaN,
      n: rows.length,
      slow: rows.filter((r) => r.lag > slowMs).length,
    };
  } finally {
    db.close();
  }
}

describe('process faults (network namespaces)', () => {
  it(
    'kill -9 of the primary during a burst, restart after 5H: every sample acknowledged before the kill is stored, the DB opens clean, agents back within cap + 1H of the primary being up, the outboxes fill the gap, no dupes',
    jepsen('primary kill -9 during a burst', async (t, log) => {
      // 2 hosts × 5 in-process agents × one sample per 20 ms = 500 samples/s.
      const c = await labCluster(t, log, { hosts: 2, fleet: { count: 5, periodMs: 20 } });
      if (!c) return;
      const { H, reconnect } = c.timing;
      await waitUntil(
        () => c.agents.every((a) => readOutboxHistory(join(a.dataDir, 'outbox.jsonl')).maxAck >= 60),
        20 * H,
        '60 samples acknowledged per agent',
      );
      await log.step('SIGKILL primary', async () => {
        c.primary.child.kill('SIGKILL');
        await exitOf(c.primary.child);
      });
      // Every ack an agent ever got came from the dead primary: each must be a committed sample.
      const db = join(c.primary.dataDir, 'primary.db');
      assert.equal(integrityCheck(db), 'ok');
      const stored = storedVitals(db);
      for (const a of c.agents) {
        const { maxAck } = readOutboxHistory(join(a.dataDir, 'outbox.jsonl'));
        const seqs = stored.get(a.nodeId) ?? new Map<number, number>();
        const missing: number[] = [];
        for (let s = 1; s <= maxAck; s++) if (seqs.get(s) !== 1) missing.push(s);
        log.info('acked before the kill', { agent: a.name, maxAck });
        assert.deepEqual(compactRanges(missing), '', `${a.name}: acknowledged up to ${maxAck} but not stored once`);
      }
      await sleep(5 * H);
      const restarted = await c.restartPrimary(t);
      const upAt = Date.now();
      await waitUntil(
        async () => (await apiNodes(restarted.api)).filter((n) => n.state === 'online').length === c.agents.length,
        reconnect[1] + H + 5000,
        'every agent back online',
      );
      const backMs = Date.now() - upAt;
      t.diagnostic(`all agents back ${backMs} ms after the restarted primary was healthy`);
      assert.ok(backMs <= reconnect[1] + H, `agents back ${backMs} ms after the primary was up`);
      await waitForCatchUp(c, 20 * H);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'SIGSTOP of the primary for 10H: every agent drops the link within 4H (ERR_PEER_TIMEOUT), all back online within cap + 2H of SIGCONT, the paused samples stored within 5H after, no dupes',
    jepsen('primary SIGSTOP', async (t, log) => {
      const c = await labCluster(t, log, { hosts: 2 });
      if (!c) return;
      const { H, reconnect } = c.timing;
      await sleep(2 * H);
      const stopAt = Date.now();
      await log.step('SIGSTOP primary', () => c.primary.child.kill('SIGSTOP'));
      for (const a of c.agents) {
        const line = await waitForValue(
          () => findLogs(a.child.stderr, 'lost the primary', stopAt)[0],
          8 * H,
          `${a.name} to drop the frozen primary`,
        );
        assert.equal(line.code, 'ERR_PEER_TIMEOUT', `${a.name}: ${line.code}`);
        assert.ok(line.time - stopAt <= 4 * H, `${a.name} noticed after ${line.time - stopAt} ms`);
      }
      await sleep(10 * H - (Date.now() - stopAt));
      const produced = c.agents.map((a) => readOutboxHistory(join(a.dataDir, 'outbox.jsonl')).lastSeq);
      const contAt = Date.now();
      await log.step('SIGCONT primary', () => c.primary.child.kill('SIGCONT'));
      await waitUntil(
        async () => (await apiNodes(c.primary.api)).filter((n) => n.state === 'online').length === c.agents.length,
        reconnect[1] + 2 * H + 5000,
        'every agent back online',
      );
      const backMs = Date.now() - contAt;
      assert.ok(backMs <= reconnect[1] + 2 * H, `back online ${backMs} ms after SIGCONT`);
      const onlineAt = Date.now();
      await waitUntil(
        async () => {
          const nodes = await apiNodes(c.primary.api);
          return c.agents.every(
            (a, i) => (nodes.find((n) => n.id === a.nodeId)?.vitals?.seq ?? 0) >= (produced[i] as number),
          );
        },
        5 * H,
        'the samples of the pause stored',
      );
      t.diagnostic(`back ${backMs} ms after SIGCONT, paused samples stored ${Date.now() - onlineAt} ms later`);
      await stopAndCheck(t, c);
    }),
  );

  it(
    'SIGSTOP of one secondary for 10H: lost within 4H, the others unaffected (sessions kept, samples flowing, p90 ingest latency <= max(1.2x, +H/2) of the 10H before, at most one sample over 2H, none over 3H), primary RSS growth < 50 MB, after SIGCONT exactly one session for the node, no loss, no dupes',
    jepsen('secondary SIGSTOP', async (t, log) => {
      const c = await labCluster(t, log, { hosts: 3 });
      if (!c) return;
      const { H, reconnect, handshakeMs } = c.timing;
      const [frozen, ...others] = c.agents as [(typeof c.agents)[0], ...(typeof c.agents)[0][]];
      // The baseline is the 10H before the stop (~25 samples per agent, so its p90 is not its
      // worst sample); the first H after the cluster came up (its backlog) stays out of it.
      await sleep(11 * H);
      const db = join(c.primary.dataDir, 'primary.db');
      const rssBefore = rssBytes(c.primary.pid);
      const fdsBefore = fdCount(c.primary.pid);
      const sessions = new Map((await apiNodes(c.primary.api)).map((n) => [n.id, n.connectedSince]));
      const stopAt = Date.now();
      await log.step('SIGSTOP secondary', () => frozen.child.kill('SIGSTOP'), { agent: frozen.name });
      const lost = await waitForValue(
        () => findLogs(c.primary.child.stderr, 'node lost', stopAt).find((l) => l.nodeId === frozen.nodeId),
        8 * H,
        'the primary to declare the frozen node lost',
      );
      assert.ok(lost.time - stopAt <= 4 * H, `lost after ${lost.time - stopAt} ms`);
      let rssMax = rssBefore;
      while (Date.now() - stopAt < 10 * H) {
        rssMax = Math.max(rssMax, rssBytes(c.primary.pid));
        await sleep(H / 2);
      }
      const contAt = Date.now();
      await log.step('SIGCONT secondary', () => frozen.child.kill('SIGCONT'));
      for (const o of others) {
        const before = latencyP90(db, o.nodeId, stopAt - 10 * H, stopAt);
        const during = latencyP90(db, o.nodeId, stopAt, contAt, 2 * H);
        log.info('latency p90', { agent: o.name, before, during });
        t.diagnostic(
          `${o.name}: p90 ingest latency ${before.p90} ms before (${before.n} samples), ${during.p90} ms during (max ${during.max}, ${during.slow} over 2H, ${during.n} samples)`,
        );
        assert.ok(during.n >= (10 * H) / c.timing.vitalsMs / 2, `${o.name} stored only ${during.n} samples meanwhile`);
        // A few ms of latency on a shared 2-core machine. The p99 of ~25 samples is their worst one,
        // which one scheduling hiccup sets (CI once saw 390 ms with another suite running): p90
        // says whether the others were affected. A frozen peer that held the others up would
        // delay many of their samples, so at most one may wait over 2H (one hiccup), and none
        // long enough to cost a session (3H).
        assert.ok(
          during.p90 <= Math.max(1.2 * before.p90, before.p90 + H / 2),
          `${o.name}: p90 ${before.p90} → ${during.p90} ms`,
        );
        assert.ok(during.slow <= 1, `${o.name}: ${during.slow} samples waited over 2H (the worst ${during.max} ms)`);
        assert.ok(during.max <= 3 * H, `${o.name}: a sample waited ${during.max} ms`);
      }
      t.diagnostic(`primary RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB → max ${(rssMax / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(rssMax - rssBefore < 50 * 2 ** 20, 'primary memory grew by 50 MB or more');
      await waitUntil(
        async () => (await apiNodes(c.primary.api)).find((n) => n.id === frozen.nodeId)?.state === 'online',
        handshakeMs + reconnect[1] + 2 * H + 3000,
        'the thawed node back online',
      );
      await waitForCatchUp(c, 10 * H);
      // The dead session's socket closes asynchronously: poll (bounded) for the steady state.
      await waitUntil(
        async () =>
          (await apiMetrics(c.primary.api)).get('picluster_connected_nodes') === c.agents.length &&
          Math.abs(fdCount(c.primary.pid) - fdsBefore) <= 2,
        4 * H,
        'one session per node and the primary fds back',
      ).catch(() => undefined);
      const nodes = await apiNodes(c.primary.api);
      for (const o of others)
        assert.equal(
          nodes.find((n) => n.id === o.nodeId)?.connectedSince,
          sessions.get(o.nodeId),
          `${o.name} lost its session`,
        );
      assert.equal(nodes.filter((n) => n.id === frozen.nodeId).length, 1);
      assert.equal(
        (await apiMetrics(c.primary.api)).get('picluster_connected_nodes'),
        c.agents.length,
        'one live session per node',
      );
      assert.ok(
        Math.abs(fdCount(c.primary.pid) - fdsBefore) <= 2,
        `primary fds ${fdsBefore} → ${fdCount(c.primary.pid)}`,
      );
      await stopAndCheck(t, c);
    }),
  );
});
