// A bench worker process, forked by bench/run.ts and driven over IPC. `worker.ts server [natsPort]`
// listens with every implementation (receives one-way messages, echoes requests; for NATS it
// subscribes through the nats-server); `worker.ts client` dials and sends. Sender and
// receiver thus always run in separate processes.

import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { NatsConnection } from 'nats';
import type { Connection as ConnectionClass } from '../src/connection/connection.js';
import { RawClient, type RawMode, sendRaw, serveRaw } from './baseline.js';
import {
  BENCH_TYPE,
  type BenchPayload,
  benchPayload,
  CONNECTION_OPTIONS,
  type Command,
  type Impl,
  type ListeningImpl,
  type OneWayClientResult,
  oneWayMessage,
  percentile,
  type RrResult,
  type WorkerMessage,
} from './common.js';
import { connectNats, receiveNats, requestNats, sendNats, serveNatsEcho } from './nats-peer.js';
import { closeSocketIo, dialSocketIo, listenSocketIo, requestSocketIo, sendSocketIo } from './socketio-peer.js';

// BENCH_CONNECTION_MODULE=/path/to/a/copy/of/src/connection/connection.ts measures that copy as
// `picluster` instead: for A/B runs of a change to src/connection against the code before it.
const { Connection } = (await import(process.env.BENCH_CONNECTION_MODULE ?? '../src/connection/connection.js')) as {
  Connection: typeof ConnectionClass;
};

const role = process.argv[2];
if (role !== 'server' && role !== 'client') throw new Error(`usage: worker.ts server|client [natsPort], got ${role}`);
/** The nats-server's port, or 0 when the NATS peer is omitted. */
const natsPort = Number(process.argv[3] ?? 0);
const RAW_MODES = { baseline: 'write', 'raw-cork': 'cork', 'raw-concat': 'concat' } as const satisfies Partial<
  Record<Impl, RawMode>
>;
const rawModeOf = (impl: Impl): RawMode | undefined => (RAW_MODES as Partial<Record<Impl, RawMode>>)[impl];

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
  #firstCpu: NodeJS.CpuUsage | undefined;
  readonly #expect: { id: number; count: number } | undefined;

  constructor(expect: { id: number; count: number } | undefined) {
    this.#expect = expect;
  }

  readonly onMessage = (): void => {
    const n = ++this.count;
    if (n === 1) {
      this.#first = now();
      this.#firstCpu = process.cpuUsage();
    }
    if (this.#expect !== undefined && n === this.#expect.count) {
      const last = now();
      const cpu = process.cpuUsage(this.#firstCpu);
      post({
        kind: 'received',
        id: this.#expect.id,
        count: n,
        firstNs: this.#first.toString(),
        lastNs: last.toString(),
        cpuUs: cpu.user + cpu.system,
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

  const ports: Partial<Record<ListeningImpl, number>> = {};
  for (const impl of ['baseline', 'raw-cork', 'raw-concat'] as const) {
    const server = net.createServer((socket) => {
      const counter = new Counter(takeExpect());
      serveRaw(socket, RAW_MODES[impl], counter.onMessage);
    });
    ports[impl] = await listen(server);
  }
  ports.picluster = await listen(
    net.createServer((socket) => {
      const counter = new Counter(takeExpect());
      const conn = new Connection(socket, CONNECTION_OPTIONS);
      conn.handle(BENCH_TYPE, (payload) => payload);
      conn.on('message', counter.onMessage);
    }),
  );
  const socketIo = await listenSocketIo((socket) => {
    const counter = new Counter(takeExpect());
    socket.on(BENCH_TYPE, counter.onMessage);
    socket.on('vitals', counter.onMessage);
  });
  ports.socketio = socketIo.port;
  let nats: NatsConnection | undefined;
  if (natsPort > 0) {
    nats = await connectNats(natsPort);
    serveNatsEcho(nats);
    await nats.flush();
  }

  process.on('message', (command: Command) => {
    if (command.cmd === 'expect') {
      const expect = { id: command.id, count: command.count };
      if (command.natsSubject === undefined) {
        expectNext = expect;
        post({ kind: 'reply', id: command.id, result: null });
        return;
      }
      if (nats === undefined) {
        post({ kind: 'reply', id: command.id, error: 'no NATS connection' });
        return;
      }
      const counter = new Counter(expect);
      receiveNats(nats, command.natsSubject, command.count, counter.onMessage).then(
        () => post({ kind: 'reply', id: command.id, result: null }),
        (err: unknown) => post({ kind: 'reply', id: command.id, error: String(err) }),
      );
    } else if (command.cmd === 'exit') {
      process.exit(0);
    }
  });
  post({ kind: 'ready', ports: ports as Record<ListeningImpl, number> });
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

// ---------------------------------------------------------------- client

async function dial(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

async function oneWay(command: Extract<Command, { cmd: 'oneway' }>): Promise<OneWayClientResult> {
  const { impl, port, kind, count } = command;
  const make = (i: number) => oneWayMessage(kind, i);
  const timed = async (send: () => Promise<void>): Promise<OneWayClientResult> => {
    const start = now();
    const startCpu = process.cpuUsage();
    await send();
    const cpu = process.cpuUsage(startCpu);
    return { startNs: start.toString(), sentNs: now().toString(), cpuUs: cpu.user + cpu.system };
  };
  if (impl === 'nats') {
    const nc = await connectNats(port);
    try {
      return await timed(() => sendNats(nc, command.natsSubject ?? '', count, make));
    } finally {
      await nc.close();
    }
  }
  if (impl === 'socketio') {
    const socket = await dialSocketIo(port);
    const result = await timed(() => sendSocketIo(socket, count, make));
    await closeSocketIo(socket);
    return result;
  }
  const socket = await dial(port);
  const mode = rawModeOf(impl);
  if (mode !== undefined) {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const result = await timed(() => sendRaw(socket, mode, count, make));
    socket.end();
    await once(socket, 'close');
    return result;
  }
  const conn = new Connection(socket, CONNECTION_OPTIONS);
  const result = await timed(async () => {
    for (let i = 0; i < count; ) {
      const { t, p } = make(i);
      if (conn.send(t, p)) i++;
      else await once(conn, 'drain');
    }
  });
  await conn.close();
  return result;
}

interface Requester {
  request(payload: BenchPayload): Promise<unknown>;
  finish(): Promise<void>;
}

async function openRequester(impl: Impl, port: number): Promise<Requester> {
  if (impl === 'nats') {
    const nc = await connectNats(port);
    return { request: (payload) => requestNats(nc, BENCH_TYPE, payload), finish: () => nc.close() };
  }
  if (impl === 'socketio') {
    const socket = await dialSocketIo(port);
    return { request: (payload) => requestSocketIo(socket, payload), finish: () => closeSocketIo(socket) };
  }
  const socket = await dial(port);
  const mode = rawModeOf(impl);
  if (mode !== undefined) {
    socket.on('error', () => {});
    const client = new RawClient(socket, mode);
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
): Promise<{ completed: number; elapsedNs: number; cpuUs: number }> {
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
  const startCpu = process.cpuUsage();
  let cpuUs = 0;
  const timer = setTimeout(() => {
    endNs = now();
    const cpu = process.cpuUsage(startCpu);
    cpuUs = cpu.user + cpu.system;
    stopped = true;
  }, ms);
  try {
    await Promise.all(Array.from({ length: inflight }, loop));
  } finally {
    clearTimeout(timer);
  }
  return { completed, elapsedNs: Number(endNs - startNs), cpuUs };
}

async function requestResponse(command: Extract<Command, { cmd: 'rr' }>): Promise<Partial<Record<Impl, RrResult>>> {
  const requesters = new Map<Impl, Requester>();
  try {
    for (const impl of command.impls) {
      const port = command.ports[impl];
      if (port === undefined) throw new Error(`rr: no port for ${impl}`);
      requesters.set(impl, await openRequester(impl, port));
    }
    const requester = (impl: Impl) => requesters.get(impl) as Requester;
    for (const impl of command.impls) await slice(requester(impl), command.inflight, command.warmupMs, undefined);
    const totals = new Map(
      command.impls.map((impl) => [impl, { completed: 0, elapsedNs: 0, cpuUs: 0, latencies: [] as number[] }] as const),
    );
    for (let round = 0; round < command.slices; round++) {
      for (const impl of command.impls) {
        const total = totals.get(impl) as { completed: number; elapsedNs: number; cpuUs: number; latencies: number[] };
        const r = await slice(requester(impl), command.inflight, command.sliceMs, total.latencies);
        total.completed += r.completed;
        total.elapsedNs += r.elapsedNs;
        total.cpuUs += r.cpuUs;
      }
    }
    const results: Partial<Record<Impl, RrResult>> = {};
    for (const [impl, { completed, elapsedNs, cpuUs, latencies }] of totals) {
      const sorted = Float64Array.from(latencies).sort();
      results[impl] = {
        completed,
        elapsedNs,
        cpuUs,
        p50Us: percentile(sorted, 50),
        p99Us: percentile(sorted, 99),
        samples: sorted.length,
      };
    }
    return results;
  } finally {
    await Promise.all([...requesters.values()].map((r) => r.finish()));
  }
}

function runClient(): void {
  process.on('message', (command: Command) => {
    if (command.cmd === 'exit') process.exit(0);
    const job =
      command.cmd === 'oneway'
        ? oneWay(command)
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
