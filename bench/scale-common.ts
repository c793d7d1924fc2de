// IPC between bench/scale.ts (the orchestrator) and bench/scale-agent.ts (worker processes, each
// running thousands of lightweight simulated agents), and the realistic vitals sample they send.

import type { VitalsPayload } from '../src/protocol/messages.js';

export type ScaleCommand =
  | {
      cmd: 'start';
      host: string;
      port: number;
      token: string;
      /** The primary's certificate fingerprint: TLS, pinned (as `--primary-fingerprint`); absent: plaintext. */
      fingerprint?: string;
      /** Global index of this worker's first agent. */
      firstNode: number;
      count: number;
      vitalsPeriodMs: number;
      heartbeatIntervalMs: number;
    }
  | { cmd: 'stats' };

/** Event codes in `events` batches. */
export const SEV = { connecting: 0, online: 1, offline: 2, authFailed: 3 } as const;
export type ScaleEventCode = (typeof SEV)[keyof typeof SEV];

export interface AgentStats {
  agents: number;
  online: number;
  /** Dial attempts since start. */
  attempts: number;
  /** Vitals messages sent / timer ticks that found the agent offline (no outbox: dropped). */
  vitalsSent: number;
  vitalsSkipped: number;
  /** Sum over agents of the highest `ack` seq received, and of the highest seq sent. */
  ackedSeqSum: number;
  sentSeqSum: number;
  authFailures: number;
  /** Failures other than auth, by DisconnectionError/PiclusterError code. */
  failures: Record<string, number>;
  /** This worker's own event-loop delay since the last stats call, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  rssBytes: number;
}

export type ScaleMessage =
  | { kind: 'ready' }
  /** [event code, global agent index, Date.now() when it happened] */
  | { kind: 'events'; events: Array<[ScaleEventCode, number, number]> }
  | { kind: 'stats'; stats: AgentStats }
  | { kind: 'error'; message: string };

/**
 * A Raspberry-Pi-like sample (what a real agent sends: every field, one disk, two interfaces,
 * throttle flags), about 480 bytes on the wire. Counters move a little so samples differ.
 */
export function realisticVitals(node: number, tick: number): Omit<VitalsPayload, 'seq'> {
  return {
    ts: Date.now(),
    cpuPercent: ((node * 7 + tick * 13) % 1000) / 10,
    cpuMhz: 1500,
    ramAvailableBytes: 3_221_225_472 - ((tick * 4096) % 1_048_576),
    swapFreeBytes: 104_857_600,
    load1: 0.12,
    load5: 0.09,
    load15: 0.05,
    uptimeS: 86_400 + tick * 10,
    tempC: 48.3,
    throttled: { now: [], sinceBoot: ['soft-temp-limit'] },
    disks: [{ mount: '/', freeBytes: 21_474_836_480 - tick * 4096, totalBytes: 31_914_983_424 }],
    nets: [
      { iface: 'eth0', rxBytes: 1_234_567_890 + tick * 20_000, txBytes: 987_654_321 + tick * 15_000 },
      { iface: 'wlan0', rxBytes: 12_345_678 + tick * 100, txBytes: 1_234_567 + tick * 80 },
    ],
  };
}
