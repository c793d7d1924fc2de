// `npm run bench [-- --json] [--only=oneway,rr1,rr64,vitals] [--cpu-prof[=DIR]]`: picluster's
// Connection against honest peers, same machine, sender and receiver in two separate worker
// processes (bench/worker.ts) driven from here over IPC:
// - raw node:net with the same frames (bench/baseline.ts) written three ways: one write per
//   message (`baseline`, the old strawman), corked batches (`raw-cork`) and concatenated batches
//   (`raw-concat`); `raw-batched` is the better of the last two in each run;
// - NATS (a nats-server started here on a free loopback port, killed at the end; omitted with a
//   one-line reason when nats-server is missing) and Socket.IO (websocket transport, acks).
// Measures one-way throughput, request/response rate with 1 and 64 requests in flight, and
// sequential round-trip latency; each figure is the median of PLAN.reps runs and every ratio is
// the median of per-run ratios, with its spread. One-way runs rotate the order of the peers from
// run to run; request/response runs interleave all peers in short slices, so a noisy shared
// machine slows all alike.
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
  type ListeningImpl,
  ONE_WAY_JSON_BYTES,
  type OneWayClientResult,
  type OneWayKind,
  oneWayMessage,
  type RrResult,
  type WorkerMessage,
} from './common.js';
import { type NatsServer, natsServerMissing, startNatsServer } from './nats-peer.js';
import {
  figureRows,
  figureTable,
  type MetricDef,
  type Peer,
  type RatioDef,
  Runs,
  ratioRows,
  ratioTable,
} from './protocol-report.js';

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
/** `--peers=picluster,raw-concat`: measure only these peers (for profiling and A/B runs). */
const peersArg = args.find((a) => a.startsWith('--peers='));
const onlyPeers = peersArg === undefined ? undefined : (peersArg.slice('--peers='.length).split(',') as Impl[]);
for (const p of onlyPeers ?? [])
  if (!IMPLS.includes(p)) throw new Error(`--peers: unknown peer "${p}" (${IMPLS.join(', ')})`);
const unknownArgs = args.filter((a) => a !== '--json' && a !== profArg && a !== onlyArg && a !== peersArg);
if (unknownArgs.length > 0) throw new Error(`unknown argument(s): ${unknownArgs.join(' ')}`);

const PLAN = {
  reps: 7,
  oneWayCount: 300_000,
  vitalsCount: 60_000,
  /** Request/response: per run, each peer warms up, then they take turns for `slices` rounds. */
  rr: { warmupMs: 150, sliceMs: 150, slices: 6 },
  warmup: { oneWayCount: 100_000, vitalsCount: 30_000, rr: { warmupMs: 200, sliceMs: 100, slices: 1 } },
};
/** The peers of the informational vitals row (a typed message: only the raw forms and picluster). */
const VITALS_IMPLS: readonly Impl[] = ['baseline', 'raw-cork', 'raw-concat', 'picluster'];
const CALL_TIMEOUT_MS = 60_000;
const WATCHDOG_MS = 330_000;

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
  natsServer?.killNow();
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

  constructor(role: 'server' | 'client', natsPort: number) {
    this.role = role;
    const execArgv = ['--import', 'tsx'];
    if (profDir !== undefined)
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${profDir}/${role}`, '--cpu-prof-interval=100');
    this.child = fork(fileURLToPath(new URL('./worker.ts', import.meta.url)), [role, String(natsPort)], {
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
let ports: Partial<Record<Impl, number>>;
let natsServer: NatsServer | undefined;

interface OneWayResult {
  /** Messages per second at the receiver, first to last message. */
  rate: number;
  /** Messages per second from the sender's first send to the receiver's last message. */
  endToEnd: number;
  /** CPU µs per message of the receiving and the sending process. */
  receiverCpuUs: number;
  senderCpuUs: number;
}

async function oneWay(impl: Impl, kind: OneWayKind, count: number): Promise<OneWayResult> {
  const expectId = nextId++;
  const natsSubject = impl === 'nats' ? `bench.oneway.${expectId}` : undefined;
  await server.call({ cmd: 'expect', id: expectId, count, natsSubject });
  const received = server.wait(`received:${expectId}`);
  const port = ports[impl] as number;
  const sent = client.call<OneWayClientResult>({ cmd: 'oneway', id: nextId++, impl, port, kind, count, natsSubject });
  const [r, s] = await Promise.all([received, sent]);
  if (r.kind !== 'received') throw new Error(`unexpected ${r.kind}`);
  const lastNs = BigInt(r.lastNs);
  const receiveSeconds = Number(lastNs - BigInt(r.firstNs)) / 1e9;
  const totalSeconds = Number(lastNs - BigInt(s.startNs)) / 1e9;
  return {
    rate: (count - 1) / receiveSeconds,
    endToEnd: count / totalSeconds,
    receiverCpuUs: r.cpuUs / count,
    senderCpuUs: s.cpuUs / count,
  };
}

interface RrFigures {
  rate: number;
  /** CPU µs per request of the requesting process. */
  clientCpuUs: number;
  p50Us: number;
  p99Us: number;
  samples: number;
}

/** One interleaved request/response run: every peer, in turns, through the same stretch of time. */
async function requestResponse(
  inflight: number,
  impls: Impl[],
  plan: { warmupMs: number; sliceMs: number; slices: number },
): Promise<Partial<Record<Impl, RrFigures>>> {
  const r = await client.call<Partial<Record<Impl, RrResult>>>({
    cmd: 'rr',
    id: nextId++,
    ports,
    impls,
    inflight,
    ...plan,
  });
  const out: Partial<Record<Impl, RrFigures>> = {};
  for (const [impl, x] of Object.entries(r) as [Impl, RrResult][]) {
    out[impl] = {
      rate: x.completed / (x.elapsedNs / 1e9),
      clientCpuUs: x.cpuUs / x.completed,
      p50Us: x.p50Us,
      p99Us: x.p99Us,
      samples: x.samples,
    };
  }
  return out;
}

/** `impls` rotated by `n` places: each run starts with another peer. */
function rotate<T>(impls: readonly T[], n: number): T[] {
  const k = n % impls.length;
  return [...impls.slice(k), ...impls.slice(0, k)];
}

// ---------------------------------------------------------------- results

const VITALS_JSON_BYTES = JSON.stringify(oneWayMessage('vitals', 0)).length;

const METRICS: MetricDef[] = [
  {
    key: 'oneWay',
    label: `one-way x-bench ${ONE_WAY_JSON_BYTES} B, receiver first→last`,
    unit: 'msg/s',
    higherIsBetter: true,
  },
  { key: 'oneWayEndToEnd', label: 'one-way x-bench, sender start→last received', unit: 'msg/s', higherIsBetter: true },
  { key: 'rr1', label: 'request/response, 1 in flight', unit: 'req/s', higherIsBetter: true },
  { key: 'rr64', label: 'request/response, 64 in flight', unit: 'req/s', higherIsBetter: true },
  { key: 'latencyP50', label: 'round trip p50, 1 in flight', unit: 'µs', higherIsBetter: false },
  { key: 'latencyP99', label: 'round trip p99, 1 in flight', unit: 'µs', higherIsBetter: false },
  {
    key: 'vitalsOneWay',
    label: `one-way vitals ${VITALS_JSON_BYTES} B (typed, schema-validated)`,
    unit: 'msg/s',
    higherIsBetter: true,
  },
];

const RATIOS: RatioDef[] = [
  { metric: 'oneWay', of: 'baseline', target: { op: '>=', ratio: 1.0 } },
  { metric: 'oneWay', of: 'raw-batched', target: { op: '>=', ratio: 0.9 } },
  { metric: 'oneWay', of: 'raw-cork' },
  { metric: 'oneWay', of: 'raw-concat' },
  { metric: 'oneWay', of: 'nats' },
  { metric: 'oneWay', of: 'socketio' },
  { metric: 'oneWayEndToEnd', of: 'raw-batched' },
  { metric: 'rr1', of: 'baseline' },
  { metric: 'rr1', of: 'raw-batched' },
  { metric: 'rr1', of: 'nats' },
  { metric: 'rr1', of: 'socketio' },
  { metric: 'rr64', of: 'baseline' },
  { metric: 'rr64', of: 'raw-batched', target: { op: '>=', ratio: 0.9 } },
  { metric: 'rr64', of: 'raw-cork' },
  { metric: 'rr64', of: 'raw-concat' },
  { metric: 'rr64', of: 'nats', target: { op: '>=', ratio: 2.0 } },
  { metric: 'rr64', of: 'socketio', target: { op: '>=', ratio: 2.0 } },
  { metric: 'latencyP50', of: 'baseline' },
  { metric: 'latencyP50', of: 'raw-batched', target: { op: '<=', ratio: 1.2 } },
  { metric: 'latencyP50', of: 'nats' },
  { metric: 'latencyP50', of: 'socketio' },
  { metric: 'latencyP99', of: 'raw-batched' },
  { metric: 'vitalsOneWay', of: 'baseline' },
  { metric: 'vitalsOneWay', of: 'raw-batched' },
];

const PEERS: readonly Peer[] = ['baseline', 'raw-cork', 'raw-concat', 'raw-batched', 'picluster', 'nats', 'socketio'];

const runs = new Runs();

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

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  const info = machine();
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  log(
    `bench: ${info.cpuModel}, ${info.cpus} cpus, node ${info.node}, load ${load()}; ${PLAN.reps} runs each, median kept${profDir ? `; CPU profiles to ${profDir}` : ''}`,
  );

  const natsWanted = onlyPeers === undefined || onlyPeers.includes('nats');
  const natsOmitted = natsWanted ? natsServerMissing() : undefined;
  if (natsOmitted !== undefined) log(`bench: ${natsOmitted}`);
  else if (natsWanted) {
    natsServer = await startNatsServer((child) => children.add(child));
    log(`bench: nats-server on 127.0.0.1:${natsServer.port}`);
  }
  const impls = IMPLS.filter(
    (impl) => (impl !== 'nats' || natsServer !== undefined) && (onlyPeers === undefined || onlyPeers.includes(impl)),
  );

  server = new Worker('server', natsServer?.port ?? 0);
  client = new Worker('client', natsServer?.port ?? 0);
  workers.push(server, client);
  const ready = await server.wait('ready');
  await client.wait('ready');
  ports = { ...(ready as { ports: Record<ListeningImpl, number> }).ports };
  if (natsServer !== undefined) ports.nats = natsServer.port;

  const loads: string[] = [load()];
  log('bench: warming up every peer');
  for (const impl of impls) {
    if (only.has('oneway')) await oneWay(impl, 'x-bench', PLAN.warmup.oneWayCount);
    if (only.has('vitals') && VITALS_IMPLS.includes(impl)) await oneWay(impl, 'vitals', PLAN.warmup.vitalsCount);
  }
  if (only.has('rr1')) await requestResponse(1, impls, PLAN.warmup.rr);
  if (only.has('rr64')) await requestResponse(64, impls, PLAN.warmup.rr);

  for (let rep = 0; rep < PLAN.reps; rep++) {
    const order = rotate(impls, rep);
    log(`bench: run ${rep + 1}/${PLAN.reps}, load average ${load()}, order ${order.join(' ')}`);
    loads.push(load());
    for (const impl of only.has('oneway') ? order : []) {
      const o = await oneWay(impl, 'x-bench', PLAN.oneWayCount);
      runs.record('oneWay', impl, rep, o.rate);
      runs.record('oneWayEndToEnd', impl, rep, o.endToEnd);
      log(
        `  ${impl.padEnd(10)} one-way      ${int.format(o.rate)} msg/s (end to end ${int.format(o.endToEnd)}; CPU per message: receiver ${o.receiverCpuUs.toFixed(2)} µs, sender ${o.senderCpuUs.toFixed(2)} µs)`,
      );
    }
    for (const [group, inflight] of [
      ['rr1', 1],
      ['rr64', 64],
    ] as const) {
      if (!only.has(group)) continue;
      const r = await requestResponse(inflight, order, PLAN.rr);
      for (const impl of order) {
        const f = r[impl] as RrFigures;
        runs.record(group, impl, rep, f.rate);
        if (inflight === 1) {
          runs.record('latencyP50', impl, rep, f.p50Us);
          runs.record('latencyP99', impl, rep, f.p99Us);
        }
        log(
          `  ${impl.padEnd(10)} rr ${String(inflight).padEnd(9)} ${int.format(f.rate)} req/s, p50 ${f.p50Us.toFixed(1)} µs, p99 ${f.p99Us.toFixed(1)} µs (${f.samples} samples; client CPU ${f.clientCpuUs.toFixed(2)} µs per request)`,
        );
      }
    }
    for (const impl of only.has('vitals') ? order.filter((i) => VITALS_IMPLS.includes(i)) : []) {
      const v = await oneWay(impl, 'vitals', PLAN.vitalsCount);
      runs.record('vitalsOneWay', impl, rep, v.rate);
      log(`  ${impl.padEnd(10)} one-way vitals ${int.format(v.rate)} msg/s`);
    }
  }
  loads.push(load());

  const figures = figureRows(METRICS, runs, PEERS);
  const ratios = ratioRows(METRICS, RATIOS, runs);
  const misses = ratios.filter((r) => r.pass === false);
  const seconds = (Date.now() - started) / 1000;
  if (asJson) {
    const result = {
      benchmark: 'picluster Connection vs raw node:net (one write, corked, concatenated), NATS, Socket.IO',
      command: 'npm run bench -- --json',
      machine: info,
      plan: { ...PLAN, oneWayJsonBytes: ONE_WAY_JSON_BYTES, vitalsJsonBytes: VITALS_JSON_BYTES },
      omitted: natsOmitted === undefined ? [] : [{ peer: 'nats', reason: natsOmitted }],
      loadAverages: loads,
      figures,
      ratios,
      misses: misses.map((r) => `${r.metric}/${r.of}`),
      allTargetsMet: misses.length === 0,
      durationSeconds: Number(seconds.toFixed(1)),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const out = [
      '',
      `picluster Connection vs raw node:net, NATS, Socket.IO — ${info.cpuModel}, ${info.cpus} cpus, node ${info.node}`,
      `load average (1/5/15 min) at start and at each run: ${loads.join(' | ')}`,
      ...(natsOmitted === undefined ? [] : [`omitted: ${natsOmitted}`]),
      `figures: median of ${PLAN.reps} runs ±spread (half the min–max range, % of the median); raw-batched = better of raw-cork and raw-concat in each run`,
      '',
      figureTable(figures, PEERS),
      '',
      'ratios: median of the per-run ratios picluster / peer; spread = half the min–max range of those ratios',
      '',
      ratioTable(ratios),
      '',
      misses.length === 0
        ? 'All targets met.'
        : `MISSED ${misses.length} target(s): ${misses.map((r) => `${r.label} vs ${r.of} (ratio ${r.ratio.toFixed(3)}, target ${r.target})`).join('; ')}`,
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
  await natsServer?.stop();
  killChildren();
}
