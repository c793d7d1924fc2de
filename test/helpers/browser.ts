// Browser tests' tooling: Debian's Chromium driven by playwright-core (never a browser download),
// a fresh profile per test; an in-process primary with its web server (API, stream, dashboard)
// and in-process secondaries reporting made-up vitals (varied names, labels, temperatures), plus
// page helpers that collect console errors so a test fails on any script error.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { Primary } from '../../src/primary/primary.js';
import type { InfoPayload, VitalsPayload } from '../../src/protocol/messages.js';
import { Secondary } from '../../src/secondary/secondary.js';
import type { StoredSample } from '../../src/store/store-api.js';
import { startWebServer } from '../../src/web/server.js';
import { FAST_COMMIT } from './cluster.js';
import { requirePrograms } from './require-tool.js';

/** The flags the issue prescribes for Debian's chromium in a container. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Launches Chromium with a fresh profile (removed at the end), or skips when it is missing. */
export async function launchBrowser(
  t: TestContext,
  options: { width?: number; height?: number } = {},
): Promise<BrowserContext | undefined> {
  const found = requirePrograms(t, ['chromium'], 'apt-get install -y --no-install-recommends chromium');
  if (!found) return undefined;
  const profile = mkdtempSync(join(tmpdir(), 'picluster-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: found.chromium,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
  });
  t.after(async () => {
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

/** A page whose console errors and uncaught exceptions are collected in `errors`. */
export async function newPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return { page, errors };
}

/** Console errors other than failed requests (expected while the primary is away). */
export function scriptErrors(errors: string[]): string[] {
  return errors.filter((e) => !/Failed to load resource|net::ERR_|ERR_CONNECTION_REFUSED|EventSource/i.test(e));
}

// --- the DOM as page callbacks see it (the project's tsconfig has no DOM lib; test files
// declare `document`, `window`, ... with these types for code that runs inside the browser)

export interface DomElement {
  id: string;
  tagName: string;
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  classList: { contains(name: string): boolean };
  children: ArrayLike<DomElement>;
  width: number;
  height: number;
  closest(selector: string): DomElement | null;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): ArrayLike<DomElement> & Iterable<DomElement>;
  getBoundingClientRect(): { top: number; width: number; height: number };
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
  } | null;
}

export interface DomDocument {
  activeElement: DomElement | null;
  documentElement: DomElement & { scrollWidth: number };
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): ArrayLike<DomElement> & Iterable<DomElement>;
}

export type DomWindow = Record<string, unknown> & { innerWidth: number };
export type DomStyle = (el: DomElement) => Record<string, string> & { outlineStyle: string; outlineWidth: string };

// --- fake nodes

export interface FakeNode {
  name: string;
  labels?: Record<string, string>;
  /** Mean CPU %, jittered ±5. */
  cpu?: number;
  /** °C, jittered ±1; null: no sensor (a VM). */
  tempC?: number | null;
  ramTotalBytes?: number;
  /** Fraction of RAM in use. */
  ramUsed?: number;
  board?: string;
  cores?: number;
  throttled?: string[];
  uptimeS?: number;
}

/** Eight nodes that look like a small real cluster (the README screenshot). */
export const SAMPLE_NODES: FakeNode[] = [
  { name: 'pi-master', labels: { role: 'control', rack: '1' }, cpu: 23, tempC: 52, ramUsed: 0.41, uptimeS: 3_456_000 },
  { name: 'pi-worker-1', labels: { role: 'worker', rack: '1' }, cpu: 67, tempC: 64, ramUsed: 0.72, uptimeS: 1_209_600 },
  {
    name: 'pi-worker-2',
    labels: { role: 'worker', rack: '1' },
    cpu: 88,
    tempC: 81,
    ramUsed: 0.9,
    throttled: ['soft-temp-limit'],
    uptimeS: 1_209_000,
  },
  { name: 'pi-worker-3', labels: { role: 'worker', rack: '2' }, cpu: 12, tempC: 47, ramUsed: 0.33, uptimeS: 604_800 },
  {
    name: 'pi-zero-cam',
    labels: { role: 'camera', room: 'garage' },
    cpu: 35,
    tempC: 58,
    ramTotalBytes: 512 * MiB,
    ramUsed: 0.61,
    board: 'Raspberry Pi Zero 2 W Rev 1.0',
    cores: 4,
    uptimeS: 86_400,
  },
  {
    name: 'nas',
    labels: { role: 'storage' },
    cpu: 6,
    tempC: 41,
    ramTotalBytes: 8 * GiB,
    ramUsed: 0.22,
    board: 'Raspberry Pi 5 Model B Rev 1.0',
    uptimeS: 7_776_000,
  },
  {
    name: 'edge-vm',
    labels: { site: 'cloud' },
    cpu: 3,
    tempC: null,
    ramTotalBytes: 2 * GiB,
    ramUsed: 0.48,
    board: '',
    uptimeS: 45_000,
  },
  { name: 'pi-worker-4', labels: { role: 'worker', rack: '2' }, cpu: 51, tempC: 71, ramUsed: 0.55, uptimeS: 300_000 },
];

const jitter = (x: number, by: number) => x + (Math.random() * 2 - 1) * by;
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export function fakeInfo(node: FakeNode): InfoPayload {
  const info: InfoPayload = {
    hostname: node.name,
    os: node.tempC === null ? 'Ubuntu 24.04.1 LTS' : 'Debian GNU/Linux 12 (bookworm)',
    kernel: node.tempC === null ? '6.8.0-45-generic' : '6.6.51+rpt-rpi-v8',
    arch: node.tempC === null ? 'x64' : 'arm64',
    cpuModel: node.tempC === null ? 'AMD EPYC 7B13' : 'Cortex-A72',
    cpuCores: node.cores ?? 4,
    cpuMinMhz: 600,
    cpuMaxMhz: 1800,
    ramTotalBytes: node.ramTotalBytes ?? 4 * GiB,
    swapTotalBytes: 512 * MiB,
    version: '0.1.0',
    bootId: '6f1c2d0e-4a8b-4f3e-9c1d-2b7a5e9f0c11',
  };
  const board = node.board ?? 'Raspberry Pi 4 Model B Rev 1.4';
  if (board) info.board = board;
  return info;
}

export function fakeVitals(node: FakeNode, startedAt = Date.now()): Omit<VitalsPayload, 'seq'> {
  const total = node.ramTotalBytes ?? 4 * GiB;
  const cpu = clamp(jitter(node.cpu ?? 20, 5), 0, 100);
  const cores = node.cores ?? 4;
  const vitals: Omit<VitalsPayload, 'seq'> = {
    ts: Date.now(),
    cpuPercent: Math.round(cpu * 10) / 10,
    cpuMhz: cpu > 50 ? 1800 : 600 + Math.round(cpu * 24),
    ramAvailableBytes: Math.round(total * clamp(1 - jitter(node.ramUsed ?? 0.4, 0.02), 0, 1)),
    swapFreeBytes: 480 * MiB,
    load1: Math.round(((cpu / 100) * cores + Math.random() * 0.2) * 100) / 100,
    load5: Math.round((cpu / 100) * cores * 0.9 * 100) / 100,
    load15: Math.round((cpu / 100) * cores * 0.8 * 100) / 100,
    uptimeS: (node.uptimeS ?? 3600) + (Date.now() - startedAt) / 1000,
    disks: [
      { mount: '/', freeBytes: 18 * GiB, totalBytes: 29 * GiB },
      { mount: '/boot/firmware', freeBytes: 440 * MiB, totalBytes: 510 * MiB },
    ],
    nets: [
      {
        iface: 'eth0',
        rxBytes: Math.round((Date.now() - 1.7e12) * 3),
        txBytes: Math.round((Date.now() - 1.7e12) * 1.2),
      },
    ],
  };
  if (typeof node.tempC === 'number' || node.tempC === undefined) {
    vitals.tempC = Math.round(jitter(node.tempC ?? 50, 1) * 10) / 10;
  }
  if (node.tempC !== null) vitals.throttled = { now: node.throttled ?? [], sinceBoot: node.throttled ?? [] };
  return vitals;
}

// --- an in-process cluster with the dashboard

export interface DashboardCluster {
  dir: string;
  token: string;
  tokenFile: string;
  primary: Primary;
  /** http://127.0.0.1:PORT */
  url: string;
  webPort: number;
  secondaries: Secondary[];
  /**
   * Adds and starts one more in-process node; resolves once it is online. With `cuttable`, the
   * node reaches the primary through a TCP relay, and `cut()` kills the relay: the link dies
   * without a goodbye and the node cannot come back (it keeps retrying a closed port).
   */
  addNode(node: FakeNode, options?: { cuttable?: boolean }): Promise<Secondary & { cut?: () => void }>;
  /** The primary (cluster listener, store, web server) goes away, as in a crash. */
  stopPrimary(): Promise<void>;
  /** A new primary on the same data dir and ports (the nodes reconnect by themselves). */
  startPrimary(): Promise<void>;
}

export interface DashboardClusterOptions {
  nodes?: FakeNode[];
  heartbeatMs?: number;
  vitalsMs?: number;
  coalesceMs?: number;
}

interface WebHandle {
  port: number;
  close(): Promise<void>;
}

/** The primary's web server (API, stream, dashboard) on 127.0.0.1, optionally behind the login. */
export function startDashboardServer(
  primary: Primary,
  port = 0,
  coalesceMs = 200,
  /** Require the web login (as off loopback) with this admin token. */
  adminToken?: string,
): Promise<WebHandle> {
  const login = adminToken ? { requireLogin: true, adminToken } : {};
  return startWebServer(primary, { port, bind: '127.0.0.1', streamCoalesceMs: coalesceMs, ...login });
}

export async function startDashboardCluster(
  t: TestContext,
  options: DashboardClusterOptions = {},
): Promise<DashboardCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-browser-'));
  const heartbeatMs = options.heartbeatMs ?? 300;
  const vitalsMs = options.vitalsMs ?? 300;
  const coalesceMs = options.coalesceMs ?? 200;
  const token = 'browser-test-cluster-token-0123456789';
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const primaryDir = join(dir, 'primary');
  mkdirSync(primaryDir, { recursive: true });
  const makePrimary = (port: number) =>
    new Primary({
      ...FAST_COMMIT,
      dataDir: primaryDir,
      port,
      bind: '127.0.0.1',
      token,
      heartbeatIntervalMs: heartbeatMs,
    });
  let primary = makePrimary(0);
  await primary.start();
  const clusterPort = primary.port;
  let web: WebHandle | undefined = await startDashboardServer(primary, 0, coalesceMs);
  const webPort = web.port;
  const secondaries: Secondary[] = [];
  const startedAt = Date.now();

  const cluster: DashboardCluster = {
    dir,
    token,
    tokenFile,
    get primary() {
      return primary;
    },
    url: `http://127.0.0.1:${webPort}`,
    webPort,
    secondaries,
    async addNode(node, addOptions = {}) {
      const relay = addOptions.cuttable ? await startRelay(clusterPort) : undefined;
      if (relay) t.after(() => relay.cut());
      const secondary: Secondary & { cut?: () => void } = new Secondary({
        primary: `127.0.0.1:${relay?.port ?? clusterPort}`,
        dataDir: join(dir, `node-${secondaries.length}`),
        name: node.name,
        labels: node.labels ?? {},
        token,
        tls: { fingerprint: primary.tlsFingerprint as string },
        heartbeatIntervalMs: heartbeatMs,
        vitalsPeriodMs: vitalsMs,
        reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
        stopTimeoutMs: 500,
        machineInfo: async () => fakeInfo(node),
        machineId: async () => `browser-test-machine-${secondaries.length}-${node.name}`,
        vitals: { read: async () => fakeVitals(node, startedAt) },
      });
      if (relay) secondary.cut = relay.cut;
      secondaries.push(secondary);
      const online = new Promise((resolve) => secondary.once('online', resolve));
      await secondary.start();
      await online;
      return secondary;
    },
    async stopPrimary() {
      await web?.close();
      web = undefined;
      await primary.stop();
    },
    async startPrimary() {
      primary = makePrimary(clusterPort);
      await primary.start();
      web = await startDashboardServer(primary, webPort, coalesceMs);
    },
  };
  t.after(async () => {
    await Promise.all(secondaries.map((s) => s.stop('test over').catch(() => undefined)));
    await web?.close();
    await primary.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const node of options.nodes ?? []) await cluster.addNode(node);
  return cluster;
}

/** A TCP relay to `port` on 127.0.0.1; cut() closes it and every link through it. */
async function startRelay(port: number): Promise<{ port: number; cut: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** Waits until every node of the cluster has sent a sample the primary stored. */
export async function waitForVitals(cluster: DashboardCluster, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (cluster.primary.nodes().some((n) => n.state === 'online' && !n.vitals)) {
    if (Date.now() > deadline) throw new Error('timed out waiting for every node to report vitals');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Stored history for a node, as if it had reported for `days`: a sample every 30 min, then every
 * 20 s over the last two hours (a daily wave on CPU and temperature), rolled up like the primary
 * does. Seqs start at 1e9 so the node's own live samples never collide with them.
 */
export async function backfillHistory(primary: Primary, nodeId: string, node: FakeNode, days = 30): Promise<number> {
  const now = Date.now();
  const samples: StoredSample[] = [];
  let seq = 1e9;
  const add = (ts: number) => {
    const wave = Math.sin((ts / 86_400_000) * 2 * Math.PI);
    const base = fakeVitals({ ...node, cpu: clamp((node.cpu ?? 20) + wave * 15, 0, 100) }, now);
    const sample: VitalsPayload = {
      ...base,
      seq: seq++,
      ts,
      uptimeS: Math.max(1, (node.uptimeS ?? 3600) - (now - ts) / 1000),
    };
    if (typeof sample.tempC === 'number') sample.tempC = Math.round((sample.tempC + wave * 4) * 10) / 10;
    samples.push({ nodeId, vitals: { ...sample, receivedAt: ts + 5 } });
  };
  const recent = now - 2 * 3_600_000;
  for (let ts = now - days * 86_400_000; ts < recent; ts += 30 * 60_000) add(ts);
  for (let ts = recent; ts < now - 60_000; ts += 20_000) add(ts);
  // In small slices, so the primary keeps answering heartbeats meanwhile.
  for (let i = 0; i < samples.length; i += 100) {
    await primary.store.insertVitals(samples.slice(i, i + 100));
    await new Promise((r) => setImmediate(r));
  }
  // 20 steps a transaction (one fsync, not 20: under load 20 fsyncs held the loop past the test
  // heartbeat's dead-peer time, and the node was lost and joined again mid-test).
  while (await primary.store.rollupStep(now, 20)) await new Promise((r) => setImmediate(r));
  return samples.length;
}

/** The row of the node named `name` in the overview. */
export function rowOf(page: Page, name: string) {
  return page.locator('.row.node', { has: page.locator('.name-link', { hasText: name }) });
}
