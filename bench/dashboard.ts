// `node --import tsx bench/dashboard.ts [--nodes N] [--seconds S] [--synthetic | --render-only] [--json]`
//
// The dashboard with 1,000 nodes (N), in Debian's Chromium driven by playwright-core:
//   render    navigation -> every row in the DOM ('picluster:overview-rendered', a performance
//             mark the page sets) and -> the next frame painted ('picluster:overview-painted');
//             also when /api/nodes had arrived, its size, the DOM and JS heap size. 5 loads,
//             median. The N nodes are records put straight into the primary's registry (with
//             Pi-like machine info and vitals): the page cannot tell the difference.
//   update    one coalesced `vitals` stream message carrying a new sample of all N nodes (the
//             primary emits N 'vitals' events at once; the stream coalesces them into one
//             message): arrival of the message -> the rows updated in the DOM
//             ('picluster:vitals-applied'), -> the next frame painted ('picluster:vitals-painted').
//             10 updates, median and max.
//   SSE       bytes per second on the wire of GET /api/stream (read with fetch for S = 30 s)
//             while N nodes report at the default 10 s vitals period. By default these are N real
//             in-process Secondaries (this file re-run as a child: `--fleet`), with Pi-like fake
//             vitals (temperature, throttling, two disks, one interface), connected over TCP to
//             the primary, their samples stored in SQLite; with --synthetic, registry records and
//             'vitals' events at random phases instead (no sockets, no SQLite).
// A measurement, not a test: exit 0 with the figures; 1 when the run itself fails. Progress goes
// to stderr; with --json stdout carries one JSON object only.

import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { Primary } from '../src/primary/primary.js';
import type { NodeRecord } from '../src/primary/registry.js';
import type { VitalsPayload } from '../src/protocol/messages.js';
import { Secondary } from '../src/secondary/secondary.js';
import { CHROMIUM_ARGS, type FakeNode, fakeInfo, fakeVitals, startDashboardServer } from '../test/helpers/browser.js';
import { fingerprintOf } from '../test/helpers/cluster.js';
import { findProgram } from '../test/helpers/require-tool.js';
import { median } from './common.js';

// What the page callbacks use of the DOM (the project's tsconfig has no DOM lib).
declare const document: { getElementsByTagName(tag: string): { length: number } };

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const TOKEN = 'dashboard-bench-cluster-token-0123456789';
const PERIOD_MS = 10_000;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Node i of the fleet: a Pi with a name, a rack label and its own CPU and temperature. */
function fleetNode(i: number): FakeNode {
  return {
    name: `pi-${String(i).padStart(4, '0')}`,
    labels: { rack: String(i % 20), role: i % 10 === 0 ? 'control' : 'worker' },
    cpu: 5 + ((i * 37) % 90),
    tempC: 40 + ((i * 13) % 40),
    ramUsed: 0.2 + ((i * 7) % 70) / 100,
    uptimeS: 86_400 + i * 600,
  };
}

function record(i: number, now: number): NodeRecord {
  const node = fleetNode(i);
  const id = `bench-${String(i).padStart(6, '0')}-0000-4000-8000-000000000000`.slice(0, 36);
  return {
    id,
    name: node.name,
    state: 'online',
    labels: node.labels ?? {},
    address: `10.0.${i >> 8}.${i & 255}:40000`,
    legacy: false,
    info: fakeInfo(node),
    vitals: { ...fakeVitals(node), seq: 1, receivedAt: now },
    lastSeen: now,
    connectedSince: now - 3_600_000,
    machineId: `bench-machine-${i}`,
    lastSeq: 1,
    session: undefined,
    clockSkewMs: null,
    clockSkewed: false,
  };
}

async function startPrimary(dir: string): Promise<Primary> {
  const primary = new Primary({ dataDir: join(dir, 'primary'), port: 0, bind: '127.0.0.1', token: TOKEN });
  await primary.start();
  return primary;
}

// ---------------------------------------------------------------- render and update in Chromium

interface RenderFigures {
  nodes: number;
  loads: number;
  paintedMs: number;
  renderedMs: number;
  apiNodesDoneMs: number;
  apiNodesBytes: number;
  renderAfterApiMs: number;
  domElements: number;
  jsHeapMiB: number;
  updates: number;
  updateMessageBytes: number;
  updateAppliedMs: { median: number; max: number };
  updateFlushMs: { median: number; max: number };
  updatePaintedMs: { median: number; max: number };
}

async function measureRender(browser: Browser, nodes: number, dir: string): Promise<RenderFigures> {
  const primary = await startPrimary(dir);
  const now = Date.now();
  const records = Array.from({ length: nodes }, (_, i) => record(i, now));
  for (const r of records) primary.registry.set(r);
  const web = await startDashboardServer(primary, 0, 1000);
  const url = `http://127.0.0.1:${web.port}/`;
  try {
    const loads: Array<{ rendered: number; painted: number; apiDone: number; apiBytes: number }> = [];
    let page: Page | undefined;
    for (let i = 0; i < 5; i++) {
      await page?.close();
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(url, { waitUntil: 'commit' });
      await page.locator(`#overview[data-rows="${nodes}"]`).waitFor({ timeout: 60_000 });
      await page.waitForFunction(() => performance.getEntriesByName('picluster:overview-painted').length > 0);
      // (no helper functions inside page callbacks: tsx wraps them in a __name the page lacks)
      const m = await page.evaluate(() => {
        const api = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/nodes')) as
          | { responseEnd: number; encodedBodySize: number }
          | undefined;
        return {
          rendered: performance.getEntriesByName('picluster:overview-rendered')[0]?.startTime ?? Number.NaN,
          painted: performance.getEntriesByName('picluster:overview-painted')[0]?.startTime ?? Number.NaN,
          apiDone: api?.responseEnd ?? Number.NaN,
          apiBytes: api?.encodedBodySize ?? Number.NaN,
        };
      });
      loads.push(m);
      log(`  load ${i + 1}: rows in DOM ${m.rendered.toFixed(0)} ms, painted ${m.painted.toFixed(0)} ms`);
    }
    const p = page as Page;
    const size = await p.evaluate(() => ({
      dom: document.getElementsByTagName('*').length,
      heap: (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0,
    }));

    // Coalesced updates: a new sample of every node at once -> one stream message.
    const applied: number[] = [];
    const flush: number[] = [];
    const painted: number[] = [];
    let messageBytes = 0;
    for (let u = 0; u < 10; u++) {
      // The page keeps only the latest measure of each kind: a new start time means a new update.
      const before = await p.evaluate(
        () => performance.getEntriesByName('picluster:vitals-painted').at(-1)?.startTime ?? -1,
      );
      const t = Date.now();
      const batch: Record<string, VitalsPayload & { receivedAt: number }> = {};
      for (const [i, r] of records.entries()) {
        const seq = (r.vitals?.seq ?? 0) + 1;
        r.vitals = { ...fakeVitals(fleetNode(i)), seq, receivedAt: t };
        r.lastSeq = seq;
        batch[r.id] = r.vitals;
        primary.emit('vitals', r.id, r.vitals);
      }
      messageBytes = Buffer.byteLength(JSON.stringify({ nodes: batch }));
      // Wait for this update's three measures (they share the message's arrival as start time).
      await p.waitForFunction(
        (t0) => {
          const painted = performance.getEntriesByName('picluster:vitals-painted').at(-1)?.startTime ?? -1;
          const applied = performance.getEntriesByName('picluster:vitals-applied').at(-1)?.startTime ?? -2;
          return painted !== t0 && painted === applied;
        },
        before,
        { timeout: 10_000 },
      );
      const m = (await p.evaluate(() =>
        Object.fromEntries(
          ['applied', 'flush', 'painted'].map((k) => {
            const e = performance.getEntriesByName(`picluster:vitals-${k}`).at(-1) as
              | { duration: number; detail: { rows?: number } | null }
              | undefined;
            return [k, { ms: e?.duration ?? Number.NaN, rows: e?.detail?.rows ?? 0 }];
          }),
        ),
      )) as Record<'applied' | 'flush' | 'painted', { ms: number; rows: number }>;
      if (m.applied.rows !== nodes) throw new Error(`an update touched ${m.applied.rows} rows, not ${nodes}`);
      applied.push(m.applied.ms);
      flush.push(m.flush.ms);
      painted.push(m.painted.ms);
      log(`  update ${u + 1}: applied ${m.applied.ms.toFixed(1)} ms, painted ${m.painted.ms.toFixed(1)} ms`);
    }
    const stat = (v: number[]) => ({ median: round(median(v)), max: round(Math.max(...v)) });
    return {
      nodes,
      loads: loads.length,
      renderedMs: round(median(loads.map((l) => l.rendered))),
      paintedMs: round(median(loads.map((l) => l.painted))),
      apiNodesDoneMs: round(median(loads.map((l) => l.apiDone))),
      apiNodesBytes: loads[0]?.apiBytes ?? 0,
      renderAfterApiMs: round(median(loads.map((l) => l.rendered - l.apiDone))),
      domElements: size.dom,
      jsHeapMiB: round(size.heap / 1024 / 1024),
      updates: applied.length,
      updateMessageBytes: messageBytes,
      updateAppliedMs: stat(applied),
      updateFlushMs: stat(flush),
      updatePaintedMs: stat(painted),
    };
  } finally {
    await web.close();
    await primary.stop();
  }
}

// ---------------------------------------------------------------- SSE bytes on the wire

interface SseFigures {
  source: 'secondaries' | 'synthetic';
  nodes: number;
  periodMs: number;
  seconds: number;
  bytes: number;
  bytesPerSecond: number;
  messages: Record<string, number>;
  samplesStored: number;
  nodeSamplesInStream: number;
  bytesPerNodeSample: number;
}

/** Reads the stream for `seconds`; counts bytes, messages by type and node samples. */
async function readStream(url: string, seconds: number) {
  const abort = new AbortController();
  const response = await fetch(`${url}/api/stream`, { signal: abort.signal });
  if (!response.ok || !response.body) throw new Error(`GET /api/stream: ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const messages: Record<string, number> = {};
  let bytes = 0;
  let text = '';
  let nodeSamples = 0;
  const timer = setTimeout(() => abort.abort(), seconds * 1000);
  const started = Date.now();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      text += decoder.decode(value, { stream: true });
      let end = text.indexOf('\n\n');
      while (end >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? (block.startsWith(':') ? 'comment' : 'message');
        messages[event] = (messages[event] ?? 0) + 1;
        if (event === 'vitals') {
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          nodeSamples += Object.keys((JSON.parse(data) as { nodes: object }).nodes).length;
        }
        end = text.indexOf('\n\n');
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
  }
  return { bytes, messages, nodeSamples, elapsedS: (Date.now() - started) / 1000 };
}

async function measureSse(nodes: number, seconds: number, synthetic: boolean, dir: string): Promise<SseFigures> {
  const primary = await startPrimary(dir);
  const web = await startDashboardServer(primary, 0, 1000);
  const url = `http://127.0.0.1:${web.port}`;
  let stored = 0;
  const stops: Array<() => Promise<void> | void> = [];
  try {
    if (synthetic) {
      const now = Date.now();
      for (let i = 0; i < nodes; i++) {
        const r = record(i, now);
        primary.registry.set(r);
        // Each node at its own phase of the period, as real nodes started at different times.
        const tick = () => {
          const seq = (r.vitals?.seq ?? 0) + 1;
          r.vitals = { ...fakeVitals(fleetNode(i)), seq, receivedAt: Date.now() };
          primary.emit('vitals', r.id, r.vitals);
        };
        const phase = setTimeout(() => {
          tick();
          const every = setInterval(tick, PERIOD_MS);
          stops.push(() => clearInterval(every));
        }, Math.random() * PERIOD_MS);
        stops.push(() => clearTimeout(phase));
      }
      log(`  ${nodes} synthetic nodes reporting every ${PERIOD_MS / 1000} s; warming up one period`);
    } else {
      const fleetDir = join(dir, 'fleet');
      mkdirSync(fleetDir, { recursive: true });
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
      const child = fork(
        new URL(import.meta.url).pathname,
        ['--fleet', JSON.stringify({ port: primary.port, tokenFile, dir: fleetDir, count: nodes })],
        {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      );
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      stops.push(async () => {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        child.kill('SIGKILL');
      });
      const started = Date.now();
      await new Promise<void>((resolve, reject) => {
        child.on('message', (m: { online?: number }) => {
          if (m.online === nodes) resolve();
        });
        child.once('exit', (code) => reject(new Error(`the fleet exited (${code}) before all nodes were online`)));
      });
      log(`  ${nodes} secondaries online in ${((Date.now() - started) / 1000).toFixed(1)} s; warming up one period`);
    }
    await new Promise((r) => setTimeout(r, PERIOD_MS + 2000)); // every node has reported; joins are out
    const onVitals = () => stored++;
    primary.on('vitals', onVitals);
    log(`  reading /api/stream for ${seconds} s`);
    const read = await readStream(url, seconds);
    primary.off('vitals', onVitals);
    return {
      source: synthetic ? 'synthetic' : 'secondaries',
      nodes,
      periodMs: PERIOD_MS,
      seconds: round(read.elapsedS),
      bytes: read.bytes,
      bytesPerSecond: Math.round(read.bytes / read.elapsedS),
      messages: read.messages,
      samplesStored: stored,
      nodeSamplesInStream: read.nodeSamples,
      bytesPerNodeSample: Math.round(read.bytes / Math.max(1, read.nodeSamples)),
    };
  } finally {
    for (const stop of stops) await stop();
    await web.close();
    await primary.stop();
  }
}

/** Child mode: `count` Secondaries with Pi-like fake vitals at the default period. */
async function runFleet(options: { port: number; tokenFile: string; dir: string; count: number }): Promise<void> {
  const started = Date.now();
  let online = 0;
  const fingerprint = fingerprintOf(dirname(options.tokenFile));
  const trust = fingerprint === undefined ? (false as const) : { fingerprint };
  const nodes = Array.from({ length: options.count }, (_, i) => {
    const spec = fleetNode(i);
    const node = new Secondary({
      primary: `127.0.0.1:${options.port}`,
      tls: trust,
      dataDir: join(options.dir, `n${i}`),
      name: spec.name,
      labels: spec.labels ?? {},
      token: TOKEN,
      vitalsPeriodMs: PERIOD_MS,
      machineInfo: async () => fakeInfo(spec),
      machineId: async () => `dashboard-bench-${i}`,
      vitals: { read: async () => fakeVitals(spec, started) },
    });
    node.once('online', () => process.send?.({ online: ++online }));
    return node;
  });
  // In slices, as machines booting: the handshake limit is never the bottleneck being measured.
  for (let i = 0; i < nodes.length; i += 100) {
    await Promise.all(nodes.slice(i, i + 100).map((n) => n.start()));
  }
  process.once('SIGTERM', async () => {
    await Promise.all(nodes.map((n) => n.stop('bench over').catch(() => undefined)));
    process.exit(0);
  });
}

// ---------------------------------------------------------------- main

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

async function main(): Promise<void> {
  const asJson = args.includes('--json');
  const nodes = Number(flag('--nodes') ?? 1000);
  const seconds = Number(flag('--seconds') ?? 30);
  const synthetic = args.includes('--synthetic');
  const executablePath = findProgram('chromium');
  if (!executablePath) throw new Error('needs chromium (apt-get install -y --no-install-recommends chromium)');
  const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-dashboard-'));
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  try {
    log(`overview with ${nodes} nodes in ${browser.version()}`);
    const render = await measureRender(browser, nodes, join(dir, 'render'));
    await browser.close();
    let sse: SseFigures | undefined;
    if (!args.includes('--render-only')) {
      log(
        `SSE with ${nodes} nodes, ${PERIOD_MS / 1000} s vitals period (${synthetic ? 'synthetic' : 'real secondaries'})`,
      );
      sse = await measureSse(nodes, seconds, synthetic, join(dir, 'sse'));
    }
    const result = { chromium: browser.version(), cpus: (await import('node:os')).cpus().length, render, sse };
    if (asJson) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const u = render;
    console.log(`dashboard, ${nodes} nodes (Chromium ${result.chromium}, ${result.cpus} CPUs)`);
    console.log(`  overview: all rows in the DOM ${u.renderedMs} ms after navigation, painted ${u.paintedMs} ms`);
    console.log(
      `            (/api/nodes ${(u.apiNodesBytes / 1024).toFixed(0)} KiB done at ${u.apiNodesDoneMs} ms; rows built ${u.renderAfterApiMs} ms after it)`,
    );
    console.log(`            ${u.domElements} DOM elements, JS heap ${u.jsHeapMiB} MiB`);
    console.log(
      `  update:   one vitals message for all ${nodes} nodes (${(u.updateMessageBytes / 1024).toFixed(0)} KiB): applied ${u.updateAppliedMs.median} ms (max ${u.updateAppliedMs.max}), DOM writes ${u.updateFlushMs.median} ms, painted ${u.updatePaintedMs.median} ms (max ${u.updatePaintedMs.max})`,
    );
    if (sse)
      console.log(
        `  SSE:      ${(sse.bytesPerSecond / 1024).toFixed(1)} KiB/s (${sse.bytes} bytes in ${sse.seconds} s, ${sse.source}); messages ${JSON.stringify(sse.messages)}; ${sse.nodeSamplesInStream} node samples (${sse.bytesPerNodeSample} bytes each), ${sse.samplesStored} stored`,
      );
  } finally {
    await browser.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args[0] === '--fleet') {
  await runFleet(JSON.parse(args[1] as string));
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
