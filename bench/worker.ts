// A bench worker process, forked by bench/run.ts and driven over IPC. `worker.ts server` listens
// with both implementations (receives one-way messages, echoes requests); `worker.ts client`
// dials and sends. Sender and receiver thus always run in separate processes.

import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Connection } from '../src/connection/connection.js';
import { BaselineClient, encodeFrame, serveBaseline } from './baseline.js';
import {
  BENCH_TYPE,
  type BenchPayload,
  benchPayload,
  CONNECTION_OPTIONS,
  type Command,
  type Impl,
  type OneWayClientResult,
  type OneWayKind,
  oneWayMessage,
  percentile,
  type RrResult,
  type WorkerMessage,
} from './common.js';

const role = process.argv[2];
if (role !== 'server' && role !== 'client') throw new Error(`usage: worker.ts server|client, got ${role}`);

function post(message: WorkerMessage): void {
  process.send?.(message);
}

// The worker never outlives the orchestrator: no IPC channel, no worker.
process.on('disconnect', () => process.exit(0));

const now = (): bigint => process.hrtime.bigint();

// ---------------------------------------------------------------- server

/** Counts the one-way messages of one connection and reports once the expected number is in. */
class Counter {
  count = 0;
  #first = 0n;
  readonly #expect: { id: number; count: number } | undefined;

  constructor(expect: { id: number; count: number } | undefined) {
    this.#expect = expect;
  }

  readonly onMessage = (): void => {
    const n = ++this.count;
    if (n === 1) this.#first = now();
    if (this.#expect !== undefined && n === this.#expect.count) {
      const last = now();
      post({
        kind: 'received',
        id: this.#expect.id,
        count: n,
        firstNs: this.#first.toString(),
        lastNs: last.toString(),
      });
    }
  };
}

async function runServer(): Promise<void> {
  let expectNext: { id: number; count: number } | undefined;
  const takeExpect = () => {
    const e = expectNext;
    expectNext = undefined;
    return e;
  };

  const baseline = net.createServer((socket) => {
    const counter = new Counter(takeExpect());
    serveBaseline(socket, counter.onMessage);
  });
  const picluster = net.createServer((socket) => {
    const counter = new Counter(takeExpect());
    const conn = new Connection(socket, CONNECTION_OPTIONS);
    conn.handle(BENCH_TYPE, (payload) => payload);
    conn.on('message', counter.onMessage);
  });
  for (const server of [baseline, picluster]) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

  process.on('message', (command: Command) => {
    if (command.cmd === 'expect') {
      expectNext = { id: command.id, count: command.count };
      post({ kind: 'reply', id: command.id, result: null });
    } else if (command.cmd === 'exit') {
      process.exit(0);
    }
  });
  post({ kind: 'ready', ports: { baseline: portOf(baseline), picluster: portOf(picluster) } });
}

// ---------------------------------------------------------------- client

async function dial(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

async function oneWay(impl: Impl, port: number, kind: OneWayKind, count: number): Promise<OneWayClientResult> {
  const socket = await dial(port);
  let start: bigint;
  if (impl === 'baseline') {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    start = now();
    for (let i = 0; i < count; i++) {
      if (!socket.write(encodeFrame(oneWayMessage(kind, i)))) await once(socket, 'drain');
    }
    const sent = now();
    socket.end();
    await once(socket, 'close');
    return { startNs: start.toString(), sentNs: sent.toString() };
  }
  const conn = new Connection(socket, CONNECTION_OPTIONS);
  start = now();
  for (let i = 0; i < count; ) {
    const { t, p } = oneWayMessage(kind, i);
    if (conn.send(t, p)) i++;
    else await once(conn, 'drain');
  }
  const sent = now();
  await conn.close();
  return { startNs: start.toString(), sentNs: sent.toString() };
}

interface Requester {
  request(payload: BenchPayload): Promise<unknown>;
  finish(): Promise<void>;
}

async function openRequester(impl: Impl, port: number): Promise<Requester> {
  const socket = await dial(port);
  if (impl === 'baseline') {
    socket.on('error', () => {});
    const client = new BaselineClient(socket);
    return {
      request: (payload) => client.request(BENCH_TYPE, payload),
      finish: async () => {
        socket.end();
        await once(socket, 'close');
      },
    };
  }
  const conn = new Connection(socket, CONNECTION_OPTIONS);
  return {
    request: (payload) => conn.request(BENCH_TYPE, payload, { timeoutMs: 10_000 }),
    finish: () => conn.close(),
  };
}

let seq = 0;

/**
 * Keeps `inflight` requests outstanding for `ms`; counts the replies that arrive inside the slice
 * and, when `latencies` is given, the round trip of each (µs).
 */
async function slice(
  requester: Requester,
  inflight: number,
  ms: number,
  latencies: number[] | undefined,
): Promise<{ completed: number; elapsedNs: number }> {
  let stopped = false;
  let completed = 0;
  let endNs = 0n;
  const loop = async () => {
    while (!stopped) {
      const payload = benchPayload(seq++);
      const t0 = performance.now();
      const reply = (await requester.request(payload)) as BenchPayload;
      const t1 = performance.now();
      if (reply.seq !== payload.seq) throw new Error(`echo mismatch: sent ${payload.seq}, got ${reply.seq}`);
      if (!stopped) {
        completed++;
        latencies?.push((t1 - t0) * 1000);
      }
    }
  };
  const startNs = now();
  const timer = setTimeout(() => {
    endNs = now();
    stopped = true;
  }, ms);
  try {
    await Promise.all(Array.from({ length: inflight }, loop));
  } finally {
    clearTimeout(timer);
  }
  return { completed, elapsedNs: Number(endNs - startNs) };
}

async function requestResponse(command: Extract<Command, { cmd: 'rr' }>): Promise<Record<Impl, RrResult>> {
  const order: Impl[] = command.first === 'baseline' ? ['baseline', 'picluster'] : ['picluster', 'baseline'];
  const requesters = {
    baseline: await openRequester('baseline', command.ports.baseline),
    picluster: await openRequester('picluster', command.ports.picluster),
  };
  try {
    for (const impl of order) await slice(requesters[impl], command.inflight, command.warmupMs, undefined);
    const totals = {
      baseline: { completed: 0, elapsedNs: 0, latencies: [] as number[] },
      picluster: { completed: 0, elapsedNs: 0, latencies: [] as number[] },
    };
    for (let i = 0; i < command.slices; i++) {
      const impl = order[i % 2] as Impl;
      const total = totals[impl];
      const r = await slice(requesters[impl], command.inflight, command.sliceMs, total.latencies);
      total.completed += r.completed;
      total.elapsedNs += r.elapsedNs;
    }
    const result = (impl: Impl): RrResult => {
      const { completed, elapsedNs, latencies } = totals[impl];
      const sorted = Float64Array.from(latencies).sort();
      return {
        completed,
        elapsedNs,
        p50Us: percentile(sorted, 50),
        p99Us: percentile(sorted, 99),
        samples: sorted.length,
      };
    };
    return { baseline: result('baseline'), picluster: result('picluster') };
  } finally {
    await Promise.all([requesters.baseline.finish(), requesters.picluster.finish()]);
  }
}

function runClient(): void {
  process.on('message', (command: Command) => {
    if (command.cmd === 'exit') process.exit(0);
    const job =
      command.cmd === 'oneway'
        ? oneWay(command.impl, command.port, command.kind, command.count)
        : command.cmd === 'rr'
          ? requestResponse(command)
          : Promise.reject(new Error(`client cannot do ${command.cmd}`));
    job.then(
      (result) => post({ kind: 'reply', id: command.id, result }),
      (err: unknown) => post({ kind: 'reply', id: command.id, error: String((err as Error)?.stack ?? err) }),
    );
  });
  post({ kind: 'ready' });
}

if (role === 'server') await runServer();
else runClient();
