// `node --import tsx bench/scale.ts [--nodes N] [--workers W] [--tls on|off|both] [--json] [--cpu-prof]`
// (`npm run bench:scale -- --nodes N`)
//
// How far one primary goes. For each level (default 1,000, 5,000 and 10,000 nodes in turn;
// `--nodes N` for one): one primary process from the compiled build (`node dist/cli/main.js
// primary`, SQLite on, every default: heartbeat 5 s, handshake limits, logging), and N
// lightweight simulated agents in W worker processes (bench/scale-agent.ts: the real dial,
// opening magic, Connection, handshake, info, vitals every 10 s at a random phase, ack handling,
// default Backoff; no outbox files, no data dirs). TLS on the cluster port is on, as by default:
// the agents pin the primary's certificate and resume their TLS sessions after its restart (the
// primary keeps its ticket keys); `--tls off` runs plaintext, `--tls both` runs each level with
// TLS and then without, beside each other. Measures:
//   admit     workers told to start -> all N agents got `welcome` (the primary marks a node
//             online before it sends `welcome`), confirmed by /metrics picluster_connected_nodes;
//   RSS/node  primary VmRSS after all are admitted and settled 20 s, minus its idle VmRSS
//             (with the /metrics collectors started), divided by N;
//   CPU       primary utime+stime over a 60 s steady window, as % of one core;
//   lag p99   picluster_nodejs_eventloop_lag_p99_seconds of the scrape ending the window (the
//             scrape that starts the window resets prom-client's histogram);
//   recovery  SIGKILL the primary, restart it 2 s later on the same ports and data dir: its first
//             /healthz 200 -> all N agents online again, confirmed by /metrics.
// /metrics is scraped only at those few points (at 10,000 nodes it is a large text); the admit
// and recovery waits count agents' `welcome`s, which cost the primary nothing.
// Targets for 10,000 nodes: RSS/node <= 16 KiB plaintext (issue 7), <= 48 KiB with TLS (the
// security issue), CPU <= 12% (issue 16; it was 25%), lag p99 <= 50 ms, recovery <= 30 s. A measurement, not a test: exit 0 when a target is missed (it says so), 1
// when the run itself fails. `--cpu-prof` profiles the first primary of each level (it is then
// stopped with SIGTERM instead of SIGKILL so the profile gets written) and summarises the steady
// window. Progress goes to stderr; with --json stdout carries one JSON object only.
// The workers run at nice 10 (--worker-nice): the agents stand for other machines and must not
// take the primary's CPU on this 2-core box. Also reported, to read the figures against a noisy
// host: the primary main thread's time waiting for a CPU (/proc schedstat) and its sampled
// states (R/S/D), its write syscalls and disk writes, the load average at each phase, the RSS
// range over the window (it saws with V8's major GCs). prom-client's lag figures include its
// 10 ms sampling resolution (an idle loop reads p50 ~10.1 ms). Diagnosis: --keep (keep the
// logs and database), --primary-node-flags="--trace-gc", --cpu-prof, --skip-build. `--floor`: after each
// level, the floor peer at the same N (bench/scale-floor.ts: what a plain node:net server spends on
// the same socket traffic and nothing else) and the primary's CPU as a multiple of it.

import { type ChildProcess, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/common/defaults.js';
import { certificateFingerprint } from '../src/protocol/auth.js';
import { type AgentStats, type ScaleCommand, type ScaleMessage, SEV } from './scale-common.js';
import { type FloorResult, formatFloor, runFloor } from './scale-floor.js';
import { formatProfile, type ProfileSummary, summarizeProfile } from './scale-profile.js';
import {
  type CpuTicks,
  cleanup,
  cpuPercent,
  forkWorker,
  freePort,
  installCleanupHandlers,
  type MemStatus,
  percentile,
  procIo,
  ROOT,
  readCpu,
  readFileLimits,
  readMem,
  round,
  sleep,
  spawnCli,
  tail,
  threadCpu,
  threadTicks,
  trackDir,
  waitHealthy,
} from './storm-proc.js';

// ---------------------------------------------------------------- options

const { values: opts } = parseArgs({
  options: {
    nodes: { type: 'string' },
    /** TLS on the cluster port: on (the default, as the product), off, or both (each level twice). */
    tls: { type: 'string', default: 'on' },
    // Eight: with TLS, four event loops of 2,500 agents each queued their own handshakes into timeouts.
    workers: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    token: { type: 'string', default: 'scale-bench-token-0123456789abcdef' },
    /** Use dist/ as it is (default: `npx tsc -p tsconfig.build.json` first). */
    'skip-build': { type: 'boolean', default: false },
    'settle-s': { type: 'string', default: '20' },
    'window-s': { type: 'string', default: '60' },
    'kill-wait-ms': { type: 'string', default: '2000' },
    /**
     * Scheduling niceness of the agent workers. The agents stand for other machines: on this
     * 2-core box they must not take the primary's CPU (0 = compete as equals).
     */
    'worker-nice': { type: 'string', default: '10' },
    'admit-timeout-s': { type: 'string', default: '90' },
    'recovery-timeout-s': { type: 'string', default: '90' },
    'cpu-prof': { type: 'boolean', default: false },
    /** Where --cpu-prof writes (kept after the run). */
    'cpu-prof-dir': { type: 'string' },
    /** Extra node flags for the primary (diagnosis, e.g. "--trace-gc"), space-separated. */
    'primary-node-flags': { type: 'string', default: '' },
    /** Keep each level's temp dir (primary logs and database) for a look afterwards. */
    keep: { type: 'boolean', default: false },
    /**
     * After each level, the floor peer with the same number of nodes (bench/scale-floor.ts: a
     * plain node:net server with the same socket traffic and nothing else), and the ratio.
     */
    floor: { type: 'boolean', default: false },
  },
  strict: true,
});

const LEVELS = opts.nodes === undefined ? [1_000, 5_000, 10_000] : [Number(opts.nodes)];
if (!['on', 'off', 'both'].includes(opts.tls)) throw new Error('--tls must be on, off or both');
const TLS_MODES = opts.tls === 'both' ? [true, false] : [opts.tls === 'on'];
const RUNS = LEVELS.flatMap((nodes) => TLS_MODES.map((tls) => ({ nodes, tls })));
const WORKERS = Number(opts.workers);
const TOKEN = opts.token;
const SETTLE_MS = Number(opts['settle-s']) * 1000;
const WINDOW_MS = Number(opts['window-s']) * 1000;
const KILL_WAIT_MS = Number(opts['kill-wait-ms']);
const WORKER_NICE = Number(opts['worker-nice']);
const ADMIT_TIMEOUT_MS = Number(opts['admit-timeout-s']) * 1000;
const RECOVERY_TIMEOUT_MS = Number(opts['recovery-timeout-s']) * 1000;
const CPU_PROF = opts['cpu-prof'];
const PRIMARY_NODE_FLAGS = opts['primary-node-flags'].split(' ').filter(Boolean);
const VITALS_PERIOD_MS = DEFAULTS.vitalsPeriodMs;
const HEARTBEAT_MS = DEFAULTS.heartbeatIntervalMs;
/** Per level: 5.5 min (a level normally takes 1.5 to 3). */
const LEVEL_WATCHDOG_MS = 330_000;

// CPU: issue 16's 12% of one core at 10,000 nodes (it was 25%, issue 7).
const TARGETS = { rssPerNodeKiB: 16, rssPerNodeKiBTls: 48, cpuPercent: 12, lagP99Ms: 50, recoveryMs: 30_000 } as const;

for (const n of LEVELS) if (!(Number.isInteger(n) && n >= 1)) throw new Error(`--nodes must be a positive integer`);
if (!(Number.isInteger(WORKERS) && WORKERS >= 1)) throw new Error('--workers must be a positive integer');
if (TOKEN.length < 16) throw new Error('--token must have at least 16 characters');

const log = (line: string): void => {
  process.stderr.write(`scale: ${line}\n`);
};

const loadavg = (): number[] => os.loadavg().map((x) => round(x, 2));
const kib = (bytes: number): number => round(bytes / 1024, 1);
const mib = (bytes: number): number => round(bytes / (1024 * 1024), 1);

// ---------------------------------------------------------------- open files

/**
 * The primary holds one socket per node (plus SQLite, the web server, stdio: ~200 more); a worker
 * one socket per agent. Children inherit this process's limit, so raise our own when it is short
 * (as root, the hard limit too) with prlimit(1) on our own pid.
 */
function ensureFileLimit(nodes: number): {
  before: { soft: number; hard: number };
  after: { soft: number; hard: number };
  needed: number;
} {
  const needed = Math.max(nodes + 512, Math.ceil(nodes / WORKERS) + 512);
  const before = readFileLimits();
  if (before.soft < needed) {
    const hard = Math.max(before.hard, needed);
    log(`open-files limit ${before.soft} < ${needed} needed: raising it to ${needed}:${hard} with prlimit`);
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${hard}`], { stdio: 'inherit' });
    } catch {
      // Raising the hard limit needs CAP_SYS_RESOURCE, which a container may not grant even to root.
      const most = before.hard - 512;
      throw new Error(
        `${nodes} nodes need ${needed} open files in the primary, and the hard limit here is ${before.hard}, which this process may not raise: run with a higher hard limit (ulimit -Hn, LimitNOFILE=) or --nodes ${most} at most`,
      );
    }
  }
  const after = readFileLimits();
  if (after.soft < needed) throw new Error(`open-files limit ${after.soft} is below the ${needed} needed`);
  return { before, after, needed };
}

// ---------------------------------------------------------------- the primary's main thread

/** The main thread of `pid`: ns on a CPU and ns runnable but waiting for one (/proc schedstat). */
function schedstat(pid: number): { runNs: number; waitNs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runNs: run ?? 0, waitNs: wait ?? 0 };
}

/**
 * Samples the state of `pid`'s main thread (the event loop) every `everyMs`: R running or
 * waiting for a CPU, S sleeping (idle in epoll, or a lock), D uninterruptible (disk I/O, fsync).
 * Returns the shares in percent when stopped.
 */
function stateSampler(pid: number, everyMs = 10): { stop(): Record<string, number> } {
  const counts: Record<string, number> = {};
  let total = 0;
  const timer = setInterval(() => {
    try {
      const text = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
      const state = text.charAt(text.lastIndexOf(')') + 2);
      counts[state] = (counts[state] ?? 0) + 1;
      total++;
    } catch {
      // gone
    }
  }, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, round((v / Math.max(1, total)) * 100)]));
    },
  };
}

// ---------------------------------------------------------------- /metrics

interface Scrape {
  at: number;
  ms: number;
  bytes: number;
  values: Map<string, number>;
}

const WANTED = [
  'picluster_connected_nodes',
  'picluster_known_nodes',
  'picluster_frames_received_total',
  'picluster_vitals_stored_total',
  'picluster_store_commits_total',
  'picluster_connections_accepted_total',
  'picluster_handshake_failures_total',
  'picluster_tls_handshakes_total',
  'picluster_tls_resumed_total',
  'picluster_process_resident_memory_bytes',
  'picluster_nodejs_heap_size_used_bytes',
  'picluster_nodejs_heap_size_total_bytes',
  'picluster_nodejs_external_memory_bytes',
  'picluster_nodejs_eventloop_lag_p50_seconds',
  'picluster_nodejs_eventloop_lag_p90_seconds',
  'picluster_nodejs_eventloop_lag_p99_seconds',
  'picluster_nodejs_eventloop_lag_max_seconds',
  'picluster_nodejs_eventloop_lag_mean_seconds',
];

async function scrape(api: string): Promise<Scrape> {
  const asked = Date.now();
  const response = await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(60_000) });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  const values = new Map<string, number>();
  for (const name of WANTED) {
    const at = text.indexOf(`\n${name} `);
    if (at < 0) continue;
    const end = text.indexOf('\n', at + 1);
    values.set(name, Number(text.slice(at + name.length + 2, end < 0 ? undefined : end)));
  }
  return { at: Date.now(), ms: Date.now() - asked, bytes: text.length, values };
}

const metric = (s: Scrape, name: string): number => s.values.get(name) ?? Number.NaN;

// ---------------------------------------------------------------- a level

interface LevelResult {
  nodes: number;
  /** The floor peer at the same N (--floor), measured after the level. */
  floor?: FloorResult;
  /** TLS on the cluster port. */
  tls: boolean;
  workers: number;
  fileLimit: { soft: number; neededPrimary: number; neededPerWorker: number };
  admit: {
    /** Workers told to start -> the last agent's `welcome`. */
    ms: number;
    /** Workers told to start -> /metrics showed N connected. */
    confirmedMs: number;
    perNodeMs: { p50: number; p90: number; max: number };
    attempts: number;
    primaryCpuPercent: number;
    workersCpuPercent: number;
    loadavg: number[];
  };
  memory: {
    idleRssBytes: number;
    settledRssBytes: number;
    perNodeBytes: number;
    perNodeKiB: number;
    windowEndRssBytes: number;
    windowEndPerNodeKiB: number;
    /** RSS range over the steady window (sampled each second). */
    windowMinRssBytes: number;
    windowMaxRssBytes: number;
    peakRssBytes: number;
    heapUsedIdleBytes: number;
    heapUsedBytes: number;
    heapTotalBytes: number;
  };
  steady: {
    windowMs: number;
    primaryCpuPercent: number;
    lagP50Ms: number;
    lagP90Ms: number;
    lagP99Ms: number;
    lagMaxMs: number;
    lagMeanMs: number;
    connectedAtEnd: number;
    framesPerS: number;
    vitalsStoredPerS: number;
    commitsPerS: number;
    workersCpuPercent: number;
    /** The event loop's thread over the window: on a CPU, and runnable but waiting for one. */
    mainThreadRunMs: number;
    mainThreadRunqueueWaitMs: number;
    /** Its sampled states, % (R running/runnable, S sleeping, D disk wait). */
    mainThreadStates: Record<string, number>;
    /** write(2)-family calls per second (socket writes included), and bytes sent to the disk. */
    writeSyscallsPerS: number;
    diskWriteMiBPerS: number;
    workerLoopP99MaxMs: number;
    vitalsSent: number;
    unackedSeqs: number;
    agentFailures: Record<string, number>;
    /** A /metrics scrape at this size: duration and bytes (it blocks the primary's loop). */
    metricsScrapeMs: number;
    metricsBytes: number;
    loadavg: number[];
  };
  recovery: {
    how: 'SIGKILL' | 'SIGTERM';
    killWaitMs: number;
    /** Kill -> the new primary's first /healthz 200. */
    healthyAfterKillMs: number;
    /** False when not all came back within --recovery-timeout-s (then `ms` is that timeout). */
    complete: boolean;
    onlineAtEnd: number;
    connectedAtEnd: number;
    /** The headline: first /healthz 200 -> the last agent's `welcome`. */
    ms: number;
    /** First /healthz 200 -> /metrics showed N connected. */
    confirmedMs: number;
    perNodeAfterHealthyMs: { p50: number; p90: number; max: number };
    attemptsAfterKill: number;
    primaryCpuPercent: number;
    mainThreadRunqueueWaitMs: number;
    mainThreadStates: Record<string, number>;
    /** The agents' workers, from the kill to the last agent back. */
    workersCpuPercent: number;
    restartedRssBytes: number;
    /** TLS handshakes the restarted primary saw until all were back, and how many resumed a session. */
    tlsHandshakes: number;
    tlsResumed: number;
    loadavg: number[];
  };
  primaryLog: { warn: number; error: number; top: Array<[string, number]> };
  targets: Record<'rss' | 'cpu' | 'lag' | 'recovery', 'PASS' | 'MISS'>;
  profile?: ProfileSummary;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  stats(): Promise<AgentStats>;
}

interface PrimaryProc {
  child: ChildProcess;
  pid: number;
  logFile: string;
  spawnedAt: number;
  expectExit: boolean;
}

async function runLevel(N: number, tls: boolean, profDir: string | undefined): Promise<LevelResult> {
  let failWith: (err: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => {
    failWith = reject;
  });
  fatal.catch(() => undefined);
  const orFatal = <T>(p: Promise<T>): Promise<T> => Promise.race([p, fatal]);
  const watchdog = setTimeout(
    () => failWith(new Error(`watchdog: the ${N}-node level took over ${LEVEL_WATCHDOG_MS / 1000} s`)),
    LEVEL_WATCHDOG_MS,
  );
  watchdog.unref();
  let stopping = false;

  const W = Math.min(WORKERS, N);
  const limits = ensureFileLimit(N);
  const made = mkdtempSync(join(os.tmpdir(), 'picluster-scale-'));
  const runDir = opts.keep ? made : trackDir(made);
  const primaryDir = join(runDir, 'primary');
  mkdirSync(primaryDir);
  const port = await freePort();
  const webPort = await freePort();
  const api = `http://127.0.0.1:${webPort}`;

  // -- agents' events: per node, online now, and when it last came online
  const isOnline = new Uint8Array(N);
  const lastOnlineAt = new Float64Array(N);
  const attemptsAt: number[] = [];
  const onEvents = (events: Array<[number, number, number]>): void => {
    for (const [code, node, at] of events) {
      if (code === SEV.online) {
        isOnline[node] = 1;
        lastOnlineAt[node] = at;
      } else if (code === SEV.offline) isOnline[node] = 0;
      else if (code === SEV.connecting) attemptsAt.push(at);
    }
  };
  /** Nodes online now whose session started at or after `since`, and the latest such start. */
  const onlineSince = (since: number): { count: number; last: number; times: number[] } => {
    let count = 0;
    let last = 0;
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      const at = lastOnlineAt[i] as number;
      if (isOnline[i] && at >= since) {
        count++;
        times.push(at);
        if (at > last) last = at;
      }
    }
    return { count, last, times };
  };

  // -- processes
  const startPrimary = (n: number, profile: boolean): PrimaryProc => {
    const logFile = join(runDir, `primary-${n}.log`);
    const nodeFlags = [...PRIMARY_NODE_FLAGS, ...(profile && profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [])];
    const child = spawnCli(
      'dist',
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
        ...(tls ? [] : ['--no-tls']),
        // Every simulated node connects from 127.0.0.1: one address playing the whole fleet.
        '--limits-max-handshakes-per-address',
        '1000000',
      ],
      logFile,
      { nodeFlags },
    );
    const proc: PrimaryProc = { child, pid: child.pid as number, logFile, spawnedAt: Date.now(), expectExit: false };
    child.on('exit', (code, signal) => {
      if (!proc.expectExit && !stopping)
        failWith(new Error(`primary ${n} exited (code ${code}, signal ${signal})\n${tail(logFile)}`));
    });
    return proc;
  };

  const startWorker = (index: number): Worker => {
    const child = forkWorker(new URL('./scale-agent.ts', import.meta.url));
    if (WORKER_NICE !== 0) os.setPriority(child.pid as number, WORKER_NICE);
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
    });
    const statsWaiters: Array<(s: AgentStats) => void> = [];
    child.on('message', (message: ScaleMessage) => {
      if (message.kind === 'ready') onReady();
      else if (message.kind === 'events') onEvents(message.events);
      else if (message.kind === 'stats') statsWaiters.shift()?.(message.stats);
      else if (message.kind === 'error') failWith(new Error(`worker ${index} failed: ${message.message}`));
    });
    child.on('exit', (code, signal) => {
      if (!stopping) failWith(new Error(`worker ${index} exited (code ${code}, signal ${signal})`));
    });
    const stats = () =>
      orFatal(
        new Promise<AgentStats>((resolve) => {
          statsWaiters.push(resolve);
          child.send({ cmd: 'stats' } satisfies ScaleCommand);
        }),
      );
    return { child, ready, stats };
  };

  const allStats = async (workers: Worker[]) => {
    const all = await Promise.all(workers.map((w) => w.stats()));
    const failures: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    const sum = (f: (s: AgentStats) => number) => all.reduce((acc, s) => acc + f(s), 0);
    return {
      online: sum((s) => s.online),
      vitalsSent: sum((s) => s.vitalsSent),
      unacked: sum((s) => s.sentSeqSum - s.ackedSeqSum),
      loopP99MaxMs: round(Math.max(...all.map((s) => s.loopP99Ms)), 1),
      failures,
    };
  };

  const workersCpu = (workers: Worker[]): CpuTicks => {
    const ticks = { self: 0, children: 0 };
    for (const w of workers) {
      const t = readCpu(w.child.pid as number);
      ticks.self += t.self;
    }
    return ticks;
  };

  /** Waits until all N agents are online with a session started at or after `since`. */
  const waitAgentsOnline = async (since: number, timeoutMs: number, what: string, orGiveUp = false) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = onlineSince(since);
      if (now.count >= N) return { ...now, complete: true };
      if (Date.now() > deadline) {
        if (orGiveUp) {
          log(`${what}: only ${now.count}/${N} agents online after ${timeoutMs / 1000} s: giving up`);
          return { ...now, last: Date.now(), complete: false };
        }
        throw new Error(`${what}: only ${now.count}/${N} agents online after ${timeoutMs / 1000} s`);
      }
      await orFatal(sleep(100));
    }
  };

  /** Scrapes /metrics (at most once a second) until it shows N connected. */
  const confirmConnected = async (primary: PrimaryProc, what: string): Promise<Scrape> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await orFatal(scrape(api));
      if (metric(s, 'picluster_connected_nodes') >= N) return s;
      if (Date.now() > deadline)
        throw new Error(
          `${what}: /metrics shows ${metric(s, 'picluster_connected_nodes')}/${N} connected\n${tail(primary.logFile)}`,
        );
      await orFatal(sleep(1_000));
    }
  };

  const readLog = (files: string[]) => {
    let warn = 0;
    let error = 0;
    const byMsg = new Map<string, number>();
    for (const file of files) {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        const level = /"level":(\d+)/.exec(line)?.[1];
        if (level === undefined || Number(level) < 40) continue;
        if (Number(level) >= 50) error++;
        else warn++;
        const msg = /"msg":"([^"]*)"/.exec(line)?.[1]?.replace(/[0-9a-f-]{36}|\d+(\.\d+)?/g, '#') ?? line.slice(0, 80);
        byMsg.set(msg, (byMsg.get(msg) ?? 0) + 1);
      }
    }
    return { warn, error, top: [...byMsg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6) };
  };

  const run = async (): Promise<LevelResult> => {
    log(
      `--- ${N} nodes in ${W} workers, TLS ${tls ? 'on' : 'off'}; primary (dist) on 127.0.0.1:${port}, API ${api}, data ${primaryDir}; ` +
        `open files soft ${limits.after.soft} (need ${limits.needed}); load ${loadavg().join(' ')}`,
    );
    const p1 = startPrimary(1, CPU_PROF);
    await orFatal(waitHealthy(api, p1.child, 30_000, 50, p1.logFile));
    // Start prom-client's collectors now, so that they are part of the idle base.
    const idleScrape = await orFatal(scrape(api));
    const workers = Array.from({ length: W }, (_, i) => startWorker(i));
    await orFatal(Promise.all(workers.map((w) => w.ready)));
    await orFatal(sleep(2_000));
    const idleMem = readMem(p1.pid);
    const idleCpu = readCpu(p1.pid);
    // What a node is given to trust the primary: its certificate's fingerprint (the join line's).
    const fingerprint = tls
      ? certificateFingerprint(new X509Certificate(readFileSync(join(primaryDir, 'tls', 'cert.pem'))).raw)
      : undefined;
    log(`primary idle RSS ${mib(idleMem.rssBytes)} MiB; starting ${N} agents`);

    // -- admit
    const admitWcpu0 = workersCpu(workers);
    const t0 = Date.now();
    const perWorker = Math.ceil(N / W);
    workers.forEach((w, i) => {
      const firstNode = i * perWorker;
      const count = Math.max(0, Math.min(perWorker, N - firstNode));
      if (count > 0)
        w.child.send({
          cmd: 'start',
          host: '127.0.0.1',
          port,
          token: TOKEN,
          fingerprint,
          firstNode,
          count,
          vitalsPeriodMs: VITALS_PERIOD_MS,
          heartbeatIntervalMs: HEARTBEAT_MS,
        } satisfies ScaleCommand);
    });
    const admitted = await waitAgentsOnline(t0, ADMIT_TIMEOUT_MS, 'first start');
    const admitCpu = readCpu(p1.pid);
    const admitWcpu1 = workersCpu(workers);
    const admitLoad = loadavg();
    const admitConfirm = await confirmConnected(p1, 'first start');
    const admitTimes = admitted.times.map((at) => at - t0).sort((a, b) => a - b);
    const admitAttempts = attemptsAt.length;
    log(
      `admitted all ${N} in ${admitted.last - t0} ms (agents' welcome), /metrics confirmed at ${admitConfirm.at - t0} ms ` +
        `(scrape ${admitConfirm.ms} ms, ${mib(admitConfirm.bytes)} MiB); ${admitAttempts} dials; load ${admitLoad.join(' ')}`,
    );

    // -- settle, then RSS
    await orFatal(sleep(SETTLE_MS - (Date.now() - admitted.last)));
    const settledMem = readMem(p1.pid);
    log(
      `settled: primary RSS ${mib(settledMem.rssBytes)} MiB = ${kib((settledMem.rssBytes - idleMem.rssBytes) / N)} KiB/node above idle`,
    );

    // -- steady window: a scrape resets the lag histogram; let its rendering pass, then measure
    const windowStartScrape = await orFatal(scrape(api));
    await orFatal(sleep(3_000));
    await orFatal(allStats(workers)); // resets the workers' loop histograms
    const cpu0 = readCpu(p1.pid);
    const wcpu0 = workersCpu(workers);
    const sched0 = schedstat(p1.pid);
    const threads0 = threadTicks(p1.pid);
    const io0 = procIo(p1.pid);
    const states = stateSampler(p1.pid);
    // RSS saws up and down with V8's major GCs: its range over the window, once a second.
    const rssRange = { min: Number.POSITIVE_INFINITY, max: 0 };
    const rssTimer = setInterval(() => {
      try {
        const rss = readMem(p1.pid).rssBytes;
        rssRange.min = Math.min(rssRange.min, rss);
        rssRange.max = Math.max(rssRange.max, rss);
      } catch {
        // gone: the fatal path reports it
      }
    }, 1_000);
    rssTimer.unref();
    const w0 = Date.now();
    await orFatal(sleep(WINDOW_MS)).finally(() => clearInterval(rssTimer));
    const cpu1 = readCpu(p1.pid);
    const wcpu1 = workersCpu(workers);
    const sched1 = schedstat(p1.pid);
    const threads1 = threadTicks(p1.pid);
    const io1 = procIo(p1.pid);
    const mainThreadStates = states.stop();
    const w1 = Date.now();
    const windowLoad = loadavg();
    const endScrape = await orFatal(scrape(api));
    const endMem = readMem(p1.pid);
    const agents = await orFatal(allStats(workers));
    const sinceStart = (name: string) =>
      round(
        (metric(endScrape, name) - metric(windowStartScrape, name)) / ((endScrape.at - windowStartScrape.at) / 1000),
        1,
      );
    const steady = {
      windowMs: w1 - w0,
      primaryCpuPercent: cpuPercent(cpu0, cpu1, w1 - w0),
      lagP50Ms: round(metric(endScrape, 'picluster_nodejs_eventloop_lag_p50_seconds') * 1000, 1),
      lagP90Ms: round(metric(endScrape, 'picluster_nodejs_eventloop_lag_p90_seconds') * 1000, 1),
      lagP99Ms: round(metric(endScrape, 'picluster_nodejs_eventloop_lag_p99_seconds') * 1000, 1),
      lagMaxMs: round(metric(endScrape, 'picluster_nodejs_eventloop_lag_max_seconds') * 1000, 1),
      lagMeanMs: round(metric(endScrape, 'picluster_nodejs_eventloop_lag_mean_seconds') * 1000, 1),
      connectedAtEnd: metric(endScrape, 'picluster_connected_nodes'),
      framesPerS: sinceStart('picluster_frames_received_total'),
      vitalsStoredPerS: sinceStart('picluster_vitals_stored_total'),
      commitsPerS: sinceStart('picluster_store_commits_total'),
      workersCpuPercent: cpuPercent(wcpu0, wcpu1, w1 - w0),
      mainThreadRunMs: Math.round((sched1.runNs - sched0.runNs) / 1e6),
      mainThreadRunqueueWaitMs: Math.round((sched1.waitNs - sched0.waitNs) / 1e6),
      mainThreadStates,
      /** % of one core by thread, user and system apart. */
      threadsCpuPercent: threadCpu(threads0, threads1, w1 - w0),
      writeSyscallsPerS: Math.round((io1.syscw - io0.syscw) / ((w1 - w0) / 1000)),
      diskWriteMiBPerS: round((io1.writeBytes - io0.writeBytes) / 1024 ** 2 / ((w1 - w0) / 1000), 2),
      workerLoopP99MaxMs: agents.loopP99MaxMs,
      vitalsSent: agents.vitalsSent,
      unackedSeqs: agents.unacked,
      agentFailures: agents.failures,
      metricsScrapeMs: Math.max(windowStartScrape.ms, endScrape.ms),
      metricsBytes: endScrape.bytes,
      loadavg: windowLoad,
    };
    log(
      `steady ${round(steady.windowMs / 1000)} s: primary CPU ${steady.primaryCpuPercent}% of one core, lag p99 ${steady.lagP99Ms} ms ` +
        `(max ${steady.lagMaxMs}), ${steady.framesPerS} frames/s, ${steady.vitalsStoredPerS} samples/s stored, ` +
        `workers ${steady.workersCpuPercent}% CPU; load ${windowLoad.join(' ')}`,
    );
    log(
      `  by thread (user+system % of one core): ${Object.entries(steady.threadsCpuPercent)
        .filter(([, c]) => c.user + c.system > 0)
        .map(([name, c]) => `${name} ${c.user}+${c.system}`)
        .join(', ')}; ${steady.writeSyscallsPerS} write syscalls/s`,
    );

    // -- restart
    const how = CPU_PROF ? 'SIGTERM' : 'SIGKILL';
    p1.expectExit = true;
    const p1Exit = new Promise<void>((resolve) => p1.child.once('exit', () => resolve()));
    const killWcpu = workersCpu(workers);
    const killAt = Date.now();
    p1.child.kill(how);
    await orFatal(
      Promise.race([
        p1Exit,
        sleep(30_000).then(() => {
          throw new Error(`primary 1 did not exit within 30 s of ${how}`);
        }),
      ]),
    );
    const exitedAt = Date.now();
    let profile: ProfileSummary | undefined;
    if (CPU_PROF && profDir) {
      const files = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${p1.pid}.`))
        .map((f) => join(profDir, f));
      const file = files[0];
      if (file) {
        // The profile ends when the process exits: the window is [w0, w1] measured back from then.
        const end = exitedAt;
        profile = summarizeProfile(file, [(w0 + 1_000 - end) * 1000, (w1 - 1_000 - end) * 1000], 15);
      } else log(`no profile of pid ${p1.pid} in ${profDir}`);
    }
    await orFatal(sleep(killAt + KILL_WAIT_MS - Date.now()));
    const p2 = startPrimary(2, false);
    const healthyAt = await orFatal(waitHealthy(api, p2.child, 30_000, 20, p2.logFile));
    const healthyCpu = readCpu(p2.pid);
    const healthySched = schedstat(p2.pid);
    const recStates = stateSampler(p2.pid);
    log(`primary 2 healthy ${healthyAt - killAt} ms after the ${how} (spawned at +${p2.spawnedAt - killAt} ms)`);
    const attemptsBefore = attemptsAt.filter((at) => at < killAt).length;
    const recovered = await waitAgentsOnline(killAt, RECOVERY_TIMEOUT_MS, 'recovery', true);
    const recoveredCpu = readCpu(p2.pid);
    const recoveredSched = schedstat(p2.pid);
    const recoveredWcpu = workersCpu(workers);
    const recoveryThreadStates = recStates.stop();
    const recoveredLoad = loadavg();
    const recoveryConfirm = recovered.complete ? await confirmConnected(p2, 'recovery') : await orFatal(scrape(api));
    const recoveredMem: MemStatus = readMem(p2.pid);
    const recTimes = recovered.times.map((at) => at - healthyAt).sort((a, b) => a - b);
    const recovery = {
      how: how as 'SIGKILL' | 'SIGTERM',
      killWaitMs: KILL_WAIT_MS,
      healthyAfterKillMs: healthyAt - killAt,
      complete: recovered.complete,
      onlineAtEnd: recovered.count,
      connectedAtEnd: metric(recoveryConfirm, 'picluster_connected_nodes'),
      ms: recovered.last - healthyAt,
      confirmedMs: recoveryConfirm.at - healthyAt,
      perNodeAfterHealthyMs: {
        p50: percentile(recTimes, 50),
        p90: percentile(recTimes, 90),
        max: recTimes[recTimes.length - 1] ?? Number.NaN,
      },
      attemptsAfterKill: attemptsAt.length - attemptsBefore,
      primaryCpuPercent: cpuPercent(healthyCpu, recoveredCpu, recovered.last - healthyAt),
      mainThreadRunqueueWaitMs: Math.round((recoveredSched.waitNs - healthySched.waitNs) / 1e6),
      mainThreadStates: recoveryThreadStates,
      workersCpuPercent: cpuPercent(killWcpu, recoveredWcpu, recovered.last - killAt),
      restartedRssBytes: recoveredMem.rssBytes,
      tlsHandshakes: metric(recoveryConfirm, 'picluster_tls_handshakes_total'),
      tlsResumed: metric(recoveryConfirm, 'picluster_tls_resumed_total'),
      loadavg: recoveredLoad,
    };
    log(
      `recovery: ${recovered.complete ? 'all' : `only ${recovered.count} of`} ${N} online ${recovery.ms} ms after /healthz (confirmed at ${recovery.confirmedMs} ms); ` +
        `${recovery.attemptsAfterKill} dials since the kill; load ${recoveredLoad.join(' ')}`,
    );

    const perNodeBytes = Math.round((settledMem.rssBytes - idleMem.rssBytes) / N);
    const rssTargetKiB = tls ? TARGETS.rssPerNodeKiBTls : TARGETS.rssPerNodeKiB;
    const result: LevelResult = {
      nodes: N,
      tls,
      workers: W,
      fileLimit: {
        soft: limits.after.soft,
        neededPrimary: N + 512,
        neededPerWorker: Math.ceil(N / W) + 512,
      },
      admit: {
        ms: admitted.last - t0,
        confirmedMs: admitConfirm.at - t0,
        perNodeMs: {
          p50: percentile(admitTimes, 50),
          p90: percentile(admitTimes, 90),
          max: admitTimes[admitTimes.length - 1] ?? Number.NaN,
        },
        attempts: admitAttempts,
        primaryCpuPercent: cpuPercent(idleCpu, admitCpu, admitted.last - t0),
        workersCpuPercent: cpuPercent(admitWcpu0, admitWcpu1, admitted.last - t0),
        loadavg: admitLoad,
      },
      memory: {
        idleRssBytes: idleMem.rssBytes,
        settledRssBytes: settledMem.rssBytes,
        perNodeBytes,
        perNodeKiB: kib(perNodeBytes),
        windowEndRssBytes: endMem.rssBytes,
        windowEndPerNodeKiB: kib((endMem.rssBytes - idleMem.rssBytes) / N),
        windowMinRssBytes: rssRange.min,
        windowMaxRssBytes: rssRange.max,
        peakRssBytes: endMem.hwmBytes,
        heapUsedIdleBytes: metric(idleScrape, 'picluster_nodejs_heap_size_used_bytes'),
        heapUsedBytes: metric(endScrape, 'picluster_nodejs_heap_size_used_bytes'),
        heapTotalBytes: metric(endScrape, 'picluster_nodejs_heap_size_total_bytes'),
      },
      steady,
      recovery,
      primaryLog: readLog([p1.logFile, p2.logFile]),
      targets: {
        rss: perNodeBytes <= rssTargetKiB * 1024 ? 'PASS' : 'MISS',
        cpu: steady.primaryCpuPercent <= TARGETS.cpuPercent ? 'PASS' : 'MISS',
        lag: steady.lagP99Ms <= TARGETS.lagP99Ms ? 'PASS' : 'MISS',
        recovery: recovery.complete && recovery.ms <= TARGETS.recoveryMs ? 'PASS' : 'MISS',
      },
    };
    if (profile) result.profile = profile;
    return result;
  };

  try {
    return await orFatal(run());
  } finally {
    stopping = true;
    clearTimeout(watchdog);
    await cleanup();
  }
}

// ---------------------------------------------------------------- output

function machine() {
  const cpu = os.cpus()[0];
  // os.cpus() reports 0 MHz in this VM; /proc/cpuinfo has the figure.
  let mhz = cpu?.speed ?? 0;
  try {
    mhz ||= Math.round(Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 0));
  } catch {
    // not Linux
  }
  return {
    cpus: os.cpus().length,
    cpuModel: cpu?.model ?? 'unknown',
    cpuMhz: mhz,
    memTotalGiB: round(os.totalmem() / 1024 ** 3, 1),
    kernel: os.release(),
    node: process.version,
  };
}

/** RSS per node between consecutive levels: fixed costs (heap headroom, code) cancel out. */
function marginal(results: LevelResult[]) {
  return [true, false].flatMap((tls) => {
    const sorted = results.filter((r) => r.tls === tls).sort((a, b) => a.nodes - b.nodes);
    return sorted.slice(1).map((b, i) => marginalStep(sorted[i] as LevelResult, b));
  });
}

function marginalStep(a: LevelResult, b: LevelResult) {
  const n = b.nodes - a.nodes;
  return {
    tls: a.tls,
    from: a.nodes,
    to: b.nodes,
    perNodeKiB: kib((b.memory.settledRssBytes - a.memory.settledRssBytes) / n),
    windowMinPerNodeKiB: kib((b.memory.windowMinRssBytes - a.memory.windowMinRssBytes) / n),
  };
}

function print(results: LevelResult[], failures: Array<{ nodes: number; tls: boolean; error: string }>): void {
  const mark = (v: string) => (v === 'PASS' ? 'pass' : 'MISS');
  const rows = results.map((r) => [
    r.nodes.toLocaleString('en-US'),
    r.tls ? 'on' : 'off',
    `${r.memory.perNodeKiB} KiB ${mark(r.targets.rss)}`,
    `${r.steady.primaryCpuPercent}% ${mark(r.targets.cpu)}`,
    `${r.steady.lagP99Ms} ms ${mark(r.targets.lag)}`,
    `${round(r.admit.ms / 1000)} s`,
    r.recovery.complete
      ? `${round(r.recovery.ms / 1000)} s ${mark(r.targets.recovery)}`
      : `> ${round(r.recovery.ms / 1000)} s MISS (${r.recovery.onlineAtEnd}/${r.nodes})`,
    r.steady.loadavg.join(' '),
  ]);
  const head = [
    'nodes',
    'TLS',
    'RSS/node (≤16 KiB; TLS ≤48)',
    'CPU (≤12%)',
    'lag p99 (≤50 ms)',
    'admit',
    'recovery (≤30 s)',
    'load 1/5/15',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const r of results) {
    out.push(
      '',
      `${r.nodes} nodes, TLS ${r.tls ? 'on' : 'off'} (${r.workers} workers, open files soft ${r.fileLimit.soft}, need ${r.fileLimit.neededPrimary} in the primary):`,
      `  admit: last welcome ${r.admit.ms} ms, /metrics confirmed ${r.admit.confirmedMs} ms; per node p50/p90/max ${r.admit.perNodeMs.p50}/${r.admit.perNodeMs.p90}/${r.admit.perNodeMs.max} ms; ${r.admit.attempts} dials; primary CPU ${r.admit.primaryCpuPercent}%, workers ${r.admit.workersCpuPercent}%; load ${r.admit.loadavg.join(' ')}`,
      `  memory: idle ${mib(r.memory.idleRssBytes)} MiB, settled ${mib(r.memory.settledRssBytes)} MiB (${r.memory.perNodeKiB} KiB/node), end of window ${mib(r.memory.windowEndRssBytes)} MiB (${r.memory.windowEndPerNodeKiB} KiB/node), range in the window ${mib(r.memory.windowMinRssBytes)}..${mib(r.memory.windowMaxRssBytes)} MiB (${kib((r.memory.windowMinRssBytes - r.memory.idleRssBytes) / r.nodes)}..${kib((r.memory.windowMaxRssBytes - r.memory.idleRssBytes) / r.nodes)} KiB/node), peak ${mib(r.memory.peakRssBytes)} MiB; heap used ${mib(r.memory.heapUsedIdleBytes)} -> ${mib(r.memory.heapUsedBytes)} MiB of ${mib(r.memory.heapTotalBytes)}`,
      `  steady ${round(r.steady.windowMs / 1000)} s: CPU ${r.steady.primaryCpuPercent}%; lag p50/p90/p99/max ${r.steady.lagP50Ms}/${r.steady.lagP90Ms}/${r.steady.lagP99Ms}/${r.steady.lagMaxMs} ms; ${r.steady.framesPerS} frames/s, ${r.steady.vitalsStoredPerS} samples/s in ${r.steady.commitsPerS} commits/s; connected ${r.steady.connectedAtEnd}`,
      `    agents: ${r.steady.vitalsSent} vitals sent, ${r.steady.unackedSeqs} seqs unacked at the end; failures ${JSON.stringify(r.steady.agentFailures)}; workers ${r.steady.workersCpuPercent}% CPU, worker loop p99 ≤ ${r.steady.workerLoopP99MaxMs} ms`,
      `    primary main thread: ${r.steady.mainThreadRunMs} ms on a CPU, ${r.steady.mainThreadRunqueueWaitMs} ms runnable waiting for one; states ${JSON.stringify(r.steady.mainThreadStates)}; ${r.steady.writeSyscallsPerS} write syscalls/s, ${r.steady.diskWriteMiBPerS} MiB/s to disk`,
      `    a /metrics scrape: ${r.steady.metricsScrapeMs} ms, ${mib(r.steady.metricsBytes)} MiB`,
      `  recovery (${r.recovery.how}, restart ${r.recovery.killWaitMs} ms later, healthy at +${r.recovery.healthyAfterKillMs} ms): ${r.recovery.complete ? 'all' : `only ${r.recovery.onlineAtEnd} (/metrics ${r.recovery.connectedAtEnd})`} back ${r.recovery.ms} ms after /healthz (confirmed ${r.recovery.confirmedMs} ms); per node p50/p90/max ${r.recovery.perNodeAfterHealthyMs.p50}/${r.recovery.perNodeAfterHealthyMs.p90}/${r.recovery.perNodeAfterHealthyMs.max} ms; ${r.recovery.attemptsAfterKill} dials; primary CPU ${r.recovery.primaryCpuPercent}% (run-queue wait ${r.recovery.mainThreadRunqueueWaitMs} ms, states ${JSON.stringify(r.recovery.mainThreadStates)}), workers ${r.recovery.workersCpuPercent}%, RSS ${mib(r.recovery.restartedRssBytes)} MiB${r.tls ? `; TLS handshakes ${r.recovery.tlsHandshakes}, ${r.recovery.tlsResumed} resumed` : ''}; load ${r.recovery.loadavg.join(' ')}`,
      `  primary log: ${r.primaryLog.warn} warnings, ${r.primaryLog.error} errors${r.primaryLog.top.length ? `: ${r.primaryLog.top.map(([m, n]) => `${n}× ${m}`).join('; ')}` : ''}`,
    );
    if (r.floor) {
      out.push(
        `  floor peer (plain node:net, the same frames and events, nothing else; measured after the level): ${formatFloor(r.floor)}`,
        `    the primary's CPU is ${round(r.steady.primaryCpuPercent / r.floor.cpuPercent, 2)}× the floor's${r.tls ? ' (the floor has no TLS)' : ''}`,
      );
    }
    if (r.profile) out.push(...formatProfile(r.profile).map((l) => `  ${l}`));
  }
  for (const m of marginal(results))
    out.push(
      '',
      `marginal RSS ${m.from} -> ${m.to} nodes, TLS ${m.tls ? 'on' : 'off'}: ${m.perNodeKiB} KiB per added node (settled RSS), ${m.windowMinPerNodeKiB} KiB (window minimum)`,
    );
  for (const f of failures) out.push('', `${f.nodes} nodes, TLS ${f.tls ? 'on' : 'off'}: FAILED: ${f.error}`);
  const m = machine();
  out.push(
    '',
    `machine: ${m.cpus} × ${m.cpuModel} ${m.cpuMhz} MHz, ${m.memTotalGiB} GiB, Linux ${m.kernel}, Node ${m.node}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------- main

installCleanupHandlers(log);
const globalWatchdog = setTimeout(
  () => {
    log('global watchdog: over 15 minutes; cleaning up');
    process.exit(1); // the 'exit' handler kills every child and removes the temp dirs
  },
  RUNS.length * (LEVEL_WATCHDOG_MS + (opts.floor ? 150_000 : 0)) + 120_000,
);
globalWatchdog.unref();

const results: LevelResult[] = [];
const failures: Array<{ nodes: number; tls: boolean; error: string }> = [];
const startedAt = Date.now();
try {
  if (!opts['skip-build']) {
    log('building dist/ (npx tsc -p tsconfig.build.json)');
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  }
  const profDir = CPU_PROF
    ? (opts['cpu-prof-dir'] ?? mkdtempSync(join(os.tmpdir(), 'picluster-scale-prof-')))
    : undefined;
  if (profDir) {
    mkdirSync(profDir, { recursive: true });
    log(`CPU profiles go to ${profDir} (kept)`);
  }
  for (const { nodes, tls } of RUNS) {
    try {
      const result = await runLevel(nodes, tls, profDir);
      if (opts.floor) {
        result.floor = await runFloor({
          nodes,
          workers: Math.min(4, WORKERS),
          settleMs: SETTLE_MS,
          windowMs: WINDOW_MS,
          workerNice: WORKER_NICE,
          log,
        });
      }
      results.push(result);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`${nodes} nodes, TLS ${tls ? 'on' : 'off'} FAILED: ${message}`);
      failures.push({ nodes, tls, error: message });
    }
  }
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({
        machine: machine(),
        targets: TARGETS,
        totalMs: Date.now() - startedAt,
        levels: results,
        marginalRss: marginal(results),
        failures,
      })}\n`,
    );
  } else print(results, failures);
  if (failures.length > 0) process.exitCode = 1;
} catch (err) {
  process.stderr.write(`scale: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(globalWatchdog);
  await cleanup();
  log(`done in ${round((Date.now() - startedAt) / 1000)} s`);
  // Nothing of a failed level (a sampler, a socket) may keep the process alive.
  process.exit();
}
