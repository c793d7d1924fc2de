// Shared by the bench orchestrator (bench/run.ts) and its worker processes (bench/worker.ts):
// the messages sent, the IPC commands, the connection options and small statistics helpers.

import type { VitalsPayload } from '../src/protocol/messages.js';

/**
 * The peers measured: the raw node:net baseline written three ways (`baseline` = one write per
 * message, `raw-cork`, `raw-concat`: see baseline.ts), picluster's Connection, NATS (through a
 * nats-server) and Socket.IO (websocket transport).
 */
export type Impl = 'baseline' | 'raw-cork' | 'raw-concat' | 'picluster' | 'nats' | 'socketio';
export const IMPLS: readonly Impl[] = ['baseline', 'raw-cork', 'raw-concat', 'picluster', 'nats', 'socketio'];
/** The peers that listen on a port of the server worker (NATS goes through its own server). */
export type ListeningImpl = Exclude<Impl, 'nats'>;

/** A custom message type: the envelope is validated, the payload is not (unknown type). */
export const BENCH_TYPE = 'x-bench';

/** Frame JSON of a one-way `x-bench` message is exactly this long (seq kept at 6 digits). */
export const ONE_WAY_JSON_BYTES = 100;

export interface BenchPayload {
  seq: number;
  data: string;
}

const PAD = 'x'.repeat(ONE_WAY_JSON_BYTES - JSON.stringify({ t: BENCH_TYPE, p: { seq: 100_000, data: '' } }).length);

/** A fresh ~100-byte payload (built per message, as a real sender would). */
export function benchPayload(i: number): BenchPayload {
  return { seq: 100_000 + (i % 900_000), data: PAD };
}

/** A realistic `vitals` payload (a Pi with two disks and two interfaces), validated by its schema. */
export function vitalsPayload(i: number): VitalsPayload {
  return {
    seq: i + 1,
    ts: 1_760_000_000_000 + i * 1000,
    cpuPercent: 12.5,
    cpuMhz: 1500,
    ramAvailableBytes: 3_221_225_472,
    swapFreeBytes: 104_857_600,
    load1: 0.42,
    load5: 0.37,
    load15: 0.31,
    uptimeS: 86_400 + i,
    tempC: 48.3,
    throttled: { now: [], sinceBoot: ['under-voltage'] },
    disks: [
      { mount: '/', freeBytes: 20_000_000_000, totalBytes: 31_000_000_000 },
      { mount: '/boot/firmware', freeBytes: 400_000_000, totalBytes: 536_000_000 },
    ],
    nets: [
      { iface: 'eth0', rxBytes: 123_456_789, txBytes: 98_765_432 },
      { iface: 'wlan0', rxBytes: 1_234_567, txBytes: 765_432 },
    ],
  };
}

export type OneWayKind = 'x-bench' | 'vitals';

/** The message a one-way sender of `kind` sends as its `i`-th, as {t, p}. */
export function oneWayMessage(kind: OneWayKind, i: number): { t: string; p: unknown } {
  return kind === 'vitals' ? { t: 'vitals', p: vitalsPayload(i) } : { t: BENCH_TYPE, p: benchPayload(i) };
}

/** Options of every picluster Connection in the bench: the library defaults, a normal heartbeat. */
export const CONNECTION_OPTIONS = {
  heartbeat: { intervalMs: 5_000 },
  // Only so that `close()` never cuts the tail of a long one-way run; no effect on throughput.
  closeTimeoutMs: 30_000,
} as const;

// ---- IPC between run.ts and the workers ----

export type Command =
  | { cmd: 'expect'; id: number; count: number; natsSubject?: string }
  | {
      cmd: 'oneway';
      id: number;
      impl: Impl;
      /** The listener's port (for `nats`: the nats-server's). */
      port: number;
      kind: OneWayKind;
      count: number;
      natsSubject?: string;
    }
  | {
      /**
       * Request/response with `inflight` outstanding, on one connection per implementation opened
       * side by side: each is warmed up for `warmupMs`, then they take turns (in the order of
       * `impls`) for `slices` rounds of one `sliceMs` slice each, so all see the same moments of a
       * noisy machine.
       */
      cmd: 'rr';
      id: number;
      ports: Partial<Record<Impl, number>>;
      impls: Impl[];
      inflight: number;
      warmupMs: number;
      sliceMs: number;
      slices: number;
    }
  | { cmd: 'exit' };

/** What a worker sends back: a reply to command `id`, or an event. Times are hrtime ns as strings. */
export type WorkerMessage =
  | { kind: 'ready'; ports?: Record<ListeningImpl, number> }
  | { kind: 'reply'; id: number; result?: unknown; error?: string }
  | {
      kind: 'received';
      id: number;
      count: number;
      firstNs: string;
      lastNs: string;
      /** CPU time (user + system) the receiving process spent from first to last message, in µs. */
      cpuUs: number;
    };

export interface OneWayClientResult {
  /** hrtime (ns) just before the first message was sent. */
  startNs: string;
  /** hrtime (ns) once everything was handed to the socket. */
  sentNs: string;
  /** CPU time (user + system) the sending process spent from start to sent, in µs. */
  cpuUs: number;
}

export interface RrResult {
  /** Replies received inside the measured slices, and the slices' total length in ns. */
  completed: number;
  elapsedNs: number;
  /** CPU time (user + system) of the requesting process during the measured slices, in µs. */
  cpuUs: number;
  /** Round-trip durations in µs of the requests started while measuring (sorted percentiles). */
  p50Us: number;
  p99Us: number;
  samples: number;
}

// ---- statistics ----

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile of already sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
