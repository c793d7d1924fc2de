// Shared by the bench orchestrator (bench/run.ts) and its worker processes (bench/worker.ts):
// the messages sent, the IPC commands, the connection options and small statistics helpers.

import type { VitalsPayload } from '../src/protocol/messages.js';

export type Impl = 'baseline' | 'picluster';
export const IMPLS: readonly Impl[] = ['baseline', 'picluster'];

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
  | { cmd: 'expect'; id: number; count: number }
  | { cmd: 'oneway'; id: number; impl: Impl; port: number; kind: OneWayKind; count: number }
  | {
      /**
       * Request/response with `inflight` outstanding, on one connection per implementation opened
       * side by side: each is warmed up for `warmupMs`, then they take turns for `slices` slices of
       * `sliceMs` (starting with `first`), so both see the same moments of a noisy machine.
       */
      cmd: 'rr';
      id: number;
      ports: Record<Impl, number>;
      first: Impl;
      inflight: number;
      warmupMs: number;
      sliceMs: number;
      slices: number;
    }
  | { cmd: 'exit' };

/** What a worker sends back: a reply to command `id`, or an event. Times are hrtime ns as strings. */
export type WorkerMessage =
  | { kind: 'ready'; ports?: Record<Impl, number> }
  | { kind: 'reply'; id: number; result?: unknown; error?: string }
  | { kind: 'received'; id: number; count: number; firstNs: string; lastNs: string };

export interface OneWayClientResult {
  /** hrtime (ns) just before the first message was sent. */
  startNs: string;
  /** hrtime (ns) once everything was handed to the socket. */
  sentNs: string;
}

export interface RrResult {
  /** Replies received inside the measured slices, and the slices' total length in ns. */
  completed: number;
  elapsedNs: number;
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
