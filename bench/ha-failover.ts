// `npm run bench:ha [-- --kills N] [--ttl-ms MS[,MS]]`: failover of HA primaries (issue 17), as a
// user runs them: a 3-member etcd, a PostgreSQL, three `picluster primary --ha-etcd` processes
// sharing one identity, and three secondaries given every primary's address. The leader is stopped
// N times with SIGKILL (a crash: its lease has to run out) and N times with SIGTERM (a clean stop:
// it resigns), and each time the bench measures, from the signal, when another primary says it
// leads (/api/leadership, polled every 10 ms) and when every node is online at it. The stopped
// primary is started again before the next round. A measurement, not a test: prints figures.

import { cpSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { LeadershipView } from '../src/primary/cluster-view.js';
import type { NodeView } from '../src/primary/registry.js';
import {
  fingerprintOf,
  freePort,
  type PrimaryProcess,
  startPrimary,
  startSecondary,
  tempDir,
} from '../test/helpers/cluster.js';
import { startEtcdCluster } from '../test/helpers/etcd.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { findProgram } from '../test/helpers/require-tool.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const KILLS = Number(arg('--kills', '10'));
const TTLS = arg('--ttl-ms', '2000,5000').split(',').map(Number);

/** The helpers clean up through a test context: here, one list run at the end. */
const cleanups: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;

const poll = () => new Promise((resolve) => setTimeout(resolve, 10));

async function leadership(p: PrimaryProcess): Promise<LeadershipView | undefined> {
  try {
    const response = await fetch(`${p.api}/api/leadership`, { signal: AbortSignal.timeout(500) });
    return ((await response.json()) as { leadership: LeadershipView }).leadership;
  } catch {
    return undefined;
  }
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await poll();
  }
}

async function leaderOf(primaries: PrimaryProcess[]): Promise<PrimaryProcess | undefined> {
  const views = await Promise.all(primaries.map(leadership));
  return primaries.find((_, i) => views[i]?.state === 'leader');
}

async function allOnline(p: PrimaryProcess, names: string[]): Promise<true | undefined> {
  try {
    const response = await fetch(`${p.api}/api/nodes`, { signal: AbortSignal.timeout(500) });
    if (!response.ok) return undefined;
    const { nodes } = (await response.json()) as { nodes: NodeView[] };
    return names.every((n) => nodes.some((v) => v.name === n && v.state === 'online')) || undefined;
  } catch {
    return undefined;
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] as number, max: s[s.length - 1] as number, min: s[0] as number };
};

async function round(ttlMs: number): Promise<void> {
  const etcdBin = findProgram('etcd');
  if (!etcdBin) throw new Error('needs etcd (apt-get install etcd-server)');
  const etcd = await startEtcdCluster(t, etcdBin);
  const pg = await startPostgres();
  cleanups.push(() => pg.stop());
  const store = await pg.createDatabase('bench');
  const root = tempDir(t, 'picluster-bench-ha-');
  const ports = [await freePort(), await freePort(), await freePort()];
  const argsOf = (i: number) => [
    '--store',
    store,
    '--ha-etcd',
    etcd.clientUrls.join(','),
    '--ha-ttl-ms',
    String(ttlMs),
    '--ha-name',
    `p${i}`,
    '--ha-advertise',
    `127.0.0.1:${ports[i]}`,
    '--log-level',
    'warn',
  ];
  const webPorts: number[] = [];
  const start = async (i: number) => {
    const dataDir = join(root, `p${i}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    webPorts[i] ??= await freePort();
    return startPrimary(t, { dataDir, port: ports[i], webPort: webPorts[i], args: argsOf(i), ready: 'listening' });
  };
  const first = await start(0);
  await until(async () => ((await leaderOf([first])) ? true : undefined), 15_000, 'p0 to lead');
  for (const i of [1, 2]) {
    mkdirSync(join(root, `p${i}`), { recursive: true, mode: 0o700 });
    for (const f of ['primary-id', 'token', 'tls'])
      cpSync(join(first.dataDir, f), join(root, `p${i}`, f), { recursive: true });
  }
  const primaries: PrimaryProcess[] = [first, await start(1), await start(2)];
  const names = ['n0', 'n1', 'n2'];
  const addresses = ports.map((p) => `127.0.0.1:${p}`).join(',');
  for (const name of names)
    startSecondary(t, first, {
      dataDir: join(root, name),
      name,
      args: ['--primary', addresses, '--primary-fingerprint', fingerprintOf(first.dataDir) as string],
    });
  await until(() => allOnline(first, names), 30_000, 'nodes online');
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    const elected: number[] = [];
    const back: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const leader = await until(() => leaderOf(primaries), 20_000, 'a leader');
      await until(() => allOnline(leader, names), 20_000, 'nodes online at the leader');
      const index = primaries.indexOf(leader);
      const others = primaries.filter((p) => p !== leader);
      const at = performance.now();
      leader.child.kill(signal);
      const next = await until(() => leaderOf(others), 4 * ttlMs + 10_000, 'a new leader');
      elected.push(performance.now() - at);
      await until(() => allOnline(next, names), 30_000, 'nodes back');
      back.push(performance.now() - at);
      // The stopped one comes back as a standby for the next round.
      await until(async () => (leader.child.alive ? undefined : true), 15_000, 'the old leader to exit');
      primaries[index] = await start(index);
    }
    const e = stats(elected);
    const b = stats(back);
    console.log(
      `TTL ${ttlMs / 1000} s, ${signal.padEnd(7)} ×${KILLS}: new leader median ${e.median.toFixed(0)} ms (min ${e.min.toFixed(0)}, max ${e.max.toFixed(0)}; bound 2 × TTL + 1 s = ${2 * ttlMs + 1000}); every node back median ${b.median.toFixed(0)} ms (max ${b.max.toFixed(0)})`,
    );
  }
}

console.log(
  `HA failover — ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cpus, node ${process.version}, load ${os.loadavg()[0]?.toFixed(1)}`,
);
try {
  for (const ttl of TTLS) {
    await round(ttl);
    for (const fn of cleanups.splice(0).reverse()) await fn();
  }
} finally {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}
process.exit(0);
