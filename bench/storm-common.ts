// IPC between bench/reconnect-storm.ts (the orchestrator) and bench/storm-worker.ts (processes
// running many in-process `Secondary` instances), and the fixed fake machine the nodes report.

import type { InfoPayload, VitalsPayload } from '../src/protocol/messages.js';

export type StormCommand = {
  cmd: 'start';
  host: string;
  port: number;
  token: string;
  /** Global index of this worker's first node. */
  firstNode: number;
  count: number;
  /** Each node gets DATA_ROOT/nNNNN as its data dir. */
  dataRoot: string;
  vitalsPeriodMs: number;
  /** The primary's certificate fingerprint to pin (TLS, the default); undefined: plaintext. */
  fingerprint?: string;
};

/** Event codes in `events` batches. */
export const EV = { connecting: 0, online: 1, offline: 2, authFailed: 3 } as const;
export type EventCode = (typeof EV)[keyof typeof EV];

export type StormMessage =
  | { kind: 'ready' }
  /** Every node's start() resolved (they dial on their own from then on). */
  | { kind: 'started'; at: number }
  /** [event code, global node index, Date.now() when it happened] */
  | { kind: 'events'; events: Array<[EventCode, number, number]> }
  | { kind: 'error'; message: string };

/** A fixed, valid `info` payload (checked against the protocol schema by the worker). */
export function fakeInfo(node: number): InfoPayload {
  return {
    hostname: `storm-${node}`,
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel: '6.6.31+rpt-rpi-v8',
    arch: 'arm64',
    cpuModel: 'ARM Cortex-A72',
    cpuCores: 4,
    cpuMinMhz: 600,
    cpuMaxMhz: 1500,
    ramTotalBytes: 4_124_000_000,
    swapTotalBytes: 104_853_504,
    board: 'Raspberry Pi 4 Model B Rev 1.4',
    machineId: fakeMachineId(node),
    version: '0.1.0',
  };
}

/** A cheap, valid vitals sample (without seq: the outbox numbers it). */
export function fakeVitals(): Omit<VitalsPayload, 'seq'> {
  return {
    ts: Date.now(),
    cpuPercent: 3.5,
    ramAvailableBytes: 3_221_225_472,
    swapFreeBytes: 104_857_600,
    load1: 0.12,
    load5: 0.09,
    load15: 0.05,
    uptimeS: 86_400,
    disks: [],
    nets: [],
  };
}

export function fakeMachineId(node: number): string {
  return `storm${String(node).padStart(27, '0')}`;
}

export function nodeName(node: number): string {
  return `storm-${String(node).padStart(5, '0')}`;
}
