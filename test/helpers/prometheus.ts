// Helpers for the /metrics tests: an in-process primary with two secondaries reporting fixed fake
// vitals (one a Pi with temperature and throttle flags, one without), fake node records for load
// tests, and a small parser of the Prometheus text format (label escapes included).
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Primary } from '../../src/primary/primary.js';
import type { NodeRecord } from '../../src/primary/registry.js';
import type { InfoPayload, VitalsPayload } from '../../src/protocol/messages.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { FAST_COMMIT, waitUntil } from './cluster.js';

export type Reading = Omit<VitalsPayload, 'seq'>;

/** The Pi's node clock runs this far ahead of the primary's (no RTC). */
export const PI_CLOCK_AHEAD_MS = 5_000;

/** What the Pi-like secondary reports (ts is set at each read). */
export const PI_READING: Omit<Reading, 'ts'> = {
  cpuPercent: 12.5,
  cpuMhz: 1500,
  ramAvailableBytes: 3_000_000_000,
  swapFreeBytes: 100_000_000,
  load1: 0.5,
  load5: 0.25,
  load15: 0.125,
  uptimeS: 3600,
  tempC: 48.5,
  throttled: { now: ['under-voltage'], sinceBoot: ['under-voltage', 'freq-capped'] },
  disks: [
    { mount: '/', freeBytes: 20_000_000_000, totalBytes: 30_000_000_000 },
    { mount: '/boot/firmware', freeBytes: 400_000_000, totalBytes: 500_000_000 },
  ],
  nets: [{ iface: 'eth0', rxBytes: 123_456, txBytes: 654_321 }],
  dropped: 3,
};

/** What the plain box reports: no cpuMhz, tempC, throttled or dropped. */
export const BOX_READING: Omit<Reading, 'ts'> = {
  cpuPercent: 87.25,
  ramAvailableBytes: 1_000_000_000,
  swapFreeBytes: 0,
  load1: 2,
  load5: 1.5,
  load15: 1,
  uptimeS: 60,
  disks: [{ mount: '/', freeBytes: 5_000_000_000, totalBytes: 10_000_000_000 }],
  nets: [{ iface: 'enp1s0', rxBytes: 1, txBytes: 2 }],
};

export function fakeInfo(ramTotalBytes: number, swapTotalBytes: number): InfoPayload {
  return {
    hostname: 'fake',
    os: 'Debian GNU/Linux 12',
    kernel: '6.1.0',
    arch: 'arm64',
    cpuModel: 'Cortex-A72',
    cpuCores: 4,
    ramTotalBytes,
    swapTotalBytes,
    version: '0.0.0',
  };
}

export interface FakeCluster {
  primary: Primary;
  /** Named "pi-hot": tempC, throttle flags, cpuMhz, dropped. */
  pi: Secondary;
  /** Named "box-plain": none of the optional vitals. */
  box: Secondary;
}

/**
 * Starts a primary (port 0, temp dataDir under `dir`) and two secondaries with fake vitals every
 * 100 ms; resolves once both nodes are online with vitals and machine info on the primary.
 * Everything is stopped when the test ends.
 */
export async function startFakeCluster(t: TestContext, dir: string): Promise<FakeCluster> {
  const token = 'metrics-test-cluster-token-0123456789';
  const primary = new Primary({ ...FAST_COMMIT, dataDir: join(dir, 'primary'), port: 0, bind: '127.0.0.1', token });
  await primary.start();
  t.after(() => primary.stop());
  const secondary = (name: string, reading: Omit<Reading, 'ts'>, clockAheadMs: number, info: InfoPayload) => {
    const node = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: join(dir, name),
      name,
      token,
      tls: { fingerprint: primary.tlsFingerprint as string },
      vitalsPeriodMs: 100,
      stopTimeoutMs: 500,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      vitals: { read: async () => ({ ...structuredClone(reading), ts: Date.now() + clockAheadMs }) },
      wallClock: () => Date.now() + clockAheadMs,
      machineInfo: async () => info,
      machineId: async () => `machine-${name}`,
    });
    t.after(() => node.stop());
    return node;
  };
  const pi = secondary('pi-hot', PI_READING, PI_CLOCK_AHEAD_MS, fakeInfo(4_000_000_000, 200_000_000));
  const box = secondary('box-plain', BOX_READING, 0, fakeInfo(16_000_000_000, 0));
  await Promise.all([pi.start(), box.start()]);
  await waitUntil(
    () =>
      [pi, box].every((s) => {
        const record = primary.registry.get(s.nodeId);
        return record?.state === 'online' && record.vitals !== null && record.info !== null;
      }),
    10_000,
    'both secondaries online with vitals and info',
  );
  return { primary, pi, box };
}

/** A node record as the primary keeps it, with full vitals (for load and memory tests). */
export function fakeNodeRecord(i: number, now = Date.now()): NodeRecord {
  return {
    id: `node-${String(i).padStart(5, '0')}-4f1c2a9e7b3d`,
    name: `pi-rack${Math.floor(i / 100)}-${i % 100}`,
    labels: { rack: String(Math.floor(i / 100)) },
    address: `10.0.${Math.floor(i / 256)}.${i % 256}`,
    legacy: false,
    state: i % 10 === 0 ? 'lost' : 'online',
    info: fakeInfo(4_000_000_000, 200_000_000),
    vitals: { ...structuredClone(PI_READING), ts: now, seq: 1, receivedAt: now },
    lastSeen: now,
    connectedSince: now,
    machineId: null,
    lastSeq: 1,
    session: undefined,
    clockSkewMs: null,
    clockSkewed: false,
  };
}

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

function unescapeLabel(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Parses the Prometheus text format (0.0.4) into samples; throws on a line it cannot read. */
export function parseExposition(text: string): ParsedSample[] {
  const samples: ParsedSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    LABEL_PAIR.lastIndex = 0;
    let read = 0;
    for (let pair = LABEL_PAIR.exec(body); pair; pair = LABEL_PAIR.exec(body)) {
      labels[pair[1] as string] = unescapeLabel(pair[2] as string);
      read = LABEL_PAIR.lastIndex;
    }
    if (read !== body.length) throw new Error(`unreadable labels in line: ${line}`);
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Samples of `name` whose labels include every pair of `labels`. */
export function samplesOf(samples: ParsedSample[], name: string, labels: Record<string, string> = {}): ParsedSample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample of `name` with exactly these labels, or undefined if there is none. */
export function sampleValue(
  samples: ParsedSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const keys = Object.keys(labels).length;
  const found = samplesOf(samples, name, labels).filter((s) => Object.keys(s.labels).length === keys);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
