// Long soak with a random nemesis (FAULT-SCENARIOS.md #24), not part of CI or `npm test`:
//   node --import tsx test/faults/soak.ts [--minutes 10] [--agents 100] [--period-ms 1000]
//        [--every-s 30] [--heartbeat-ms 1000] [--seed N]
// A primary on 127.0.0.1 behind the fault proxy, a fleet of in-process agents, and every `every-s`
// seconds one fault drawn from the seed: primary SIGSTOP, primary kill -9 + restart, proxy
// blackhole, a flapping link, resets of every link, 200 ± 50 ms latency, agents SIGSTOP. Every
// 10 s it prints RSS and fds; at the end it heals everything and prints the invariants: acknowledged
// samples lost (must be 0), duplicates (0), agents online at the end (all), and the slope of RSS
// and fd counts (≈ 0). Exit code 0 when every invariant holds.
import type { TestContext } from 'node:test';
import { parseArgs } from 'node:util';
import { exitOf, waitUntil } from '../helpers/cluster.js';
import { localCluster, waitForCatchUp } from '../helpers/fault-cluster.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { agentFromOutbox, checkVitals, FaultLog, integrityCheck, storedVitals } from '../helpers/jepsen-log.js';
import { apiNodes, fdCount, rssBytes, sleep } from '../helpers/observe.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    agents: { type: 'string', default: '100' },
    'period-ms': { type: 'string', default: '1000' },
    'every-s': { type: 'string', default: '30' },
    'heartbeat-ms': { type: 'string', default: '1000' },
    seed: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const agentCount = Number(values.agents);
const H = Number(values['heartbeat-ms']);
const everyMs = Number(values['every-s']) * 1000;

/** A stand-in for node:test's context: cleanups run at the end, diagnostics are printed. */
const afters: Array<() => unknown> = [];
const t = {
  after: (fn: () => unknown) => afters.push(fn),
  diagnostic: (text: string) => console.log(`# ${text}`),
  skip: (why: string) => console.log(`# skip: ${why}`),
} as unknown as TestContext;

/** Least-squares slope of `ys` over `xs`, per minute. */
function slopePerMinute(points: Array<[number, number]>): number {
  if (points.length < 3) return Number.NaN;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}

const log = new FaultLog('soak', values.seed === undefined ? undefined : Number(values.seed));
console.log(
  `# soak: ${minutes} min, ${agentCount} agents every ${values['period-ms']} ms, a fault every ${everyMs / 1000} s, H ${H} ms, seed ${log.seed}`,
);
let failed = false;
try {
  const c = await localCluster(t, log, {
    proxy: true,
    fleet: { count: agentCount, periodMs: Number(values['period-ms']) },
    timing: { H, vitalsMs: Number(values['period-ms']), reconnect: [200, 2000], handshakeMs: 3 * H },
  });
  const proxy = c.proxy as FaultProxy;
  const fleet = (c.agents[0] as (typeof c.agents)[0]).child;
  const samples: Array<{
    at: number;
    primaryPid: number;
    primaryRss: number;
    primaryFds: number;
    fleetRss: number;
    fleetFds: number;
  }> = [];
  const sample = () => {
    try {
      const s = {
        at: Date.now(),
        primaryPid: c.primary.child.pid,
        primaryRss: rssBytes(c.primary.child.pid),
        primaryFds: fdCount(c.primary.child.pid),
        fleetRss: rssBytes(fleet.pid),
        fleetFds: fdCount(fleet.pid),
      };
      samples.push(s);
      console.log(
        `# +${((s.at - log.startedAt) / 1000).toFixed(0)} s primary ${(s.primaryRss / 2 ** 20).toFixed(1)} MiB ${s.primaryFds} fds; agents ${(s.fleetRss / 2 ** 20).toFixed(1)} MiB ${s.fleetFds} fds`,
      );
    } catch {
      // the primary is between a kill and its restart
    }
  };
  const sampler = setInterval(sample, 10_000);
  const nemeses: Record<string, () => Promise<void>> = {
    'pause primary': async () => {
      c.primary.child.kill('SIGSTOP');
      await sleep(log.int(3 * H, 10 * H));
      c.primary.child.kill('SIGCONT');
    },
    'kill primary': async () => {
      c.primary.child.kill('SIGKILL');
      await exitOf(c.primary.child);
      await sleep(log.int(H, 5 * H));
      await c.restartPrimary(t);
    },
    blackhole: async () => {
      proxy.set({ blackhole: true });
      await sleep(log.int(2 * H, 10 * H));
      proxy.set({ blackhole: false });
    },
    flap: async () => {
      for (let i = 0; i < 5; i++) {
        proxy.set({ blackhole: true });
        await sleep(log.int(H / 2, 3 * H));
        proxy.set({ blackhole: false });
        await sleep(log.int(H, 2 * H));
      }
    },
    reset: async () => proxy.resetAll(),
    latency: async () => {
      proxy.set({ latencyMs: 200, jitterMs: 50 });
      await sleep(10 * H);
      proxy.set({ latencyMs: 0, jitterMs: 0 });
    },
    'pause agents': async () => {
      fleet.kill('SIGSTOP');
      await sleep(log.int(2 * H, 6 * H));
      fleet.kill('SIGCONT');
    },
  };
  const names = Object.keys(nemeses);
  const endAt = Date.now() + minutes * 60_000;
  while (Date.now() + everyMs <= endAt) {
    const started = Date.now();
    const name = names[Math.floor(log.random() * names.length)] as string;
    console.log(`# +${((started - log.startedAt) / 1000).toFixed(0)} s nemesis: ${name}`);
    await log.step(name, nemeses[name] as () => Promise<void>);
    await waitUntil(
      async () => (await apiNodes(c.primary.api)).filter((n) => n.state === 'online').length === agentCount,
      60 * H,
      'every agent online after the fault',
    ).catch((err) => log.info('not all back', { error: String(err) }));
    await sleep(Math.max(0, everyMs - (Date.now() - started)));
  }
  clearInterval(sampler);
  proxy.clear();
  await waitUntil(
    async () => (await apiNodes(c.primary.api)).filter((n) => n.state === 'online').length === agentCount,
    60 * H,
    'every agent online at the end',
  );
  const onlineAtEnd = (await apiNodes(c.primary.api)).filter((n) => n.state === 'online').length;
  await waitForCatchUp(c, 60 * H);
  sample();
  fleet.kill('SIGTERM');
  await exitOf(fleet, 60_000);
  const db = `${c.primary.dataDir}/primary.db`;
  const result = checkVitals(
    storedVitals(db),
    c.agents.map((a) => agentFromOutbox(a.nodeId, a.name, `${a.dataDir}/outbox.jsonl`)),
  );
  c.primary.child.kill('SIGTERM');
  await exitOf(c.primary.child, 15_000).catch(() => undefined);
  const integrity = integrityCheck(db);
  const lastLife = samples.filter((s) => s.primaryPid === samples.at(-1)?.primaryPid);
  const firstAt = samples[0]?.at ?? 0;
  const half = samples.filter((s) => s.at >= firstAt + (minutes * 60_000) / 2);
  const invariants = {
    acknowledgedSamples: result.acked,
    lost: result.lost.length,
    duplicated: result.duplicated.length,
    phantom: result.phantom.length,
    onlineAtEnd: `${onlineAtEnd}/${agentCount}`,
    integrity,
    primaryRssSlopeMiBPerMin: slopePerMinute(lastLife.map((s) => [s.at, s.primaryRss / 2 ** 20])).toFixed(3),
    primaryFdSlopePerMin: slopePerMinute(lastLife.map((s) => [s.at, s.primaryFds])).toFixed(3),
    agentsRssSlopeMiBPerMin: slopePerMinute(half.map((s) => [s.at, s.fleetRss / 2 ** 20])).toFixed(3),
    agentsFdSlopePerMin: slopePerMinute(half.map((s) => [s.at, s.fleetFds])).toFixed(3),
  };
  console.log('# invariants:');
  for (const [k, v] of Object.entries(invariants)) console.log(`#   ${k}: ${v}`);
  failed =
    result.lost.length > 0 ||
    result.duplicated.length > 0 ||
    result.phantom.length > 0 ||
    onlineAtEnd !== agentCount ||
    integrity !== 'ok';
  if (result.lost.length > 0) console.log(`# lost: ${result.lost.join('; ')}`);
  if (result.duplicated.length > 0) console.log(`# duplicated: ${result.duplicated.slice(0, 20).join(', ')}`);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  if (failed) console.log(log.format());
  for (const fn of afters.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}
console.log(failed ? '# soak FAILED' : '# soak passed: every invariant holds');
process.exit(failed ? 1 : 0);
