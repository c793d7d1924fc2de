// `node --import tsx bench/reconnect-storm.ts [--nodes 1000] [--workers 4] [--json]`
//
// A reconnect storm at the DEFAULT timers (heartbeat 5 s, reconnect 250 ms initial / 8 s cap,
// full jitter, vitals every 10 s). A real primary process (the CLI, under tsx or with --primary
// dist from dist/), W worker processes (bench/storm-worker.ts) each running N/W `Secondary`
// instances in-process with their own data dirs and cheap fake vitals. Measures:
//   (a) the time to admit all N at first start (workers told to start → /api/nodes shows N online);
//   (b) the primary's RSS idle and with N connected, and so its RSS per node;
//   (c) SIGKILL the primary, wait 2 s, restart it on the same ports and data dir: the time from
//       its /healthz first answering 200 (polled every 20 ms) to /api/nodes showing N online, and
//       its CPU while it takes them back;
//   (d) how well jitter spreads the reconnect attempts: the largest share of post-kill attempts
//       in any 100 ms window, and a per-second histogram.
// Targets: all N back within 10 s of the primary accepting again; no 100 ms window with more than
// 20% of the attempts. A measurement, not a test: exits 0 when a target is missed (it says so), 1
// when the run itself fails (nodes never all online, a process died, the 3-minute watchdog).
// Progress goes to stderr; with --json stdout carries one JSON object only.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/common/defaults.js';
import { fingerprintOf } from '../test/helpers/cluster.js';
import { EV, type StormCommand, type StormMessage } from './storm-common.js';
import {
  type CpuTicks,
  cleanup,
  cpuPercent,
  cpuSeconds,
  type Flavor,
  forkWorker,
  freePort,
  getJson,
  installCleanupHandlers,
  mb,
  percentile,
  readCpu,
  readFileLimits,
  readMem,
  round,
  sleep,
  spawnCli,
  tail,
  trackDir,
  waitHealthy,
} from './storm-proc.js';

// ---------------------------------------------------------------- options

const { values: opts } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
    /** The cluster token the primary is started with and the workers join with. */
    token: { type: 'string', default: 'storm-bench-token-0123456789abcdef' },
    /** How long the primary stays dead, ms. */
    'kill-wait-ms': { type: 'string', default: '2000' },
    /** Run the primary under tsx (as the tests do) or from dist/ (`npm run build` first). */
    primary: { type: 'string', default: 'tsx' },
    /** Longest wait for all nodes to come online, per phase, s. */
    'timeout-s': { type: 'string', default: '60' },
  },
  strict: true,
});

const N = Number(opts.nodes);
const W = Math.min(Number(opts.workers), N);
const KILL_WAIT_MS = Number(opts['kill-wait-ms']);
const PHASE_TIMEOUT_MS = Number(opts['timeout-s']) * 1000;
const FLAVOR = opts.primary as Flavor;
const TOKEN = opts.token;
const VITALS_PERIOD_MS = 10_000;
const WATCHDOG_MS = 175_000;
const WINDOW_MS = 100;
const TARGET_RECOVERY_MS = 10_000;
const TARGET_WINDOW_FRACTION = 0.2;

if (!(Number.isInteger(N) && N >= 1)) throw new Error(`--nodes must be a positive integer, got ${opts.nodes}`);
if (!(Number.isInteger(W) && W >= 1)) throw new Error(`--workers must be a positive integer, got ${opts.workers}`);
if (!(KILL_WAIT_MS >= 0)) throw new Error(`--kill-wait-ms must be >= 0, got ${opts['kill-wait-ms']}`);
if (FLAVOR !== 'tsx' && FLAVOR !== 'dist') throw new Error(`--primary must be tsx or dist, got ${opts.primary}`);
if (TOKEN.length < 16) throw new Error('--token must have at least 16 characters');

const log = (line: string): void => {
  process.stderr.write(`storm: ${line}\n`);
};

// ---------------------------------------------------------------- failure plumbing

let failWith: (err: Error) => void = () => undefined;
/** Rejects when the run must stop: a worker or the primary died, or the watchdog fired. */
const fatal = new Promise<never>((_, reject) => {
  failWith = reject;
});
fatal.catch(() => undefined);
const orFatal = <T>(p: Promise<T>): Promise<T> => Promise.race([p, fatal]);

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await orFatal(Promise.race([p, timeout]));
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- events from the workers

/** [node, Date.now()] of every 'connecting' state change, 'online', 'offline' event. */
const connecting: Array<[number, number]> = [];
const online: Array<[number, number]> = [];
const offline: Array<[number, number]> = [];
let authFailures = 0;

function onEvents(events: Array<[number, number, number]>): void {
  for (const [code, node, at] of events) {
    if (code === EV.connecting) connecting.push([node, at]);
    else if (code === EV.online) online.push([node, at]);
    else if (code === EV.offline) offline.push([node, at]);
    else if (code === EV.authFailed) authFailures++;
  }
}

/** Distinct nodes that came online at or after `since`. */
function onlineSince(since: number): number {
  const nodes = new Set<number>();
  for (const [node, at] of online) if (at >= since) nodes.add(node);
  return nodes.size;
}

// ---------------------------------------------------------------- workers

interface StormWorker {
  child: ChildProcess;
  ready: Promise<void>;
  started: Promise<number>;
}

let stopping = false;

function startWorker(index: number): StormWorker {
  const child = forkWorker(new URL('./storm-worker.ts', import.meta.url));
  let onReady: () => void = () => undefined;
  let onStarted: (at: number) => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const started = new Promise<number>((resolve) => {
    onStarted = resolve;
  });
  child.on('message', (message: StormMessage) => {
    if (message.kind === 'ready') onReady();
    else if (message.kind === 'started') onStarted(message.at);
    else if (message.kind === 'events') onEvents(message.events);
    else if (message.kind === 'error') failWith(new Error(`worker ${index} failed: ${message.message}`));
  });
  child.on('exit', (code, signal) => {
    if (!stopping) failWith(new Error(`worker ${index} exited (code ${code}, signal ${signal})`));
  });
  return { child, ready, started };
}

// ---------------------------------------------------------------- primary

let port = 0;
let webPort = 0;
let api = '';
let primaryDir = '';
let runDir = '';

interface PrimaryProc {
  child: ChildProcess;
  logFile: string;
  spawnedAt: number;
  expectExit: boolean;
}

function startPrimary(n: number): PrimaryProc {
  const logFile = join(runDir, `primary-${n}.log`);
  const child = spawnCli(
    FLAVOR,
    [
      'primary',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--web-port',
      String(webPort),
      '--data-dir',
      primaryDir,
      '--token',
      TOKEN,
      // Every simulated node connects from 127.0.0.1: one address playing the whole fleet.
      '--limits-max-handshakes-per-address',
      '1000000',
    ],
    logFile,
  );
  const proc: PrimaryProc = { child, logFile, spawnedAt: Date.now(), expectExit: false };
  child.on('exit', (code, signal) => {
    if (!proc.expectExit && !stopping)
      failWith(new Error(`primary ${n} exited (code ${code}, signal ${signal})\n${tail(logFile)}`));
  });
  return proc;
}

/** Polls /api/nodes until it shows N online: every 250 ms while the workers report fewer than N, then every 20 ms. */
async function waitAllOnline(
  what: string,
  since: number,
  timeoutMs: number,
  primary: PrimaryProc,
): Promise<{ at: number; polls: number; pollMs: { p50: number; max: number } }> {
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  const pollMs: number[] = [];
  let apiOnline = -1;
  let apiTotal = -1;
  for (;;) {
    const seen = onlineSince(since);
    const asked = Date.now();
    const body = await orFatal(getJson<{ nodes: Array<{ state: string }> }>(`${api}/api/nodes`, 5_000));
    polls++;
    if (body) {
      pollMs.push(Date.now() - asked);
      apiTotal = body.nodes.length;
      apiOnline = body.nodes.filter((node) => node.state === 'online').length;
      if (apiOnline >= N) {
        const sorted = pollMs.sort((a, b) => a - b);
        return { at: Date.now(), polls, pollMs: { p50: percentile(sorted, 50), max: sorted[sorted.length - 1] ?? 0 } };
      }
    }
    if (Date.now() > deadline) {
      const attempts = connecting.filter(([, at]) => at >= since).length;
      throw new Error(
        `${what}: nodes never all came online: after ${timeoutMs} ms /api/nodes shows ${apiOnline}/${N} online (${apiTotal} known); ` +
          `the workers saw ${seen} nodes come online and ${attempts} connection attempts since; ${authFailures} auth failures.\n` +
          `primary log tail:\n${tail(primary.logFile)}`,
      );
    }
    await orFatal(sleep(seen >= N ? 20 : 250));
  }
}

// ---------------------------------------------------------------- statistics

/** The most timestamps in any window [t, t + windowMs), and where it starts. */
function maxWindow(sorted: readonly number[], windowMs: number): { count: number; startAt: number } {
  let best = { count: 0, startAt: sorted[0] ?? 0 };
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] as number) - (sorted[lo] as number) >= windowMs) lo++;
    if (hi - lo + 1 > best.count) best = { count: hi - lo + 1, startAt: sorted[lo] as number };
  }
  return best;
}

function spread(timestamps: readonly number[], zero: number) {
  const sorted = [...timestamps].sort((a, b) => a - b);
  const w = maxWindow(sorted, WINDOW_MS);
  return {
    attempts: sorted.length,
    max100msCount: w.count,
    max100msFraction: sorted.length === 0 ? 0 : round(w.count / sorted.length, 4),
    max100msStartMs: w.startAt - zero,
  };
}

function summary(values: number[]): { min: number; p50: number; p90: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

// ---------------------------------------------------------------- the run

async function run() {
  const limit = readFileLimits().soft;
  const perWorker = Math.ceil(N / W);
  // The primary holds one socket per node; a worker one socket and one outbox fd per node.
  const needed = Math.max(N + 200, 2 * perWorker + 200);
  if (needed > limit) {
    throw new Error(
      `open-files limit ${limit} is too low: the primary needs ~${N + 200} fds and each worker ~${2 * perWorker + 200}; ` +
        'use fewer --nodes or more --workers (this bench raises no limit)',
    );
  }

  runDir = trackDir(mkdtempSync(join(os.tmpdir(), 'picluster-storm-')));
  primaryDir = join(runDir, 'primary');
  const nodesDir = join(runDir, 'nodes');
  mkdirSync(nodesDir, { recursive: true });
  port = await freePort();
  webPort = await freePort();
  api = `http://127.0.0.1:${webPort}`;
  log(
    `${N} nodes in ${W} workers; primary (${FLAVOR}) on 127.0.0.1:${port}, API ${api}; temp dir ${runDir}; ` +
      `defaults: heartbeat ${DEFAULTS.heartbeatIntervalMs} ms, reconnect ${DEFAULTS.reconnectInitialDelayMs}..${DEFAULTS.reconnectMaxDelayMs} ms, vitals ${VITALS_PERIOD_MS} ms`,
  );

  // -- primary 1, idle
  const p1 = startPrimary(1);
  const p1HealthyAt = await orFatal(waitHealthy(api, p1.child, 30_000, 20, p1.logFile));
  log(`primary 1 healthy ${p1HealthyAt - p1.spawnedAt} ms after spawn`);
  const workers = Array.from({ length: W }, (_, i) => startWorker(i));
  await withTimeout(Promise.all(workers.map((w) => w.ready)), 60_000, 'the workers to load');
  await orFatal(sleep(1_000));
  const p1Pid = p1.child.pid as number;
  const idleMem = readMem(p1Pid);
  const idleCpu = readCpu(p1Pid);
  log(`primary idle RSS ${mb(idleMem.rssBytes)} MB; starting ${N} nodes`);

  // -- (a) first start
  const t0 = Date.now();
  let first = 0;
  workers.forEach((w, i) => {
    const count = Math.min(perWorker, N - first);
    const command: StormCommand = {
      cmd: 'start',
      host: '127.0.0.1',
      port,
      token: TOKEN,
      firstNode: first,
      count,
      dataRoot: nodesDir,
      vitalsPeriodMs: VITALS_PERIOD_MS,
      fingerprint: fingerprintOf(primaryDir),
    };
    first += count;
    if (count > 0) w.child.send(command);
    else log(`worker ${i} has no nodes`);
  });
  const admitted = await waitAllOnline('first start', t0, PHASE_TIMEOUT_MS, p1);
  const admitCpu = readCpu(p1Pid);
  const startedAt = Math.max(...(await withTimeout(Promise.all(workers.map((w) => w.started)), 10_000, 'start()')));
  const firstOnline = online.filter(([, at]) => at >= t0).map(([, at]) => at);
  const firstAttempts = connecting.filter(([, at]) => at >= t0).map(([, at]) => at);
  log(`first start: all ${N} online in /api/nodes after ${admitted.at - t0} ms`);

  // -- (b) RSS with N connected: let the info messages and first samples land first
  await orFatal(sleep(3_000));
  const loadedMem = readMem(p1Pid);
  log(`primary RSS with ${N} nodes ${mb(loadedMem.rssBytes)} MB`);

  // -- (c) kill, wait, restart on the same ports and data dir
  p1.expectExit = true;
  const killAt = Date.now();
  const p1Exit = new Promise<void>((resolve) => p1.child.once('exit', () => resolve()));
  p1.child.kill('SIGKILL');
  await withTimeout(p1Exit, 5_000, 'the killed primary to exit');
  await orFatal(sleep(killAt + KILL_WAIT_MS - Date.now()));
  const p2 = startPrimary(2);
  const p2Pid = p2.child.pid as number;
  const spawnCpu: CpuTicks = { self: 0, children: 0 };
  const healthyAt = await orFatal(waitHealthy(api, p2.child, 30_000, 20, p2.logFile));
  const healthyCpu = readCpu(p2Pid);
  log(`primary 2 spawned ${p2.spawnedAt - killAt} ms after the kill, healthy ${healthyAt - p2.spawnedAt} ms later`);
  const recovered = await waitAllOnline('recovery', killAt, PHASE_TIMEOUT_MS, p2);
  const recoveredCpu = readCpu(p2Pid);
  const recoveredMem = readMem(p2Pid);
  log(`recovery: all ${N} online in /api/nodes ${recovered.at - healthyAt} ms after /healthz`);
  // Events are batched every 25 ms in the workers: let the last ones arrive.
  await orFatal(sleep(500));

  // -- (d) spread of the reconnect attempts
  const attemptsAfterKill = connecting.filter(([, at]) => at >= killAt);
  const attemptTimes = attemptsAfterKill.map(([, at]) => at);
  const perNode = new Map<number, number>();
  for (const [node] of attemptsAfterKill) perNode.set(node, (perNode.get(node) ?? 0) + 1);
  const onlineAfterKill = new Map<number, number>();
  for (const [node, at] of online) if (at >= killAt && !onlineAfterKill.has(node)) onlineAfterKill.set(node, at);
  const onlineTimes = [...onlineAfterKill.values()];
  const offlineTimes = offline.filter(([, at]) => at >= killAt).map(([, at]) => at);
  const lastSecond = Math.floor((Math.max(...attemptTimes, ...onlineTimes, killAt) - killAt) / 1000);
  const histogram = Array.from({ length: lastSecond + 1 }, (_, s) => ({ s, attempts: 0, online: 0 }));
  for (const at of attemptTimes) (histogram[Math.floor((at - killAt) / 1000)] as { attempts: number }).attempts++;
  for (const at of onlineTimes) (histogram[Math.floor((at - killAt) / 1000)] as { online: number }).online++;

  const recoveryMs = recovered.at - healthyAt;
  const all = spread(attemptTimes, killAt);
  const afterRestart = spread(
    attemptTimes.filter((at) => at >= p2.spawnedAt),
    killAt,
  );
  const result = {
    config: {
      nodes: N,
      workers: W,
      primary: FLAVOR,
      heartbeatMs: DEFAULTS.heartbeatIntervalMs,
      reconnect: { initialDelayMs: DEFAULTS.reconnectInitialDelayMs, maxDelayMs: DEFAULTS.reconnectMaxDelayMs },
      vitalsPeriodMs: VITALS_PERIOD_MS,
      killWaitMs: KILL_WAIT_MS,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((x) => round(x, 2)),
    },
    firstStart: {
      /** Workers told to start → /api/nodes shows N online. */
      admitMs: admitted.at - t0,
      /** Workers told to start → every node's start() resolved. */
      startCallsMs: startedAt - t0,
      firstOnlineEventMs: Math.min(...firstOnline) - t0,
      lastOnlineEventMs: Math.max(...firstOnline) - t0,
      attempts: firstAttempts.length,
      primaryCpuPercent: cpuPercent(idleCpu, admitCpu, admitted.at - t0),
    },
    memory: {
      idleRssBytes: idleMem.rssBytes,
      loadedRssBytes: loadedMem.rssBytes,
      perNodeBytes: Math.round((loadedMem.rssBytes - idleMem.rssBytes) / N),
      peakRssBytes: loadedMem.hwmBytes,
      restartedRssBytes: recoveredMem.rssBytes,
      restartedPeakRssBytes: recoveredMem.hwmBytes,
    },
    recovery: {
      /** Milliseconds after the SIGKILL. */
      spawnedMs: p2.spawnedAt - killAt,
      healthyMs: healthyAt - killAt,
      firstOnlineEventMs: Math.min(...onlineTimes) - killAt,
      lastOnlineEventMs: Math.max(...onlineTimes) - killAt,
      allOnlineInApiMs: recovered.at - killAt,
      /** The headline: /healthz first 200 → /api/nodes shows N online. */
      recoveryMs,
      /** Per node: its first 'online' after the restart, ms after /healthz first answered. */
      nodeOnlineAfterHealthyMs: summary(onlineTimes.map((at) => at - healthyAt)),
      /** The nodes noticed the kill (first to last 'offline'), ms after the kill. */
      offlineNoticedMs: { first: Math.min(...offlineTimes) - killAt, last: Math.max(...offlineTimes) - killAt },
      primaryCpu: {
        startupSeconds: round(cpuSeconds(spawnCpu, healthyCpu), 2),
        recoverySeconds: round(cpuSeconds(healthyCpu, recoveredCpu), 2),
        /** % of one core from /healthz to N online. */
        recoveryPercent: cpuPercent(healthyCpu, recoveredCpu, recoveryMs),
        /** % of one core from spawn to N online. */
        spawnToOnlinePercent: cpuPercent(spawnCpu, recoveredCpu, recovered.at - p2.spawnedAt),
      },
      authFailures,
      /** GET /api/nodes while waiting (its cost is in the primary's CPU figures). */
      apiPolls: { count: recovered.polls, ...recovered.pollMs },
    },
    attempts: {
      /** Every 'connecting' after the kill (refused ones while the primary was down included). */
      afterKill: all,
      /** Only those after the new primary was spawned (the ones that can reach it). */
      afterRestart,
      perNode: summary([...perNode.values()]),
      perSecond: histogram,
    },
    targets: {
      recoveryWithin10s: recoveryMs <= TARGET_RECOVERY_MS,
      no100msWindowOver20pct: all.max100msFraction <= TARGET_WINDOW_FRACTION,
    },
  };
  return result;
}

type Result = Awaited<ReturnType<typeof run>>;

function print(r: Result): void {
  const ok = (b: boolean) => (b ? 'met' : 'MISSED');
  const lines = [
    `reconnect storm: ${r.config.nodes} nodes in ${r.config.workers} workers, primary under ${r.config.primary}, ${r.config.cpus} CPUs (load ${r.config.loadavg.join(' ')})`,
    `  defaults: heartbeat ${r.config.heartbeatMs} ms, reconnect full jitter ${r.config.reconnect.initialDelayMs} ms..${r.config.reconnect.maxDelayMs} ms, vitals every ${r.config.vitalsPeriodMs} ms`,
    '',
    '(a) first start',
    `  all ${r.config.nodes} online in /api/nodes after ${r.firstStart.admitMs} ms (start() calls done at ${r.firstStart.startCallsMs} ms, online events ${r.firstStart.firstOnlineEventMs}..${r.firstStart.lastOnlineEventMs} ms)`,
    `  ${r.firstStart.attempts} connection attempts; primary CPU ${r.firstStart.primaryCpuPercent}% of one core meanwhile`,
    '(b) primary memory',
    `  RSS idle ${mb(r.memory.idleRssBytes)} MB, with ${r.config.nodes} nodes ${mb(r.memory.loadedRssBytes)} MB (peak ${mb(r.memory.peakRssBytes)} MB)`,
    `  => ${round(r.memory.perNodeBytes / 1024)} KB per node; restarted primary with all nodes back: ${mb(r.memory.restartedRssBytes)} MB (peak ${mb(r.memory.restartedPeakRssBytes)} MB)`,
    '(c) SIGKILL, restart, recovery (ms after the kill)',
    `  nodes noticed ${r.recovery.offlineNoticedMs.first}..${r.recovery.offlineNoticedMs.last}; new primary spawned ${r.recovery.spawnedMs}, /healthz 200 at ${r.recovery.healthyMs}`,
    `  online events ${r.recovery.firstOnlineEventMs}..${r.recovery.lastOnlineEventMs}; /api/nodes shows all ${r.config.nodes} online at ${r.recovery.allOnlineInApiMs}`,
    `  RECOVERY: ${r.recovery.recoveryMs} ms from /healthz to all online (target <= ${TARGET_RECOVERY_MS} ms: ${ok(r.targets.recoveryWithin10s)})`,
    `  per node, online after /healthz: p50 ${r.recovery.nodeOnlineAfterHealthyMs.p50} p90 ${r.recovery.nodeOnlineAfterHealthyMs.p90} max ${r.recovery.nodeOnlineAfterHealthyMs.max} ms`,
    `  primary CPU: ${r.recovery.primaryCpu.startupSeconds} s to start, ${r.recovery.primaryCpu.recoverySeconds} s during recovery = ${r.recovery.primaryCpu.recoveryPercent}% of one core (${r.recovery.primaryCpu.spawnToOnlinePercent}% from spawn)`,
    `  auth failures: ${r.recovery.authFailures}; ${r.recovery.apiPolls.count} polls of /api/nodes meanwhile (p50 ${r.recovery.apiPolls.p50} ms, max ${r.recovery.apiPolls.max} ms each)`,
    '(d) spread of reconnect attempts after the kill',
    `  ${r.attempts.afterKill.attempts} attempts (per node min ${r.attempts.perNode.min} p50 ${r.attempts.perNode.p50} max ${r.attempts.perNode.max})`,
    `  busiest 100 ms window: ${r.attempts.afterKill.max100msCount} attempts = ${round(r.attempts.afterKill.max100msFraction * 100)}% at +${r.attempts.afterKill.max100msStartMs} ms (target <= ${TARGET_WINDOW_FRACTION * 100}%: ${ok(r.targets.no100msWindowOver20pct)})`,
    `  after the restart only: ${r.attempts.afterRestart.attempts} attempts, busiest 100 ms ${r.attempts.afterRestart.max100msCount} = ${round(r.attempts.afterRestart.max100msFraction * 100)}% at +${r.attempts.afterRestart.max100msStartMs} ms`,
    '  second  attempts  online',
    ...r.attempts.perSecond.map(
      (h) =>
        `  ${String(h.s).padStart(6)}  ${String(h.attempts).padStart(8)}  ${String(h.online).padStart(6)}  ${'#'.repeat(Math.ceil((h.attempts / Math.max(1, r.config.nodes)) * 20))}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

installCleanupHandlers(log);
const watchdog = setTimeout(
  () => failWith(new Error(`watchdog: the run took over ${WATCHDOG_MS / 1000} s`)),
  WATCHDOG_MS,
);
watchdog.unref();
try {
  const result = await orFatal(run());
  if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else print(result);
} catch (err) {
  process.stderr.write(`storm: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  stopping = true;
  clearTimeout(watchdog);
  await cleanup();
}
