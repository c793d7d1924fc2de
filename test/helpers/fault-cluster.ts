// A cluster in a network-namespace lab for the fault suite: one primary, one secondary per host,
// the test heartbeat H and quick reconnects, all online before the test starts; and the end of a
// test: agents stopped gracefully, then the Jepsen checker over their outboxes and the database.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { FLEET_SCRIPT, type FleetOptions } from './agent-fleet.js';
import { type Child, spawnChild } from './child.js';
import {
  exitOf,
  fingerprintOf,
  nodeIdOf,
  type PrimaryProcess,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from './cluster.js';
import { FaultProxy } from './fault-proxy.js';
import { agentFromOutbox, assertVitals, type FaultLog, integrityCheck, storedVitals } from './jepsen-log.js';
import { LAB_PORT, type LabHost, type LabPrimary, NetLab } from './netns.js';
import { type ApiClient, apiNodes, logLines, urlApi } from './observe.js';

export interface Timing {
  /** Heartbeat interval H, ms: a peer silent for 3H is dead. */
  H: number;
  vitalsMs: number;
  /** Reconnect backoff [initial ceiling, cap], ms. */
  reconnect: [number, number];
  /** Handshake (and dial) timeout, ms. */
  handshakeMs: number;
}

export const NET_TIMING: Timing = { H: 500, vitalsMs: 200, reconnect: [100, 1000], handshakeMs: 1000 };

/** One agent: a `picluster secondary`, or one node of a fleet process (`child` shared). */
export interface Agent {
  name: string;
  dataDir: string;
  nodeId: string;
  child: Child;
}

export interface LabAgent extends Agent {
  host: LabHost;
}

/** What the end-of-test checker needs. */
export interface CheckedCluster {
  agents: Agent[];
  primary: { dataDir: string; child: Child; api: ApiClient };
  log: FaultLog;
}

export interface LabCluster {
  lab: NetLab;
  dir: string;
  primary: LabPrimary;
  agents: LabAgent[];
  timing: Timing;
  log: FaultLog;
  /** Starts the primary again on the same data dir (after a kill). */
  restartPrimary(t: TestContext): Promise<LabPrimary>;
  startAgent(t: TestContext, agent: LabAgent): Child;
}

export async function labCluster(
  t: TestContext,
  log: FaultLog,
  options: {
    hosts: number;
    timing?: Partial<Timing>;
    primaryArgs?: string[];
    secondaryArgs?: string[];
    /** Instead of one `picluster secondary` per host: a fleet of in-process agents with fake vitals. */
    fleet?: { count: number; periodMs: number };
  },
): Promise<LabCluster | undefined> {
  const lab = await NetLab.create(t, log, { hosts: options.hosts });
  if (!lab) return undefined;
  const timing = { ...NET_TIMING, ...options.timing };
  const dir = tempDir(t, 'picluster-fault-');
  const primaryOptions = {
    dataDir: join(dir, 'primary'),
    heartbeatMs: timing.H,
    args: ['--handshake-timeout-ms', String(timing.handshakeMs), ...(options.primaryArgs ?? [])],
  };
  const primary = await lab.startPrimary(t, primaryOptions);
  const start = (tt: TestContext, a: { host: LabHost; name: string; dataDir: string }) =>
    lab.startSecondary(tt, a.host, {
      dataDir: a.dataDir,
      name: a.name,
      tokenFile: join(primaryOptions.dataDir, 'token'),
      heartbeatMs: timing.H,
      vitalsMs: timing.vitalsMs,
      reconnect: timing.reconnect,
      args: ['--handshake-timeout-ms', String(timing.handshakeMs), ...(options.secondaryArgs ?? [])],
    });
  const agents: LabAgent[] = [];
  if (options.fleet) {
    for (const host of lab.hosts) {
      const fleetOptions: FleetOptions = {
        primary: `${host.primaryAddress}:${LAB_PORT}`,
        tokenFile: join(primaryOptions.dataDir, 'token'),
        baseDir: join(dir, `fleet${host.index}`),
        count: options.fleet.count,
        periodMs: options.fleet.periodMs,
        heartbeatMs: timing.H,
        reconnect: timing.reconnect,
        handshakeMs: timing.handshakeMs,
        prefix: `h${host.index}n`,
        fingerprint: fingerprintOf(primaryOptions.dataDir),
      };
      const child = lab.spawn(t, host.ns, FLEET_SCRIPT, [JSON.stringify(fleetOptions)]);
      const started = await child.waitFor((e) => e.event === 'nodes', 30_000, 'the fleet to start');
      for (const n of started.nodes as Array<{ name: string; nodeId: string; dataDir: string }>) {
        agents.push({ host, name: n.name, dataDir: n.dataDir, nodeId: n.nodeId, child });
      }
    }
  } else {
    for (const host of lab.hosts) {
      const a = { host, name: `s${host.index}`, dataDir: join(dir, `s${host.index}`) };
      agents.push({ ...a, nodeId: '', child: start(t, a) });
    }
  }
  await waitUntil(
    async () => {
      const dead = agents.find((a) => !a.child.alive);
      if (dead) throw new Error(`${dead.name} exited: ${dead.child.stderr.join('').slice(-1000)}`);
      const nodes = await apiNodes(primary.api);
      return nodes.filter((n) => n.state === 'online' && n.vitals !== null).length === agents.length;
    },
    30_000,
    `${agents.length} secondaries online with vitals`,
  );
  for (const a of agents) a.nodeId ||= nodeIdOf(a.dataDir);
  log.info('cluster online', { agents: agents.map((a) => `${a.name}=${a.nodeId} pid ${a.child.pid}`) });
  const cluster: LabCluster = {
    lab,
    dir,
    primary,
    agents,
    timing,
    log,
    async restartPrimary(tt) {
      cluster.primary = await lab.startPrimary(tt, primaryOptions);
      return cluster.primary;
    },
    startAgent(tt, agent) {
      agent.child = start(tt, agent);
      return agent.child;
    },
  };
  return cluster;
}

/** Waits until every agent's outbox is acknowledged up to what it produced by now. */
export async function waitForCatchUp(cluster: CheckedCluster, timeoutMs: number): Promise<void> {
  const targets = cluster.agents.map((a) => agentFromOutbox(a.nodeId, a.name, join(a.dataDir, 'outbox.jsonl')).lastSeq);
  await waitUntil(
    async () => {
      const nodes = await apiNodes(cluster.primary.api);
      return cluster.agents.every(
        (a, i) => (nodes.find((n) => n.id === a.nodeId)?.vitals?.seq ?? 0) >= (targets[i] as number),
      );
    },
    timeoutMs,
    'every agent caught up (its samples so far stored)',
  );
}

/**
 * Stops the agents gracefully (SIGTERM: flush, bye) and checks every acknowledged sample is stored
 * exactly once, nothing twice, nothing invented; the database is sound; every daemon still running
 * exits 0; and no daemon logged an error or fatal line other than those `expectedErrors` match
 * (what the test did on purpose).
 */
export async function stopAndCheck(
  t: TestContext,
  cluster: CheckedCluster,
  expectedErrors: readonly RegExp[] = [],
): Promise<void> {
  const children = [...new Set(cluster.agents.map((a) => a.child))];
  const running = children.filter((c) => c.alive);
  for (const child of running) child.kill('SIGTERM');
  const exits: string[] = [];
  for (const child of running) {
    const code = await exitOf(child, 15_000);
    if (code !== 0) exits.push(`agent ${child.pid} exited ${code}`);
  }
  cluster.log.info('agents stopped');
  const agents = cluster.agents.map((a) => agentFromOutbox(a.nodeId, a.name, join(a.dataDir, 'outbox.jsonl')));
  const db = join(cluster.primary.dataDir, 'primary.db');
  assertVitals(t, storedVitals(db), agents, cluster.log);
  const primary = cluster.primary.child;
  if (primary.alive) {
    primary.kill('SIGTERM');
    const code = await exitOf(primary, 15_000).catch(() => {
      primary.kill('SIGKILL');
      return 'no exit in 15 s';
    });
    if (code !== 0) exits.push(`primary ${primary.pid} exited ${code}`);
  }
  const integrity = integrityCheck(db);
  if (integrity !== 'ok') throw new Error(`integrity_check: ${integrity}`);
  const unexpected = [primary, ...children].flatMap((child) =>
    logLines(child.stderr)
      .filter((l) => l.level >= 50 && !expectedErrors.some((re) => re.test(l.msg)))
      .map((l) => `${child === primary ? 'primary' : `agent ${child.pid}`}: ${l.msg}`),
  );
  assert.deepEqual(exits, [], 'daemons that did not stop cleanly');
  assert.deepEqual(unexpected, [], 'error or fatal log lines the test did not expect');
}

export const LOCAL_TIMING: Timing = { H: 500, vitalsMs: 200, reconnect: [100, 1000], handshakeMs: 1000 };

export interface LocalCluster extends CheckedCluster {
  dir: string;
  primary: Omit<PrimaryProcess, 'api'> & { api: ApiClient; url: string };
  /** Between the agents and the primary, when asked for. */
  proxy: FaultProxy | undefined;
  timing: Timing;
  /** The port agents dial (the proxy's, or the primary's). */
  agentPort: number;
  /** Starts the primary again on the same data dir and ports (after a kill or a crash). */
  restartPrimary(t: TestContext): Promise<void>;
}

/**
 * A cluster on 127.0.0.1 (no root needed): a primary with the test heartbeat H, optionally a fault
 * proxy in front of it, `picluster secondary` processes and/or one fleet of in-process agents.
 */
export async function localCluster(
  t: TestContext,
  log: FaultLog,
  options: {
    secondaries?: Array<{ name: string; args?: string[] }>;
    fleet?: { count: number; periodMs: number };
    proxy?: boolean;
    timing?: Partial<Timing>;
    primaryArgs?: string[];
    /** Called with the primary's data dir before the primary starts (to mount a small disk there). */
    preparePrimaryDir?: (dataDir: string) => Promise<void>;
  },
): Promise<LocalCluster> {
  const timing = { ...LOCAL_TIMING, ...options.timing };
  const dir = tempDir(t, 'picluster-fault-');
  await options.preparePrimaryDir?.(join(dir, 'primary'));
  const primaryArgs = [
    '--heartbeat-interval-ms',
    String(timing.H),
    '--handshake-timeout-ms',
    String(timing.handshakeMs),
    // Every node and every raw peer here is on 127.0.0.1: one address playing a whole fleet (the
    // limits per address have their own tests: test/integration/peer-limits.test.ts).
    '--limits-max-handshakes-per-address',
    '100000',
    '--limits-auth-failures-per-minute',
    '100000',
    ...(options.primaryArgs ?? []),
  ];
  const started = await startPrimary(t, { dataDir: join(dir, 'primary'), args: primaryArgs });
  const primary = { ...started, api: urlApi(started.api), url: started.api };
  log.info('primary up', { pid: primary.child.pid, port: primary.port });
  let proxy: FaultProxy | undefined;
  let agentPort = primary.port;
  if (options.proxy) {
    proxy = new FaultProxy({ target: { host: '127.0.0.1', port: primary.port }, log });
    agentPort = await proxy.start();
    const p = proxy;
    t.after(() => p.close());
  }
  const agents: Agent[] = [];
  for (const s of options.secondaries ?? []) {
    const dataDir = join(dir, s.name);
    const child = startSecondary(
      t,
      { port: agentPort, dataDir: primary.dataDir },
      {
        dataDir,
        name: s.name,
        args: [
          '--heartbeat-interval-ms',
          String(timing.H),
          '--vitals-period-ms',
          String(timing.vitalsMs),
          '--reconnect-initial-delay-ms',
          String(timing.reconnect[0]),
          '--reconnect-max-delay-ms',
          String(timing.reconnect[1]),
          '--handshake-timeout-ms',
          String(timing.handshakeMs),
          ...(s.args ?? []),
        ],
      },
    );
    agents.push({ name: s.name, dataDir, nodeId: '', child });
  }
  if (options.fleet) agents.push(...(await startFleet(t, dir, primary.dataDir, agentPort, timing, options.fleet)));
  await waitUntil(
    async () => {
      const dead = agents.find((a) => !a.child.alive);
      if (dead) throw new Error(`${dead.name} exited: ${dead.child.stderr.join('').slice(-1000)}`);
      const nodes = await apiNodes(primary.api);
      return nodes.filter((n) => n.state === 'online' && n.vitals !== null).length === agents.length;
    },
    30_000,
    `${agents.length} agents online with vitals`,
  );
  for (const a of agents) a.nodeId ||= nodeIdOf(a.dataDir);
  log.info('cluster online', { agents: agents.length });
  const cluster: LocalCluster = {
    dir,
    primary,
    proxy,
    timing,
    agentPort,
    agents,
    log,
    async restartPrimary(tt) {
      const again = await startPrimary(tt, {
        dataDir: primary.dataDir,
        port: primary.port,
        webPort: primary.webPort,
        args: primaryArgs,
      });
      cluster.primary = { ...again, api: urlApi(again.api), url: again.api };
      log.info('primary restarted', { pid: again.child.pid });
    },
  };
  return cluster;
}

/** A fleet of in-process agents on 127.0.0.1:`port`, as one child process. */
export async function startFleet(
  t: TestContext,
  dir: string,
  primaryDataDir: string,
  port: number,
  timing: Timing,
  fleet: { count: number; periodMs: number; prefix?: string },
): Promise<Agent[]> {
  const options: FleetOptions = {
    primary: `127.0.0.1:${port}`,
    tokenFile: join(primaryDataDir, 'token'),
    baseDir: join(dir, `fleet-${fleet.prefix ?? 'f'}`),
    count: fleet.count,
    periodMs: fleet.periodMs,
    heartbeatMs: timing.H,
    reconnect: timing.reconnect,
    handshakeMs: timing.handshakeMs,
    prefix: fleet.prefix ?? 'f',
    fingerprint: fingerprintOf(primaryDataDir),
  };
  const child = spawnChild(t, FLEET_SCRIPT, [JSON.stringify(options)]);
  const started = await child.waitFor((e) => e.event === 'nodes', 30_000, 'the fleet to start');
  return (started.nodes as Array<{ name: string; nodeId: string; dataDir: string }>).map((n) => ({ ...n, child }));
}

/** The latest report of a fleet process: highest ack per node, link losses so far. */
export function fleetReport(child: Child): { acks: Record<string, number>; offline: number } {
  const last = child.events.filter((e) => e.event === 'report').at(-1);
  return { acks: (last?.acks ?? {}) as Record<string, number>, offline: (last?.offline ?? 0) as number };
}

/** Every connection attempt a fleet reported (epoch ms). */
export function fleetAttempts(child: Child): number[] {
  return child.events.filter((e) => e.event === 'report').flatMap((e) => e.attempts as number[]);
}
