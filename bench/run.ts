// `npm run bench [-- --json] [--only=oneway,rr1,rr64,vitals] [--cpu-prof[=DIR]]`: picluster's
// Connection against a raw node:net baseline (bench/baseline.ts), same frames, same machine,
// sender and receiver in two separate worker processes (bench/worker.ts) driven from here over
// IPC. Measures one-way throughput, request/response rate with 1 and 64 requests in flight, and
// sequential round-trip latency; each figure is the median of PLAN.reps runs. One-way runs
// alternate which implementation goes first; request/response runs interleave both
// implementations in short slices, so a noisy shared machine slows both alike.
// A measurement, not a test: exits 0 even when a target is missed (misses are printed).
// --only runs a subset; --cpu-prof writes the workers' CPU profiles (default .bench-out/cpu-profiles).
// With --json, stdout carries one JSON object only (progress goes to stderr); note that npm itself
// prints its "> picluster@0.1.0 bench" banner on stdout unless run as `npm run -s bench -- --json`.

import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  IMPLS,
  type Impl,
  median,
  ONE_WAY_JSON_BYTES,
  type OneWayClientResult,
  type OneWayKind,
  oneWayMessage,
  type RrResult,
  type WorkerMessage,
} from './common.js';

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const profArg = args.find((a) => a.startsWith('--cpu-prof'));
const profDir = profArg === undefined ? undefined : resolve(profArg.split('=')[1] || '.bench-out/cpu-profiles');
/** `--only=oneway,rr1,rr64,vitals`: run a subset (for profiling); the default runs everything. */
const GROUPS = ['oneway', 'rr1', 'rr64', 'vitals'] as const;
type Group = (typeof GROUPS)[number];
const onlyArg = args.find((a) => a.startsWith('--only='));
const only = new Set<Group>(onlyArg === undefined ? GROUPS : (onlyArg.slice('--only='.length).split(',') as Group[]));
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`--only: unknown group "${g}" (${GROUPS.join(', ')})`);
const unknownArgs = args.filter((a) => a !== '--json' && a !== profArg && a !== onlyArg);
if (unknownArgs.length > 0) throw new Error(`unknown argument(s): ${unknownArgs.join(' ')}`);

const PLAN = {
  reps: 3,
  oneWayCount: 500_000,
  vitalsCount: 150_000,
  /** Request/response: per run, each implementation warms up, then they alternate in slices. */
  rr: { warmupMs: 200, sliceMs: 250, slices: 8 },
  warmup: { oneWayCount: 150_000, vitalsCount: 50_000, rr: { warmupMs: 200, sliceMs: 200, slices: 2 } },
};
const CALL_TIMEOUT_MS = 60_000;
const WATCHDOG_MS = 240_000;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

// ---------------------------------------------------------------- worker processes

const children = new Set<ChildProcess>();

/** Kills every worker still alive, by its own handle (never by name). Safe to call twice. */
function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`bench: ${signal}, killing workers`);
    killChildren();
    process.exit(130);
  });
}

interface Waiter {
  resolve(message: WorkerMessage): void;
  reject(err: Error): void;
}

class Worker {
  readonly role: string;
  readonly child: ChildProcess;
  readonly #waiters = new Map<string, Waiter>();
  readonly #arrived = new Map<string, WorkerMessage>();
  #gone: Error | undefined;

  constructor(role: 'server' | 'client') {
    this.role = role;
    const execArgv = ['--import', 'tsx'];
    if (profDir !== undefined)
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${profDir}/${role}`, '--cpu-prof-interval=100');
    this.child = fork(fileURLToPath(new URL('./worker.ts', import.meta.url)), [role], {
      execArgv,
      // The worker's stdout goes to our stderr: with --json, stdout carries the JSON only.
      stdio: ['ignore', 2, 'inherit', 'ipc'],
    });
    children.add(this.child);
    this.child.on('message', (message: WorkerMessage) => {
      const key = keyOf(message);
      const waiter = this.#waiters.get(key);
      if (waiter === undefined) this.#arrived.set(key, message);
      else {
        this.#waiters.delete(key);
        waiter.resolve(message);
      }
    });
    this.child.on('exit', (code, signal) => {
      this.#gone = new Error(`${role} worker exited (code ${code}, signal ${signal})`);
      for (const waiter of this.#waiters.values()) waiter.reject(this.#gone);
      this.#waiters.clear();
    });
  }

  wait(key: string, timeoutMs = CALL_TIMEOUT_MS): Promise<WorkerMessage> {
    const arrived = this.#arrived.get(key);
    if (arrived !== undefined) {
      this.#arrived.delete(key);
      return Promise.resolve(arrived);
    }
    if (this.#gone) return Promise.reject(this.#gone);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        reject(new Error(`${this.role} worker: no ${key} after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(key, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  async call<T>(command: Record<string, unknown> & { cmd: string; id: number }): Promise<T> {
    const reply = this.wait(`reply:${command.id}`);
    this.child.send(command);
    const message = await reply;
    if (message.kind === 'reply' && message.error !== undefined) {
      throw new Error(`${this.role} worker failed ${command.cmd}: ${message.error}`);
    }
    return (message as { result: T }).result;
  }

  /** Asks the worker to exit (so a CPU profile gets written), then kills it if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      this.child.send({ cmd: 'exit' });
    } catch {
      // channel already closed
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

function keyOf(message: WorkerMessage): string {
  if (message.kind === 'ready') return 'ready';
  return `${message.kind}:${message.id}`;
}

// ---------------------------------------------------------------- measurements

let nextId = 1;
const workers: Worker[] = [];
let server: Worker;
let client: Worker;
let ports: Record<Impl, number>;

interface OneWayResult {
  /** Messages per second at the receiver, first to last message. */
  rate: number;
  /** Messages per second from the sender's first send to the receiver's last message. */
  endToEnd: number;
}

async function oneWay(impl: Impl, kind: OneWayKind, count: number): Promise<OneWayResult> {
  const expectId = nextId++;
  await server.call({ cmd: 'expect', id: expectId, count });
  const received = server.wait(`received:${expectId}`);
  const sent = client.call<OneWayClientResult>({ cmd: 'oneway', id: nextId++, impl, port: ports[impl], kind, count });
  const [r, s] = await Promise.all([received, sent]);
  if (r.kind !== 'received') throw new Error(`unexpected ${r.kind}`);
  const lastNs = BigInt(r.lastNs);
  const receiveSeconds = Number(lastNs - BigInt(r.firstNs)) / 1e9;
  const totalSeconds = Number(lastNs - BigInt(s.startNs)) / 1e9;
  return { rate: (count - 1) / receiveSeconds, endToEnd: count / totalSeconds };
}

interface RrFigures {
  rate: number;
  p50Us: number;
  p99Us: number;
  samples: number;
}

/** One interleaved request/response run: both implementations, same slices of time. */
async function requestResponse(
  inflight: number,
  first: Impl,
  plan: { warmupMs: number; sliceMs: number; slices: number },
): Promise<Record<Impl, RrFigures>> {
  const r = await client.call<Record<Impl, RrResult>>({ cmd: 'rr', id: nextId++, ports, first, inflight, ...plan });
  const figures = (x: RrResult): RrFigures => ({
    rate: x.completed / (x.elapsedNs / 1e9),
    p50Us: x.p50Us,
    p99Us: x.p99Us,
    samples: x.samples,
  });
  return { baseline: figures(r.baseline), picluster: figures(r.picluster) };
}

// ---------------------------------------------------------------- results

type MetricKey = 'oneWay' | 'oneWayEndToEnd' | 'rr1' | 'rr64' | 'latencyP50' | 'latencyP99' | 'vitalsOneWay';

interface MetricDef {
  key: MetricKey;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  /** Bound on picluster/baseline: `>=` for rates, `<=` for latencies; absent: informational. */
  target?: { op: '>=' | '<='; ratio: number };
}

const VITALS_JSON_BYTES = JSON.stringify(oneWayMessage('vitals', 0)).length;

const METRICS: MetricDef[] = [
  {
    key: 'oneWay',
    label: `one-way x-bench ${ONE_WAY_JSON_BYTES} B (receiver, first→last)`,
    unit: 'msg/s',
    higherIsBetter: true,
    target: { op: '>=', ratio: 1.0 },
  },
  {
    key: 'oneWayEndToEnd',
    label: 'one-way x-bench (sender start→last received)',
    unit: 'msg/s',
    higherIsBetter: true,
  },
  { key: 'rr1', label: 'request/response, 1 in flight', unit: 'req/s', higherIsBetter: true },
  {
    key: 'rr64',
    label: 'request/response, 64 in flight',
    unit: 'req/s',
    higherIsBetter: true,
    target: { op: '>=', ratio: 0.9 },
  },
  {
    key: 'latencyP50',
    label: 'round trip p50, 1 in flight',
    unit: 'µs',
    higherIsBetter: false,
    target: { op: '<=', ratio: 1.2 },
  },
  { key: 'latencyP99', label: 'round trip p99, 1 in flight', unit: 'µs', higherIsBetter: false },
  {
    key: 'vitalsOneWay',
    label: `one-way vitals ${VITALS_JSON_BYTES} B (typed, schema-validated)`,
    unit: 'msg/s',
    higherIsBetter: true,
  },
];

const runs = new Map<MetricKey, Record<Impl, number[]>>(METRICS.map((m) => [m.key, { baseline: [], picluster: [] }]));
function record(key: MetricKey, impl: Impl, value: number): void {
  runs.get(key)?.[impl].push(value);
}

interface Row {
  metric: MetricKey;
  label: string;
  unit: string;
  baseline: { median: number; runs: number[] };
  picluster: { median: number; runs: number[] };
  ratio: number;
  target: string | null;
  pass: boolean | null;
}

function rows(): Row[] {
  const measured = METRICS.filter((m) => (runs.get(m.key) as Record<Impl, number[]>).baseline.length > 0);
  return measured.map((m) => {
    const r = runs.get(m.key) as Record<Impl, number[]>;
    const b = median(r.baseline);
    const p = median(r.picluster);
    const ratio = p / b;
    const pass =
      m.target === undefined ? null : m.target.op === '>=' ? ratio >= m.target.ratio : ratio <= m.target.ratio;
    return {
      metric: m.key,
      label: m.label,
      unit: m.unit,
      baseline: { median: b, runs: r.baseline },
      picluster: { median: p, runs: r.picluster },
      ratio,
      target: m.target === undefined ? null : `${m.target.op} ${m.target.ratio.toFixed(2)}`,
      pass,
    };
  });
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function fmt(value: number, unit: string): string {
  return unit === 'µs' ? `${value.toFixed(1)} µs` : `${int.format(value)} ${unit}`;
}
function spread(values: number[]): string {
  const m = median(values);
  return `±${(((Math.max(...values) - Math.min(...values)) / 2 / m) * 100).toFixed(0)}%`;
}

function table(data: Row[]): string {
  const header = ['measurement', 'baseline', 'picluster', 'ratio p/b', 'target', 'result', 'spread b / p'];
  const body = data.map((r) => [
    r.label,
    fmt(r.baseline.median, r.unit),
    fmt(r.picluster.median, r.unit),
    r.ratio.toFixed(3),
    r.target ?? '-',
    r.pass === null ? 'info' : r.pass ? 'PASS' : 'MISS',
    `${spread(r.baseline.runs)} / ${spread(r.picluster.runs)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  const info = machine();
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  log(
    `bench: ${info.cpuModel}, ${info.cpus} cpus, node ${info.node}; ${PLAN.reps} runs each, median kept${profDir ? `; CPU profiles to ${profDir}` : ''}`,
  );

  server = new Worker('server');
  client = new Worker('client');
  workers.push(server, client);
  const ready = await server.wait('ready');
  await client.wait('ready');
  ports = (ready as { ports: Record<Impl, number> }).ports;

  log('bench: warming up both implementations');
  for (const impl of IMPLS) {
    if (only.has('oneway')) await oneWay(impl, 'x-bench', PLAN.warmup.oneWayCount);
    if (only.has('vitals')) await oneWay(impl, 'vitals', PLAN.warmup.vitalsCount);
  }
  if (only.has('rr1')) await requestResponse(1, 'baseline', PLAN.warmup.rr);
  if (only.has('rr64')) await requestResponse(64, 'baseline', PLAN.warmup.rr);

  for (let rep = 1; rep <= PLAN.reps; rep++) {
    // Alternate which implementation goes first, so drift in the machine's load hits both alike.
    const order: Impl[] = rep % 2 === 1 ? ['baseline', 'picluster'] : ['picluster', 'baseline'];
    for (const impl of only.has('oneway') ? order : []) {
      const o = await oneWay(impl, 'x-bench', PLAN.oneWayCount);
      record('oneWay', impl, o.rate);
      record('oneWayEndToEnd', impl, o.endToEnd);
      log(
        `  run ${rep} ${impl.padEnd(9)} one-way      ${fmt(o.rate, 'msg/s')} (end to end ${fmt(o.endToEnd, 'msg/s')})`,
      );
    }
    const rr1 = only.has('rr1') ? await requestResponse(1, order[0] as Impl, PLAN.rr) : undefined;
    for (const impl of rr1 ? order : []) {
      const r = (rr1 as Record<Impl, RrFigures>)[impl];
      record('rr1', impl, r.rate);
      record('latencyP50', impl, r.p50Us);
      record('latencyP99', impl, r.p99Us);
      log(
        `  run ${rep} ${impl.padEnd(9)} rr 1         ${fmt(r.rate, 'req/s')}, p50 ${fmt(r.p50Us, 'µs')}, p99 ${fmt(r.p99Us, 'µs')} (${r.samples} samples)`,
      );
    }
    const rr64 = only.has('rr64') ? await requestResponse(64, order[0] as Impl, PLAN.rr) : undefined;
    for (const impl of rr64 ? order : []) {
      const r = (rr64 as Record<Impl, RrFigures>)[impl];
      record('rr64', impl, r.rate);
      log(`  run ${rep} ${impl.padEnd(9)} rr 64        ${fmt(r.rate, 'req/s')}`);
    }
    for (const impl of only.has('vitals') ? order : []) {
      const v = await oneWay(impl, 'vitals', PLAN.vitalsCount);
      record('vitalsOneWay', impl, v.rate);
      log(`  run ${rep} ${impl.padEnd(9)} one-way vitals ${fmt(v.rate, 'msg/s')}`);
    }
  }

  const data = rows();
  const misses = data.filter((r) => r.pass === false);
  const seconds = (Date.now() - started) / 1000;
  if (asJson) {
    const result = {
      benchmark: 'picluster Connection vs raw node:net baseline',
      command: 'npm run bench -- --json',
      machine: info,
      plan: { ...PLAN, oneWayJsonBytes: ONE_WAY_JSON_BYTES, vitalsJsonBytes: VITALS_JSON_BYTES },
      results: data,
      misses: misses.map((r) => r.metric),
      allTargetsMet: misses.length === 0,
      loadAverageAtEnd: os.loadavg().map((l) => Number(l.toFixed(2))),
      durationSeconds: Number(seconds.toFixed(1)),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const out = [
      '',
      `picluster Connection vs raw node:net baseline — ${info.cpuModel}, ${info.cpus} cpus, node ${info.node}, load average at start ${info.loadAverageAtStart.join(' ')}`,
      `median of ${PLAN.reps} runs; ratio = picluster / baseline; spread = half the min–max range of the runs`,
      '',
      table(data),
      '',
      misses.length === 0
        ? 'All targets met.'
        : `MISSED ${misses.length} target(s): ${misses.map((r) => `${r.label} (ratio ${r.ratio.toFixed(3)}, target ${r.target})`).join('; ')}`,
      `(${seconds.toFixed(1)} s)`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  }
}

const watchdog = setTimeout(() => {
  log(`bench: still running after ${WATCHDOG_MS / 1000} s, giving up`);
  killChildren();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

try {
  await main();
} catch (err) {
  log(`bench failed: ${(err as Error)?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  killChildren();
}
