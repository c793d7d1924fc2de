// `node --import tsx bench/agent-cost.ts [--seconds 60] [--settle 60] [--flavors dist,tsx] [--json]
//   [--agent-node-flags "--jitless"]`
//
// What the agent costs a node: ONE real secondary started through the CLI (`picluster secondary
// --primary 127.0.0.1:P --token-file F --data-dir D`), the default vitals period (10 s) and the
// REAL vitals reader, joined to a real primary process. Once it is online and has settled, its
// RSS (VmRSS: min, max, final; VmHWM: peak since start) and CPU (utime+stime from /proc/PID/stat
// over wall time, % of one core) are read over the measurement window.
// Two flavors, run side by side against the same primary: `dist` (bin/picluster, the installed
// command, which starts node on dist/cli/main.js with the agent's flags: what users run, the
// headline; dist/ is rebuilt first when older than src/) and `tsx` (node --import tsx
// src/cli/main.ts, as the tests run it: a compile step and a loader in memory on top).
// The primary runs with TLS on (the default); the agent trusts its certificate on first use, as a
// node joined without --primary-fingerprint would. A third flavor, `floor` (bench/agent-floor.mjs,
// started with the agent's node flags), is the peer for the RSS target: a lower bound of a Node.js
// node (one ES module, Node's own modules only, one TLS link, the handshake, a sample every 10 s,
// heartbeats; less than the contract asks of a node); `--flavors dist,floor` prints the agent's
// RSS beside it.
// Targets (issue 16): agent RSS <= 45 MB, CPU <= 0.1% of one core at the default period, no
// process forked (children read from /proc/PID/task/*/children every 200 ms, and cutime+cstime).
// A measurement, not a test: exits 0 when a target is missed (it says so), 1 when the run fails.
// Progress goes to stderr; with --json stdout carries one JSON object only.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/common/defaults.js';
import {
  alive,
  CLI_DIST,
  type CpuTicks,
  cleanup,
  cpuSeconds,
  type Flavor,
  freePort,
  getJson,
  installCleanupHandlers,
  mb,
  percentile,
  ROOT,
  readCpu,
  readMem,
  round,
  sleep,
  spawnCli,
  tail,
  track,
  trackDir,
  waitHealthy,
} from './storm-proc.js';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    // V8's memory reducer shrinks the start-up heap 15-40 s after start (about 71 -> 55 MB RSS):
    // the window begins after it, in the steady state the target is about.
    settle: { type: 'string', default: '60' },
    flavors: { type: 'string', default: 'dist,tsx' },
    /** Use dist/ as it is, even when older than src/. */
    'no-build': { type: 'boolean', default: false },
    /** Node/V8 flags for the agent only, space-separated, instead of bin/picluster's (e.g. "--jitless"; "" for none). */
    'agent-node-flags': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});

const WINDOW_S = Number(opts.seconds);
const SETTLE_S = Number(opts.settle);
const SAMPLE_EVERY_MS = 200;
const TARGET_RSS_BYTES = 45 * 1024 * 1024;
const TARGET_CPU_PERCENT = 0.1;
if (!(WINDOW_S > 0)) throw new Error(`--seconds must be > 0, got ${opts.seconds}`);
if (!(SETTLE_S >= 0)) throw new Error(`--settle must be >= 0, got ${opts.settle}`);
type AgentFlavor = Flavor | 'floor';
const wanted = opts.flavors.split(',').map((f) => f.trim()) as AgentFlavor[];
for (const f of wanted)
  if (f !== 'dist' && f !== 'tsx' && f !== 'floor')
    throw new Error(`--flavors: unknown flavor "${f}" (dist, tsx, floor)`);
const FLOOR_SCRIPT = join(ROOT, 'bench/agent-floor.mjs');
const floorFlags = opts['agent-node-flags']?.split(/\s+/).filter(Boolean) ?? ['--no-turbofan'];

const log = (line: string): void => {
  process.stderr.write(`agent-cost: ${line}\n`);
};

// ---------------------------------------------------------------- the build

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

interface BuildOutcome {
  /** 'up to date', 'built', 'skipped' (--no-build), or 'failed'. */
  status: 'up to date' | 'built' | 'skipped' | 'failed';
  ms: number;
  /** dist/ is older than src/ (a failed or skipped build). */
  stale: boolean;
  error?: string;
}

/**
 * Rebuilds dist/ (`npx tsc -p tsconfig.build.json`) when it is missing or older than src/; with
 * --noEmitOnError, a src/ that does not compile leaves the previous dist/ in place.
 */
async function ensureBuild(): Promise<BuildOutcome> {
  const isStale = () => !existsSync(CLI_DIST) || statSync(CLI_DIST).mtimeMs < newestMtimeMs(join(ROOT, 'src'));
  if (!isStale()) return { status: 'up to date', ms: 0, stale: false };
  if (opts['no-build']) return { status: 'skipped', ms: 0, stale: true };
  log('dist/ is missing or older than src/: npx tsc -p tsconfig.build.json --noEmitOnError');
  const started = Date.now();
  const error = await new Promise<string | undefined>((resolve) => {
    execFile(
      'npx',
      ['tsc', '-p', 'tsconfig.build.json', '--noEmitOnError'],
      { cwd: ROOT, timeout: 180_000 },
      (err, stdout, stderr) => resolve(err ? `${err.message}\n${stdout}${stderr}`.slice(0, 2_000) : undefined),
    );
  });
  const ms = Date.now() - started;
  if (error !== undefined) return { status: 'failed', ms, stale: isStale(), error };
  return { status: 'built', ms, stale: false };
}

// ---------------------------------------------------------------- the run

interface NodeView {
  name: string;
  state: string;
  vitals: { seq: number } | null;
}

/** The pids of a process's children now (/proc/PID/task/TID/children), every thread's. */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return []; // a thread that ended between the listing and the read: no children to see there
  }
}

async function nodesByName(api: string): Promise<Map<string, NodeView>> {
  const body = await getJson<{ nodes: NodeView[] }>(`${api}/api/nodes`);
  return new Map((body?.nodes ?? []).map((n) => [n.name, n]));
}

async function run() {
  const build = await ensureBuild();
  const flavors = wanted.filter((f) => f !== 'dist' || existsSync(CLI_DIST));
  if (build.status === 'failed')
    log(`the build failed${existsSync(CLI_DIST) ? '; measuring the OLD dist/' : ''}:\n${build.error}`);
  if (build.stale && existsSync(CLI_DIST)) log('WARNING: dist/ is older than src/');
  if (flavors.length === 0) throw new Error('nothing to measure (no dist/cli/main.js and --flavors dist)');

  const dir = trackDir(mkdtempSync(join(os.tmpdir(), 'picluster-agent-')));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const port = await freePort();
  const webPort = await freePort();
  const api = `http://127.0.0.1:${webPort}`;

  const primaryFlavor: Flavor = existsSync(CLI_DIST) ? 'dist' : 'tsx';
  const primaryLog = join(dir, 'primary.log');
  const primary = spawnCli(
    primaryFlavor,
    [
      'primary',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--web-port',
      String(webPort),
      '--data-dir',
      join(dir, 'primary'),
      '--token-file',
      tokenFile,
    ],
    primaryLog,
  );
  await waitHealthy(api, primary, 30_000, 20, primaryLog);
  log(`primary (${primaryFlavor}) up on 127.0.0.1:${port}; starting agent(s): ${flavors.join(', ')}`);

  const agents = flavors.map((flavor) => {
    const logFile = join(dir, `agent-${flavor}.log`);
    if (flavor === 'floor') {
      const fd = openSync(logFile, 'a');
      const child = track(
        // The agent's node flags: the launcher's, or --agent-node-flags for both.
        spawn(process.execPath, [...floorFlags, FLOOR_SCRIPT, `127.0.0.1:${port}`, tokenFile, 'agent-floor'], {
          cwd: ROOT,
          stdio: ['ignore', fd, fd],
        }),
      );
      closeSync(fd);
      return { flavor, name: 'agent-floor', child, pid: child.pid as number, logFile, spawnedAt: Date.now() };
    }
    const child = spawnCli(
      flavor,
      [
        'secondary',
        '--primary',
        `127.0.0.1:${port}`,
        '--token-file',
        tokenFile,
        '--data-dir',
        join(dir, `agent-${flavor}`),
        '--name',
        `agent-${flavor}`,
        '--trust-first-use',
      ],
      logFile,
      {
        viaBin: true,
        nodeFlags: opts['agent-node-flags']?.split(/\s+/).filter(Boolean),
      },
    );
    return { flavor, name: `agent-${flavor}`, child, pid: child.pid as number, logFile, spawnedAt: Date.now() };
  });

  // Online in the primary's registry.
  const onlineAt = new Map<string, number>();
  const deadline = Date.now() + 60_000;
  while (onlineAt.size < agents.length) {
    for (const a of agents) {
      if (!alive(a.child)) throw new Error(`agent ${a.flavor} exited (code ${a.child.exitCode}):\n${tail(a.logFile)}`);
    }
    const nodes = await nodesByName(api);
    for (const a of agents)
      if (!onlineAt.has(a.name) && nodes.get(a.name)?.state === 'online') onlineAt.set(a.name, Date.now());
    if (Date.now() > deadline) {
      const missing = agents.filter((a) => !onlineAt.has(a.name));
      throw new Error(
        `agent(s) ${missing.map((a) => a.flavor).join(', ')} not online after 60 s:\n${missing.map((a) => tail(a.logFile)).join('\n')}`,
      );
    }
    await sleep(100);
  }
  log(
    `online: ${agents.map((a) => `${a.flavor} ${(onlineAt.get(a.name) as number) - a.spawnedAt} ms after spawn`).join(', ')}; settling ${SETTLE_S} s`,
  );
  await sleep(SETTLE_S * 1000);

  // The window.
  log(`measuring for ${WINDOW_S} s`);
  const startNodes = await nodesByName(api);
  const start = agents.map((a) => ({ cpu: readCpu(a.pid), at: Date.now() }));
  const rss = agents.map(() => [] as number[]);
  /** Every child pid seen in the window (a fork lives at least a few ms: 200 ms sampling may miss one; cutime+cstime catches those that ran). */
  const children = agents.map(() => new Set<number>());
  /** CPU ticks at each vitals period's start within the window (for the per-period figures). */
  const periodMs = DEFAULTS.vitalsPeriodMs;
  const periodTicks = agents.map((_, i) => [(start[i] as { cpu: CpuTicks }).cpu]);
  let nextPeriodAt = Date.now() + periodMs;
  const windowEnd = Date.now() + WINDOW_S * 1000;
  while (Date.now() < windowEnd) {
    await sleep(Math.min(SAMPLE_EVERY_MS, windowEnd - Date.now()));
    agents.forEach((a, i) => {
      if (!alive(a.child)) throw new Error(`agent ${a.flavor} exited during the window:\n${tail(a.logFile)}`);
      (rss[i] as number[]).push(readMem(a.pid).rssBytes);
      for (const child of childPids(a.pid)) (children[i] as Set<number>).add(child);
    });
    if (Date.now() >= nextPeriodAt) {
      nextPeriodAt += periodMs;
      agents.forEach((a, i) => {
        (periodTicks[i] as CpuTicks[]).push(readCpu(a.pid));
      });
    }
  }
  const end = agents.map((a) => ({ cpu: readCpu(a.pid), mem: readMem(a.pid), at: Date.now() }));
  const endNodes = await nodesByName(api);

  const results = agents.map((a, i) => {
    const s = start[i] as { cpu: CpuTicks; at: number };
    const e = end[i] as { cpu: CpuTicks; mem: ReturnType<typeof readMem>; at: number };
    const samples = rss[i] as number[];
    const wallS = (e.at - s.at) / 1000;
    const self = cpuSeconds(s.cpu, e.cpu, 'self');
    const seqStart = startNodes.get(a.name)?.vitals?.seq ?? 0;
    const seqEnd = endNodes.get(a.name)?.vitals?.seq ?? 0;
    const rssMax = Math.max(...samples, e.mem.rssBytes);
    const cpuPercent = round((self / wallS) * 100, 3);
    const ticks = periodTicks[i] as CpuTicks[];
    const perPeriod = ticks
      .slice(1)
      .map((t, k) => round((cpuSeconds(ticks[k] as CpuTicks, t) / (periodMs / 1000)) * 100, 2));
    const sortedPeriods = [...perPeriod].sort((x, y) => x - y);
    return {
      flavor: a.flavor,
      command:
        a.flavor === 'dist'
          ? 'node dist/cli/main.js secondary ...'
          : a.flavor === 'floor'
            ? 'node --no-turbofan bench/agent-floor.mjs (the floor peer)'
            : 'node --import tsx src/cli/main.ts secondary ...',
      spawnToOnlineMs: (onlineAt.get(a.name) as number) - a.spawnedAt,
      windowSeconds: round(wallS, 2),
      rss: {
        minBytes: Math.min(...samples, e.mem.rssBytes),
        maxBytes: rssMax,
        finalBytes: e.mem.rssBytes,
        /** VmHWM: the peak since the process started (startup included). */
        peakSinceStartBytes: e.mem.hwmBytes,
      },
      cpu: {
        seconds: round(self, 3),
        /** % of one core over the window, the agent's own process. */
        percentOfOneCore: cpuPercent,
        /** Commands it ran and waited for in the window (cutime + cstime). */
        childrenSeconds: round(cpuSeconds(s.cpu, e.cpu, 'children'), 3),
        /** Child processes seen in the window (sampled every 200 ms). */
        childrenSeen: (children[i] as Set<number>).size,
        /** % of one core in each full vitals period of the window (10 ms ticks: 0.1% steps). */
        perPeriodPercent: perPeriod,
        /** The median of those: the steady state, without a one-off (e.g. a late GC). */
        medianPeriodPercent: sortedPeriods.length === 0 ? Number.NaN : percentile(sortedPeriods, 50),
      },
      /** Vitals samples the primary stored from this agent during the window. */
      samplesInWindow: seqEnd - seqStart,
      targets: {
        rss: rssMax <= TARGET_RSS_BYTES,
        cpu: cpuPercent <= TARGET_CPU_PERCENT,
        noForks: (children[i] as Set<number>).size === 0 && cpuSeconds(s.cpu, e.cpu, 'children') === 0,
      },
    };
  });
  return {
    config: {
      seconds: WINDOW_S,
      settleSeconds: SETTLE_S,
      vitalsPeriodMs: DEFAULTS.vitalsPeriodMs,
      heartbeatMs: DEFAULTS.heartbeatIntervalMs,
      primary: primaryFlavor,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((x) => round(x, 2)),
      node: process.version,
    },
    build,
    /** The figures users get (dist), else the first agent measured (never the floor peer). */
    headline: results.find((r) => r.flavor === 'dist') ?? results.find((r) => r.flavor !== 'floor'),
    /** The floor peer, when measured. */
    floor: results.find((r) => r.flavor === 'floor'),
    agents: results,
  };
}

type Result = Awaited<ReturnType<typeof run>>;

function print(r: Result): void {
  const ok = (b: boolean) => (b ? 'met' : 'MISSED');
  const lines = [
    `agent cost: one secondary through the CLI, real vitals every ${r.config.vitalsPeriodMs} ms, heartbeat ${r.config.heartbeatMs} ms; ` +
      `${r.config.seconds} s window after ${r.config.settleSeconds} s settling; ${r.config.cpus} CPUs (load ${r.config.loadavg.join(' ')}), node ${r.config.node}`,
    `  build: ${r.build.status}${r.build.ms ? ` in ${r.build.ms} ms` : ''}${r.build.stale ? ' (dist/ is OLDER than src/)' : ''}`,
  ];
  for (const a of r.agents) {
    lines.push(
      '',
      `${a.flavor}${a === r.headline ? ' (headline)' : ''}: ${a.command}`,
      `  online ${a.spawnToOnlineMs} ms after spawn; ${a.samplesInWindow} samples stored in the window`,
      `  RSS: max ${mb(a.rss.maxBytes)} MB, final ${mb(a.rss.finalBytes)} MB, min ${mb(a.rss.minBytes)} MB; peak since start ${mb(a.rss.peakSinceStartBytes)} MB (target <= ${TARGET_RSS_BYTES / 1024 / 1024} MB: ${ok(a.targets.rss)})`,
      `  CPU: ${a.cpu.seconds} s in ${a.windowSeconds} s = ${a.cpu.percentOfOneCore}% of one core (target <= ${TARGET_CPU_PERCENT}%: ${ok(a.targets.cpu)})`,
      `  forks: ${a.cpu.childrenSeen} child processes seen, children's CPU ${a.cpu.childrenSeconds} s (target none: ${ok(a.targets.noForks)})`,
      `  CPU per ${r.config.vitalsPeriodMs / 1000} s period: ${a.cpu.perPeriodPercent.join(' ')} % (median ${a.cpu.medianPeriodPercent}%)`,
    );
  }
  const { headline, floor } = r;
  if (floor && headline && headline !== floor) {
    lines.push(
      '',
      `${headline.flavor} over the floor peer: RSS ${mb(headline.rss.maxBytes - floor.rss.maxBytes)} MB more (max ${mb(headline.rss.maxBytes)} against ${mb(floor.rss.maxBytes)} MB), ` +
        `CPU ${round(headline.cpu.percentOfOneCore - floor.cpu.percentOfOneCore, 3)} points`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

installCleanupHandlers(log);
const watchdog = setTimeout(
  () => {
    log(`watchdog: the run took over ${WINDOW_S + SETTLE_S + 300} s`);
    process.exit(1); // the exit handler kills the children and removes the temp dir
  },
  (WINDOW_S + SETTLE_S + 300) * 1000,
);
watchdog.unref();
try {
  const result = await run();
  if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else print(result);
} catch (err) {
  process.stderr.write(`agent-cost: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
